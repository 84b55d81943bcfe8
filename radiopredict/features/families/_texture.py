"""Shared machinery of the six IBSI-1 texture families.

Conventions used by every texture module:

* The input is a discretised array ``q`` of grey levels ``1..n_levels`` inside a boolean ROI
  (axes ``z, y, x``). :func:`prepare` crops it to the ROI bounding box, pads it with a border of
  zeros and re-codes the grey levels *present* in the ROI as compact indices ``1..n`` (``0`` is
  "outside the ROI"). The true grey-level values are kept in ``levels``; every formula uses the
  true values, so the compact coding only keeps the matrices small.
* Texture matrices are stacked as ``(K, n_i, n_j)`` arrays together with the value vectors
  ``i_vals`` and ``j_vals`` of their axes, so that the features of every slice, direction and
  aggregation are computed together in vectorised calls (:class:`FeatureAverager` batches them
  so that no call handles more than :data:`ELEMENT_BUDGET` matrix elements).
* Aggregation follows IBSI-1 section 3.1: ``2D`` (per slice, features averaged over slices),
  ``2_5D`` (matrices merged over slices) and ``3D`` (one volume); for GLCM and GLRLM the ``avg``
  variants average features over directions and the ``comb`` variants merge the matrices of all
  directions first.
* A matrix without any entry (for example a slice whose ROI is one voxel, so that it has no
  neighbour pair) carries no information and is left out of the average. An aggregation in
  which *every* matrix is empty cannot be computed and raises
  :class:`~radiopredict.errors.FeatureComputationError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from radiopredict.errors import FeatureComputationError

if TYPE_CHECKING:
    from radiopredict.features.settings import FeatureSettings

__all__ = [
    "TextureInput",
    "prepare",
    "texture_dims",
    "feature_settings",
    "texture_aggregations",
    "setting",
    "directions_2d",
    "directions_3d",
    "neighbour_offsets",
    "shifted",
    "entropy2",
    "stack_features",
    "FeatureAverager",
    "ELEMENT_BUDGET",
    "zone_features",
    "emit",
    "select_aggregations",
    "bounding_box",
    "compact_axis",
    "count_matrix",
    "zones",
    "zone_table",
    "box_sums",
    "ALL_DIMS",
    "Packed",
    "pack",
    "prepare_many",
    "repad",
    "TextureItem",
    "batches",
    "item_keys",
    "split_items",
    "finish_items",
    "compute_batched",
    "zone_items",
    "BATCH_BUDGET",
    "BATCH_SLACK",
]

ALL_DIMS = ("2D", "2_5D", "3D")
_ITEM_SEP = "\x1f"  # separates the ROI index from the group name in a batch
_LUT_MAX_LEVELS = 1 << 22
_LN2 = np.log(2.0)


def feature_settings(settings) -> FeatureSettings:
    """The :class:`~radiopredict.features.FeatureSettings` a family computes with.

    Every family reads its options (texture dimensions, distances, ...) from a
    ``FeatureSettings``, whose defaults are the only defaults; ``None`` means ``FeatureSettings()``
    and a preset name, YAML path or mapping is converted the usual way.
    """
    from radiopredict.features.settings import FeatureSettings

    return FeatureSettings.coerce(settings)


def setting(settings, name: str):
    """One option of the feature settings (see :func:`feature_settings`)."""
    return getattr(feature_settings(settings), name)


def texture_dims(settings) -> tuple[str, ...]:
    """The texture aggregation dimensions requested by ``settings`` (``2D``, ``2_5D``, ``3D``)."""
    return feature_settings(settings).texture_dims


def texture_aggregations(settings) -> tuple[str, ...]:
    """Which GLCM/GLRLM aggregations to emit: ``avg`` (features averaged over directions),
    ``comb`` (direction matrices merged), or both (the default)."""
    return feature_settings(settings).texture_aggregations


def select_aggregations(groups: dict, settings) -> dict:
    """Keep the ``*_avg`` / ``*_comb`` groups requested by ``settings.texture_aggregations``."""
    aggs = texture_aggregations(settings)
    return {k: v for k, v in groups.items() if k.rsplit("_", 1)[-1] in aggs}


@dataclass(frozen=True)
class TextureInput:
    """ROI-cropped, zero-padded, compactly coded grey levels.

    Attributes
    ----------
    codes
        int32 array, ``0`` outside the ROI and ``1..len(levels)`` inside; padded by ``pad``
        voxels of zeros on every side.
    levels
        float64 grey-level value of each code (``levels[c - 1]``), ascending.
    n_levels
        Number of discretisation levels :math:`N_g` (includes levels absent from the ROI).
    pad
        Width of the zero border.
    morph
        Morphological mask on the same padded grid (``None`` unless requested).
    """

    codes: np.ndarray
    levels: np.ndarray
    n_levels: int
    pad: int
    morph: np.ndarray | None = None

    @property
    def values(self) -> np.ndarray:
        """Grey-level values on the padded grid (``0.0`` outside the ROI)."""
        lut = np.concatenate(([0.0], self.levels))
        return lut[self.codes]

    def roi_voxels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(flat codes, flat indices of the ROI voxels, their codes)`` on the padded grid."""
        flat = self.codes.ravel()
        pidx = np.flatnonzero(flat)
        return flat, pidx, flat[pidx]

    def flat_offsets(self, offsets) -> np.ndarray:
        """Flat-index steps of (dz, dy, dx) offsets on the padded grid (valid within ``pad``)."""
        _, sy, sx = self.codes.shape
        return np.asarray(offsets, dtype=np.int64) @ np.array([sy * sx, sx, 1], dtype=np.int64)

    @property
    def inner(self) -> tuple[slice, slice, slice]:
        """Slices of the padded grid that cover the cropped ROI box."""
        p = self.pad
        return tuple(slice(p, s - p) for s in self.codes.shape)  # type: ignore[return-value]


