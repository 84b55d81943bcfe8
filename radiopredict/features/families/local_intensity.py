"""Local intensity features (IBSI-1 section 3.2).

The local mean :math:`\\bar X_{k}` of a voxel is the mean grey value of the image voxels whose
centres lie within a sphere of volume 1 cm^3 (radius :math:`r = (3/(4\\pi))^{1/3}` cm
:math:`\\approx 6.20` mm) around it. Voxels outside the image do not count. The means are
computed for every voxel at once by an FFT convolution with the spherical kernel.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from radiopredict.features.preprocess import LOCAL_PEAK_RADIUS_MM
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "FEATURES", "sphere_kernel"]

F = "local_intensity"
FEATURES = [
    FeatureDef(
        "loc_peak_loc",
        "VJGA",
        F,
        "Local intensity peak",
        r"\max\{\bar X_k : X_k = \max_{j} X_j\}",
        "Highest local mean among the ROI voxels that hold the maximum grey value.",
    ),
    FeatureDef(
        "loc_peak_glob",
        "0F91",
        F,
        "Global intensity peak",
        r"\max_{k \in ROI} \bar X_k",
        "Highest local mean over all ROI voxels.",
    ),
]
register(*FEATURES)


def sphere_kernel(spacing: tuple[float, float, float], radius: float = LOCAL_PEAK_RADIUS_MM):
    """Boolean kernel of the voxels whose centres lie within ``radius`` mm of the centre."""
    half = [int(np.floor(radius / s + 1e-9)) for s in spacing]
    grids = np.meshgrid(
        *[np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)], indexing="ij"
    )
    return (grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2) <= radius**2 + 1e-9


def _convolve_same(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Linear convolution of ``a`` with an odd-sized symmetric kernel, cropped to ``a``."""
    full = [sa + sk - 1 for sa, sk in zip(a.shape, k.shape, strict=True)]
    fshape = [sfft.next_fast_len(n, real=True) for n in full]
    res = sfft.irfftn(sfft.rfftn(a, fshape) * sfft.rfftn(k, fshape), fshape)
    h = [(sk - 1) // 2 for sk in k.shape]
    return res[tuple(slice(hh, hh + sa) for hh, sa in zip(h, a.shape, strict=True))]


def compute(image: np.ndarray, roi: np.ndarray, spacing: tuple[float, float, float]) -> dict:
    """Local and global intensity peaks.

    Parameters
    ----------
    image
        Grey values ``(z, y, x)`` around the ROI; must extend at least the sphere radius beyond
        the ROI where the original image does.
    roi
        Intensity mask (bool, same shape).
    spacing
        ``(z, y, x)`` spacing in mm.
    """
    kernel = sphere_kernel(spacing).astype(np.float64)
    # restrict to the region the ROI's spheres can reach
    nz = np.nonzero(roi)
    half = [(k - 1) // 2 for k in kernel.shape]
    sl = tuple(
        slice(max(0, a.min() - h), min(n, a.max() + h + 1))
        for a, h, n in zip(nz, half, image.shape, strict=True)
    )
    img = image[sl].astype(np.float64)
    sub = roi[sl]
    # subtract an offset so the FFT works on small numbers, add it back afterwards
    off = float(img[sub].mean())
    sums = _convolve_same(img - off, kernel)
    clipped = any(
        a.min() - h < 0 or a.max() + h + 1 > n
        for a, h, n in zip(nz, half, image.shape, strict=True)
    )
    # away from the image border every sphere holds the whole kernel
    counts = _convolve_same(np.ones_like(img), kernel) if clipped else float(kernel.sum())
    local = sums / np.rint(counts) + off
    vals = img[sub]
    loc = local[sub]
    vmax = vals.max()
    return {
        "loc_peak_loc": float(loc[vals == vmax].max()),
        "loc_peak_glob": float(loc.max()),
    }
