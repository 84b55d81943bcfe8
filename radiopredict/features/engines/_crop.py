"""Crop helpers of the engines: the padded index region of a set of ROIs, and ROI groups.

Both engines cut each image down to the ROIs plus the margin their filters and features need, in
index space (x, y, z order, as SimpleITK); the native engine groups nearby ROIs so that a filter
runs once per group (:func:`crop_groups`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["crop_region", "crop_groups", "CROP_OVERHEAD_VOXELS", "MAX_GROUPED_ROIS"]


def crop_region(
    boxes: Sequence[np.ndarray],
    size: Sequence[int],
    pad: Sequence[int] | None,
    *,
    full_axis_at_border: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Index region (lower, upper exclusive, x-y-z order) that covers boxes plus padding.

    Parameters
    ----------
    boxes
        Bounding boxes in pyradiomics' layout ``(L_x, U_x, L_y, U_y, L_z, U_z)`` (inclusive).
    size
        Image size (x, y, z).
    pad
        Padding in voxels per axis; None means the whole image.
    full_axis_at_border
        When the padded region reaches the image border on an axis, use the whole axis (needed
        for periodic boundary conditions, where the border wraps around).

    Returns
    -------
    lower, upper
        Integer arrays, ``lower <= index < upper``.
    """
    size = np.asarray(size, dtype=int)
    if pad is None:
        return np.zeros_like(size), size.copy()
    boxes = np.asarray(boxes, dtype=int).reshape(len(boxes), -1)
    lo = boxes[:, 0::2].min(axis=0) - np.asarray(pad, dtype=int)
    hi = boxes[:, 1::2].max(axis=0) + 1 + np.asarray(pad, dtype=int)
    at_border = (lo <= 0) | (hi >= size)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, size)
    if full_axis_at_border:
        lo = np.where(at_border, 0, lo)
        hi = np.where(at_border, size, hi)
    return lo, hi


#: Fixed cost of filtering one more crop, in voxels of filtering work (call overhead, set-up).
#: Two crops are merged into their common bounding region when that region has at most this
#: many voxels more than the two crops together.
CROP_OVERHEAD_VOXELS = 32**3

#: Above this many ROIs in one image, :func:`crop_groups` returns one common crop.
MAX_GROUPED_ROIS = 256


def crop_groups(
    boxes: Sequence[np.ndarray],
    size: Sequence[int],
    pad: Sequence[int] | None,
    *,
    full_axis_at_border: bool = False,
    overhead: int = CROP_OVERHEAD_VOXELS,
) -> list[tuple[list[int], np.ndarray, np.ndarray]]:
    """Group ROIs so that each group is filtered once, on one padded crop, at least cost.

    Every ROI first gets its own crop (:func:`crop_region` of its box). Then, greedily, the two
    crops whose common bounding region saves the most work are merged, as long as the merged
    region has no more voxels than the two crops plus ``overhead``. Labels close together (tumour
    sub-regions) end up in one crop; labels scattered over a large image keep small crops of their
    own instead of one crop that grows towards the whole image.

    Parameters
    ----------
    boxes
        Bounding boxes ``(L_x, U_x, L_y, U_y, L_z, U_z)`` (inclusive), one per ROI.
    size
        Image size (x, y, z).
    pad
        Padding in voxels per axis; None means one group with the whole image.
    full_axis_at_border
        As in :func:`crop_region`.
    overhead
        Fixed cost of one more crop, in voxels.

    Returns
    -------
    list of (members, lower, upper)
        Indices into ``boxes`` and the crop ``lower <= index < upper`` (x, y, z) they share.
    """
    size = np.asarray(size, dtype=int)
    n = len(boxes)
    if pad is None or n == 0:
        return [(list(range(n)), np.zeros_like(size), size.copy())]
    if n > MAX_GROUPED_ROIS:  # the greedy search is quadratic per merge: one common crop
        lo, hi = crop_region(boxes, size, pad, full_axis_at_border=full_axis_at_border)
        return [(list(range(n)), lo, hi)]
    regions = [crop_region([b], size, pad, full_axis_at_border=full_axis_at_border) for b in boxes]
    # The region of a union of boxes is the elementwise min/max of their regions: clipping is
    # monotone, and an axis kept whole for one member is whole for the union.
    lo = np.array([r[0] for r in regions], dtype=np.int64)
    hi = np.array([r[1] for r in regions], dtype=np.int64)
    members = [[i] for i in range(n)]
    while len(members) > 1:
        vol = np.prod(hi - lo, axis=1)
        ulo = np.minimum(lo[:, None, :], lo[None, :, :])
        uhi = np.maximum(hi[:, None, :], hi[None, :, :])
        extra = np.prod(uhi - ulo, axis=2) - vol[:, None] - vol[None, :]
        np.fill_diagonal(extra, np.iinfo(np.int64).max)
        a, b = np.unravel_index(int(np.argmin(extra)), extra.shape)
        if extra[a, b] > overhead:
            break
        a, b = min(a, b), max(a, b)
        lo[a], hi[a] = ulo[a, b], uhi[a, b]
        members[a] = sorted(members[a] + members[b])
        lo, hi = np.delete(lo, b, axis=0), np.delete(hi, b, axis=0)
        del members[b]
    order = np.argsort([m[0] for m in members], kind="stable")
    return [(members[i], lo[i].astype(int), hi[i].astype(int)) for i in order]


def _crop(img, lo, hi, sitk):
    return sitk.RegionOfInterest(img, [int(v) for v in hi - lo], [int(v) for v in lo])
