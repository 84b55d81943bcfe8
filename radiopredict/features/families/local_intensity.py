"""Local intensity features (IBSI-1 section 3.2).

The local mean :math:`\\bar X_{k}` of a voxel is the mean grey value of the image voxels whose
centres lie within a sphere of volume 1 cm^3 (radius :math:`r = (3/(4\\pi))^{1/3}` cm
:math:`\\approx 6.20` mm) around it. Voxels outside the image do not count. The means are
computed for the ROI voxels only, from running sums along x of the rows of the sphere; for a
large ROI on a fine grid (many rows times many voxels) from one FFT convolution of its region
instead, whichever costs less (the two agree to rounding).
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
    return compute_many([(image, roi)], spacing)[0]


#: Most ROI voxels handled by one vectorised pass of :func:`compute_many`.
VOXEL_BUDGET = 1_000_000


def compute_many(
    items: list[tuple[np.ndarray, np.ndarray]], spacing: tuple[float, float, float]
) -> list[dict[str, float]]:
    """:func:`compute` for several ``(image, roi)`` pairs, vectorised over all their voxels.

    The sphere is a stack of rows along x, each a contiguous run of voxels, so the sum of a
    voxel's sphere is a sum, over the sphere's rows, of differences of running sums along x
    (clipped where a row leaves the image, whose voxels do not count). Only the ROI voxels'
    means are formed. Each ROI's grey values are shifted by their mean first (and the mean
    added back) so the running sums stay small. A ROI for which one FFT convolution of its
    region costs less (many voxels on a fine grid, so many rows) is computed that way.
    """
    kernel = sphere_kernel(spacing)
    half = [(k - 1) // 2 for k in kernel.shape]
    widths = kernel.sum(axis=2)  # row lengths, odd and centred
    rows = [
        (dz - half[0], dy - half[1], (int(widths[dz, dy]) - 1) // 2)
        for dz in range(kernel.shape[0])
        for dy in range(kernel.shape[1])
        if widths[dz, dy] > 0
    ]
    fft = [_fft_cheaper(roi, kernel.shape, len(rows)) for _, roi in items]
    out: list[dict[str, float] | None] = [None] * len(items)
    for i in (i for i, use in enumerate(fft) if use):
        out[i] = _peaks_fft(*items[i], kernel)
    rest = [i for i, use in enumerate(fft) if not use]
    start = 0
    while start < len(rest):
        stop, voxels = start, 0
        while stop < len(rest) and (stop == start or voxels < VOXEL_BUDGET):
            voxels += int(np.count_nonzero(items[rest[stop]][1]))
            stop += 1
        part = rest[start:stop]
        for i, res in zip(part, _peaks([items[i] for i in part], rows, half), strict=True):
            out[i] = res
        start = stop
    return out  # type: ignore[return-value]


#: Cost of one FFT element (times log2 of the FFT size) and the fixed cost of one ROI's FFTs,
#: both in voxel-row steps of the running sums; measured on this project's 2-core machine
#: (about 0.7 ns and 0.5 ms against 35 ns a voxel-row step).
FFT_ELEMENT_COST = 0.02
FFT_FIXED_COST = 15_000


def _fft_cheaper(roi: np.ndarray, kernel_shape, n_rows: int) -> bool:
    """Whether FFT convolutions of the ROI's region (sums and, at worst, counts: three
    transforms of the region padded by the sphere) cost less than ``n_rows`` running-sum
    steps per ROI voxel."""
    steps = int(np.count_nonzero(roi)) * n_rows
    if steps <= FFT_FIXED_COST:
        return False
    extent = [len(a) and a[-1] - a[0] + 1 for a in _occupied(roi)]
    size = float(np.prod([e + 2 * (k - 1) for e, k in zip(extent, kernel_shape, strict=True)]))
    return FFT_FIXED_COST + FFT_ELEMENT_COST * 3 * size * np.log2(size) < steps


def _occupied(roi: np.ndarray) -> list[np.ndarray]:
    """Indices of the occupied slices, rows and columns of a 3-D mask."""
    return [np.flatnonzero(roi.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]


def _convolve_same(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Linear convolution of ``a`` with an odd-sized symmetric kernel, cropped to ``a``."""
    full = [sa + sk - 1 for sa, sk in zip(a.shape, k.shape, strict=True)]
    fshape = [sfft.next_fast_len(n, real=True) for n in full]
    res = sfft.irfftn(sfft.rfftn(a, fshape) * sfft.rfftn(k, fshape), fshape)
    h = [(sk - 1) // 2 for sk in k.shape]
    return res[tuple(slice(hh, hh + sa) for hh, sa in zip(h, a.shape, strict=True))]


def _region(image: np.ndarray, roi: np.ndarray, half):
    """The region the ROI's spheres reach, as float64, with its ROI mask, the ROI's grey
    values, their mean (an offset that keeps sums small; added back after) and whether a
    sphere leaves the image."""
    nz = np.nonzero(roi)
    bounds = [
        (a.min() - h, a.max() + h + 1, n) for a, h, n in zip(nz, half, image.shape, strict=True)
    ]
    sl = tuple(slice(max(0, lo), min(n, hi)) for lo, hi, n in bounds)
    img = np.asarray(image[sl], dtype=np.float64)
    sub = roi[sl]
    vals = img[sub]
    clipped = any(lo < 0 or hi > n for lo, hi, n in bounds)
    return img, sub, vals, float(vals.mean()), clipped


def _peaks_fft(image: np.ndarray, roi: np.ndarray, kernel: np.ndarray) -> dict[str, float]:
    """The peaks of one ROI from FFT convolutions of its region with the sphere (the sum of
    grey values, and where a sphere leaves the image the count of voxels inside it)."""
    img, sub, vals, off, clipped = _region(image, roi, [(k - 1) // 2 for k in kernel.shape])
    k = kernel.astype(np.float64)
    sums = _convolve_same(img - off, k)[sub]
    counts = np.rint(_convolve_same(np.ones_like(img), k)[sub]) if clipped else float(k.sum())
    local = sums / counts + off
    return {
        "loc_peak_loc": float(local[vals == vals.max()].max()),
        "loc_peak_glob": float(local.max()),
    }


def _peaks(items, rows, half) -> list[dict[str, float]]:
    prefix, base, dims, coords, owner, offsets, roi_values = [], [], [], [], [], [], []
    pos = 0
    for k, (image, roi) in enumerate(items):
        img, sub, vals, off, _ = _region(image, roi, half)
        z, y, x = img.shape
        run = np.zeros((z, y, x + 1))
        np.cumsum(img - off, axis=2, out=run[:, :, 1:])
        prefix.append(run.ravel())
        base.append(pos)
        pos += run.size
        c = np.nonzero(sub)
        coords.append(np.stack(c))
        dims.append(np.repeat([[z, y, x]], len(c[0]), axis=0))
        owner.append(np.full(len(c[0]), k))
        offsets.append(off)
        roi_values.append(vals)
    run_all = np.concatenate(prefix)
    z, y, x = np.concatenate(coords, axis=1)
    zdim, ydim, xdim = np.concatenate(dims).T
    item = np.concatenate(owner)
    start = np.asarray(base)[item]
    sums = np.zeros(len(item))
    counts = np.zeros(len(item), dtype=np.int64)
    for dz, dy, w in rows:
        zz, yy = z + dz, y + dy
        inside = (zz >= 0) & (zz < zdim) & (yy >= 0) & (yy < ydim)
        hi = np.minimum(x + w + 1, xdim)
        lo = np.maximum(x - w, 0)
        row = start + (zz * ydim + yy) * (xdim + 1)
        idx = np.flatnonzero(inside)
        sums[idx] += run_all[row[idx] + hi[idx]] - run_all[row[idx] + lo[idx]]
        counts[idx] += hi[idx] - lo[idx]
    local = sums / counts + np.asarray(offsets)[item]
    out = []
    bounds = np.cumsum([0] + [len(v) for v in roi_values])
    for k, vals in enumerate(roi_values):
        loc = local[bounds[k] : bounds[k + 1]]  # same order as vals (both C order of sub)
        out.append(
            {
                "loc_peak_loc": float(loc[vals == vals.max()].max()),
                "loc_peak_glob": float(loc.max()),
            }
        )
    return out
