"""Mask post-processing with SimpleITK: keep the largest component, drop small ones, fill holes.

Works on any binary mask (0 / non-zero), predicted by our U-Net or another tool; no torch needed.
Connectivity is full (26-neighbourhood in 3D).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from radiopredict.errors import ConfigError

__all__ = [
    "largest_component",
    "remove_small_components",
    "fill_holes",
    "postprocess_mask",
    "voxel_volume_mm3",
]


def voxel_volume_mm3(image: sitk.Image) -> float:
    """Volume of one voxel, :math:`\\prod_i s_i` for spacing :math:`s` (mm^3)."""
    return float(np.prod(image.GetSpacing()))


def _binary(mask: sitk.Image) -> sitk.Image:
    return sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)


def _components(mask: sitk.Image) -> sitk.Image:
    """Components relabelled by decreasing size (1 = largest)."""
    cc = sitk.ConnectedComponent(_binary(mask), True)
    return sitk.RelabelComponent(cc, sortByObjectSize=True)


def largest_component(mask: sitk.Image) -> sitk.Image:
    """Binary mask of the largest connected component (empty stays empty)."""
    return sitk.Cast(sitk.Equal(_components(mask), 1), sitk.sitkUInt8)


def remove_small_components(mask: sitk.Image, min_size_mm3: float) -> sitk.Image:
    """Binary mask without components smaller than ``min_size_mm3`` (physical volume)."""
    if min_size_mm3 < 0:
        raise ConfigError(
            f"min_size_mm3 must be >= 0, got {min_size_mm3}", fix="use 0 to keep every component"
        )
    min_voxels = int(np.ceil(min_size_mm3 / voxel_volume_mm3(mask)))
    cc = sitk.RelabelComponent(
        sitk.ConnectedComponent(_binary(mask), True), minimumObjectSize=max(min_voxels, 0)
    )
    return sitk.Cast(sitk.NotEqual(cc, 0), sitk.sitkUInt8)


def fill_holes(mask: sitk.Image) -> sitk.Image:
    """Binary mask with enclosed background cavities filled (3D, full connectivity)."""
    return sitk.BinaryFillhole(_binary(mask), fullyConnected=True, foregroundValue=1)


def postprocess_mask(
    mask: sitk.Image,
    *,
    largest: bool = True,
    min_size_mm3: float | None = None,
    holes: bool = True,
) -> sitk.Image:
    """Clean a predicted binary mask.

    Steps, in order: drop components smaller than ``min_size_mm3`` (when given), keep only the
    largest component (when ``largest``), fill holes (when ``holes``).

    Parameters
    ----------
    mask
        Binary (0 / non-zero) mask.
    largest
        Keep the largest connected component only (one tumour per case). Set False for
        multi-focal disease and use ``min_size_mm3`` instead.
    min_size_mm3
        Remove components below this physical volume.
    holes
        Fill enclosed cavities.

    Returns
    -------
    SimpleITK.Image
        UInt8 mask (0/1) on the same grid.
    """
    out = _binary(mask)
    if min_size_mm3 is not None:
        out = remove_small_components(out, min_size_mm3)
    if largest:
        out = largest_component(out)
    if holes:
        out = fill_holes(out)
    out.CopyInformation(mask)
    return out
