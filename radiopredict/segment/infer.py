"""Cohort inference: predict, post-process and write masks, return a cohort that uses them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import SimpleITK as sitk

from radiopredict._torch import torch_threads
from radiopredict.cohort import Case, Cohort
from radiopredict.errors import ConfigError, RadiopredictError
from radiopredict.imaging.cases import as_cases, case_name, read_case_image
from radiopredict.parallel import resolve_progress, track
from radiopredict.segment._data import write_mask_file
from radiopredict.segment.model import SegmentationModel
from radiopredict.segment.postprocess import postprocess_mask

__all__ = ["predict_masks", "predict_image"]


def predict_image(
    model: SegmentationModel,
    image: sitk.Image,
    *,
    postprocess: dict[str, Any] | bool = True,
    device: str = "auto",
    overlap: float = 0.5,
    sw_batch_size: int = 4,
) -> sitk.Image:
    """Binary UInt8 mask (0/1) of ``image`` predicted by ``model``, post-processed.

    Parameters
    ----------
    postprocess
        True: :func:`~radiopredict.segment.postprocess.postprocess_mask` defaults (largest
        component, hole filling); a dict: its keyword arguments; False: raw argmax.
    device, overlap, sw_batch_size
        Sliding-window inference settings (Gaussian blending).
    """
    labels = model.predict_image(image, device=device, overlap=overlap, sw_batch_size=sw_batch_size)
    mask = sitk.Cast(sitk.Equal(labels, 1), sitk.sitkUInt8)
    mask.CopyInformation(image)
    if postprocess is True:
        mask = postprocess_mask(mask)
    elif isinstance(postprocess, dict):
        mask = postprocess_mask(mask, **postprocess)
    return mask


def predict_masks(
    cases: Cohort | Iterable[Any],
    model: SegmentationModel | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    postprocess: dict[str, Any] | bool = True,
    device: str = "auto",
    overlap: float = 0.5,
    sw_batch_size: int = 4,
    num_threads: int | None = None,
    overwrite: bool = False,
    on_error: str = "raise",
    progress: bool = True,
    progress_bar: bool | None = None,
) -> Cohort | list[Case]:
    """Segment every image and write the masks as NIfTI under ``out_dir``.

    Each distinct image is predicted once; its mask is written as
    ``<out_dir>/<patient>[_<modality>][_<timepoint>]_seg.nii.gz`` with the case's integer label
    value as foreground (1 when the case has no label or a label name, whose name is then stored
    via ``radiopredict.imaging.write_mask``).

    Parameters
    ----------
    cases
        A Cohort, Cases, or image paths / ``(image, mask)`` pairs (masks are ignored).
    model
        A :class:`SegmentationModel` or the path of a saved one.
    out_dir
        Folder for the masks (created).
    postprocess
        See :func:`predict_image`.
    device, overlap, sw_batch_size, num_threads
        Inference settings (``num_threads``: torch CPU threads).
    overwrite
        Re-predict when the mask file exists (otherwise existing files are reused).
    on_error
        ``"raise"`` stops at the first failing case; ``"record"`` skips it (keeping its old mask)
        and lists it in ``result.attrs``-like ``failures`` (see Returns).
    progress
        Show a progress bar.
    progress_bar
        Deprecated spelling of ``progress``.

    Returns
    -------
    Cohort or list of Case
        ``cohort.with_masks(...)`` when a Cohort was given, else new Case objects. When
        ``on_error="record"`` the failures table (patient_id, image, error) is the attribute
        ``failures`` of the returned cohort (or list).
    """
    show_progress = resolve_progress(progress, progress_bar, where="predict_masks")
    if on_error not in ("record", "raise"):
        raise ConfigError(
            f"on_error must be 'record' or 'raise', got {on_error!r}",
            fix="use on_error='record' or on_error='raise'",
        )
    if not isinstance(model, SegmentationModel):
        model = SegmentationModel.load(model)
    # absolute: the returned cohort resolves relative paths against its own root, not the cwd
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    case_list = as_cases(cases)
    done: dict[tuple[str, int | str | None], Path] = {}
    mapping: dict[Any, Path] = {}
    failures = []
    with torch_threads(num_threads):
        for case in track(
            case_list, total=len(case_list), description="segmenting", enabled=show_progress
        ):
            value = case.label if isinstance(case.label, int) else 1
            key = (str(case.image), value)
            if key in done:
                mapping[case.key] = done[key]
                continue
            suffix = "" if value == 1 else f"_label{value}"
            path = out / f"{case_name(case)}{suffix}_seg.nii.gz"
            try:
                if overwrite or not path.exists():
                    image = read_case_image(case)
                    mask = predict_image(
                        model,
                        image,
                        postprocess=postprocess,
                        device=device,
                        overlap=overlap,
                        sw_batch_size=sw_batch_size,
                    )
                    names = {value: str(case.label)} if isinstance(case.label, str) else None
                    write_mask_file(sitk.Cast(mask * value, sitk.sitkUInt8), path, names)
            except RadiopredictError as exc:
                if on_error == "raise":
                    raise
                failures.append(
                    {"patient_id": case.patient_id, "image": str(case.image), "error": str(exc)}
                )
                continue
            done[key] = path
            mapping[case.key] = path
    failure_table = pd.DataFrame(failures, columns=["patient_id", "image", "error"])
    if isinstance(cases, Cohort):
        result: Any = cases.with_masks(mapping)
    else:
        result = _CaseList(
            Case(
                patient_id=c.patient_id,
                image=c.image,
                mask=mapping.get(c.key, c.mask),
                label=c.label,
                modality=c.modality,
                timepoint=c.timepoint,
            )
            for c in case_list
        )
    result.failures = failure_table
    return result


class _CaseList(list):
    """A list of Case with a ``failures`` attribute."""

    failures: pd.DataFrame
