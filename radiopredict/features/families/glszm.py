r"""Grey level size zone matrix (GLSZM) features, IBSI-1 section 3.8 (family 9SAK).

A zone is a maximal group of connected ROI voxels with the same grey level: 26-connected in
3-D and 8-connected within a slice in 2-D. The size zone matrix :math:`s_{ij}` counts the zones
of grey level :math:`i` and size (voxel count) :math:`j`. With :math:`N_s = \sum_{ij} s_{ij}`
zones, :math:`N_v` ROI voxels, :math:`p_{ij} = s_{ij}/N_s` and the marginal sums
:math:`s_{i.}`, :math:`s_{.j}`, the features below follow.

Aggregation suffixes: ``2D`` (8QNN: one matrix per slice, features averaged over slices),
``2_5D`` (62GR: slice matrices merged) and ``3D`` (KOBO: volumetric zones).

Zones of all grey levels are labelled in one pass with :func:`skimage.measure.label` (which
connects equal non-zero values); for 2-D zones an empty slice is interleaved between the image
slices so that no zone crosses slices.
"""

from __future__ import annotations

import numpy as np

from radiopredict.features.families._texture import (
    FeatureAverager,
    compact_axis,
    compute_batched,
    count_matrix,
    emit,
    item_keys,
    prepare,
    stack_features,
    texture_dims,
    zone_features,
    zone_items,
    zone_table,
)
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "FEATURES"]

FAMILY = "glszm"

_DEFS = [
    ("szm_sze", "5QRC", "Small zone emphasis", r"F = \frac{1}{N_s}\sum_j \frac{s_{.j}}{j^2}", "Emphasis on small zones."),
    ("szm_lze", "48P8", "Large zone emphasis", r"F = \frac{1}{N_s}\sum_j j^2 s_{.j}", "Emphasis on large zones."),
    ("szm_lgze", "XMSY", "Low grey level zone emphasis", r"F = \frac{1}{N_s}\sum_i \frac{s_{i.}}{i^2}", "Emphasis on zones of low grey levels."),
    ("szm_hgze", "5GN9", "High grey level zone emphasis", r"F = \frac{1}{N_s}\sum_i i^2 s_{i.}", "Emphasis on zones of high grey levels."),
    ("szm_szlge", "5RAI", "Small zone low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{s_{ij}}{i^2 j^2}", "Emphasis on small zones of low grey levels."),
    ("szm_szhge", "HW1V", "Small zone high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{i^2 s_{ij}}{j^2}", "Emphasis on small zones of high grey levels."),
    ("szm_lzlge", "YH51", "Large zone low grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} \frac{j^2 s_{ij}}{i^2}", "Emphasis on large zones of low grey levels."),
    ("szm_lzhge", "J17V", "Large zone high grey level emphasis", r"F = \frac{1}{N_s}\sum_{i,j} i^2 j^2 s_{ij}", "Emphasis on large zones of high grey levels."),
    ("szm_glnu", "JNSA", "Grey level non-uniformity", r"F = \frac{1}{N_s}\sum_i s_{i.}^2", "Spread of zones over grey levels."),
    ("szm_glnu_norm", "Y1RO", "Normalised grey level non-uniformity", r"F = \frac{1}{N_s^2}\sum_i s_{i.}^2", "Grey level non-uniformity normalised by the number of zones."),
    ("szm_zsnu", "4JP3", "Zone size non-uniformity", r"F = \frac{1}{N_s}\sum_j s_{.j}^2", "Spread of zones over zone sizes."),
    ("szm_zsnu_norm", "VB3A", "Normalised zone size non-uniformity", r"F = \frac{1}{N_s^2}\sum_j s_{.j}^2", "Zone size non-uniformity normalised by the number of zones."),
    ("szm_z_perc", "P30P", "Zone percentage", r"F = \frac{N_s}{N_v}", "Number of zones per ROI voxel."),
    ("szm_gl_var", "BYLV", "Grey level variance", r"F = \sum_{i,j} (i-\mu)^2 p_{ij},\; \mu = \sum_{i,j} i\,p_{ij}", "Variance of the grey level of zones."),
    ("szm_zs_var", "3NSA", "Zone size variance", r"F = \sum_{i,j} (j-\mu)^2 p_{ij},\; \mu = \sum_{i,j} j\,p_{ij}", "Variance of the zone size."),
    ("szm_zs_entr", "GU8N", "Zone size entropy", r"F = -\sum_{i,j} p_{ij} \log_2 p_{ij}", "Entropy of the joint zone distribution."),
]  # fmt: skip

FEATURES = [
    FeatureDef(stem=s, ibsi_code=c, family=FAMILY, name=n, formula=f, description=d)
    for s, c, n, f, d in _DEFS
]
register(*FEATURES)

