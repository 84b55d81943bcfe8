r"""Grey level run length matrix (GLRLM) features, IBSI-1 section 3.7 (family TP0I).

A run is a maximal line of consecutive ROI voxels with the same grey level along a direction
:math:`\mathbf{m}`; a voxel outside the ROI ends a run. The run length matrix :math:`r_{ij}`
counts the runs of grey level :math:`i` and length :math:`j`. With :math:`N_s = \sum_{ij}
r_{ij}` runs, :math:`N_v` voxels, :math:`p_{ij} = r_{ij}/N_s`, the marginal sums
:math:`r_{i.} = \sum_j r_{ij}` and :math:`r_{.j} = \sum_i r_{ij}` the features below follow.
When matrices are merged, :math:`N_v` is the sum of the voxel counts of the merged matrices
(:math:`N_v = \sum_{ij} j\, r_{ij}`).

Aggregation suffixes are those of the GLCM: ``2D_avg`` (BTW3), ``2D_comb`` (SUJT),
``2_5D_avg`` (JJUI), ``2_5D_comb`` (ZW7Z), ``3D_avg`` (ITBB), ``3D_comb`` (IAZD).

Runs are found without per-voxel loops: the ROI box is sheared so that each line along
:math:`\mathbf{m}` becomes a row of a dense array (rows separated by a zero), and runs are the
constant non-zero segments of the flattened array.
"""

from __future__ import annotations

import numpy as np

from radiopredict.features.families._texture import (
    FeatureAverager,
    compact_axis,
    compute_batched,
    count_matrix,
    directions_2d,
    directions_3d,
    emit,
    item_keys,
    prepare,
    select_aggregations,
    stack_features,
    texture_dims,
    zone_features,
)
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "runs_along", "FEATURES"]

FAMILY = "glrlm"

_DEFS = [
    ("rlm_sre", "22OV", "Short runs emphasis", r"F = \frac{1}{N_s}\sum_j \frac{r_{.j}}{j^2}", "Emphasis on short runs."),
    ("rlm_lre", "W4KF", "Long runs emphasis", r"F = \frac{1}{N_s}\sum_j j^2 r_{.j}", "Emphasis on long runs."),
    ("rlm_lgre", "V3SW", "Low grey level run emphasis", r"F = \frac{1}{N_s}\sum_i \frac{r_{i.}}{i^2}", "Emphasis on runs of low grey levels."),
    ("rlm_hgre", "G3QZ", "High grey level run emphasis", r"F = \frac{1}{N_s}\sum_i i^2 r_{i.}", "Emphasis on runs of high grey levels."),
    ("rlm_srlge", "HTZT", "Short run low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{r_{ij}}{i^2 j^2}", "Emphasis on short runs of low grey levels."),
    ("rlm_srhge", "GD3A", "Short run high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{i^2 r_{ij}}{j^2}", "Emphasis on short runs of high grey levels."),
    ("rlm_lrlge", "IVPO", "Long run low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{j^2 r_{ij}}{i^2}", "Emphasis on long runs of low grey levels."),
    ("rlm_lrhge", "3KUM", "Long run high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} i^2 j^2 r_{ij}", "Emphasis on long runs of high grey levels."),
    ("rlm_glnu", "R5YN", "Grey level non-uniformity", r"F = \frac{1}{N_s}\sum_i r_{i.}^2", "Spread of runs over grey levels."),
    ("rlm_glnu_norm", "OVBL", "Normalised grey level non-uniformity", r"F = \frac{1}{N_s^2}\sum_i r_{i.}^2", "Grey level non-uniformity normalised by the number of runs."),
    ("rlm_rlnu", "W92Y", "Run length non-uniformity", r"F = \frac{1}{N_s}\sum_j r_{.j}^2", "Spread of runs over run lengths."),
    ("rlm_rlnu_norm", "IC23", "Normalised run length non-uniformity", r"F = \frac{1}{N_s^2}\sum_j r_{.j}^2", "Run length non-uniformity normalised by the number of runs."),
    ("rlm_r_perc", "9ZK5", "Run percentage", r"F = \frac{N_s}{N_v}", "Fraction of voxels that start a run."),
    ("rlm_gl_var", "8CE5", "Grey level variance", r"F = \sum_{i,j} (i-\mu)^2 p_{ij},\; \mu = \sum_{i,j} i\,p_{ij}", "Variance of the grey level of runs."),
    ("rlm_rl_var", "SXLW", "Run length variance", r"F = \sum_{i,j} (j-\mu)^2 p_{ij},\; \mu = \sum_{i,j} j\,p_{ij}", "Variance of the run length."),
    ("rlm_rl_entr", "HJ9O", "Run entropy", r"F = -\sum_{i,j} p_{ij} \log_2 p_{ij}", "Entropy of the joint run distribution."),
]  # fmt: skip

FEATURES = [
    FeatureDef(stem=s, ibsi_code=c, family=FAMILY, name=n, formula=f, description=d)
    for s, c, n, f, d in _DEFS
]
register(*FEATURES)

