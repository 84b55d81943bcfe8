"""Score a study from the PACS with a locked :class:`~radiopredict.study.StudyModel` and send
the results back: what ``radiopredict predict BUNDLE --dicomweb URL --study UID`` runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiopredict.errors import ConfigError, FeatureComputationError, ManifestError

__all__ = ["predict_dicomweb", "report_features"]

_KEYS = ("label", "modality", "timepoint")


def report_features(X: pd.DataFrame, patient_id: str, undefined: pd.DataFrame) -> pd.Series:
    """The radiomic features of one patient as the model saw them, by IBSI tag.

    Takes the ``rad__`` columns of the design matrix (``rad__<label>__<modality>__<timepoint>__
    <tag>``), leaves out the values the model's imputation filled in (``undefined``), and names
    each by its tag when the patient has one ROI (otherwise by the whole key).
    """
    row = X.loc[patient_id]
    cols = [c for c in X.columns if str(c).startswith("rad__")]
    filled = set(undefined.loc[undefined["patient_id"] == patient_id, "feature"].astype(str))
    cols = [c for c in cols if c not in filled]
    parts = [str(c)[len("rad__") :].split("__") for c in cols]
    prefixes = {tuple(p[:-1]) for p in parts}
    names = [p[-1] if len(prefixes) == 1 else "__".join(p) for p in parts]
    return pd.Series([float(row[c]) for c in cols], index=names, dtype=float)


def _model_version(model) -> str:
    """``<radiopredict version> bundle <12 hex digits of the bundle's file hashes>``."""
    import hashlib
    import json

    manifest = getattr(model, "manifest_", None) or {}
    written_by = str(manifest.get("versions", {}).get("radiopredict", "")) or "unknown"
    files = manifest.get("files")
    if not files:
        return written_by
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]
    return f"{written_by} bundle {digest}"


def _patient_id(folder: Path) -> str:
    import pydicom

    first = next(p for p in sorted(folder.iterdir()) if p.is_file())
    return str(pydicom.dcmread(first, stop_before_pixels=True).get("PatientID", "") or "")


def _clinical_row(path: Path, original_id: str, patient_id: str) -> dict[str, Any]:
    table = pd.read_csv(path, dtype={"patient_id": str})
    if "patient_id" not in table.columns:
        raise ManifestError(
            "the clinical table has no patient_id column",
            path=path,
            fix="add a patient_id column holding the DICOM Patient ID of the study",
        )
    rows = table[table["patient_id"].astype(str) == original_id]
    if len(rows) != 1:
        raise ManifestError(
            f"the clinical table has {len(rows)} rows for the study's patient (need one)",
            patient=patient_id,
            path=path,
            fix="give one row per patient, keyed by the DICOM Patient ID",
        )
    return {k: v for k, v in rows.iloc[0].items() if k != "patient_id"}


