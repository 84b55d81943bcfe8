r"""Grey level co-occurrence matrix (GLCM) features, IBSI-1 section 3.6 (family LFYI).

For a direction :math:`\mathbf{m}` (scaled by the Chebyshev distance :math:`\delta`, default 1),
the co-occurrence matrix :math:`M_{\mathbf{m}}` counts every pair of ROI voxels
:math:`(\mathbf{k}, \mathbf{k} + \mathbf{m})` with grey levels :math:`(i, j)`; pairs are counted
in both orders, so the matrix is symmetric. Only pairs whose two voxels lie in the ROI count.
The joint probability is :math:`p_{ij} = M_{ij} / \sum M`, with marginals
:math:`p_{i.} = \sum_j p_{ij}`, :math:`p_{.j} = \sum_i p_{ij}`, the diagonal probability
:math:`p_{i-j,k} = \sum_{|i-j| = k} p_{ij}` and the cross-diagonal probability
:math:`p_{i+j,k} = \sum_{i+j = k} p_{ij}`. :math:`N_g` is the number of discretisation levels.

Aggregation (tag suffixes, IBSI codes): ``2D_avg`` (BTW3: one matrix per slice and in-plane
direction, features averaged), ``2D_comb`` (SUJT: per slice, the 4 direction matrices merged),
``2_5D_avg`` (JJUI: per in-plane direction, merged over slices), ``2_5D_comb`` (ZW7Z: all
in-plane matrices merged), ``3D_avg`` (ITBB: 13 volumetric directions, features averaged) and
``3D_comb`` (IAZD: the 13 matrices merged). The distance is IBSI's PVMT.

Documented values where IBSI's formula is 0/0: a matrix with a single grey level has
correlation 1 and informational measures of correlation 0.

The construction is vectorised: for each direction the grey levels of the ROI box and of its
shifted copy are paired and counted with one :func:`numpy.bincount` (the slice index folded into
the key for the per-slice matrices).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import special

from radiopredict.errors import FeatureComputationError
from radiopredict.features.families._texture import (
    _LN2,
    FeatureAverager,
    TextureInput,
    compute_batched,
    directions_2d,
    directions_3d,
    emit,
    entropy2,
    item_keys,
    prepare,
    select_aggregations,
    setting,
    texture_aggregations,
    texture_dims,
)
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "glcm_matrices", "glcm_features", "FEATURES"]

FAMILY = "glcm"

#: Most elements of the per-slice 2-D matrices held at once (64 MB of float64).
MATRIX_BUDGET = 8_000_000

_DEFS = [
    ("cm_joint_max", "GYBY", "Joint maximum", r"F = \max_{i,j} p_{ij}", "Probability of the most frequent grey-level pair."),
    ("cm_joint_avg", "60VM", "Joint average", r"\mu = \sum_{i,j} i\, p_{ij}", "Grey-level weighted sum of the joint probabilities."),
    ("cm_joint_var", "UR99", "Joint variance", r"F = \sum_{i,j} (i-\mu)^2 p_{ij}", "Variance of the joint distribution around the joint average."),
    ("cm_joint_entr", "TU9B", "Joint entropy", r"F = -\sum_{i,j} p_{ij} \log_2 p_{ij}", "Shannon entropy of the joint distribution."),
    ("cm_diff_avg", "TF7R", "Difference average", r"\mu_{x-y} = \sum_k k\, p_{i-j,k}", "Mean absolute grey-level difference of pairs."),
    ("cm_diff_var", "D3YU", "Difference variance", r"F = \sum_k (k-\mu_{x-y})^2 p_{i-j,k}", "Variance of the absolute grey-level difference."),
    ("cm_diff_entr", "NTRS", "Difference entropy", r"F = -\sum_k p_{i-j,k} \log_2 p_{i-j,k}", "Entropy of the absolute grey-level difference."),
    ("cm_sum_avg", "ZGXS", "Sum average", r"\mu_{x+y} = \sum_k k\, p_{i+j,k}", "Mean grey-level sum of pairs."),
    ("cm_sum_var", "OEEB", "Sum variance", r"F = \sum_k (k-\mu_{x+y})^2 p_{i+j,k}", "Variance of the grey-level sum."),
    ("cm_sum_entr", "P6QZ", "Sum entropy", r"F = -\sum_k p_{i+j,k} \log_2 p_{i+j,k}", "Entropy of the grey-level sum."),
    ("cm_energy", "8ZQL", "Angular second moment", r"F = \sum_{i,j} p_{ij}^2", "Energy (uniformity) of the joint distribution."),
    ("cm_contrast", "ACUI", "Contrast", r"F = \sum_{i,j} (i-j)^2 p_{ij}", "Squared grey-level difference of pairs."),
    ("cm_dissimilarity", "8S9J", "Dissimilarity", r"F = \sum_{i,j} |i-j|\, p_{ij}", "Absolute grey-level difference of pairs."),
    ("cm_inv_diff", "IB1Z", "Inverse difference", r"F = \sum_{i,j} \frac{p_{ij}}{1+|i-j|}", "Homogeneity of pairs."),
    ("cm_inv_diff_norm", "NDRX", "Normalised inverse difference", r"F = \sum_{i,j} \frac{p_{ij}}{1+|i-j|/N_g}", "Inverse difference normalised by the number of grey levels."),
    ("cm_inv_diff_mom", "WF0Z", "Inverse difference moment", r"F = \sum_{i,j} \frac{p_{ij}}{1+(i-j)^2}", "Homogeneity weighted by the squared difference."),
    ("cm_inv_diff_mom_norm", "1QCO", "Normalised inverse difference moment", r"F = \sum_{i,j} \frac{p_{ij}}{1+(i-j)^2/N_g^2}", "Inverse difference moment normalised by the number of grey levels."),
    ("cm_inv_var", "E8JP", "Inverse variance", r"F = 2\sum_{i>j} \frac{p_{ij}}{(i-j)^2}", "Pairs of different grey levels weighted by the inverse squared difference."),
    ("cm_corr", "NI2N", "Correlation", r"F = \frac{\sum_{i,j} i\,j\,p_{ij} - \mu_{i.}\mu_{.j}}{\sigma_{i.}\sigma_{.j}}", "Linear dependence of the grey levels of pairs (1 when a single grey level is present)."),
    ("cm_auto_corr", "QWB0", "Autocorrelation", r"F = \sum_{i,j} i\,j\,p_{ij}", "Magnitude of the grey-level products of pairs."),
    ("cm_clust_tend", "DG8W", "Cluster tendency", r"F = \sum_{i,j} (i+j-\mu_{i.}-\mu_{.j})^2 p_{ij}", "Grouping of voxels with similar grey levels."),
    ("cm_clust_shade", "7NFM", "Cluster shade", r"F = \sum_{i,j} (i+j-\mu_{i.}-\mu_{.j})^3 p_{ij}", "Skewness of the grey-level sum distribution."),
    ("cm_clust_prom", "AE86", "Cluster prominence", r"F = \sum_{i,j} (i+j-\mu_{i.}-\mu_{.j})^4 p_{ij}", "Tailedness of the grey-level sum distribution."),
    ("cm_info_corr1", "R8DG", "First measure of information correlation", r"F = \frac{HXY - HXY_1}{HX},\; HXY_1 = -\sum_{i,j} p_{ij} \log_2 (p_{i.}p_{.j})", "Mutual information of pair grey levels relative to the marginal entropy HX (0 when HX = 0)."),
    ("cm_info_corr2", "JN9H", "Second measure of information correlation", r"F = \sqrt{1 - e^{-2(HXY_2 - HXY)}},\; HXY_2 = -\sum_{i,j} p_{i.}p_{.j} \log_2 (p_{i.}p_{.j})", "Information correlation of pair grey levels (IBSI uses the natural exponential on base-2 entropies)."),
]  # fmt: skip

FEATURES = [
    FeatureDef(stem=s, ibsi_code=c, family=FAMILY, name=n, formula=f, description=d)
    for s, c, n, f, d in _DEFS
]
register(*FEATURES)


def glcm_matrices(t: TextureInput, directions: np.ndarray, *, per_slice: bool) -> np.ndarray:
    """Symmetric co-occurrence counts for each direction (and each slice).

    Returns an array of shape ``(n_dir, n_slices, n, n)`` when ``per_slice`` (directions must be
    in-plane) or ``(n_dir, n, n)``, indexed by compact grey-level codes.
    """
    n = len(t.levels)
    flat, pidx, codes = t.roi_voxels()
    nz = t.codes.shape[0] - 2 * t.pad
    groups = nz if per_slice else 1
    z = (pidx // (t.codes.shape[1] * t.codes.shape[2]) - t.pad) if per_slice else 0
    base = codes.astype(np.int64) - 1
    keys = []
    for k, off in enumerate(t.flat_offsets(directions)):
        nb = flat[pidx + off]  # the pad keeps every neighbour inside the padded grid
        sel = nb > 0
        g = k * groups + (z[sel] if per_slice else 0)
        keys.append((g * n + base[sel]) * n + nb[sel] - 1)
    size = len(directions) * groups * n * n
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    mat = np.bincount(key, minlength=size).astype(np.float64).reshape(-1, n, n)
    mat = mat + mat.transpose(0, 2, 1)
    return mat.reshape((len(directions), groups, n, n) if per_slice else (len(directions), n, n))


def glcm_features(
    p: np.ndarray, *, levels: np.ndarray, n_levels: int | np.ndarray
) -> dict[str, np.ndarray]:
    r"""All GLCM features of a stack of non-empty matrices ``(K, n, n)``, vectorised over K.

    ``n_levels`` (:math:`N_g`) is one number, or one per matrix.

    Only the joint maximum, energy and entropy need the full matrices; every other feature is
    a sum over the marginal, the cross-diagonal (:math:`i + j`) or the diagonal
    (:math:`|i - j|`) distribution, each built with one pass over the stack. The rewrites are
    exact because the matrices are symmetric: joint variance :math:`\sum_i (i - \mu)^2 p_{i.}`;
    cluster tendency, shade and prominence :math:`\sum_k (k - 2\mu)^m p_{i+j,k}`;
    autocorrelation :math:`\frac14 (\sum_k k^2 p_{i+j,k} - \sum_k k^2 p_{i-j,k})` (as
    :math:`ij = ((i+j)^2 - (i-j)^2)/4`); and :math:`HXY_1 = HXY_2 = 2 HX`, as
    :math:`\sum_{ij} p_{ij} \log(p_{i.} p_{.j}) = \sum_i p_{i.} \log p_{i.} + \sum_j p_{.j}
    \log p_{.j}`, and likewise for :math:`p_{i.} p_{.j}`.
    """
    p = p / p.sum(axis=(1, 2), keepdims=True)
    k = p.shape[0]
    n = len(levels)
    flat = p.reshape(k, n * n)
    # the sums over all pairs only visit the non-zero elements (many level pairs never occur)
    where = np.flatnonzero(flat)
    rows, pos = np.divmod(where, n * n)
    i, j = np.divmod(pos, n)
    return _pair_features(rows, i, j, flat.ravel()[where], k, levels, n_levels)


def _pair_features(rows, i, j, vals, k: int, levels, n_levels) -> dict[str, np.ndarray]:
    """GLCM features of ``k`` matrices given by their non-zero elements.

    ``vals`` are the joint probabilities :math:`p_{ij}` (each matrix sums to 1) at compact
    level codes ``(i, j)`` of matrix ``rows`` (sorted, every matrix present); symmetric
    matrices.
    """
    n = len(levels)
    pi = np.bincount(rows * n + i, weights=vals, minlength=k * n).reshape(k, n)  # p_i. = p_.j
    mu = pi @ levels
    s_vals, p_sum = _by_value(rows, vals, k, _pair_index(levels[i] + levels[j]))
    d_vals, p_diff = _by_value(rows, vals, k, _pair_index(np.abs(levels[i] - levels[j])))
    starts = np.searchsorted(rows, np.arange(k))
    out: dict[str, np.ndarray] = {}
    out["cm_joint_max"] = np.maximum.reduceat(vals, starts)
    out["cm_joint_avg"] = mu
    out["cm_joint_var"] = (pi * (levels[None, :] - mu[:, None]) ** 2).sum(axis=1)
    hxy = np.bincount(rows, weights=special.entr(vals), minlength=k) / _LN2
    out["cm_joint_entr"] = hxy
    d_mu = p_diff @ d_vals
    out["cm_diff_avg"] = d_mu
    out["cm_diff_var"] = (p_diff * (d_vals[None] - d_mu[:, None]) ** 2).sum(axis=1)
    out["cm_diff_entr"] = entropy2(p_diff, axis=1)
    s_mu = p_sum @ s_vals
    out["cm_sum_avg"] = s_mu
    out["cm_sum_var"] = (p_sum * (s_vals[None] - s_mu[:, None]) ** 2).sum(axis=1)
    out["cm_sum_entr"] = entropy2(p_sum, axis=1)
    out["cm_energy"] = np.bincount(rows, weights=vals * vals, minlength=k)
    contrast = p_diff @ d_vals**2
    out["cm_contrast"] = contrast
    out["cm_dissimilarity"] = d_mu
    out["cm_inv_diff"] = p_diff @ (1.0 / (1.0 + d_vals))
    out["cm_inv_diff_mom"] = p_diff @ (1.0 / (1.0 + d_vals**2))
    if np.ndim(n_levels) == 0:
        out["cm_inv_diff_norm"] = p_diff @ (1.0 / (1.0 + d_vals / n_levels))
        out["cm_inv_diff_mom_norm"] = p_diff @ (1.0 / (1.0 + d_vals**2 / n_levels**2))
    else:  # one N_g per matrix (matrices of several ROIs)
        ng = np.asarray(n_levels, dtype=np.float64)[:, None]
        out["cm_inv_diff_norm"] = (p_diff / (1.0 + d_vals[None] / ng)).sum(axis=1)
        out["cm_inv_diff_mom_norm"] = (p_diff / (1.0 + d_vals[None] ** 2 / ng**2)).sum(axis=1)
    with np.errstate(divide="ignore"):
        w = np.where(d_vals > 0, 1.0 / np.where(d_vals > 0, d_vals, 1.0) ** 2, 0.0)
    out["cm_inv_var"] = p_diff @ w
    auto = 0.25 * (p_sum @ s_vals**2 - contrast)
    out["cm_auto_corr"] = auto
    var = np.maximum(out["cm_joint_var"], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(var > 0, (auto - mu**2) / np.where(var > 0, var, 1.0), 1.0)
    out["cm_corr"] = corr
    c = s_vals[None, :] - 2.0 * mu[:, None]  # (K, number of i + j values)
    c2 = c * c
    out["cm_clust_tend"] = (p_sum * c2).sum(axis=1)
    out["cm_clust_shade"] = (p_sum * c2 * c).sum(axis=1)
    out["cm_clust_prom"] = (p_sum * c2 * c2).sum(axis=1)
    hx = entropy2(pi, axis=1)
    hxy1 = hxy2 = 2.0 * hx
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cm_info_corr1"] = np.where(hx > 0, (hxy - hxy1) / np.where(hx > 0, hx, 1.0), 0.0)
    out["cm_info_corr2"] = np.sqrt(np.clip(1.0 - np.exp(-2.0 * (hxy2 - hxy)), 0.0, None))
    return out


def _pair_index(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, index)``: the distinct values of ``raw`` (the :math:`i + j` or
    :math:`|i - j|` of level pairs) and the position of each element's value among them."""
    if raw.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    lo = raw.min()
    step = raw - lo
    # grey levels are integers: index by value directly when the span is small, else sort
    if np.all(step == np.round(step)) and step.max() < 4 * raw.size + 64:
        idx = step.astype(np.int64)
        present = np.bincount(idx) > 0
        remap = np.cumsum(present) - 1
        values = lo + np.flatnonzero(present).astype(np.float64)
        return values, remap[idx]
    values, idx = np.unique(raw, return_inverse=True)
    return values, idx.ravel()