def prepare(
    q: np.ndarray,
    roi: np.ndarray,
    n_levels: int,
    *,
    family: str,
    pad: int = 1,
    morph_roi: np.ndarray | None = None,
) -> TextureInput:
    """Validate the inputs of a texture family and build its :class:`TextureInput`.

    Parameters
    ----------
    q
        Discretised grey levels (z, y, x), integers ``1..n_levels`` inside ``roi``.
    roi
        Boolean intensity mask of the same shape.
    n_levels
        Number of grey levels :math:`N_g`.
    family
        Family name, used in error messages.
    pad
        Width of the zero border (at least the neighbourhood distance).
    morph_roi
        Optional morphological mask; when given, it is cropped on the union bounding box and
        returned as ``morph``.

    Raises
    ------
    FeatureComputationError
        When the shapes differ, the ROI is empty, or grey levels lie outside ``1..n_levels``.
    """
    q = np.asarray(q)
    roi = np.asarray(roi, dtype=bool)
    if q.ndim != 3 or roi.shape != q.shape:
        raise FeatureComputationError(
            f"{family}: grey levels of shape {q.shape} and ROI of shape {roi.shape} must be "
            "equal 3-D arrays (z, y, x)",
            fix="pass the discretised image and its mask on the same grid (a 2-D image is a "
            "single slice: add a leading axis of length 1)",
        )
    if morph_roi is not None:
        morph_roi = np.asarray(morph_roi, dtype=bool)
        if morph_roi.shape != q.shape:
            raise FeatureComputationError(
                f"{family}: morphological mask of shape {morph_roi.shape} differs from the "
                f"image shape {q.shape}",
                fix="pass the morphological mask on the image grid",
            )
    box_mask = roi if morph_roi is None else (roi | morph_roi)
    box = bounding_box(box_mask)
    if box is None or not roi[box].any():
        raise FeatureComputationError(
            f"{family}: the ROI is empty, so no texture matrix can be built",
            fix="check the mask label and the resegmentation range",
        )
    n_levels = int(n_levels)
    rb = roi[box]
    inside = q[box][rb]
    if not np.issubdtype(inside.dtype, np.integer):
        if not np.all(np.isfinite(inside)) or np.any(inside != np.round(inside)):
            raise FeatureComputationError(
                f"{family}: discretised grey levels must be integers",
                fix="discretise the image (fixed bin number or fixed bin size) first",
            )
    lo, hi = int(inside.min()), int(inside.max())
    if lo < 1 or hi > n_levels:
        raise FeatureComputationError(
            f"{family}: grey levels in the ROI span {lo}..{hi}, outside 1..{n_levels}",
            fix="pass n_levels equal to the number of discretisation bins and grey levels "
            "starting at 1",
        )
    qb = q[box].astype(np.int64, copy=False)
    vals = qb[rb]
    if n_levels <= _LUT_MAX_LEVELS:  # linear-time coding through a lookup table
        present = np.zeros(n_levels + 1, dtype=bool)
        present[vals] = True
        levels = np.flatnonzero(present).astype(np.float64)
        lut = np.zeros(n_levels + 1, dtype=np.int32)
        lut[present] = np.arange(1, len(levels) + 1, dtype=np.int32)
        coded = lut[vals]
    else:  # very many levels: sort instead of a huge table
        uniq, inv = np.unique(vals, return_inverse=True)
        levels = uniq.astype(np.float64)
        coded = (inv.reshape(-1) + 1).astype(np.int32)
    codes = np.zeros(tuple(s + 2 * pad for s in qb.shape), dtype=np.int32)
    inner = tuple(slice(pad, pad + s) for s in qb.shape)
    box_codes = np.zeros(qb.shape, dtype=np.int32)
    box_codes[rb] = coded
    codes[inner] = box_codes
    morph = None
    if morph_roi is not None:
        morph = np.zeros(codes.shape, dtype=bool)
        morph[inner] = morph_roi[box]
    return TextureInput(codes=codes, levels=levels, n_levels=n_levels, pad=pad, morph=morph)