_NAMES = {
    "se": "rlm_sre",
    "le": "rlm_lre",
    "lg": "rlm_lgre",
    "hg": "rlm_hgre",
    "slg": "rlm_srlge",
    "shg": "rlm_srhge",
    "llg": "rlm_lrlge",
    "lhg": "rlm_lrhge",
    "glnu": "rlm_glnu",
    "glnu_norm": "rlm_glnu_norm",
    "jnu": "rlm_rlnu",
    "jnu_norm": "rlm_rlnu_norm",
    "perc": "rlm_r_perc",
    "gl_var": "rlm_gl_var",
    "j_var": "rlm_rl_var",
    "j_entr": "rlm_rl_entr",
}


def runs_along(
    codes: np.ndarray,
    direction,
    coords: tuple[np.ndarray, ...] | None = None,
    vals: np.ndarray | None = None,
    flat_index: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """All runs of equal non-zero code along one direction.

    Parameters
    ----------
    codes
        int array (z, y, x), ``0`` outside the ROI.
    direction
        Step (dz, dy, dx) with entries in {-1, 0, 1}.
    coords, vals
        ``np.nonzero(codes)`` and ``codes[coords]``, when already known (they are shared by
        the 13 directions).
    flat_index
        Flat index into ``codes`` of each voxel of ``coords``: when given, the flat index of
        the first voxel of each run is returned as a fourth array.

    Returns
    -------
    code, length, slice[, start]
        Code and length of every run, and its z index (meaningful for in-plane directions).
    """
    m = np.asarray(direction, dtype=np.int64)
    ax = int(np.flatnonzero(m)[0])
    if m[ax] < 0:
        m = -m
    shape = codes.shape
    others = [b for b in range(3) if b != ax]
    if coords is None:
        coords = np.nonzero(codes)
    if vals is None:
        vals = codes[coords]
    t = coords[ax]
    n_ax = shape[ax]
    row = n_ax + 1  # one zero after each line separates it from the next
    extents = [shape[b] + (n_ax - 1 if m[b] != 0 else 0) for b in others]
    size = extents[0] * extents[1] * row
    idx_t = np.int32 if size < 2**31 else np.int64
    t = t.astype(idx_t, copy=False)
    flat = t.copy()
    for b, stride in zip(others, (extents[1] * row, row), strict=True):
        mb = int(m[b])
        off = (n_ax - 1) if mb > 0 else 0
        flat += (coords[b].astype(idx_t, copy=False) - mb * t + off) * stride
    dtype = np.uint8 if vals.max(initial=0) < 256 else vals.dtype
    v = np.zeros(size, dtype=dtype)
    v[flat] = vals
    change = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [v.size])))
    run_codes = v[starts]
    keep = run_codes > 0
    starts = starts[keep]
    z = starts // (extents[1] * row) if others[0] == 0 else np.zeros(len(starts), np.int64)
    if flat_index is None:
        return run_codes[keep], lengths[keep], z
    where = np.zeros(size, dtype=np.int64)
    where[flat] = flat_index
    return run_codes[keep], lengths[keep], z, where[starts]


def _features(m: np.ndarray, *, i_vals: np.ndarray, j_vals: np.ndarray) -> dict[str, np.ndarray]:
    n_voxels = (m * j_vals[None, None, :]).sum(axis=(1, 2))
    return zone_features(m, i_vals=i_vals, j_vals=j_vals, n_voxels=n_voxels, names=_NAMES)


def compute(
    q: np.ndarray,
    roi: np.ndarray,
    n_levels: int,
    *,
    spacing: tuple[float, float, float],
    settings=None,
    morph_roi: np.ndarray | None = None,
) -> dict[str, float]:
    """GLRLM features of a discretised ROI, keyed by IBSI tag (``rlm_sre_3D_avg``...).

    Parameters are those of :func:`radiopredict.features.families.glcm.compute`; reads
    ``settings.texture_dims`` and ``settings.texture_aggregations`` (runs always use the 13
    unit directions).

    Raises
    ------
    FeatureComputationError
        Bad inputs.
    """
    dims = texture_dims(settings)
    t = prepare(q, roi, n_levels, family="GLRLM", pad=0)
    codes = t.codes
    nz = codes.shape[0]
    n = len(t.levels)
    coords = tuple(c.astype(np.int32) for c in np.nonzero(codes))
    vals = codes[coords]
    if vals.max() < 256:
        vals = vals.astype(np.uint8)
    planar = [runs_along(codes, m, coords, vals) for m in directions_2d(1)]
    volumetric = (
        [runs_along(codes, m, coords, vals) for m in directions_3d(1)[4:]] if "3D" in dims else []
    )
    all_len = np.concatenate([r[1] for r in planar + volumetric])
    j_vals, j_idx = compact_axis(all_len)
    sizes = np.cumsum([0] + [len(r[1]) for r in planar + volumetric])
    nj = len(j_vals)

    def part(k):
        return j_idx[sizes[k] : sizes[k + 1]]

    groups: dict[str, np.ndarray] = {}
    grp = np.concatenate([k * nz + r[2] for k, r in enumerate(planar)])
    lvl = np.concatenate([r[0] for r in planar])
    jj = np.concatenate([part(k) for k in range(len(planar))])
    r2 = count_matrix(grp, lvl, jj, 4 * nz, n, nj).reshape(4, nz, n, nj)
    r_planar = r2.sum(axis=1)
    if "2D" in dims:
        groups["2D_avg"] = r2.reshape(-1, n, nj)
        groups["2D_comb"] = r2.sum(axis=0)
    if "2_5D" in dims:
        groups["2_5D_avg"] = r_planar
        groups["2_5D_comb"] = r_planar.sum(axis=0, keepdims=True)
    if "3D" in dims:
        grp = np.concatenate(
            [np.full(len(r[0]), k, dtype=np.int64) for k, r in enumerate(volumetric)]
        )
        lvl = np.concatenate([r[0] for r in volumetric])
        jj = np.concatenate([part(len(planar) + k) for k in range(len(volumetric))])
        r_out = count_matrix(grp, lvl, jj, len(volumetric), n, nj)
        r3 = np.concatenate([r_planar, r_out], axis=0)
        groups["3D_avg"] = r3
        groups["3D_comb"] = r3.sum(axis=0, keepdims=True)
    feats = stack_features(
        select_aggregations(groups, settings),
        _features,
        family="GLRLM",
        i_vals=t.levels,
        j_vals=j_vals,
    )
    return emit(feats)


