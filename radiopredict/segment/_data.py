"""Segmentation data: preprocessing, training-case loading, mask writing. No torch here.

Case reading (:func:`~radiopredict.imaging.cases.as_cases`, ``read_case_image``,
``read_case_mask``) lives in :mod:`radiopredict.imaging.cases`, shared with the embeddings; the
names are re-exported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from radiopredict._provenance import sha256_file
from radiopredict._settings import Settings, option
from radiopredict.cohort import Case
from radiopredict.errors import ConfigError
from radiopredict.imaging.cases import as_cases, case_name, read_case_image, read_case_mask

__all__ = [
    "Preprocessing",
    "as_cases",
    "case_name",
    "read_case_image",
    "read_case_mask",
    "file_hash",
    "write_mask_file",
]


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
