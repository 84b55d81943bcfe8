"""Case handling shared by segmentation and embeddings: reading, binarising, preprocessing.

Works with a :class:`~radiopredict.cohort.Cohort`, a list of
:class:`~radiopredict.cohort.Case`, or a list of ``(image_path, mask_path)`` pairs. No torch here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from radiopredict._provenance import sha256_file
from radiopredict._settings import Settings, option
from radiopredict.cohort import Case, Cohort
from radiopredict.errors import (
    ConfigError,
    InputFileNotFoundError,
    ManifestError,
    RadiopredictError,
)

__all__ = [
    "Preprocessing",
    "as_cases",
    "case_name",
    "read_case_image",
    "read_case_mask",
    "file_hash",
    "write_mask_file",
]


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


def write_mask_file(
    mask: sitk.Image, path: Path, label_names: dict[int, str] | None = None
) -> Path:
    """Write a label map with :func:`radiopredict.imaging.write_mask`."""
    from radiopredict.imaging import write_mask

    write_mask(mask, path, label_names=label_names)
    return path


def file_hash(path: Path, h: Any | None = None) -> Any:
    """Update (or create) a SHA-256 with a file's or a folder's bytes (:func:`sha256_file`)."""
    return sha256_file(path, h if h is not None else hashlib.sha256())


@dataclass(frozen=True)
class Preprocessing(Settings):
    """Image preparation shared by training and inference (saved with the model).

    Parameters
    ----------
    spacing
        Resample images to this voxel spacing in mm (x, y, z) before the network, or None to keep
        the native grid. Predictions are resampled back to the native grid (nearest neighbour).
    intensity
        ``"zscore"``: :math:`(x - \\mu) / \\sigma` over the volume;
        ``"window"``: clip to ``window = (lo, hi)`` and scale to :math:`(x - lo) / (hi - lo)`.
    window
        Intensity window for ``intensity="window"`` (e.g. ``(-200, 300)`` HU for soft tissue).
    """

    spacing: tuple[float, float, float] | None = option(
        None, gt=0, fix="give three positive numbers (mm), x y z"
    )
    intensity: str = option(
        "zscore",
        choices=("zscore", "window"),
        fix="use intensity='zscore' or intensity='window' with window=(lo, hi)",
    )
    window: tuple[float, float] | None = None

    def validate(self) -> None:
        """``intensity="window"`` needs a window."""
        if self.intensity == "window" and (self.window is None or self.window[1] <= self.window[0]):
            raise ConfigError(
                f"intensity='window' needs window=(lo, hi) with lo < hi, got {self.window!r}",
                fix="pass e.g. window=(-200, 300)",
            )

    def resample(self, image: sitk.Image, *, is_mask: bool = False) -> sitk.Image:
        """Resample to :attr:`spacing` (no-op when None)."""
        if self.spacing is None:
            return image
        return resample_to_spacing(image, self.spacing, is_mask=is_mask)

    def normalise(self, array: np.ndarray) -> np.ndarray:
        """Intensity-normalised float32 copy of ``array``."""
        a = array.astype(np.float32)
        if self.intensity == "window":
            lo, hi = self.window
            return (np.clip(a, lo, hi) - lo) / (hi - lo)
        std = float(a.std())
        return (a - float(a.mean())) / (std if std > 0 else 1.0)


def resample_to_spacing(
    image: sitk.Image, spacing: Sequence[float], *, is_mask: bool = False
) -> sitk.Image:
    """Resample ``image`` to ``spacing`` keeping its physical extent, origin and direction."""
    old_sp = np.array(image.GetSpacing(), dtype=float)
    new_sp = np.array(spacing, dtype=float)
    size = np.maximum(1, np.round(np.array(image.GetSize()) * old_sp / new_sp)).astype(int)
    interp = sitk.sitkNearestNeighbor if is_mask else sitk.sitkLinear
    return sitk.Resample(
        image,
        [int(s) for s in size],
        sitk.Transform(),
        interp,
        image.GetOrigin(),
        [float(s) for s in new_sp],
        image.GetDirection(),
        0,
        image.GetPixelID() if is_mask else sitk.sitkFloat32,
    )


def load_training_case(case: Case, prep: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image (float32) and binary mask (uint8) arrays (z, y, x) of a case.

    An empty mask is allowed (a tumour-free case teaches the network background).
    """
    image = read_case_image(case)
    mask = read_case_mask(case, image)
    image, mask = prep.resample(image), prep.resample(mask, is_mask=True)
    m = sitk.GetArrayFromImage(mask).astype(np.uint8)
    return prep.normalise(sitk.GetArrayFromImage(image)), m
