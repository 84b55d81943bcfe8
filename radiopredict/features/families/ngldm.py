r"""Neighbouring grey level dependence matrix (NGLDM) features, IBSI-1 section 3.11 (family REK0).

A neighbour of a ROI voxel with grey level :math:`i` is *dependent* when it lies in the ROI,
within Chebyshev distance :math:`\delta` (default 1; in-plane only for 2-D) and its grey level
differs from :math:`i` by at most the coarseness parameter :math:`\alpha` (default 0). The
dependence count of the voxel is :math:`j = 1 +` the number of dependent neighbours. The matrix
:math:`s_{ij}` counts the ROI voxels with grey level :math:`i` and dependence :math:`j`. With
:math:`N_s = \sum_{ij} s_{ij}`, :math:`N_v` ROI voxels, :math:`p_{ij} = s_{ij}/N_s` and the
marginal sums :math:`s_{i.}`, :math:`s_{.j}`, the features below follow.

Aggregation suffixes: ``2D`` (8QNN: per slice, features averaged), ``2_5D`` (62GR: slices
merged), ``3D`` (KOBO).

Dependence counts are accumulated with one vectorised comparison of the ROI box with each
shifted copy (26 shifts for :math:`\delta = 1` in 3-D, the in-plane 8 reused for 2-D).
"""

from __future__ import annotations

import numpy as np

from radiopredict.features.families._texture import (
    FeatureAverager,
    TextureInput,
    compact_axis,
    compute_batched,
    count_matrix,
    emit,
    item_keys,
    neighbour_offsets,
    prepare,
    setting,
    stack_features,
    texture_dims,
    zone_features,
)
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "dependence_counts", "FEATURES"]

FAMILY = "ngldm"

_DEFS = [
    ("ngl_lde", "SODN", "Low dependence emphasis", r"F = \frac{1}{N_s}\sum_j \frac{s_{.j}}{j^2}", "Emphasis on voxels with few dependent neighbours."),
    ("ngl_hde", "IMOQ", "High dependence emphasis", r"F = \frac{1}{N_s}\sum_j j^2 s_{.j}", "Emphasis on voxels with many dependent neighbours."),
    ("ngl_lgce", "TL9H", "Low grey level count emphasis", r"F = \frac{1}{N_s}\sum_i \frac{s_{i.}}{i^2}", "Emphasis on low grey levels."),
    ("ngl_hgce", "OAE7", "High grey level count emphasis", r"F = \frac{1}{N_s}\sum_i i^2 s_{i.}", "Emphasis on high grey levels."),
    ("ngl_ldlge", "EQ3F", "Low dependence low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{s_{ij}}{i^2 j^2}", "Emphasis on low dependence at low grey levels."),
    ("ngl_ldhge", "JA6D", "Low dependence high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{i^2 s_{ij}}{j^2}", "Emphasis on low dependence at high grey levels."),
    ("ngl_hdlge", "NBZI", "High dependence low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{j^2 s_{ij}}{i^2}", "Emphasis on high dependence at low grey levels."),
    ("ngl_hdhge", "9QMG", "High dependence high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} i^2 j^2 s_{ij}", "Emphasis on high dependence at high grey levels."),
    ("ngl_glnu", "FP8K", "Grey level non-uniformity", r"F = \frac{1}{N_s}\sum_i s_{i.}^2", "Spread of voxels over grey levels."),
    ("ngl_glnu_norm", "5SPA", "Normalised grey level non-uniformity", r"F = \frac{1}{N_s^2}\sum_i s_{i.}^2", "Grey level non-uniformity normalised by the count."),
    ("ngl_dcnu", "Z87G", "Dependence count non-uniformity", r"F = \frac{1}{N_s}\sum_j s_{.j}^2", "Spread of voxels over dependence counts."),
    ("ngl_dcnu_norm", "OKJI", "Normalised dependence count non-uniformity", r"F = \frac{1}{N_s^2}\sum_j s_{.j}^2", "Dependence count non-uniformity normalised by the count."),
    ("ngl_dc_perc", "6XV8", "Dependence count percentage", r"F = \frac{N_s}{N_v}", "Fraction of ROI voxels in the matrix (1 when every voxel counts)."),
    ("ngl_gl_var", "1PFV", "Grey level variance", r"F = \sum_{i,j} (i-\mu)^2 p_{ij},\; \mu = \sum_{i,j} i\,p_{ij}", "Variance of the grey level."),
    ("ngl_dc_var", "DNX2", "Dependence count variance", r"F = \sum_{i,j} (j-\mu)^2 p_{ij},\; \mu = \sum_{i,j} j\,p_{ij}", "Variance of the dependence count."),
    ("ngl_dc_entr", "FCBV", "Dependence count entropy", r"F = -\sum_{i,j} p_{ij} \log_2 p_{ij}", "Entropy of the joint dependence distribution."),
    ("ngl_dc_energy", "CAS9", "Dependence count energy", r"F = \sum_{i,j} p_{ij}^2", "Energy of the joint dependence distribution."),
]  # fmt: skip

