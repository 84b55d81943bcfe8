r"""Grey level distance zone matrix (GLDZM) features, IBSI-1 section 3.9 (family VMDZ).

Zones are those of the GLSZM (equal grey level, 26-connected in 3-D, 8-connected per slice in
2-D). The distance of a voxel to the ROI edge is its city-block (taxicab) distance to the
nearest voxel outside the morphological mask, so voxels on the border have distance 1; in 2-D
the distance is measured within the slice. A zone's distance :math:`j` is the smallest distance
of its voxels. The distance zone matrix :math:`d_{ij}` counts the zones of grey level :math:`i`
and distance :math:`j`. With :math:`N_s` zones, :math:`N_v` ROI voxels, :math:`p_{ij} =
d_{ij}/N_s` and the marginal sums :math:`d_{i.}`, :math:`d_{.j}`, the features below follow.

The distance map is computed on the morphological mask (the mask before resegmentation) when
one is given, else on the intensity mask; a zone voxel outside the morphological mask counts
as distance 1. Aggregation suffixes: ``2D`` (8QNN), ``2_5D`` (62GR), ``3D`` (KOBO) as for the GLSZM.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_cdt, distance_transform_edt

from radiopredict.errors import FeatureComputationError
from radiopredict.features.families._texture import (
    FeatureAverager,
    compact_axis,
    compute_batched,
    count_matrix,
    emit,
    item_keys,
    prepare,
    setting,
    stack_features,
    texture_dims,
    zone_features,
    zone_items,
    zone_table,
)
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "border_distance", "FEATURES"]

FAMILY = "gldzm"

_DEFS = [
    ("dzm_sde", "0GBI", "Small distance emphasis", r"F = \frac{1}{N_s}\sum_j \frac{d_{.j}}{j^2}", "Emphasis on zones close to the ROI edge."),
    ("dzm_lde", "MB4I", "Large distance emphasis", r"F = \frac{1}{N_s}\sum_j j^2 d_{.j}", "Emphasis on zones far from the ROI edge."),
    ("dzm_lgze", "S1RA", "Low grey level zone emphasis", r"F = \frac{1}{N_s}\sum_i \frac{d_{i.}}{i^2}", "Emphasis on zones of low grey levels."),
    ("dzm_hgze", "K26C", "High grey level zone emphasis", r"F = \frac{1}{N_s}\sum_i i^2 d_{i.}", "Emphasis on zones of high grey levels."),
    ("dzm_sdlge", "RUVG", "Small distance low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{d_{ij}}{i^2 j^2}", "Emphasis on edge zones of low grey levels."),
    ("dzm_sdhge", "DKNJ", "Small distance high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{i^2 d_{ij}}{j^2}", "Emphasis on edge zones of high grey levels."),
    ("dzm_ldlge", "A7WM", "Large distance low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{j^2 d_{ij}}{i^2}", "Emphasis on inner zones of low grey levels."),
    ("dzm_ldhge", "KLTH", "Large distance high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} i^2 j^2 d_{ij}", "Emphasis on inner zones of high grey levels."),
    ("dzm_glnu", "VFT7", "Grey level non-uniformity", r"F = \frac{1}{N_s}\sum_i d_{i.}^2", "Spread of zones over grey levels."),
    ("dzm_glnu_norm", "7HP3", "Normalised grey level non-uniformity", r"F = \frac{1}{N_s^2}\sum_i d_{i.}^2", "Grey level non-uniformity normalised by the number of zones."),
    ("dzm_zdnu", "V294", "Zone distance non-uniformity", r"F = \frac{1}{N_s}\sum_j d_{.j}^2", "Spread of zones over distances."),
    ("dzm_zdnu_norm", "IATH", "Normalised zone distance non-uniformity", r"F = \frac{1}{N_s^2}\sum_j d_{.j}^2", "Zone distance non-uniformity normalised by the number of zones."),
    ("dzm_z_perc", "VIWW", "Zone percentage", r"F = \frac{N_s}{N_v}", "Number of zones per ROI voxel."),
    ("dzm_gl_var", "QK93", "Grey level variance", r"F = \sum_{i,j} (i-\mu)^2 p_{ij},\; \mu = \sum_{i,j} i\,p_{ij}", "Variance of the grey level of zones."),
    ("dzm_zd_var", "7WT1", "Zone distance variance", r"F = \sum_{i,j} (j-\mu)^2 p_{ij},\; \mu = \sum_{i,j} j\,p_{ij}", "Variance of the zone distance."),
    ("dzm_zd_entr", "GBDU", "Zone distance entropy", r"F = -\sum_{i,j} p_{ij} \log_2 p_{ij}", "Entropy of the joint zone distance distribution."),
]  # fmt: skip

FEATURES = [
    FeatureDef(stem=s, ibsi_code=c, family=FAMILY, name=n, formula=f, description=d)
    for s, c, n, f, d in _DEFS
]
register(*FEATURES)

_NAMES = {
    "se": "dzm_sde",
    "le": "dzm_lde",
    "lg": "dzm_lgze",
    "hg": "dzm_hgze",
    "slg": "dzm_sdlge",
    "shg": "dzm_sdhge",
    "llg": "dzm_ldlge",
    "lhg": "dzm_ldhge",
    "glnu": "dzm_glnu",
    "glnu_norm": "dzm_glnu_norm",
    "jnu": "dzm_zdnu",
    "jnu_norm": "dzm_zdnu_norm",
    "perc": "dzm_z_perc",
    "gl_var": "dzm_gl_var",
    "j_var": "dzm_zd_var",
    "j_entr": "dzm_zd_entr",
}

_CROSS_2D = np.zeros((3, 3, 3), dtype=bool)
_CROSS_2D[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
_SQUARE_2D = np.zeros((3, 3, 3), dtype=bool)
_SQUARE_2D[1] = True


_METRICS = ("manhattan", "chebyshev", "euclidean")


def border_distance(mask: np.ndarray, *, in_plane: bool, metric: str = "manhattan") -> np.ndarray:
    """Distance of each mask voxel to the nearest voxel outside the mask, in voxels.

    Voxels beyond the array count as outside, so border voxels have distance 1 and voxels
    outside the mask 0. With ``in_plane`` the distance is measured within each z slice.
    ``metric`` is ``"manhattan"`` (city-block, the IBSI definition), ``"chebyshev"`` or
    ``"euclidean"``.
    """
    if metric not in _METRICS:
        raise FeatureComputationError(
            f"GLDZM: unknown distance metric {metric!r}", fix=f"use one of {list(_METRICS)}"
        )
    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    if metric == "euclidean":
        # a huge z step keeps the nearest outside voxel within the slice for 2-D distances
        sampling = (1.0e6, 1.0, 1.0) if in_plane else (1.0, 1.0, 1.0)
        dist = distance_transform_edt(padded, sampling=sampling)
    elif in_plane:
        structure = _CROSS_2D if metric == "manhattan" else _SQUARE_2D
        dist = distance_transform_cdt(padded, metric=structure)
    else:
        dist = distance_transform_cdt(
            padded, metric="taxicab" if metric == "manhattan" else "chessboard"
        )
    return dist[1:-1, 1:-1, 1:-1]


def _features(
    m: np.ndarray, *, i_vals: np.ndarray, j_vals: np.ndarray, n_voxels: np.ndarray
) -> dict[str, np.ndarray]:
    return zone_features(m, i_vals=i_vals, j_vals=j_vals, n_voxels=n_voxels, names=_NAMES)


def _zone_distances(t, *, in_plane: bool, metric: str, packed=None):
    """Code, size, slice and border distance of every zone (and its ROI, for ``packed``)."""
    code, size, z, flat_idx, zone = zone_table(t.codes, in_plane=in_plane)
    dist = border_distance(t.morph, in_plane=in_plane, metric=metric).ravel()[flat_idx]
    dist = np.maximum(dist, 1)
    big = np.inf if dist.dtype.kind == "f" else np.iinfo(dist.dtype).max
    zone_dist = np.full(len(code), big, dtype=dist.dtype)
    np.minimum.at(zone_dist, zone, dist)
    if packed is not None:
        return code, size, z, zone_dist, zone_items(packed, flat_idx, zone, len(code))
    return code, size, z, zone_dist


def compute(
    q: np.ndarray,
    roi: np.ndarray,
    n_levels: int,
    *,
    spacing: tuple[float, float, float],
    settings=None,
    morph_roi: np.ndarray | None = None,
) -> dict[str, float]:
    """GLDZM features of a discretised ROI, keyed by IBSI tag (``dzm_sde_3D``...).

    Parameters are those of :func:`radiopredict.features.families.glcm.compute`;
    ``morph_roi`` (default ``roi``) defines the distance to the ROI edge. Reads
    ``settings.texture_dims`` and ``settings.gldzm_distance_metric`` (``"manhattan"``, the IBSI
    city-block distance, by default; ``"chebyshev"`` or ``"euclidean"`` on request).

    Raises
    ------
    FeatureComputationError
        Bad inputs.
    """
    dims = texture_dims(settings)
    metric = str(setting(settings, "gldzm_distance_metric"))
    morph = roi if morph_roi is None else morph_roi
    t = prepare(q, roi, n_levels, family="GLDZM", pad=0, morph_roi=morph)
    n = len(t.levels)
    nz = t.codes.shape[0]
    feats: dict[str, dict[str, float]] = {}
    if "2D" in dims or "2_5D" in dims:
        code, size, z, zd = _zone_distances(t, in_plane=True, metric=metric)
        j_vals, j_idx = compact_axis(zd)
        d2 = count_matrix(z, code, j_idx, nz, n, len(j_vals))
        nv = np.bincount(z, weights=size, minlength=nz)
        groups, extra = {}, {}
        if "2D" in dims:
            groups["2D"] = d2
            extra["2D"] = {"n_voxels": nv}
        if "2_5D" in dims:
            groups["2_5D"] = d2.sum(axis=0, keepdims=True)
            extra["2_5D"] = {"n_voxels": [nv.sum()]}
        feats.update(
            stack_features(
                groups, _features, family="GLDZM", extra=extra, i_vals=t.levels, j_vals=j_vals
            )
        )
    if "3D" in dims:
        code, size, _, zd = _zone_distances(t, in_plane=False, metric=metric)
        j_vals, j_idx = compact_axis(zd)
        d3 = count_matrix(np.zeros_like(code), code, j_idx, 1, n, len(j_vals))
        feats.update(
            stack_features(
                {"3D": d3},
                _features,
                family="GLDZM",
                extra={"3D": {"n_voxels": [size.sum()]}},
                i_vals=t.levels,
                j_vals=j_vals,
            )
        )
    return emit(feats)


def compute_many(
    items: list[tuple], *, spacing: tuple[float, float, float], settings=None
) -> list[dict[str, float] | Exception]:
    """GLDZM features of several ROIs, their matrices built and evaluated together.

    ``items`` holds ``(q, roi, n_levels, morph_roi)`` per ROI, as taken by :func:`compute`;
    returns per ROI what :func:`compute` returns, or the error it raises.
    """
    dims = texture_dims(settings)
    metric = str(setting(settings, "gldzm_distance_metric"))
    if metric not in _METRICS:  # the same error for every ROI
        try:
            border_distance(np.ones((1, 1, 1), bool), in_plane=False, metric=metric)
        except FeatureComputationError as exc:
            return [exc] * len(items)

    def cost(shape):  # slice matrices x distances, per grey level
        return (shape[0] + 1) * max(shape)

    return compute_batched(
        items,
        family="GLDZM",
        pad=0,
        cost=cost,
        single=lambda item: compute(
            *item[:3], spacing=spacing, settings=settings, morph_roi=item[3]
        ),
        batch_fn=lambda p: _batch(p, dims, metric),
        with_morph=True,
    )


def _batch(p, dims, metric: str) -> dict:
    t, r = p.t, p.n_items
    n = len(t.levels)
    nz = t.codes.shape[0]
    res: dict = {}
    if "2D" in dims or "2_5D" in dims:
        code, size, z, zd, item = _zone_distances(t, in_plane=True, metric=metric, packed=p)
        j_vals, j_idx = compact_axis(zd)
        g = item * nz + z
        d2 = count_matrix(g, code, j_idx, r * nz, n, len(j_vals)).reshape(r, nz, n, -1)
        nv = np.bincount(g, weights=size, minlength=r * nz).reshape(r, nz)
        avg = FeatureAverager(_features, family="GLDZM", i_vals=t.levels, j_vals=j_vals)
        if "2D" in dims:
            avg.add_many(item_keys(r, "2D"), d2, n_voxels=nv)
        if "2_5D" in dims:
            avg.add_many(
                item_keys(r, "2_5D"),
                d2.sum(axis=1, keepdims=True),
                n_voxels=nv.sum(axis=1)[:, None],
            )
        res.update(avg.results())
    if "3D" in dims:
        code, size, _, zd, item = _zone_distances(t, in_plane=False, metric=metric, packed=p)
        j_vals, j_idx = compact_axis(zd)
        d3 = count_matrix(item, code, j_idx, r, n, len(j_vals))
        nv = np.bincount(item, weights=size, minlength=r)
        avg = FeatureAverager(_features, family="GLDZM", i_vals=t.levels, j_vals=j_vals)
        avg.add_many(item_keys(r, "3D"), d3[:, None], n_voxels=nv[:, None])
        res.update(avg.results())
    return res
