r"""Neighbourhood grey tone difference matrix (NGTDM) features, IBSI-1 section 3.10 (family IPET).

For each ROI voxel of grey level :math:`i`, :math:`\bar{X}` is the average grey level of its
neighbours within Chebyshev distance :math:`\delta` (default 1: 8 in-plane neighbours in 2-D,
26 in 3-D) that lie in the ROI; voxels without any such neighbour are left out. Then
:math:`n_i` is the number of retained voxels of level :math:`i`, :math:`s_i = \sum |i -
\bar{X}|` over them, :math:`N_{v,c} = \sum_i n_i`, :math:`p_i = n_i / N_{v,c}` and
:math:`N_{g,p}` is the number of grey levels with :math:`p_i > 0`. Double sums run over levels
with :math:`p_i > 0` and :math:`p_j > 0`.

Aggregation suffixes: ``2D`` (8QNN: per slice with in-plane neighbourhoods, features averaged
over slices), ``2_5D`` (62GR: the per-slice :math:`s_i, n_i` merged) and ``3D`` (KOBO).

Documented values where IBSI's formula is 0/0 (a single grey level, or no grey-tone
difference): coarseness :math:`10^6`, contrast, busyness and strength 0.

Neighbourhood sums and counts come from exact separable integer box sums over the ROI box.
"""

from __future__ import annotations

import numpy as np

from radiopredict.features.families._texture import (
    FeatureAverager,
    box_sums,
    compute_batched,
    emit,
    item_keys,
    prepare,
    setting,
    stack_features,
    texture_dims,
)
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "ngtdm_features", "FEATURES", "COARSENESS_MAX"]

FAMILY = "ngtdm"

#: Coarseness reported when :math:`\sum_i p_i s_i = 0` (no grey-tone difference at all).
COARSENESS_MAX = 1.0e6

_DEFS = [
    ("ngt_coarseness", "QCDE", "Coarseness", r"F = \frac{1}{\sum_i p_i s_i}", "Granularity of the texture (10^6 when there is no grey-tone difference)."),
    ("ngt_contrast", "65HE", "Contrast", r"F = \left(\frac{1}{N_{g,p}(N_{g,p}-1)}\sum_{i,j} p_i p_j (i-j)^2\right)\left(\frac{1}{N_{v,c}}\sum_i s_i\right)", "Grey-level dynamic range times local variation (0 with one grey level)."),
    ("ngt_busyness", "NQ30", "Busyness", r"F = \frac{\sum_i p_i s_i}{\sum_{i,j} |i\,p_i - j\,p_j|}", "Rapid changes of grey level between neighbours (0 with one grey level)."),
    ("ngt_complexity", "HDEZ", "Complexity", r"F = \frac{1}{N_{v,c}}\sum_{i,j} |i-j| \frac{p_i s_i + p_j s_j}{p_i + p_j}", "Non-uniformity and rapid grey-level changes."),
    ("ngt_strength", "1X9X", "Strength", r"F = \frac{\sum_{i,j} (p_i + p_j)(i-j)^2}{\sum_i s_i}", "Distinct, large primitives (0 when there is no grey-tone difference)."),
]  # fmt: skip

FEATURES = [
    FeatureDef(stem=s, ibsi_code=c, family=FAMILY, name=n, formula=f, description=d)
    for s, c, n, f, d in _DEFS
]
register(*FEATURES)


