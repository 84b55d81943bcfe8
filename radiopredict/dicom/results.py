"""The steps of scoring a study from the PACS, around the model: fetch and pick the inputs,
write the SEG and the measurement report, store them back.

``radiopredict predict BUNDLE --dicomweb URL --study UID --out DIR [--store] [--deidentify]``
runs::

    inputs = fetch_inputs(url, study, out / "input", key_file=key or None)
    image, mask, names = read_inputs(inputs, label=...)      # or segment the image
    ... the model scores (image, mask): features per ROI and a prediction row ...
    files = write_results(inputs, mask, names, features, prediction, out / "dicom", ...)
    if store: store_results(url, files, key_file=key or None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from radiopredict.dicom.web import StudyInputs, fetch_study, select_inputs, store_instances

__all__ = ["ResultFiles", "fetch_inputs", "read_inputs", "write_results", "store_results"]


@dataclass(frozen=True)
class ResultFiles:
    """The DICOM objects written for one scored study."""

    seg: Path
    sr: Path

    def __iter__(self):
        return iter((self.seg, self.sr))


def fetch_inputs(
    url: str,
    study_uid: str,
    work_dir: str | Path,
    *,
    key_file: str | Path | None = None,
    modality: str = "CT",
    series_uid: str | None = None,
    mask_series_uid: str | None = None,
    client: Any = None,
) -> StudyInputs:
    """Fetch a study (WADO-RS) into ``work_dir`` and pick its image series and mask.

    Parameters
    ----------
    url, study_uid
        DICOMweb root and Study Instance UID.
    work_dir
        Folder for the download (``fetched/``) and, with ``key_file``, the pseudonymised copy
        (``pseudonymised/``), which is then the one used.
    key_file
        Pseudonymise the study first (:func:`~radiopredict.dicom.deidentify_folder`) with this
        key file; every later output then carries the pseudonym only. The study UID of the
        returned inputs is then the pseudonymised one.
    modality, series_uid, mask_series_uid
        See :func:`~radiopredict.dicom.select_inputs`.
    """
    from radiopredict.dicom.deidentify import deidentify_folder

    work = Path(work_dir)
    fetched = fetch_study(url, study_uid, work / "fetched", client=client)
    folder = fetched
    if key_file is not None:
        folder = work / "pseudonymised"
        deidentify_folder(fetched, folder, key_file)
        mask_series_uid = (
            None if mask_series_uid is None else _pseudo_uid(mask_series_uid, key_file)
        )
        series_uid = None if series_uid is None else _pseudo_uid(series_uid, key_file)
    return select_inputs(
        folder, modality=modality, series_uid=series_uid, mask_series_uid=mask_series_uid
    )


def _pseudo_uid(uid: str, key_file: str | Path) -> str:
    from radiopredict.dicom.deidentify import load_key

    for entry in load_key(key_file)["patients"].values():
        for new, old in entry["uids"].items():
            if old == uid:
                return new
    return uid


def read_inputs(
    inputs: StudyInputs, *, label: int | str | None = None
) -> tuple[sitk.Image, sitk.Image | None, dict[int, str]]:
    """Read the image series and its mask (on the image's grid).

    Parameters
    ----------
    inputs
        From :func:`fetch_inputs` or :func:`~radiopredict.dicom.select_inputs`.
    label
        ROI name / segment label or number; ``None``: every ROI, as a label map.

    Returns
    -------
    tuple
        ``(image, mask, {label value: name})``; ``mask`` is ``None`` when the study has none.
    """
    import numpy as np

    from radiopredict.imaging import read_image, read_mask
    from radiopredict.imaging.dicom import _resolve_name, rtstruct_rois, seg_segments

    image = read_image(inputs.image_folder, series_uid=inputs.series_uid)
    if inputs.mask_path is None:
        return image, None, {}
    mask = read_mask(inputs.mask_path, reference=image, label=label)
    names_of = rtstruct_rois if inputs.mask_modality == "RTSTRUCT" else seg_segments
    names = names_of(inputs.mask_path)
    if label is not None:
        number = _resolve_name(label, names, what="ROI", path=inputs.mask_path)
        return image, mask, {1: names[number]}
    values = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(mask)) if v != 0]
    return image, mask, {v: names.get(v, f"label {v}") for v in values}


def write_results(
    inputs: StudyInputs,
    mask: sitk.Image,
    label_names: Mapping[int, str],
    features: Any,
    prediction: Mapping[str, Any] | None,
    out_dir: str | Path,
    *,
    model_name: str,
    model_version: str,
    automatic: bool = False,
) -> ResultFiles:
    """Write the DICOM-SEG of the masks used and the TID 1500 report of one scored study.

    Parameters
    ----------
    inputs
        The study's picked inputs (the SEG and the SR refer to its image series and join its
        study).
    mask, label_names
        The mask the features were computed on (on the image grid) and ``{value: ROI name}``.
    features
        Feature table, one row per ROI named as in ``label_names`` (see
        :func:`~radiopredict.dicom.write_measurement_report`).
    prediction
        The model's output row (``risk``, ``survival_at_<h>``, ``benefit[arm]``...).
    out_dir
        Output folder: ``seg.dcm`` and ``sr.dcm``.
    model_name, model_version
        Algorithm identification.
    automatic
        The mask came from the model's segmentation (SEG segments AUTOMATIC, named after the
        model) rather than from the study.
    """
    import numpy as np

    from radiopredict.dicom.sr import write_measurement_report
    from radiopredict.imaging.dicom import write_dicom_seg

    out = Path(out_dir)
    arr = sitk.GetArrayViewFromImage(mask)
    voxel = float(np.prod(mask.GetSpacing()))
    volumes = {name: float(np.count_nonzero(arr == v)) * voxel for v, name in label_names.items()}
    seg = write_dicom_seg(
        mask,
        inputs.image_folder,
        out / "seg.dcm",
        label_names=dict(label_names),
        series_uid=inputs.series_uid,
        algorithm_name=f"{model_name} {model_version}" if automatic else None,
    )
    sr = write_measurement_report(
        out / "sr.dcm",
        inputs.image_folder,
        seg,
        features,
        prediction,
        model_name=model_name,
        model_version=model_version,
        series_uid=inputs.series_uid,
        volumes=volumes,
    )
    return ResultFiles(seg=seg, sr=sr)


def store_results(
    url: str,
    files: ResultFiles,
    *,
    key_file: str | Path | None = None,
    client: Any = None,
) -> list[str]:
    """Send the SEG and SR to the PACS (STOW-RS).

    With ``key_file`` (results of pseudonymised input), re-identified copies
    (``*_reidentified.dcm`` beside the files) are sent, so that the results join the original
    study; the pseudonymised files stay as they are.

    Returns
    -------
    list of str
        The stored SOP Instance UIDs.
    """
    from radiopredict.dicom.deidentify import reidentify_file

    paths = list(files)
    if key_file is not None:
        paths = [
            reidentify_file(p, key_file, p.with_name(p.stem + "_reidentified.dcm")) for p in paths
        ]
    return store_instances(url, paths, client=client)