def _by_value(rows, vals, k: int, pair: tuple[np.ndarray, np.ndarray]):
    """Sum the non-zero probabilities ``vals`` (of matrix ``rows``) of a stack of ``k``
    matrices over the elements that share a value of :func:`_pair_index`."""
    values, idx = pair
    key = rows * len(values) + idx
    summed = np.bincount(key, weights=vals, minlength=k * len(values))
    return values, summed.reshape(k, len(values))


#: Above this many grey levels a single ROI's matrices are kept sparse (only the level pairs
#: that occur): dense ``n x n`` matrices cost memory and time quadratic in the levels (filter
#: responses can have thousands), the pairs at most two per voxel and direction.
SPARSE_LEVELS = 64


def _sparse_features(t: TextureInput, dims, aggs, dist: int, settings) -> dict[str, float]:
    """:func:`compute`'s features from the co-occurring pairs only (no dense matrices).

    Each aggregation's matrices are identified by an id (direction, and slice for 2D); a pair
    key ``(id, i, j)`` is counted in both orders, and the features of every non-empty matrix
    come from its non-zero elements (:func:`_pair_features`), as :func:`glcm_features` does.
    """
    n = len(t.levels)
    flat, pidx, codes = t.roi_voxels()
    plane = t.codes.shape[1] * t.codes.shape[2]
    z = pidx // plane - t.pad
    base = codes.astype(np.int64) - 1
    directions = directions_3d(dist)  # the first four are in-plane
    if "3D" not in dims:
        directions = directions[:4]
    per_dir = []  # (direction, slice, i, j) of every pair of ROI voxels, in one order
    for d, off in enumerate(t.flat_offsets(directions)):
        nb = flat[pidx + off]
        sel = nb > 0
        per_dir.append((d, z[sel], base[sel], nb[sel].astype(np.int64) - 1))
    planar = per_dir[:4]
    nz = t.codes.shape[0] - 2 * t.pad
    # matrix id of a pair per aggregation: (direction, slice), slice, direction or one matrix
    ident = {
        "2D_avg": (planar, lambda d, zz: d * nz + zz),
        "2D_comb": (planar, lambda d, zz: zz),
        "2_5D_avg": (planar, lambda d, zz: np.full(zz.shape, d)),
        "2_5D_comb": (planar, lambda d, zz: np.zeros_like(zz)),
        "3D_avg": (per_dir, lambda d, zz: np.full(zz.shape, d)),
        "3D_comb": (per_dir, lambda d, zz: np.zeros_like(zz)),
    }
    wanted = [
        name for name in ident if name.rsplit("_", 1)[0] in dims and name.rsplit("_", 1)[1] in aggs
    ]
    out: dict[str, dict[str, float]] = {}
    for name in wanted:
        parts, to_id = ident[name]
        ids = np.concatenate([to_id(d, zz) for d, zz, _, _ in parts])
        i = np.concatenate([x[2] for x in parts])
        j = np.concatenate([x[3] for x in parts])
        key = np.concatenate([(ids * n + i) * n + j, (ids * n + j) * n + i])  # both orders
        if key.size == 0:
            raise FeatureComputationError(
                f"GLCM: every {name} matrix is empty (the ROI has no voxel pair, run or zone in "
                "that aggregation), so its features are undefined",
                fix="use a larger ROI or leave this texture dimension out of "
                "FeatureSettings.texture_dims",
            )
        uniq, counts = np.unique(key, return_counts=True)
        ids, rest = np.divmod(uniq, n * n)
        i, j = np.divmod(rest, n)
        mats, rows = np.unique(ids, return_inverse=True)
        total = np.bincount(rows, weights=counts)
        vals = counts / total[rows]
        feats = _pair_features(rows, i, j, vals, len(mats), t.levels, t.n_levels)
        out[name] = {stem: float(np.mean(v)) for stem, v in feats.items()}
    return out