def predict_dicomweb(
    model,
    url: str,
    study_uid: str,
    out_dir: str | os.PathLike[str],
    *,
    store: bool = False,
    deidentify: bool = False,
    clinical: str | os.PathLike[str] | None = None,
    label: Any = None,
    series_uid: str | None = None,
    mask_series_uid: str | None = None,
    impute_clinical: bool = False,
    n_jobs: int = 1,
    progress: bool = False,
    model_name: str | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """Fetch a study, score it with ``model``, write SEG + SR into its study, optionally store.

    Parameters
    ----------
    model
        A fitted :class:`~radiopredict.study.StudyModel`.
    url, study_uid
        DICOMweb root and Study Instance UID.
    out_dir
        Output folder: ``input/`` (the download, and its pseudonymised copy), the prediction
        tables of :meth:`~radiopredict.study.StudyPrediction.write`, ``dicom/seg.dcm`` and
        ``dicom/sr.dcm``, and with ``deidentify`` the key file ``pseudonyms.json``.
    store
        Send the SEG and the SR back (STOW-RS); with ``deidentify`` re-identified copies are
        sent so that they join the original study.
    deidentify
        Pseudonymise the study before anything else (PS3.15 basic profile): the tables and
        DICOM outputs then carry only the pseudonym.
    clinical
        CSV of clinical (and ``batch`` / ``treatment``) columns the model needs, keyed by
        ``patient_id`` = the DICOM Patient ID.
    label
        ROI (name or number) of the RTSTRUCT / SEG to score; default the model's label.
    series_uid, mask_series_uid
        Choose the image series / the mask when the study has several.
    impute_clinical, n_jobs, progress
        As for :meth:`~radiopredict.study.StudyModel.predict`.
    model_name
        Algorithm name written into the SEG and SR (default ``radiopredict StudyModel``); the
        algorithm version is the radiopredict version that wrote the bundle and a digest of
        the bundle's file hashes, so a report names the exact model.

    Returns
    -------
    dict
        Paths of the tables (``predictions``, ``failures``...), ``seg``, ``sr``, ``key`` (with
        ``deidentify``), ``stored`` (SOP Instance UIDs, with ``store``) and ``patient_id``.

    Raises
    ------
    FeatureComputationError
        The model could not score the study (the failure is in ``failures.csv``).
    ConfigError
        The study has no RTSTRUCT / SEG and the model has no segmentation network.
    """
    from radiopredict.cohort import Cohort
    from radiopredict.dicom.results import (
        fetch_inputs,
        read_inputs,
        store_results,
        write_results,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = out / "pseudonyms.json" if deidentify else None
    inputs = fetch_inputs(
        url,
        study_uid,
        out / "input",
        key_file=key,
        series_uid=series_uid,
        mask_series_uid=mask_series_uid,
        client=client,
    )
    patient_id = _patient_id(inputs.image_folder)
    original_id = patient_id
    if key is not None:
        import json

        entry = json.loads(key.read_text())["patients"].get(patient_id, {})
        original_id = str(entry.get("PatientID", patient_id))
    if label is None:
        label = model.study.features.label
    segments = getattr(model, "segmentation_model_", None) is not None
    if inputs.mask_path is None and not segments:
        raise ConfigError(
            f"study {study_uid} has no RTSTRUCT or SEG on series {inputs.series_uid}, and the "
            "model has no segmentation network",
            fix="store the tumour's RTSTRUCT or SEG in the study, or use a bundle trained with "
            "segmentation enabled",
        )
    row: dict[str, Any] = {
        "patient_id": patient_id,
        "image": str(inputs.image_folder),
        "mask": str(inputs.mask_path) if inputs.mask_path is not None else "",
        "label": label if label not in (None, "all") else None,
    }
    if clinical is not None:
        row.update(_clinical_row(Path(clinical), original_id, patient_id))
    cohort = Cohort.from_dataframe(pd.DataFrame([row]), root=out)
    work = out / "work"
    prediction = model.predict(
        cohort,
        work_dir=work,
        n_jobs=n_jobs,
        impute_clinical=impute_clinical,
        progress=progress,
    )
    paths: dict[str, Any] = dict(prediction.write(out))
    paths["patient_id"] = patient_id
    if key is not None:
        paths["key"] = key
    if prediction.predictions.empty:
        fail = prediction.failures
        why = "; ".join(f"{r.stage}: {r.error}" for r in fail.itertuples()) or "no prediction"
        raise FeatureComputationError(
            f"study {study_uid} could not be scored: {why}",
            patient=patient_id,
            path=paths["failures"],
            fix="see failures.csv",
        )
    image, mask, names = read_inputs(inputs, label=None if label == "all" else label)
    automatic = segments
    if segments:
        found = sorted(work.rglob(f"{patient_id}*_seg.nii.gz"))
        if not found:
            raise FeatureComputationError(
                "the model's predicted mask was not found",
                patient=patient_id,
                path=work,
                fix="check the segmentation step in failures.csv",
            )
        from radiopredict.imaging import read_mask

        mask = read_mask(found[0], reference=image)
        names = {1: "tumour (predicted)"}
    if mask is None:  # pragma: no cover - excluded above
        raise ConfigError("no mask", fix="store a mask")
    if len(names) > 1:  # the model's ROI is every labelled voxel
        arr = (sitk.GetArrayViewFromImage(mask) != 0).astype(np.uint8)
        binary = sitk.GetImageFromArray(arr)
        binary.CopyInformation(mask)
        mask, names = binary, {1: " + ".join(names.values())[:64]}
    roi = names[1] if 1 in names else next(iter(names.values()))
    features = report_features(prediction.X, patient_id, prediction.undefined)
    outputs = prediction.predictions.loc[patient_id].drop(labels=["n_undefined"], errors="ignore")
    outputs = outputs[pd.to_numeric(outputs, errors="coerce").notna()].astype(float)
    version = _model_version(model)
    files = write_results(
        inputs,
        mask,
        names,
        features.to_frame(roi).T,
        outputs.to_dict(),
        out / "dicom",
        model_name=model_name or "radiopredict StudyModel",
        model_version=version,
        automatic=automatic,
    )
    paths["seg"], paths["sr"] = files.seg, files.sr
    if store:
        paths["stored"] = store_results(url, files, key_file=key, client=client)
    return paths