def bounding_box(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Smallest box holding every true voxel of a 3-D mask (``None`` when it is empty).

    The z extent is found first so that the y and x scans only read the occupied slab.
    """
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    if zs.size == 0:
        return None
    slab = mask[zs[0] : zs[-1] + 1]
    ys = np.flatnonzero(slab.any(axis=(0, 2)))
    xs = np.flatnonzero(slab.any(axis=(0, 1)))
    return (
        slice(int(zs[0]), int(zs[-1]) + 1),
        slice(int(ys[0]), int(ys[-1]) + 1),
        slice(int(xs[0]), int(xs[-1]) + 1),
    )


# --------------------------------------------------------------------------------- directions


def directions_2d(distance: int = 1) -> np.ndarray:
    """The 4 in-plane direction vectors (dz, dy, dx), scaled by the Chebyshev ``distance``."""
    d = np.array([(0, 0, 1), (0, 1, 1), (0, 1, 0), (0, 1, -1)], dtype=np.int64)
    return d * int(distance)


def directions_3d(distance: int = 1) -> np.ndarray:
    """The 13 unique 3-D direction vectors, in-plane ones first, scaled by ``distance``."""
    out = [tuple(v) for v in directions_2d(1)]
    for dz in (1,):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                out.append((dz, dy, dx))
    return np.array(out, dtype=np.int64) * int(distance)


def neighbour_offsets(distance: int, *, in_plane: bool) -> np.ndarray:
    """All offsets within Chebyshev ``distance`` except the centre (in-plane only if asked)."""
    r = np.arange(-distance, distance + 1)
    zs = np.array([0]) if in_plane else r
    grid = np.stack(np.meshgrid(zs, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid[np.any(grid != 0, axis=1)]


def shifted(arr: np.ndarray, inner: tuple[slice, ...], offset) -> np.ndarray:
    """View of the padded ``arr`` moved by ``offset`` relative to the ``inner`` box."""
    return arr[tuple(slice(s.start + o, s.stop + o) for s, o in zip(inner, offset, strict=True))]


# ------------------------------------------------------------------------------------ helpers


def entropy2(p: np.ndarray, axis) -> np.ndarray:
    """``-sum p log2 p`` over ``axis`` with ``0 log 0 = 0`` (:func:`scipy.special.entr`)."""
    return special.entr(p).sum(axis=axis) / _LN2


#: Most matrix elements handled by one vectorised feature call; larger stacks are split so that
#: the temporaries of the feature formulas stay bounded (about 16 MB per float64 temporary).
ELEMENT_BUDGET = 2_000_000


class FeatureAverager:
    """Mean features over the non-empty matrices of named groups, in bounded vectorised calls.

    Matrices are queued with :meth:`add` or :meth:`add_many` (a group may be added in several
    parts, e.g. slabs of slices) and evaluated in batches of at most :data:`ELEMENT_BUDGET`
    elements with one call of ``feature_fn(stack, **kwargs, **extra_arrays) -> {stem: (K,)
    array}`` per batch; the features are summed per group with one :func:`numpy.bincount`.
    """

    def __init__(self, feature_fn: Callable[..., dict[str, np.ndarray]], *, family: str, **kwargs):
        self.feature_fn = feature_fn
        self.family = family
        self.kwargs = kwargs
        self.names: list[str] = []
        self._ids: dict[str, int] = {}
        self._sums: list[np.ndarray] = []  # (stems, groups so far) per evaluated batch
        self._counts: list[np.ndarray] = []
        self.stems: list[str] | None = None
        self._pending: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
        self._pending_size = 0

    def _id(self, name: str) -> int:
        if name not in self._ids:
            self._ids[name] = len(self.names)
            self.names.append(name)
        return self._ids[name]

    def add(self, name: str, stack, **extra) -> None:
        """Queue a ``(K, n_i, n_j)`` stack for group ``name`` (empty matrices are skipped)."""
        m = np.asarray(stack, dtype=np.float64)
        self.add_many([name], m[None], **{k: np.asarray(v)[None] for k, v in extra.items()})

    def add_many(self, names: list[str], stacks, **extra) -> None:
        """Queue ``(G, K, n_i, n_j)`` stacks, ``stacks[g]`` for group ``names[g]``; each extra
        array is ``(G, K)``."""
        ids = np.array([self._id(name) for name in names], dtype=np.int64)
        m = np.asarray(stacks, dtype=np.float64)
        g, k = m.shape[:2]
        m = m.reshape(g * k, *m.shape[2:])
        keep = m.reshape(g * k, -1).any(axis=1)
        if not keep.any():
            return
        m = m[keep]
        gid = np.repeat(ids, k)[keep]
        ext = {
            key: np.broadcast_to(np.asarray(v, dtype=np.float64), (g, k)).reshape(-1)[keep]
            for key, v in extra.items()
        }
        step = max(1, ELEMENT_BUDGET // max(1, m[0].size))
        for a in range(0, len(m), step):
            part = m[a : a + step]
            self._pending.append(
                (gid[a : a + step], part, {key: v[a : a + step] for key, v in ext.items()})
            )
            self._pending_size += part.size
            if self._pending_size >= ELEMENT_BUDGET:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        gid = np.concatenate([p[0] for p in self._pending])
        stack = np.concatenate([p[1] for p in self._pending], axis=0)
        keys = self._pending[0][2].keys()
        ext = {k: np.concatenate([p[2][k] for p in self._pending]) for k in keys}
        self._pending = []
        self._pending_size = 0
        feats = self.feature_fn(stack, **self.kwargs, **ext)
        if self.stems is None:
            self.stems = list(feats)
        n = len(self.names)
        self._sums.append(
            np.stack(
                [
                    np.bincount(gid, weights=np.asarray(feats[s], dtype=np.float64), minlength=n)
                    for s in self.stems
                ]
            )
        )
        self._counts.append(np.bincount(gid, minlength=n))

    def result(self) -> dict[str, dict[str, float]]:
        """``name -> {stem: mean}``; raises when a group has no non-empty matrix."""
        out: dict[str, dict[str, float]] = {}
        for name, res in self.results().items():
            if isinstance(res, FeatureComputationError):
                raise res
            out[name] = res
        return out

    def results(self) -> dict[str, dict[str, float] | FeatureComputationError]:
        """``name -> {stem: mean}``, or the error of a group without a non-empty matrix."""
        self._flush()
        n = len(self.names)
        counts = np.zeros(n, dtype=np.int64)
        sums = np.zeros((len(self.stems or ()), n))
        for c, t in zip(self._counts, self._sums, strict=True):
            counts[: len(c)] += c
            sums[:, : t.shape[1]] += t
        means = (sums / np.maximum(counts, 1)).T.tolist()
        out: dict[str, dict[str, float] | FeatureComputationError] = {}
        for i, name in enumerate(self.names):
            if counts[i] == 0:
                label = name.split(_ITEM_SEP)[-1]
                out[name] = FeatureComputationError(
                    f"{self.family}: every {label} matrix is empty (the ROI has no voxel pair, "
                    "run or zone in that aggregation), so its features are undefined",
                    fix="use a larger ROI or leave this texture dimension out of "
                    "FeatureSettings.texture_dims",
                )
                continue
            out[name] = dict(zip(self.stems, means[i], strict=True))
        return out


def stack_features(
    groups: dict[str, Iterable[np.ndarray] | np.ndarray],
    feature_fn: Callable[..., dict[str, np.ndarray]],
    *,
    family: str,
    extra: dict[str, dict[str, np.ndarray]] | None = None,
    **kwargs,
) -> dict[str, dict[str, float]]:
    """Compute the mean features of each group of matrices with vectorised calls.

    Parameters
    ----------
    groups
        ``suffix -> (K, n_i, n_j)`` stack of matrices; the features of each group are the mean
        over its non-empty matrices.
    feature_fn
        ``feature_fn(stack, **kwargs, **extra_arrays) -> {stem: (K,) array}``.
    family
        For error messages.
    extra
        Optional per-group arrays of length K passed to ``feature_fn`` by keyword (e.g. the
        number of voxels of each matrix).
    """
    avg = FeatureAverager(feature_fn, family=family, **kwargs)
    for name, stack in groups.items():
        avg.add(name, stack, **(extra or {}).get(name, {}))
    return avg.result()


def emit(per_suffix: dict[str, dict[str, float]]) -> dict[str, float]:
    """Flatten ``suffix -> {stem: value}`` into ``{stem_suffix: value}``."""
    out: dict[str, float] = {}
    for suffix, feats in per_suffix.items():
        for stem, value in feats.items():
            out[f"{stem}_{suffix}"] = value
    return out


def zone_features(
    m: np.ndarray,
    *,
    i_vals: np.ndarray,
    j_vals: np.ndarray,
    n_voxels: np.ndarray,
    names: dict[str, str],
) -> dict[str, np.ndarray]:
    """The features shared by GLRLM, GLSZM, GLDZM and NGLDM, vectorised over a stack.

    Parameters
    ----------
    m
        ``(K, n_i, n_j)`` counts: grey level ``i_vals[a]`` and run length / zone size / zone
        distance / dependence count ``j_vals[b]``.
    n_voxels
        ``(K,)`` number of voxels :math:`N_v` behind each matrix (percentage features).
    names
        Generic key -> IBSI stem, for the keys ``se, le, lg, hg, slg, shg, llg, lhg, glnu,
        glnu_norm, jnu, jnu_norm, perc, gl_var, j_var, j_entr`` and optionally ``j_energy``.
    """
    ns = m.sum(axis=(1, 2))  # (K,)
    p = m / ns[:, None, None]
    i2 = (i_vals**2)[None, :, None]
    j2 = (j_vals**2)[None, None, :]
    mi = p.sum(axis=2)  # (K, n_i) grey-level marginal
    mj = p.sum(axis=1)  # (K, n_j)
    out: dict[str, np.ndarray] = {}

    def put(key, value):
        if key in names:
            out[names[key]] = value

    put("se", (mj / j2[:, 0, :]).sum(axis=1))
    put("le", (mj * j2[:, 0, :]).sum(axis=1))
    put("lg", (mi / i2[:, :, 0]).sum(axis=1))
    put("hg", (mi * i2[:, :, 0]).sum(axis=1))
    put("slg", (p / (i2 * j2)).sum(axis=(1, 2)))
    put("shg", (p * i2 / j2).sum(axis=(1, 2)))
    put("llg", (p * j2 / i2).sum(axis=(1, 2)))
    put("lhg", (p * i2 * j2).sum(axis=(1, 2)))
    put("glnu", (mi**2).sum(axis=1) * ns)
    put("glnu_norm", (mi**2).sum(axis=1))
    put("jnu", (mj**2).sum(axis=1) * ns)
    put("jnu_norm", (mj**2).sum(axis=1))
    put("perc", ns / n_voxels)
    mu_i = mi @ i_vals
    mu_j = mj @ j_vals
    put("gl_var", (mi * (i_vals[None, :] - mu_i[:, None]) ** 2).sum(axis=1))
    put("j_var", (mj * (j_vals[None, :] - mu_j[:, None]) ** 2).sum(axis=1))
    put("j_entr", entropy2(p, axis=(1, 2)))
    put("j_energy", (p**2).sum(axis=(1, 2)))
    return out


def compact_axis(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique sorted values (as float) and the index of each input value in them.

    Non-negative integers are handled with a bincount (linear time) instead of a sort.
    """
    values = np.asarray(values).reshape(-1)
    if values.size and np.issubdtype(values.dtype, np.integer) and values.min() >= 0:
        present = np.bincount(values) > 0
        rank = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.float64), rank[values]
    uniq, inv = np.unique(values, return_inverse=True)
    return uniq.astype(np.float64), inv.reshape(-1)