_NAMES = {
    "se": "szm_sze",
    "le": "szm_lze",
    "lg": "szm_lgze",
    "hg": "szm_hgze",
    "slg": "szm_szlge",
    "shg": "szm_szhge",
    "llg": "szm_lzlge",
    "lhg": "szm_lzhge",
    "glnu": "szm_glnu",
    "glnu_norm": "szm_glnu_norm",
    "jnu": "szm_zsnu",
    "jnu_norm": "szm_zsnu_norm",
    "perc": "szm_z_perc",
    "gl_var": "szm_gl_var",
    "j_var": "szm_zs_var",
    "j_entr": "szm_zs_entr",
}


def _features(m: np.ndarray, *, i_vals: np.ndarray, j_vals: np.ndarray) -> dict[str, np.ndarray]:
    n_voxels = (m * j_vals[None, None, :]).sum(axis=(1, 2))  # every voxel is in one zone
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
    """GLSZM features of a discretised ROI, keyed by IBSI tag (``szm_sze_3D``...).

    Parameters are those of :func:`radiopredict.features.families.glcm.compute`; only
    ``settings.texture_dims`` is read.

    Raises
    ------
    FeatureComputationError
        Bad inputs.
    """
    dims = texture_dims(settings)
    t = prepare(q, roi, n_levels, family="GLSZM", pad=0)
    n = len(t.levels)
    nz = t.codes.shape[0]
    groups: dict[str, np.ndarray] = {}
    if "2D" in dims or "2_5D" in dims:
        code, size, z, _, _ = zone_table(t.codes, in_plane=True)
        j_vals, j_idx = compact_axis(size)
        s2 = count_matrix(z, code, j_idx, nz, n, len(j_vals))
        if "2D" in dims:
            groups["2D"] = s2
        if "2_5D" in dims:
            groups["2_5D"] = s2.sum(axis=0, keepdims=True)
        feats = stack_features(groups, _features, family="GLSZM", i_vals=t.levels, j_vals=j_vals)
    else:
        feats = {}
    if "3D" in dims:
        code, size, _, _, _ = zone_table(t.codes, in_plane=False)
        j_vals, j_idx = compact_axis(size)
        s3 = count_matrix(np.zeros_like(code), code, j_idx, 1, n, len(j_vals))
        feats.update(
            stack_features({"3D": s3}, _features, family="GLSZM", i_vals=t.levels, j_vals=j_vals)
        )
    return emit(feats)


def compute_many(
    items: list[tuple], *, spacing: tuple[float, float, float], settings=None
) -> list[dict[str, float] | Exception]:
    """GLSZM features of several ROIs, their matrices built and evaluated together.

    ``items`` holds ``(q, roi, n_levels, morph_roi)`` per ROI, as taken by :func:`compute`;
    returns per ROI what :func:`compute` returns, or the error it raises.
    """
    dims = texture_dims(settings)

    def cost(shape):  # slice matrices x zone sizes, per grey level
        return (shape[0] + 1) * max(shape)

    return compute_batched(
        items,
        family="GLSZM",
        pad=0,
        cost=cost,
        single=lambda item: compute(
            *item[:3], spacing=spacing, settings=settings, morph_roi=item[3]
        ),
        batch_fn=lambda p: _batch(p, dims),
    )


def _batch(p, dims) -> dict:
    t, r = p.t, p.n_items
    n = len(t.levels)
    nz = t.codes.shape[0]
    res: dict = {}
    if "2D" in dims or "2_5D" in dims:
        code, size, z, flat_idx, zone = zone_table(t.codes, in_plane=True)
        item = zone_items(p, flat_idx, zone, len(code))
        j_vals, j_idx = compact_axis(size)
        s2 = count_matrix(item * nz + z, code, j_idx, r * nz, n, len(j_vals))
        s2 = s2.reshape(r, nz, n, len(j_vals))
        avg = FeatureAverager(_features, family="GLSZM", i_vals=t.levels, j_vals=j_vals)
        if "2D" in dims:
            avg.add_many(item_keys(r, "2D"), s2)
        if "2_5D" in dims:
            avg.add_many(item_keys(r, "2_5D"), s2.sum(axis=1, keepdims=True))
        res.update(avg.results())
    if "3D" in dims:
        code, size, _, flat_idx, zone = zone_table(t.codes, in_plane=False)
        item = zone_items(p, flat_idx, zone, len(code))
        j_vals, j_idx = compact_axis(size)
        s3 = count_matrix(item, code, j_idx, r, n, len(j_vals))
        avg = FeatureAverager(_features, family="GLSZM", i_vals=t.levels, j_vals=j_vals)
        avg.add_many(item_keys(r, "3D"), s3[:, None])
        res.update(avg.results())
    return res