def ngtdm_features(m: np.ndarray, *, levels: np.ndarray) -> dict[str, np.ndarray]:
    r"""Features of a stack ``(K, 2, n)`` of ``(s_i, n_i)`` rows, vectorised over K.

    The double sums over present levels are reduced to single ones, exactly:
    :math:`\sum_{ij} p_i p_j (i-j)^2 = 2 \sum_i p_i (i - \mu)^2`;
    :math:`\sum_{ij} (p_i + p_j)(i-j)^2 = 2 (N_{g,p} \sum_i p_i (i - c)^2 + \sum_j (j - c)^2)`
    with :math:`c` the mean of the present levels; busyness's :math:`\sum_{ij} |i p_i - j p_j|
    = 2 \sum_k v_{(k)} (2k - N_{g,p} - 1)` over the sorted :math:`v = i p_i`. Only the
    complexity keeps a double sum, over the present levels of each matrix.
    """
    s = m[:, 0, :]
    cnt = m[:, 1, :]
    nvc = cnt.sum(axis=1)
    p = cnt / nvc[:, None]
    present = p > 0
    ngp = present.sum(axis=1)
    ps = (p * s).sum(axis=1)
    s_tot = s.sum(axis=1)
    lv = levels[None, :]
    mu = (p * lv).sum(axis=1)
    var_p = (p * (lv - mu[:, None]) ** 2).sum(axis=1)  # sum_i p_i (i - mu)^2
    centre = np.where(present, lv, 0.0).sum(axis=1) / np.maximum(ngp, 1)
    dev = np.where(present, lv - centre[:, None], 0.0)
    spread = (p * dev**2).sum(axis=1)  # sum_i p_i (i - c)^2
    sq = (dev**2).sum(axis=1)  # sum_j over present levels (j - c)^2
    v = np.sort(np.where(present, lv * p, np.inf), axis=1)  # absent levels sort last
    rank = np.arange(v.shape[1])[None, :]
    weight = np.where(rank < ngp[:, None], 2.0 * rank - ngp[:, None] + 1.0, 0.0)
    bdenom = 2.0 * (np.where(np.isfinite(v), v, 0.0) * weight).sum(axis=1)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ngt_coarseness"] = np.where(ps > 0, 1.0 / np.where(ps > 0, ps, 1.0), COARSENESS_MAX)
        pair = 2.0 * var_p
        denom = ngp * (ngp - 1.0)
        out["ngt_contrast"] = np.where(
            denom > 0, pair / np.where(denom > 0, denom, 1.0) * s_tot / nvc, 0.0
        )
        out["ngt_busyness"] = np.where(bdenom > 0, ps / np.where(bdenom > 0, bdenom, 1.0), 0.0)
        out["ngt_complexity"] = _complexity(p, s, present, levels) / nvc
        strength_num = 2.0 * (ngp * spread + sq)
        out["ngt_strength"] = np.where(
            s_tot > 0, strength_num / np.where(s_tot > 0, s_tot, 1.0), 0.0
        )
    return out


#: Above this many grey levels the complexity's double sum runs matrix by matrix over the
#: present levels only (below, one vectorised pass over the stack).
_DENSE_LEVELS = 64


def _complexity_one(lv: np.ndarray, p: np.ndarray, a: np.ndarray) -> float:
    r"""Complexity's double sum for one matrix: ascending present levels ``lv``, their
    probabilities ``p`` and :math:`a = p s`.

    The denominator :math:`p_i + p_j` only takes as many values as there are distinct
    probabilities (voxel counts per level: few): per group :math:`g` of levels with
    probability :math:`q_g`, :math:`\sum_{j \in g} |i - j|` and :math:`\sum_{j \in g} a_j |i - j|`
    come from prefix sums over the group's sorted levels, for every :math:`i` at once.
    """
    values, group = np.unique(p, return_inverse=True)
    if len(values) * 8 > len(lv):  # many distinct probabilities: the plain double sum
        return float(
            (np.abs(lv[:, None] - lv[None, :]) * (a[:, None] + a[None, :]) / (p[:, None] + p)).sum()
        )
    total = 0.0
    for g, q in enumerate(values):
        members = group == g
        lg, ag = lv[members], a[members]  # ascending, as lv
        s1 = np.concatenate([[0.0], np.cumsum(lg)])
        a0 = np.concatenate([[0.0], np.cumsum(ag)])
        a1 = np.concatenate([[0.0], np.cumsum(ag * lg)])
        r = np.searchsorted(lg, lv, side="right")  # members at or below each level
        dist = lv * r - s1[r] + (s1[-1] - s1[r]) - lv * (len(lg) - r)
        wdist = lv * a0[r] - a1[r] + (a1[-1] - a1[r]) - lv * (a0[-1] - a0[r])
        total += float(((a * dist + wdist) / (p + q)).sum())
    return total


def _complexity(p, s, present, levels) -> np.ndarray:
    r""":math:`\sum_{ij} |i - j| rac{p_i s_i + p_j s_j}{p_i + p_j}` over present levels."""
    ps = p * s
    if p.shape[1] <= _DENSE_LEVELS:
        i = levels[None, :, None]
        j = levels[None, None, :]
        both = present[:, :, None] & present[:, None, :]
        pij = p[:, :, None] + p[:, None, :]
        frac = np.where(both, (ps[:, :, None] + ps[:, None, :]) / np.where(both, pij, 1.0), 0.0)
        return (np.abs(i - j) * frac).sum(axis=(1, 2))
    out = np.zeros(p.shape[0])
    for k in range(p.shape[0]):
        keep = present[k]
        out[k] = _complexity_one(levels[keep], p[k, keep], ps[k, keep])
    return out