def count_matrix(
    group: np.ndarray, i_code: np.ndarray, j_index: np.ndarray, n_groups: int, n_i: int, n_j: int
) -> np.ndarray:
    """``(n_groups, n_i, n_j)`` counts of (group, i_code - 1, j_index) triplets (one bincount)."""
    key = (group.astype(np.int64) * n_i + (i_code.astype(np.int64) - 1)) * n_j + j_index
    return np.bincount(key, minlength=n_groups * n_i * n_j).reshape(n_groups, n_i, n_j)


def zones(codes: np.ndarray, *, in_plane: bool) -> tuple[np.ndarray, int]:
    """Label connected zones of equal code (26-connected in 3-D, 8-connected per slice in 2-D).

    Returns the label array (``0`` outside the ROI) and the number of zones.
    """
    from skimage.measure import label

    if not in_plane:
        lab, n = label(codes, background=0, connectivity=3, return_num=True)
        return lab, int(n)
    nz = codes.shape[0]
    spaced = np.zeros((2 * nz - 1,) + codes.shape[1:], dtype=codes.dtype)
    spaced[::2] = codes  # empty slices in between cut every link across z
    lab, n = label(spaced, background=0, connectivity=3, return_num=True)
    return lab[::2], int(n)


def zone_table(
    codes: np.ndarray, *, in_plane: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every zone of equal grey level: its code, size, slice, plus the ROI voxels' zone index.

    Returns
    -------
    code, size, z, voxel_index, voxel_zone
        Per zone (``0..n_zones-1``): code, voxel count and the z index of one of its voxels
        (the zone's slice when ``in_plane``); per ROI voxel: flat index into ``codes`` and the
        zone it belongs to.
    """
    lab, n = zones(codes, in_plane=in_plane)
    flat_idx = np.flatnonzero(codes)
    zone = lab.ravel()[flat_idx].astype(np.int64) - 1
    size = np.bincount(zone, minlength=n)
    code = np.zeros(n, dtype=np.int64)
    code[zone] = codes.ravel()[flat_idx]
    z = np.zeros(n, dtype=np.int64)
    z[zone] = flat_idx // (codes.shape[1] * codes.shape[2])
    return code, size, z, flat_idx, zone


def box_sums(arr: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact integer sums of ``arr`` over in-plane and volumetric Chebyshev neighbourhoods.

    Returns ``(in_plane, volumetric)``: the sum over the ``(2d+1)^2`` window within each slice
    and over the ``(2d+1)^3`` cube, centre included, zero beyond the array (separable passes
    of :func:`scipy.ndimage.correlate1d`).
    """
    from scipy.ndimage import correlate1d

    w = np.ones(2 * distance + 1, dtype=np.int64)
    a = np.asarray(arr, dtype=np.int64)
    s = correlate1d(a, w, axis=2, mode="constant")
    s = correlate1d(s, w, axis=1, mode="constant")
    return s, correlate1d(s, w, axis=0, mode="constant")


# ------------------------------------------------------------------------ several ROIs at once

#: Most elements (ROIs x matrices x levels x columns) of the texture matrices of one batch.
BATCH_BUDGET = 4_000_000
#: Padding (matrix elements) a batch may waste on top of twice its items' own sizes: below this
#: size the fixed cost of separate calls outweighs the padded work.
BATCH_SLACK = 50_000


@dataclass(frozen=True)
class Packed:
    """Several ROIs' :class:`TextureInput` side by side along x on one grid.

    The ROIs' boxes start at ``z = y = 0`` and are separated along x by at least one column of
    zeros more than their own padding, so no run, zone, neighbour pair or neighbourhood of
    distance ``pad`` links two ROIs. Codes index ``levels``, the union of the ROIs' grey levels
    (a ROI's matrix then has zero rows for the levels it lacks, which changes no feature).

    Attributes
    ----------
    t
        The packed input (``t.n_levels`` is the largest of the ROIs').
    item_of_x
        ROI index of each x column of ``t.codes`` (``-1`` between ROIs).
    members
        Index of each packed ROI in the list given to :func:`pack`.
    n_levels
        :math:`N_g` of each packed ROI.
    """

    t: TextureInput
    item_of_x: np.ndarray
    members: list[int]
    n_levels: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.members)

    def item_of(self, flat_index: np.ndarray) -> np.ndarray:
        """ROI index of voxels given by their flat index into ``t.codes``."""
        return self.item_of_x[flat_index % self.t.codes.shape[2]]


def pack(inputs: list[TextureInput], members: list[int]) -> Packed:
    """Pack prepared inputs (same ``pad``) along x, re-coded on the union of their levels."""
    pad = inputs[0].pad
    levels = np.unique(np.concatenate([t.levels for t in inputs]))
    nz = max(t.codes.shape[0] for t in inputs)
    ny = max(t.codes.shape[1] for t in inputs)
    widths = [t.codes.shape[2] + 1 for t in inputs]  # one more zero column after each ROI
    codes = np.zeros((nz, ny, sum(widths)), dtype=np.int32)
    item_of_x = np.full(sum(widths), -1, dtype=np.int64)
    morph = None if inputs[0].morph is None else np.zeros(codes.shape, dtype=bool)
    x0 = 0
    for k, (t, w) in enumerate(zip(inputs, widths, strict=True)):
        lut = np.concatenate(([0], np.searchsorted(levels, t.levels) + 1)).astype(np.int32)
        z, y, x = t.codes.shape
        codes[:z, :y, x0 : x0 + x] = lut[t.codes]
        if morph is not None:
            morph[:z, :y, x0 : x0 + x] = t.morph
        item_of_x[x0 + pad : x0 + x - pad] = k
        x0 += w
    n_levels = np.array([t.n_levels for t in inputs], dtype=np.int64)
    packed = TextureInput(codes, levels.astype(np.float64), int(n_levels.max()), pad, morph)
    return Packed(packed, item_of_x, members, n_levels)


class TextureItem(tuple):
    """``(q, roi, n_levels, morph)`` of one ROI for the texture families' ``compute_many``,
    which keeps each :func:`prepare` result per padding: the families prepare an item once and
    the others re-pad that result (see :func:`prepare_many`)."""

    def __new__(cls, q, roi, n_levels, morph=None):
        self = super().__new__(cls, (q, roi, n_levels, morph))
        self.prepared = {}
        return self


def prepare_many(
    items: list[tuple], *, family: str, pad: int, with_morph: bool = False
) -> tuple[list[TextureInput | FeatureComputationError], list[int]]:
    """:func:`prepare` every ``(q, roi, n_levels, morph)`` item; errors are kept in place.

    Returns the prepared inputs (or errors) and the indices of the items that were prepared.
    A :class:`TextureItem` reuses what an earlier family prepared: the same input for the same
    padding, else that input re-padded (:func:`repad`), and with the morphological mask when it
    equals the ROI (the morphological mask is then the ROI's voxels, ``codes != 0``).
    """
    out: list[TextureInput | FeatureComputationError] = []
    key = (pad, with_morph)
    for item in items:
        q, roi, n_levels, morph = item
        done = getattr(item, "prepared", None)
        # whether the input is the ROI's own: no morphological mask that differs from the ROI
        plain = not with_morph or morph is None or morph is roi
        if done is not None and key not in done and not plain:
            plain = _same_mask(morph, roi)
        if done is not None:
            if key not in done and plain and "base" in done:
                done[key] = repad(done["base"], pad, with_morph)
            if key in done:
                out.append(done[key])
                continue
        try:
            morph_roi = (roi if morph is None else morph) if with_morph else None
            t = prepare(q, roi, n_levels, family=family, pad=pad, morph_roi=morph_roi)
        except FeatureComputationError as exc:
            out.append(exc)
            continue
        if done is not None:
            done[key] = t
            if plain:
                done.setdefault("base", t)  # the ROI's own box: other paddings re-pad it
        out.append(t)
    return out, [i for i, t in enumerate(out) if isinstance(t, TextureInput)]


def repad(t: TextureInput, pad: int, with_morph: bool) -> TextureInput:
    """``t`` with a zero border of ``pad`` voxels, and with ``morph`` equal to its ROI voxels
    when ``with_morph`` (else none): what :func:`prepare` returns for that padding."""
    core = t.codes[t.inner]
    codes = np.zeros(tuple(s + 2 * pad for s in core.shape), dtype=np.int32)
    codes[tuple(slice(pad, pad + s) for s in core.shape)] = core
    morph = codes != 0 if with_morph else None
    return TextureInput(codes=codes, levels=t.levels, n_levels=t.n_levels, pad=pad, morph=morph)


def _same_mask(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def batches(
    inputs: list[TextureInput],
    ok: list[int],
    cost: Callable[[tuple[int, int, int]], float],
    power: int,
) -> list[list[int]]:
    """Split the prepared items ``ok`` into batches whose padding wastes little.

    In a batch every item is packed with the batch's largest number of slices and rows
    (:func:`pack`) and its matrices span the batch's grey levels: item ``t`` then needs
    ``cost((nz, ny, nx)) * n ** power`` matrix elements, with ``nz, ny`` the batch's largest
    and ``nx`` its own extent of ``t.codes`` and ``n`` the batch's range of levels. Items are
    taken in order of their grey levels and an item joins the current batch while this padded
    size stays within twice the members' own sizes (at their own shapes and levels) plus
    :data:`BATCH_SLACK` elements, and within :data:`BATCH_BUDGET`.
    """
    order = sorted(ok, key=lambda i: (inputs[i].levels[0], inputs[i].levels[-1]))
    out: list[list[int]] = []
    cur: list[int] = []
    lo = hi = 0.0
    nz = ny = 0
    own = per_level = 0.0  # members' own sizes; their size per level at the batch's shape
    for i in order:
        t = inputs[i]
        shape = t.codes.shape
        c_own = cost(shape) * len(t.levels) ** power
        if cur:
            new_nz, new_ny = max(nz, shape[0]), max(ny, shape[1])
            if (new_nz, new_ny) == (nz, ny):  # the members keep their padded shape
                new_per_level = per_level + cost((nz, ny, shape[2]))
            else:  # (rarely, once the batch has its larger members) re-sum at the new shape
                new_per_level = sum(
                    cost((new_nz, new_ny, inputs[m].codes.shape[2])) for m in [*cur, i]
                )
            new_lo, new_hi = min(lo, t.levels[0]), max(hi, t.levels[-1])
            padded = new_per_level * (new_hi - new_lo + 1) ** power
            if padded <= min(2.0 * (own + c_own) + BATCH_SLACK, BATCH_BUDGET):
                cur.append(i)
                nz, ny, per_level = new_nz, new_ny, new_per_level
                lo, hi, own = new_lo, new_hi, own + c_own
                continue
            out.append(cur)
        cur, lo, hi, own = [i], t.levels[0], t.levels[-1], c_own
        nz, ny, per_level = shape[0], shape[1], float(cost(shape))
    if cur:
        out.append(cur)
    return out


def item_keys(n_items: int, name: str) -> list[str]:
    """Group names of ROIs ``0..n_items-1`` in a batch (see :func:`split_items`)."""
    return [f"{item}{_ITEM_SEP}{name}" for item in range(n_items)]


def split_items(results: dict, n_items: int) -> list[dict]:
    """``{f"{item}{sep}{name}": value}`` -> one ``{name: value}`` dict per item."""
    out: list[dict] = [{} for _ in range(n_items)]
    for key, value in results.items():
        item, name = key.split(_ITEM_SEP, 1)
        out[int(item)][name] = value
    return out


def compute_batched(
    items: list[tuple],
    *,
    family: str,
    pad: int,
    cost: Callable[[tuple[int, int, int]], float],
    batch_fn: Callable[[Packed], dict],
    single: Callable[[tuple], dict[str, float]],
    with_morph: bool = False,
    power: int = 1,
) -> list[dict[str, float] | FeatureComputationError]:
    """The ``compute_many`` of a texture family: prepare, batch, pack, evaluate, split.

    ``cost(shape) * n ** power`` is the number of matrix elements an item packed on a grid of
    ``shape`` (its ``codes`` padded to the batch's slices and rows) needs with ``n`` grey levels
    (:func:`batches`).

    ``batch_fn(packed)`` returns ``{item_keys(r, suffix)[k]: {stem: value} | error}`` for the ROIs
    of one packed batch (typically :meth:`FeatureAverager.results`). An item alone in its batch
    (too large, or levels far from the others) goes to ``single(item)``, the family's one-ROI
    ``compute``, which bounds its own memory.
    """
    prepared, ok = prepare_many(items, family=family, pad=pad, with_morph=with_morph)
    per_item: dict[int, dict] = {}
    alone: dict[int, dict[str, float] | FeatureComputationError] = {}
    for members in batches(prepared, ok, cost, power):
        if len(members) == 1:
            try:
                alone[members[0]] = single(items[members[0]])
            except FeatureComputationError as exc:
                alone[members[0]] = exc
            continue
        groups = batch_fn(pack([prepared[i] for i in members], members))
        for k, feats in enumerate(split_items(groups, len(members))):
            per_item[members[k]] = feats
    out = finish_items(len(items), prepared, per_item)
    for i, res in alone.items():
        out[i] = res
    return out


def zone_items(p: Packed, flat_index: np.ndarray, zone: np.ndarray, n_zones: int) -> np.ndarray:
    """ROI index of every zone of :func:`zone_table` on a packed input."""
    out = np.zeros(n_zones, dtype=np.int64)
    out[zone] = p.item_of(flat_index)
    return out


def finish_items(
    n: int, prepared: list, per_item: dict[int, dict]
) -> list[dict[str, float] | FeatureComputationError]:
    """One result per item: its features ``{tag: value}``, or its first error."""
    out: list[dict[str, float] | FeatureComputationError] = []
    for i in range(n):
        if isinstance(prepared[i], FeatureComputationError):
            out.append(prepared[i])
            continue
        groups = per_item.get(i, {})
        err = next((v for v in groups.values() if isinstance(v, FeatureComputationError)), None)
        out.append(err if err is not None else emit(groups))
    return out