def compute(
    q: np.ndarray,
    roi: np.ndarray,
    n_levels: int,
    *,
    spacing: tuple[float, float, float],
    settings=None,
    morph_roi: np.ndarray | None = None,
) -> dict[str, float]:
    """GLCM features of a discretised ROI, keyed by IBSI tag (``cm_joint_max_3D_avg``...).

    Parameters
    ----------
    q
        int array (z, y, x) of grey levels ``1..n_levels`` inside ``roi``.
    roi
        Boolean intensity mask.
    n_levels
        Number of discretisation levels :math:`N_g`.
    spacing
        Voxel spacing (z, y, x) in mm; unused (the GLCM is defined on the voxel grid).
    settings
        Feature settings; reads ``texture_dims``, ``texture_aggregations`` (``avg``,
        ``comb``) and ``glcm_distance``.
    morph_roi
        Unused.

    Raises
    ------
    FeatureComputationError
        Bad inputs, or an aggregation whose matrices are all empty (no voxel pair).
    """
    dims = texture_dims(settings)
    aggs = texture_aggregations(settings)
    dist = int(setting(settings, "glcm_distance"))
    t = prepare(q, roi, n_levels, family="GLCM", pad=dist)
    n = len(t.levels)
    if n > SPARSE_LEVELS:
        return emit(_sparse_features(t, dims, aggs, dist, settings))
    nz = t.codes.shape[0] - 2 * t.pad
    avg = FeatureAverager(glcm_features, family="GLCM", levels=t.levels, n_levels=t.n_levels)
    in_plane = directions_2d(dist)
    if "2D" in dims:
        # per-slice matrices, built for slabs of slices so that memory stays bounded
        slab = max(1, MATRIX_BUDGET // (len(in_plane) * n * n))
        p_planar = np.zeros((len(in_plane), n, n))
        for z0 in range(0, nz, slab):
            z1 = min(nz, z0 + slab)
            slab_codes = t.codes[z0 : z1 + 2 * t.pad].copy()
            slab_codes[: t.pad] = 0  # only in-plane pairs are counted: the rest stays out
            slab_codes[slab_codes.shape[0] - t.pad :] = 0
            sub = replace(t, codes=slab_codes)
            p2 = glcm_matrices(sub, in_plane, per_slice=True)  # (4, slices, n, n)
            if "avg" in aggs:
                avg.add("2D_avg", p2.reshape(-1, n, n))
            if "comb" in aggs:
                avg.add("2D_comb", p2.sum(axis=0))
            p_planar += p2.sum(axis=1)
    elif "2_5D" in dims or "3D" in dims:
        p_planar = glcm_matrices(t, in_plane, per_slice=False)
    groups: dict[str, np.ndarray] = {}
    if "2_5D" in dims:
        groups["2_5D_avg"] = p_planar
        groups["2_5D_comb"] = p_planar.sum(axis=0, keepdims=True)
    if "3D" in dims:
        p_out = glcm_matrices(t, directions_3d(dist)[4:], per_slice=False)
        p3 = np.concatenate([p_planar, p_out], axis=0)
        groups["3D_avg"] = p3
        groups["3D_comb"] = p3.sum(axis=0, keepdims=True)
    for name, stack in select_aggregations(groups, settings).items():
        avg.add(name, stack)
    feats = avg.result()
    return emit(feats)


def compute_many(
    items: list[tuple], *, spacing: tuple[float, float, float], settings=None
) -> list[dict[str, float] | Exception]:
    """GLCM features of several ROIs, their matrices built and evaluated together.

    ``items`` holds ``(q, roi, n_levels, morph_roi)`` per ROI, as taken by :func:`compute`;
    returns per ROI what :func:`compute` returns, or the
    :class:`~radiopredict.errors.FeatureComputationError` it raises.
    """
    dims = texture_dims(settings)
    dist = int(setting(settings, "glcm_distance"))
    per_slice = "2D" in dims

    def cost(shape):  # direction (and slice) matrices and their transposes, per level pair
        slices = shape[0] - 2 * dist if per_slice else 1
        return 2 * (4 * slices + 13)

    return compute_batched(
        items,
        family="GLCM",
        pad=dist,
        cost=cost,
        single=lambda item: compute(
            *item[:3], spacing=spacing, settings=settings, morph_roi=item[3]
        ),
        power=2,
        batch_fn=lambda p: _batch(p, dims, dist, settings),
    )


def _matrices_many(p, directions: np.ndarray, *, per_slice: bool) -> np.ndarray:
    """:func:`glcm_matrices` of every ROI of a packed batch: ``(r, n_dir, [n_slices,] n, n)``."""
    t = p.t
    n = len(t.levels)
    flat, pidx, codes = t.roi_voxels()
    nz = t.codes.shape[0] - 2 * t.pad
    groups = nz if per_slice else 1
    z = (pidx // (t.codes.shape[1] * t.codes.shape[2]) - t.pad) if per_slice else 0
    item = p.item_of(pidx)
    base = codes.astype(np.int64) - 1
    n_dir = len(directions)
    keys = []
    for k, off in enumerate(t.flat_offsets(directions)):
        nb = flat[pidx + off]
        sel = nb > 0
        g = (item[sel] * n_dir + k) * groups + (z[sel] if per_slice else 0)
        keys.append((g * n + base[sel]) * n + nb[sel] - 1)
    size = p.n_items * n_dir * groups * n * n
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    mat = np.bincount(key, minlength=size).astype(np.float64).reshape(-1, n, n)
    mat = mat + mat.transpose(0, 2, 1)
    shape = (p.n_items, n_dir, groups, n, n) if per_slice else (p.n_items, n_dir, n, n)
    return mat.reshape(shape)


def _batch(p, dims, dist: int, settings) -> dict:
    """``{item_keys(r, suffix)[k]: {stem: value} | error}`` for the ROIs of one packed batch."""
    t = p.t
    in_plane = directions_2d(dist)
    if "2D" in dims:
        p2 = _matrices_many(p, in_plane, per_slice=True)  # (r, 4, slices, n, n)
        planar = p2.sum(axis=2)
    else:
        p2 = None
        planar = _matrices_many(p, in_plane, per_slice=False)
    if "3D" in dims:
        out = _matrices_many(p, directions_3d(dist)[4:], per_slice=False)
    aggs = texture_aggregations(settings)
    avg = FeatureAverager(glcm_features, family="GLCM", levels=t.levels)
    r, n = p.n_items, len(t.levels)
    groups: dict[str, np.ndarray] = {}
    if p2 is not None:
        if "avg" in aggs:
            groups["2D_avg"] = p2.reshape(r, -1, n, n)
        if "comb" in aggs:
            groups["2D_comb"] = p2.sum(axis=1)
    if "2_5D" in dims:
        groups["2_5D_avg"] = planar
        groups["2_5D_comb"] = planar.sum(axis=1, keepdims=True)
    if "3D" in dims:
        p3 = np.concatenate([planar, out], axis=1)
        groups["3D_avg"] = p3
        groups["3D_comb"] = p3.sum(axis=1, keepdims=True)
    ng = p.n_levels[:, None].astype(np.float64)
    for name, stack in groups.items():
        if name.startswith("2D") or name.rsplit("_", 1)[-1] in aggs:
            avg.add_many(item_keys(r, name), stack, n_levels=np.broadcast_to(ng, stack.shape[:2]))
    return avg.results()
