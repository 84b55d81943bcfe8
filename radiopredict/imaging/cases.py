"""Reading the cases of a cohort: images, and binary masks of their label on the image grid.

Works with a :class:`~radiopredict.cohort.Cohort`, a list of :class:`~radiopredict.cohort.Case`,
or a list of ``(image_path, mask_path)`` pairs; errors name the case's patient. Used by
segmentation, mask QC and the embeddings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from radiopredict.cohort import Case, Cohort
from radiopredict.errors import (
    ConfigError,
    InputFileNotFoundError,
    ManifestError,
    RadiopredictError,
)

__all__ = ["as_cases", "case_name", "read_case_image", "read_case_mask"]


def as_cases(cases: Cohort | Iterable[Any]) -> list[Case]:
    """Normalise a Cohort, Cases or ``(image, mask)`` / ``(image,)`` pairs to a list of Case."""
    if isinstance(cases, Cohort):
        return cases.cases()
    if isinstance(cases, (str, os.PathLike)):
        raise ConfigError(
            f"expected a Cohort or a list of cases, got the path {str(cases)!r}",
            fix="load the manifest first with Cohort.read(path)",
        )
    out: list[Case] = []
    for item in cases:
        if isinstance(item, Case):
            out.append(item)
            continue
        if isinstance(item, (str, os.PathLike)):
            item = (item, None)
        if not isinstance(item, Sequence) or not 1 <= len(item) <= 2:
            raise ConfigError(
                f"cannot interpret {item!r} as a case",
                fix="pass a Cohort, Case objects or (image_path, mask_path) pairs",
            )
        image = Path(item[0])
        mask = Path(item[1]) if len(item) > 1 and item[1] is not None else None
        name = image.name.split(".")[0]
        out.append(Case(patient_id=name, image=image, mask=mask))
    return out


def case_name(case: Case) -> str:
    """A file-name-safe name for a case (patient, modality, timepoint)."""
    parts = [case.patient_id]
    if case.modality != "default":
        parts.append(case.modality)
    if case.timepoint != "baseline":
        parts.append(case.timepoint)
    safe = "_".join(parts)
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in safe)


def _with_patient(exc: RadiopredictError, case: Case) -> RadiopredictError:
    """The same error with the case's patient named (when it was not)."""
    if exc.patient is not None or isinstance(exc, ManifestError):
        return exc
    try:
        return type(exc)(exc.problem, patient=case.patient_id, path=exc.path, fix=exc.fix)
    except TypeError:  # a subclass with another signature: keep the original
        return exc


def read_case_image(case: Case) -> sitk.Image:
    """Read the case's image with :func:`radiopredict.imaging.read_image`."""
    from radiopredict.imaging import read_image

    try:
        return read_image(case.image)
    except RadiopredictError as exc:
        raise _with_patient(exc, case) from exc


def read_case_mask(case: Case, reference: sitk.Image, *, require: bool = True) -> sitk.Image | None:
    """Binary UInt8 mask (0/1) of the case's label on the reference grid.

    The label is the case's ``label`` (value or name), or every non-zero voxel when it is None.
    Returns None when the case has no mask and ``require`` is False.
    """
    from radiopredict.imaging import read_mask

    if case.mask is None:
        if not require:
            return None
        raise InputFileNotFoundError(
            "the case has no mask",
            patient=case.patient_id,
            fix="add a mask column to the manifest, or segment first with predict_masks()",
        )
    try:
        mask = read_mask(case.mask, reference, label=case.label)
    except RadiopredictError as exc:
        raise _with_patient(exc, case) from exc
    if case.label is None:
        mask = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    return mask
