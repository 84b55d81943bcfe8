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

__all__ = ["compute", "compute_many", "FEATURES", "sphere_kernel"]

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


#: Most voxels of one packed FFT of :func:`compute_many`.
PACK_BUDGET = 4_000_000


def compute_many(
    items: list[tuple[np.ndarray, np.ndarray]], spacing: tuple[float, float, float]
) -> list[dict[str, float]]:
    """:func:`compute` for several ``(image, roi)`` pairs with one FFT convolution per batch.

    The region each ROI's spheres reach is cut out of its image and the regions are placed
    side by side along x, separated by the kernel's half-width of empty voxels, with a weight
    of 1 on each region: the weighted sums and voxel counts of every sphere are those of the
    ROI's own image (voxels beyond its image do not count, as in :func:`compute`). Each region
    is shifted by the mean of its ROI's grey values and divided by a power of two near its
    spread before the FFT, and restored after, so that regions of very different magnitude
    (an image and its filter responses) keep their own precision.
    """
    kernel = sphere_kernel(spacing).astype(np.float64)
    half = [(k - 1) // 2 for k in kernel.shape]
    regions = []
    for image, roi in items:
        nz = np.nonzero(roi)
        sl = tuple(
            slice(max(0, a.min() - h), min(n, a.max() + h + 1))
            for a, h, n in zip(nz, half, image.shape, strict=True)
        )
        img = image[sl].astype(np.float64)
        sub = roi[sl]
        off = float(img[sub].mean())
        # a power of two near the region's spread: scaling by it is exact, and every region
        # then enters the shared FFT at a similar magnitude (its rounding error stays its own)
        spread = float(np.abs(img - off).max())
        scale = 2.0 ** np.round(np.log2(spread)) if spread > 0 else 1.0
        regions.append((img, sub, off, scale))
    out: list[dict[str, float]] = [{} for _ in items]
    start = 0
    while start < len(regions):  # batches of at most PACK_BUDGET voxels (at least one region)
        stop, volume = start, 0
        while stop < len(regions) and (stop == start or volume < PACK_BUDGET):
            volume += regions[stop][0].size + half[2] * np.prod(regions[stop][0].shape[:2])
            stop += 1
        batch = regions[start:stop]
        shape = (
            max(r[0].shape[0] for r in batch),
            max(r[0].shape[1] for r in batch),
            sum(r[0].shape[2] + half[2] for r in batch),
        )
        values = np.zeros(shape)
        weight = np.zeros(shape)
        x0 = 0
        places = []
        for img, _, off, scale in batch:
            z, y, x = img.shape
            values[:z, :y, x0 : x0 + x] = (img - off) / scale
            weight[:z, :y, x0 : x0 + x] = 1.0
            places.append((slice(0, z), slice(0, y), slice(x0, x0 + x)))
            x0 += x + half[2]
        sums = _convolve_same(values, kernel)
        counts = np.rint(_convolve_same(weight, kernel))
        for k, ((img, sub, off, scale), place) in enumerate(zip(batch, places, strict=True)):
            local = sums[place][sub] * scale / counts[place][sub] + off
            vals = img[sub]
            out[start + k] = {
                "loc_peak_loc": float(local[vals == vals.max()].max()),
                "loc_peak_glob": float(local.max()),
            }
        start = stop
    return out
