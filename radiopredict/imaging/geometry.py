"""Voxel-grid geometry: compare two images' grids and put a mask on a reference grid.

A grid is the size (voxels per axis), the spacing (mm), the origin (physical position of the
centre of the first voxel, mm) and the direction cosines of a :class:`SimpleITK.Image`.
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import SimpleITK as sitk

from radiopredict.errors import GeometryMismatchError

__all__ = [
    "check_geometry",
    "describe_geometry",
    "geometry_differences",
    "is_subgrid",
    "resample_to_reference",
]


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def describe_geometry(image: sitk.Image) -> str:
    """One-line summary of an image's grid: size, spacing, origin and direction.

    Parameters
    ----------
    image
        Any SimpleITK image.

    Returns
    -------
    str
        ``"size (x, y, z), spacing (...) mm, origin (...) mm, direction (...)"``.
    """
    return (
        f"size {tuple(image.GetSize())}, spacing {_fmt(image.GetSpacing())} mm, "
        f"origin {_fmt(image.GetOrigin())} mm, direction {_fmt(image.GetDirection())}"
    )


def geometry_differences(a: sitk.Image, b: sitk.Image, tolerance: float = 1e-4) -> list[str]:
    """List how the voxel grids of two images differ.

    Two grids agree when they have the same dimension and size, and

    - spacing: $|s_a - s_b| \\le \\tau \\max(s_a, s_b)$ per axis (relative),
    - origin: $|o_a - o_b| \\le \\tau \\max(\\min(s_a, s_b), 1\\,\\mathrm{mm})$ per axis (a
      fraction $\\tau$ of the smallest voxel spacing, at least $\\tau$ mm, which absorbs the
      float32 rounding of NIfTI headers),
    - direction: $|d_a - d_b| \\le \\tau$ per cosine (absolute),

    with $\\tau$ = ``tolerance``.

    Parameters
    ----------
    a, b
        The images to compare (typically a mask and its image).
    tolerance
        $\\tau$ above; must be non-negative.

    Returns
    -------
    list of str
        One readable line per differing property; empty when the grids agree.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    diffs: list[str] = []
    if a.GetDimension() != b.GetDimension():
        return [f"dimension {a.GetDimension()} != {b.GetDimension()}"]
    if a.GetSize() != b.GetSize():
        diffs.append(f"size {tuple(a.GetSize())} != {tuple(b.GetSize())}")
    sa, sb = np.asarray(a.GetSpacing()), np.asarray(b.GetSpacing())
    if np.any(np.abs(sa - sb) > tolerance * np.maximum(sa, sb)):
        diffs.append(f"spacing {_fmt(sa)} != {_fmt(sb)} mm")
    oa, ob = np.asarray(a.GetOrigin()), np.asarray(b.GetOrigin())
    if np.any(np.abs(oa - ob) > tolerance * max(min(sa.min(), sb.min()), 1.0)):
        diffs.append(f"origin {_fmt(oa)} != {_fmt(ob)} mm")
    da, db = np.asarray(a.GetDirection()), np.asarray(b.GetDirection())
    if np.any(np.abs(da - db) > tolerance):
        diffs.append(f"direction {_fmt(da)} != {_fmt(db)}")
    return diffs


def is_subgrid(mask: sitk.Image, reference: sitk.Image, tolerance: float = 1e-4) -> bool:
    """Whether every voxel centre of ``mask`` is a voxel centre of ``reference``.

    True when spacing and direction agree and the origin of ``mask`` lies on the reference grid
    (an integer voxel offset, within ``tolerance`` of a voxel). Such a mask (for example a
    DICOM-SEG that stores only the slices it covers) can be pasted onto the reference grid
    exactly, without interpolation.
    """
    if mask.GetDimension() != reference.GetDimension():
        return False
    sm, sr = np.asarray(mask.GetSpacing()), np.asarray(reference.GetSpacing())
    if np.any(np.abs(sm - sr) > tolerance * np.maximum(sm, sr)):
        return False
    dm, dr = np.asarray(mask.GetDirection()), np.asarray(reference.GetDirection())
    if np.any(np.abs(dm - dr) > tolerance):
        return False
    index = np.asarray(reference.TransformPhysicalPointToContinuousIndex(mask.GetOrigin()))
    return bool(np.all(np.abs(index - np.round(index)) <= max(tolerance, 1e-3)))


def resample_to_reference(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Resample a mask onto the reference grid with nearest-neighbour interpolation.

    Voxels of the reference grid that fall outside the mask's extent get 0. The pixel type of
    ``mask`` is kept.
    """
    return sitk.Resample(
        mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID()
    )


def check_geometry(
    mask: sitk.Image,
    reference: sitk.Image,
    *,
    on_mismatch: str = "raise",
    tolerance: float = 1e-4,
    path: str | PathLike[str] | None = None,
    allow_subgrid: bool = False,
) -> sitk.Image:
    """Return ``mask`` on the grid of ``reference``, or raise when the grids differ.

    Parameters
    ----------
    mask
        The mask to check.
    reference
        The image whose grid the mask must share.
    on_mismatch
        ``"raise"``: raise :class:`~radiopredict.errors.GeometryMismatchError` that prints both
        grids; ``"resample"``: resample the mask onto the reference (nearest neighbour).
    tolerance
        See :func:`geometry_differences`.
    path
        The mask's file, named in the error.
    allow_subgrid
        Paste a mask whose voxels are a subset of the reference grid (see :func:`is_subgrid`)
        without raising (used for DICOM-SEG, which may store only some slices).

    Returns
    -------
    SimpleITK.Image
        The mask, with the reference's grid copied onto it when the grids agree within
        ``tolerance`` (so that SimpleITK filters accept the pair).
    """
    if on_mismatch not in ("raise", "resample"):
        from radiopredict.errors import ConfigError

        raise ConfigError(
            f"on_mismatch must be 'raise' or 'resample', got {on_mismatch!r}",
            fix="pass on_mismatch='raise' (default) or on_mismatch='resample'",
        )
    diffs = geometry_differences(mask, reference, tolerance)
    if not diffs:
        if mask.GetSize() == reference.GetSize():
            mask = sitk.Image(mask)
            mask.CopyInformation(reference)
        return mask
    if on_mismatch == "resample" or (allow_subgrid and is_subgrid(mask, reference, tolerance)):
        return resample_to_reference(mask, reference)
    raise GeometryMismatchError(
        "mask and image grids differ: "
        + "; ".join(diffs)
        + f". Mask: {describe_geometry(mask)}. Image: {describe_geometry(reference)}",
        path=path,
        fix=(
            "check that the mask belongs to this image; if it does, pass "
            "on_mismatch='resample' to resample the mask (nearest neighbour) onto the image, "
            "or raise `tolerance` for rounding differences"
        ),
    )
