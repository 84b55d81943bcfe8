"""ROI-centred crops of a fixed physical size, resampled with SimpleITK (no torch needed).

A crop is a grid of ``shape`` voxels covering ``size_mm`` millimetres, so the voxel spacing is
:math:`s_i = \\mathrm{size}_i / \\mathrm{shape}_i` whatever the image's own spacing. It is centred
on the ROI's centre of mass :math:`c = \\frac{1}{N} \\sum_{v \\in ROI} x_v` (physical
coordinates) and keeps the image's direction cosines, so the grid origin is
:math:`o = c - R \\, (s \\odot (\\mathrm{shape} - 1) / 2)` with :math:`R` the direction matrix.
Outside the image the crop holds ``pad_value`` (default: the image minimum).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from radiopredict._settings import Settings, option
from radiopredict.cohort import Case
from radiopredict.errors import ConfigError, EmptyMaskError
from radiopredict.imaging.cases import read_case_image, read_case_mask

__all__ = ["CropSettings", "roi_centre", "roi_crop", "case_crop"]


@dataclass(frozen=True)
class CropSettings(Settings):
    """How a case becomes a network input.

    Parameters
    ----------
    size_mm
        Physical extent (x, y, z) of the crop in mm.
    shape
        Voxels (x, y, z) of the crop; the array is returned as (z, y, x).
    intensity
        ``"zscore"`` (per crop: :math:`(x - \\mu) / \\sigma`) or ``"window"``
        (:math:`(\\mathrm{clip}(x, lo, hi) - lo) / (hi - lo)`).
    window
        ``(lo, hi)`` for ``intensity="window"``.
    include_mask
        Add the ROI mask as a second channel.
    pad_value
        Intensity outside the image; None uses the image minimum.
    """

    size_mm: tuple[float, float, float] = option((64.0, 64.0, 64.0), gt=0)
    shape: tuple[int, int, int] = option((32, 32, 32), ge=1)
    intensity: str = option(
        "zscore",
        choices=("zscore", "window"),
        fix="use 'zscore' or 'window' with window=(lo, hi)",
    )
    window: tuple[float, float] | None = None
    include_mask: bool = False
    pad_value: float | None = None

    def validate(self) -> None:
        """``intensity="window"`` needs a window."""
        if self.intensity == "window" and (self.window is None or self.window[1] <= self.window[0]):
            raise ConfigError(
                f"intensity='window' needs window=(lo, hi) with lo < hi, got {self.window!r}",
                fix="pass e.g. window=(-200, 300)",
            )

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel spacing of the crop (mm)."""
        return tuple(float(m) / int(n) for m, n in zip(self.size_mm, self.shape, strict=True))

    @property
    def channels(self) -> int:
        """Input channels of the network: 2 with the mask channel, else 1."""
        return 2 if self.include_mask else 1

    def to_json(self) -> str:
        """The settings as canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def roi_centre(mask: sitk.Image) -> tuple[float, float, float]:
    """Physical centre of mass of the non-zero voxels of ``mask``."""
    binary = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(binary)
    if not stats.HasLabel(1):
        raise EmptyMaskError(
            "the ROI mask is empty, there is no centre to crop around",
            fix="check the mask and its label",
        )
    return tuple(float(v) for v in stats.GetCentroid(1))


def roi_crop(
    image: sitk.Image,
    centre: Sequence[float],
    settings: CropSettings,
    *,
    is_mask: bool = False,
) -> sitk.Image:
    """Resample ``image`` onto the crop grid centred at ``centre`` (physical point).

    Returns a Float32 image (UInt8 with nearest-neighbour interpolation when ``is_mask``) whose
    size is ``settings.shape`` and spacing ``settings.spacing``.
    """
    spacing = np.array(settings.spacing)
    shape = np.array(settings.shape, dtype=float)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.asarray(centre, dtype=float) - direction @ (spacing * (shape - 1) / 2.0)
    if is_mask:
        interp, pixel, pad = sitk.sitkNearestNeighbor, sitk.sitkUInt8, 0.0
    else:
        interp, pixel = sitk.sitkLinear, sitk.sitkFloat32
        pad = settings.pad_value
        if pad is None:
            pad = float(sitk.GetArrayViewFromImage(image).min())
    return sitk.Resample(
        image,
        [int(s) for s in settings.shape],
        sitk.Transform(),
        interp,
        [float(o) for o in origin],
        [float(s) for s in spacing],
        image.GetDirection(),
        float(pad),
        pixel,
    )


def _normalise(a: np.ndarray, settings: CropSettings) -> np.ndarray:
    if settings.intensity == "window":
        lo, hi = settings.window
        return ((np.clip(a, lo, hi) - lo) / (hi - lo)).astype(np.float32)
    std = float(a.std())
    return ((a - float(a.mean())) / (std if std > 0 else 1.0)).astype(np.float32)


def case_crop(case: Case, settings: CropSettings) -> np.ndarray:
    """Network input of a case: array ``(channels, z, y, x)`` float32.

    Channel 0 is the normalised image crop; channel 1 (``include_mask``) the binary ROI crop.
    """
    image = read_case_image(case)
    if image.GetDimension() != 3:
        raise ConfigError(
            f"expected a 3D image, got {image.GetDimension()}D",
            patient=case.patient_id,
            path=case.image,
            fix="embeddings are computed on 3D volumes",
        )
    mask = read_case_mask(case, image)
    try:
        centre = roi_centre(mask)
    except EmptyMaskError as exc:
        raise EmptyMaskError(
            exc.problem, patient=case.patient_id, path=case.mask, fix=exc.fix
        ) from None
    img = sitk.GetArrayFromImage(roi_crop(image, centre, settings))
    channels = [_normalise(img, settings)]
    if settings.include_mask:
        m = sitk.GetArrayFromImage(roi_crop(mask, centre, settings, is_mask=True))
        channels.append(m.astype(np.float32))
    return np.stack(channels)