def _matrices(codes, values, sums, counts, group, n_groups, n):
    """(n_groups, 2, n) rows of (s_i, n_i) from neighbourhood sums and counts."""
    keep = (codes > 0) & (counts > 0)
    c = codes[keep].astype(np.int64) - 1
    g = group[keep] if group is not None else np.zeros(c.size, dtype=np.int64)
    diff = np.abs(values[keep] - sums[keep] / counts[keep])
    key = g * n + c
    s = np.bincount(key, weights=diff, minlength=n_groups * n).reshape(n_groups, n)
    k = np.bincount(key, minlength=n_groups * n).reshape(n_groups, n).astype(np.float64)
    return np.stack([s, k], axis=1)


def compute(
    q: np.ndarray,
    roi: np.ndarray,
    n_levels: int,
    *,
    spacing: tuple[float, float, float],
    settings=None,
    morph_roi: np.ndarray | None = None,
) -> dict[str, float]:
    """NGTDM features of a discretised ROI, keyed by IBSI tag (``ngt_coarseness_3D``...).

    Parameters are those of :func:`radiopredict.features.families.glcm.compute`; reads
    ``settings.texture_dims`` and ``settings.ngtdm_distance`` (default 1).

    Raises
    ------
    FeatureComputationError
        Bad inputs, or no ROI voxel with a neighbour in an aggregation.
    """
    dims = texture_dims(settings)
    dist = int(setting(settings, "ngtdm_distance"))
    t = prepare(q, roi, n_levels, family="NGTDM", pad=dist)
    n = len(t.levels)
    values = t.values
    codes = t.codes
    inside = (codes > 0).astype(np.int64)
    vsum2, vsum3 = box_sums(np.rint(values).astype(np.int64), dist)
    csum2, csum3 = box_sums(inside, dist)
    groups: dict[str, np.ndarray] = {}
    if "2D" in dims or "2_5D" in dims:
        nz = codes.shape[0]
        zidx = np.broadcast_to(np.arange(nz)[:, None, None], codes.shape)
        m2 = _matrices(codes, values, vsum2 - values, csum2 - inside, zidx, nz, n)
        if "2D" in dims:
            groups["2D"] = m2
        if "2_5D" in dims:
            groups["2_5D"] = m2.sum(axis=0, keepdims=True)
    if "3D" in dims:
        groups["3D"] = _matrices(codes, values, vsum3 - values, csum3 - inside, None, 1, n)
    return emit(stack_features(groups, ngtdm_features, family="NGTDM", levels=t.levels))


def compute_many(
    items: list[tuple], *, spacing: tuple[float, float, float], settings=None
) -> list[dict[str, float] | Exception]:
    """NGTDM features of several ROIs, their matrices built and evaluated together.

    ``items`` holds ``(q, roi, n_levels, morph_roi)`` per ROI, as taken by :func:`compute`;
    returns per ROI what :func:`compute` returns, or the error it raises.
    """
    dims = texture_dims(settings)
    dist = int(setting(settings, "ngtdm_distance"))

    def cost(shape):  # slice matrices x 2, per level pair (the pair terms)
        return (shape[0] + 1) * 2

    return compute_batched(
        items,
        family="NGTDM",
        pad=dist,
        cost=cost,
        single=lambda item: compute(
            *item[:3], spacing=spacing, settings=settings, morph_roi=item[3]
        ),
        power=2,
        batch_fn=lambda p: _batch(p, dims, dist),
    )


def _batch(p, dims, dist: int) -> dict:
    t, r = p.t, p.n_items
    n = len(t.levels)
    values = t.values
    codes = t.codes
    inside = (codes > 0).astype(np.int64)
    vsum2, vsum3 = box_sums(np.rint(values).astype(np.int64), dist)
    csum2, csum3 = box_sums(inside, dist)
    item = np.broadcast_to(p.item_of_x[None, None, :], codes.shape)
    avg = FeatureAverager(ngtdm_features, family="NGTDM", levels=t.levels)
    m2 = m3 = None
    if "2D" in dims or "2_5D" in dims:
        nz = codes.shape[0]
        zidx = np.broadcast_to(np.arange(nz)[:, None, None], codes.shape)
        m2 = _matrices(codes, values, vsum2 - values, csum2 - inside, item * nz + zidx, r * nz, n)
        m2 = m2.reshape(r, nz, 2, n)
    if "3D" in dims:
        m3 = _matrices(codes, values, vsum3 - values, csum3 - inside, item, r, n)
    if m2 is not None and "2D" in dims:
        avg.add_many(item_keys(r, "2D"), m2)
    if m2 is not None and "2_5D" in dims:
        avg.add_many(item_keys(r, "2_5D"), m2.sum(axis=1, keepdims=True))
    if m3 is not None:
        avg.add_many(item_keys(r, "3D"), m3[:, None])
    return avg.results()