FEATURES = [
    FeatureDef(stem=s, ibsi_code=c, family=FAMILY, name=n, formula=f, description=d)
    for s, c, n, f, d in _DEFS
]
register(*FEATURES)

_NAMES = {
    "se": "ngl_lde",
    "le": "ngl_hde",
    "lg": "ngl_lgce",
    "hg": "ngl_hgce",
    "slg": "ngl_ldlge",
    "shg": "ngl_ldhge",
    "llg": "ngl_hdlge",
    "lhg": "ngl_hdhge",
    "glnu": "ngl_glnu",
    "glnu_norm": "ngl_glnu_norm",
    "jnu": "ngl_dcnu",
    "jnu_norm": "ngl_dcnu_norm",
    "perc": "ngl_dc_perc",
    "gl_var": "ngl_gl_var",
    "j_var": "ngl_dc_var",
    "j_entr": "ngl_dc_entr",
    "j_energy": "ngl_dc_energy",
}


def dependence_counts(t: TextureInput, offsets: np.ndarray, alpha: float) -> np.ndarray:
    """Number of dependent neighbours over ``offsets`` of each ROI voxel (``t.roi_voxels`` order).

    A neighbour is dependent when it lies in the ROI and its grey level differs from the
    voxel's by at most ``alpha``.
    """
    flat, pidx, codes = t.roi_voxels()
    count = np.zeros(pidx.size, dtype=np.int32)
    if alpha == 0:
        for off in t.flat_offsets(offsets):
            count += flat[pidx + off] == codes
    else:
        values = t.values.ravel()
        own = values[pidx]
        for off in t.flat_offsets(offsets):
            nb = pidx + off
            count += (flat[nb] > 0) & (np.abs(values[nb] - own) <= alpha)
    return count


def _features(
    m: np.ndarray, *, i_vals: np.ndarray, j_vals: np.ndarray, n_voxels: np.ndarray
) -> dict[str, np.ndarray]:
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
    """NGLDM features of a discretised ROI, keyed by IBSI tag (``ngl_lde_3D``...).

    Parameters are those of :func:`radiopredict.features.families.glcm.compute`; reads
    ``settings.texture_dims``, ``settings.ngldm_distance`` (default 1) and
    ``settings.ngldm_alpha`` (default 0, in grey levels).

    Raises
    ------
    FeatureComputationError
        Bad inputs.
    """
    dims = texture_dims(settings)
    dist = int(setting(settings, "ngldm_distance"))
    alpha = float(setting(settings, "ngldm_alpha"))
    t = prepare(q, roi, n_levels, family="NGLDM", pad=dist)
    n = len(t.levels)
    _, pidx, code = t.roi_voxels()
    idx = pidx
    nz = t.codes.shape[0] - 2 * t.pad
    z = pidx // (t.codes.shape[1] * t.codes.shape[2]) - t.pad
    off2 = neighbour_offsets(dist, in_plane=True)
    off3 = neighbour_offsets(dist, in_plane=False)
    off3 = off3[off3[:, 0] != 0]
    dep2 = dependence_counts(t, off2, alpha)
    dep = {}
    if "2D" in dims or "2_5D" in dims:
        dep["2"] = dep2 + 1
    if "3D" in dims:
        dep["3"] = dep2 + dependence_counts(t, off3, alpha) + 1
    j_vals, j_idx = compact_axis(np.concatenate(list(dep.values())))
    nj = len(j_vals)
    feats: dict[str, dict[str, float]] = {}
    groups, extra = {}, {}
    pos = 0
    if "2" in dep:
        jj = j_idx[pos : pos + idx.size]
        pos += idx.size
        m2 = count_matrix(z, code, jj, nz, n, nj)
        nv = np.bincount(z, minlength=nz)
        if "2D" in dims:
            groups["2D"] = m2
            extra["2D"] = {"n_voxels": nv}
        if "2_5D" in dims:
            groups["2_5D"] = m2.sum(axis=0, keepdims=True)
            extra["2_5D"] = {"n_voxels": [idx.size]}
    if "3" in dep:
        jj = j_idx[pos : pos + idx.size]
        groups["3D"] = count_matrix(np.zeros_like(z), code, jj, 1, n, nj)
        extra["3D"] = {"n_voxels": [idx.size]}
    feats = stack_features(
        groups, _features, family="NGLDM", extra=extra, i_vals=t.levels, j_vals=j_vals
    )
    return emit(feats)