def compute_many(
    items: list[tuple], *, spacing: tuple[float, float, float], settings=None
) -> list[dict[str, float] | Exception]:
    """GLRLM features of several ROIs, their matrices built and evaluated together.

    ``items`` holds ``(q, roi, n_levels, morph_roi)`` per ROI, as taken by :func:`compute`;
    returns per ROI what :func:`compute` returns, or the
    :class:`~radiopredict.errors.FeatureComputationError` it raises.
    """
    dims = texture_dims(settings)

    def cost(shape):  # matrices x run lengths, per grey level
        return (4 * shape[0] + 13) * max(shape)

    return compute_batched(
        items,
        family="GLRLM",
        pad=0,
        cost=cost,
        single=lambda item: compute(
            *item[:3], spacing=spacing, settings=settings, morph_roi=item[3]
        ),
        batch_fn=lambda p: _batch(p, dims, settings),
    )


def _batch(p, dims, settings) -> dict:
    """``{item_keys(r, suffix)[k]: {stem: value} | error}`` for the ROIs of one packed batch."""
    t, r = p.t, p.n_items
    codes = t.codes
    nz = codes.shape[0]
    n = len(t.levels)
    coords = tuple(c.astype(np.int32) for c in np.nonzero(codes))
    vals = codes[coords]
    if vals.max() < 256:
        vals = vals.astype(np.uint8)
    flat_index = np.ravel_multi_index(coords, codes.shape)
    planar = [runs_along(codes, m, coords, vals, flat_index) for m in directions_2d(1)]
    volumetric = (
        [runs_along(codes, m, coords, vals, flat_index) for m in directions_3d(1)[4:]]
        if "3D" in dims
        else []
    )
    runs = planar + volumetric
    j_vals, j_idx = compact_axis(np.concatenate([x[1] for x in runs]))
    nj = len(j_vals)
    item = p.item_of(np.concatenate([x[3] for x in runs]))
    sizes = np.cumsum([0] + [len(x[1]) for x in runs])
    n_p = sizes[len(planar)]
    lvl = np.concatenate([x[0] for x in runs])
    # planar runs: one matrix per ROI, direction and slice
    grp = np.concatenate([k * nz + x[2] for k, x in enumerate(planar)])
    r2 = count_matrix(item[:n_p] * 4 * nz + grp, lvl[:n_p], j_idx[:n_p], r * 4 * nz, n, nj)
    r2 = r2.reshape(r, 4, nz, n, nj)
    r_planar = r2.sum(axis=2)  # (r, 4, n, nj)
    if volumetric:
        grp = np.concatenate(
            [np.full(len(x[0]), k, dtype=np.int64) for k, x in enumerate(volumetric)]
        )
        nv = len(volumetric)
        r_out = count_matrix(item[n_p:] * nv + grp, lvl[n_p:], j_idx[n_p:], r * nv, n, nj)
        r3 = np.concatenate([r_planar, r_out.reshape(r, nv, n, nj)], axis=1)
    avg = FeatureAverager(_features, family="GLRLM", i_vals=t.levels, j_vals=j_vals)
    groups: dict[str, np.ndarray] = {}
    if "2D" in dims:
        groups["2D_avg"] = r2.reshape(r, -1, n, nj)
        groups["2D_comb"] = r2.sum(axis=1)
    if "2_5D" in dims:
        groups["2_5D_avg"] = r_planar
        groups["2_5D_comb"] = r_planar.sum(axis=1, keepdims=True)
    if volumetric:
        groups["3D_avg"] = r3
        groups["3D_comb"] = r3.sum(axis=1, keepdims=True)
    for name, stack in select_aggregations(groups, settings).items():
        avg.add_many(item_keys(r, name), stack)
    return avg.results()