def compute_many(
    items: list[tuple], *, spacing: tuple[float, float, float], settings=None
) -> list[dict[str, float] | Exception]:
    """NGLDM features of several ROIs, their matrices built and evaluated together.

    ``items`` holds ``(q, roi, n_levels, morph_roi)`` per ROI, as taken by :func:`compute`;
    returns per ROI what :func:`compute` returns, or the error it raises.
    """
    dims = texture_dims(settings)
    dist = int(setting(settings, "ngldm_distance"))
    alpha = float(setting(settings, "ngldm_alpha"))

    def cost(shape):  # slice matrices x dependence counts, per grey level
        return (shape[0] + 1) * (2 * dist + 1) ** 3

    return compute_batched(
        items,
        family="NGLDM",
        pad=dist,
        cost=cost,
        single=lambda item: compute(
            *item[:3], spacing=spacing, settings=settings, morph_roi=item[3]
        ),
        batch_fn=lambda p: _batch(p, dims, dist, alpha),
    )


def _batch(p, dims, dist: int, alpha: float) -> dict:
    t, r = p.t, p.n_items
    n = len(t.levels)
    _, pidx, code = t.roi_voxels()
    item = p.item_of(pidx)
    nz = t.codes.shape[0] - 2 * t.pad
    z = pidx // (t.codes.shape[1] * t.codes.shape[2]) - t.pad
    off2 = neighbour_offsets(dist, in_plane=True)
    off3 = neighbour_offsets(dist, in_plane=False)
    off3 = off3[off3[:, 0] != 0]
    dep2 = dependence_counts(t, off2, alpha)
    dep = {}
    if "2D" in dims or "2_5D" in dims:
        dep["2"] = dep2 + 1
    if "3D" in dims:
        dep["3"] = dep2 + dependence_counts(t, off3, alpha) + 1
    j_vals, j_idx = compact_axis(np.concatenate(list(dep.values())))
    nj = len(j_vals)
    count = np.bincount(item, minlength=r)
    avg = FeatureAverager(_features, family="NGLDM", i_vals=t.levels, j_vals=j_vals)
    m2 = m3 = None
    pos = 0
    if "2" in dep:
        g = item * nz + z
        m2 = count_matrix(g, code, j_idx[: pidx.size], r * nz, n, nj).reshape(r, nz, n, nj)
        nv = np.bincount(g, minlength=r * nz).reshape(r, nz)
        pos = pidx.size
    if "3" in dep:
        m3 = count_matrix(item, code, j_idx[pos : pos + pidx.size], r, n, nj)
    if m2 is not None and "2D" in dims:
        avg.add_many(item_keys(r, "2D"), m2, n_voxels=nv)
    if m2 is not None and "2_5D" in dims:
        avg.add_many(item_keys(r, "2_5D"), m2.sum(axis=1, keepdims=True), n_voxels=count[:, None])
    if m3 is not None:
        avg.add_many(item_keys(r, "3D"), m3[:, None], n_voxels=count[:, None])
    return avg.results()
