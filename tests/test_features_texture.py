"""Texture families (GLCM, GLRLM, GLSZM, GLDZM, NGTDM, NGLDM).

* every texture value of the IBSI-1 digital phantom, with the IBSI rule
  ``abs(round_sig(x, 3) - ref) <= tol``;
* the vectorised matrix construction against plain loop implementations on random ROIs;
* invariants: uniform regions, a checkerboard with known matrices, 90-degree rotations and
  flips, single-voxel and empty ROIs, bad inputs.
"""

from __future__ import annotations

import csv
import importlib
import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

from radiopredict.errors import ConfigError, FeatureComputationError
from radiopredict.features import FeatureSettings
from radiopredict.features.families import _texture as tx
from radiopredict.features.registry import get_feature

SimpleITK = pytest.importorskip("SimpleITK")

FAMILIES = {
    "glcm": "cm_",
    "glrlm": "rlm_",
    "glszm": "szm_",
    "gldzm": "dzm_",
    "ngtdm": "ngt_",
    "ngldm": "ngl_",
}
EXPECTED_COUNTS = {"glcm": 150, "glrlm": 96, "glszm": 48, "gldzm": 48, "ngtdm": 15, "ngldm": 51}


def family(name):
    return importlib.import_module(f"radiopredict.features.families.{name}")


#: Every texture aggregation (the families' defaults are FeatureSettings', 3D only).
ALL_DIMS = FeatureSettings(texture_dims=("2D", "2_5D", "3D"))


def run(name, q, roi, n_levels, settings=None, morph_roi=None):
    settings = ALL_DIMS if settings is None else settings
    return family(name).compute(
        q, roi, n_levels, spacing=(1.0, 1.0, 1.0), settings=settings, morph_roi=morph_roi
    )


def round_sig(x: float, digits: int = 3) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


# ------------------------------------------------------------------------ digital phantom


@pytest.fixture(scope="module")
def phantom(shared_data):
    base = shared_data / "ibsi1" / "digital_phantom" / "nifti"
    img = SimpleITK.ReadImage(str(base / "image" / "phantom.nii.gz"))
    msk = SimpleITK.ReadImage(str(base / "mask" / "mask.nii.gz"))
    q = SimpleITK.GetArrayFromImage(img).astype(np.int32)
    roi = SimpleITK.GetArrayFromImage(msk).astype(bool)
    ref = {}
    path = shared_data / "ibsi1" / "reference_values" / "ibsi_1_dig_phantom.csv"
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            if row["reference value"]:
                ref[row["tag"]] = (float(row["reference value"]), float(row["tolerance"]))
    return q, roi, ref


@pytest.mark.parametrize("name", list(FAMILIES))
def test_digital_phantom_all_texture_values(phantom, name):
    q, roi, ref = phantom
    n_levels = int(q[roi].max())  # no discretisation: grey levels are the image values (Ng=6)
    out = run(name, q, roi, n_levels)
    tags = [t for t in ref if t.startswith(FAMILIES[name])]
    assert len(tags) == EXPECTED_COUNTS[name]
    assert sorted(out) == sorted(tags), "the family must emit exactly the IBSI tags"
    misses = {
        t: (out[t], ref[t][0])
        for t in tags
        if not abs(round_sig(out[t]) - ref[t][0]) <= ref[t][1] + 1e-12
    }
    assert not misses, f"{len(tags) - len(misses)}/{len(tags)} pass; misses: {misses}"


def test_every_emitted_tag_is_registered_with_code_and_formula(phantom):
    q, roi, _ = phantom
    for name in FAMILIES:
        for tag in run(name, q, roi, int(q[roi].max())):
            d = get_feature(tag)
            assert d.family == name
            assert len(d.ibsi_code) == 4 and d.formula and d.name and d.description


# --------------------------------------------------- vectorised vs loop implementations


def random_case(seed, shape=(4, 6, 7), n_levels=4, fill=0.8):
    rng = np.random.default_rng(seed)
    q = rng.integers(1, n_levels + 1, size=shape).astype(np.int32)
    roi = rng.random(shape) < fill
    roi[1, 2, 3] = True
    return q, roi


def loop_glcm(q, roi, direction, n_levels):
    """Symmetric co-occurrence counts of one direction, one voxel at a time."""
    m = np.zeros((n_levels, n_levels))
    for z, y, x in zip(*np.nonzero(roi), strict=True):
        k = (z + direction[0], y + direction[1], x + direction[2])
        if all(0 <= c < s for c, s in zip(k, q.shape, strict=True)) and roi[k]:
            m[q[z, y, x] - 1, q[k] - 1] += 1
            m[q[k] - 1, q[z, y, x] - 1] += 1
    return m


def loop_runs(q, roi, direction):
    """(level, length) of every run along ``direction``, walking each line from its start."""
    out = []
    d = np.asarray(direction)
    for start in zip(*np.nonzero(roi), strict=True):
        prev = tuple(np.asarray(start) - d)
        inside = all(0 <= c < s for c, s in zip(prev, q.shape, strict=True))
        if inside and roi[prev] and q[prev] == q[start]:
            continue  # not the first voxel of its run
        length, cur = 0, np.asarray(start)
        while (
            all(0 <= c < s for c, s in zip(cur, q.shape, strict=True))
            and roi[tuple(cur)]
            and q[tuple(cur)] == q[start]
        ):
            length += 1
            cur = cur + d
        out.append((int(q[start]), length))
    return sorted(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_glcm_matrices_match_loop_counts(seed):
    from radiopredict.features.families.glcm import glcm_matrices

    q, roi = random_case(seed)
    n_levels = 4
    t = tx.prepare(q, roi, n_levels, family="GLCM", pad=1)
    dirs = tx.directions_3d(1)
    mats = glcm_matrices(t, dirs, per_slice=False)
    # compare on full grey-level axes
    idx = (t.levels - 1).astype(int)
    box = tuple(slice(a.min(), a.max() + 1) for a in np.nonzero(roi))
    for k, d in enumerate(dirs):
        full = np.zeros((n_levels, n_levels))
        full[np.ix_(idx, idx)] = mats[k]
        np.testing.assert_array_equal(full, loop_glcm(q[box], roi[box], d, n_levels))


def _glcm_by_definition(m, levels, n_levels):
    """The GLCM features of one symmetric count matrix, straight from the IBSI formulas."""
    p = m / m.sum()
    i, j = np.meshgrid(levels, levels, indexing="ij")
    pi = p.sum(axis=1)
    mu = (i * p).sum()
    nz = p > 0

    def ent(x):
        x = x[x > 0]
        return float(-(x * np.log2(x)).sum())

    sums = {v: p[i + j == v].sum() for v in np.unique(i + j)}
    diffs = {v: p[np.abs(i - j) == v].sum() for v in np.unique(np.abs(i - j))}
    d_mu = sum(k * v for k, v in diffs.items())
    s_mu = sum(k * v for k, v in sums.items())
    var = ((i - mu) ** 2 * p).sum()
    auto = (i * j * p).sum()
    hx, hxy = ent(pi), ent(p)
    outer = np.outer(pi, pi)
    hxy1 = -(p[nz] * np.log2(outer[nz])).sum()
    hxy2 = -(outer[outer > 0] * np.log2(outer[outer > 0])).sum()
    c = i + j - 2 * mu
    return {
        "cm_joint_max": p.max(),
        "cm_joint_avg": mu,
        "cm_joint_var": var,
        "cm_joint_entr": hxy,
        "cm_diff_avg": d_mu,
        "cm_diff_var": sum((k - d_mu) ** 2 * v for k, v in diffs.items()),
        "cm_diff_entr": ent(np.array(list(diffs.values()))),
        "cm_sum_avg": s_mu,
        "cm_sum_var": sum((k - s_mu) ** 2 * v for k, v in sums.items()),
        "cm_sum_entr": ent(np.array(list(sums.values()))),
        "cm_energy": (p**2).sum(),
        "cm_contrast": ((i - j) ** 2 * p).sum(),
        "cm_dissimilarity": (np.abs(i - j) * p).sum(),
        "cm_inv_diff": (p / (1 + np.abs(i - j))).sum(),
        "cm_inv_diff_norm": (p / (1 + np.abs(i - j) / n_levels)).sum(),
        "cm_inv_diff_mom": (p / (1 + (i - j) ** 2)).sum(),
        "cm_inv_diff_mom_norm": (p / (1 + (i - j) ** 2 / n_levels**2)).sum(),
        "cm_inv_var": (p[i != j] / (i - j)[i != j] ** 2).sum(),
        "cm_auto_corr": auto,
        "cm_corr": (auto - mu**2) / var if var > 0 else 1.0,
        "cm_clust_tend": (c**2 * p).sum(),
        "cm_clust_shade": (c**3 * p).sum(),
        "cm_clust_prom": (c**4 * p).sum(),
        "cm_info_corr1": (hxy - hxy1) / hx if hx > 0 else 0.0,
        "cm_info_corr2": math.sqrt(max(0.0, 1 - math.exp(-2 * (hxy2 - hxy)))),
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_glcm_features_equal_the_ibsi_definitions(seed):
    # the vectorised features use exact rewrites (marginal, i + j and |i - j| sums); they must
    # equal the formulas computed the long way, for scattered integer levels, sparse matrices
    # with empty rows and a single-level matrix
    from radiopredict.features.families.glcm import glcm_features

    rng = np.random.default_rng(seed)
    n = [1, 3, 12, 40, 6][seed]
    levels = np.sort(rng.choice(np.arange(1, 5 * n + 2), n, replace=False)).astype(float)
    if seed == 4:  # levels far apart: the i + j values are found by sorting, not by indexing
        levels = np.array([1.0, 7.0, 900.0, 5000.0, 80000.0, 10**6])
    n_levels = int(levels.max()) + 2
    stack = []
    for _ in range(5):
        m = rng.poisson(rng.uniform(0.05, 3.0), (n, n)).astype(float)
        if n > 2:
            m[rng.integers(n)] = 0.0  # a level without pairs in this direction
            m[:, rng.integers(n)] = 0.0
        m = m + m.T
        m[0, 0] += 2.0  # never empty
        stack.append(m)
    got = glcm_features(np.array(stack), levels=levels, n_levels=n_levels)
    for k, m in enumerate(stack):
        ref = _glcm_by_definition(m, levels, n_levels)
        assert set(got) == set(ref)
        for tag, value in ref.items():
            assert got[tag][k] == pytest.approx(value, rel=1e-9, abs=1e-12), tag


@pytest.mark.parametrize("seed", [0, 3])
def test_runs_match_loop_runs(seed):
    from radiopredict.features.families.glrlm import runs_along

    q, roi = random_case(seed)
    codes = np.where(roi, q, 0)
    for d in tx.directions_3d(1):
        code, length, _ = runs_along(codes, d)
        got = sorted(zip(code.tolist(), length.tolist(), strict=True))
        assert got == loop_runs(q, roi, d), d


@pytest.mark.parametrize("seed", [0, 4])
def test_zones_match_per_level_scipy_labels(seed):
    q, roi = random_case(seed, n_levels=3)
    codes = np.where(roi, q, 0)
    for in_plane, structure in ((False, np.ones((3, 3, 3))), (True, None)):
        if in_plane:
            structure = np.zeros((3, 3, 3))
            structure[1] = 1
        expected = []
        for level in (1, 2, 3):
            lab, n = ndimage.label(codes == level, structure=structure)
            expected += [(level, int(s)) for s in np.bincount(lab.ravel())[1:]]
        code, size, _, _, _ = tx.zone_table(codes, in_plane=in_plane)
        got = sorted(zip(code.tolist(), size.tolist(), strict=True))
        assert got == sorted(expected)


@pytest.mark.parametrize(
    "metric, norm",
    [
        ("manhattan", lambda d: np.abs(d).sum(axis=1)),
        ("chebyshev", lambda d: np.abs(d).max(axis=1)),
        ("euclidean", lambda d: np.sqrt((d**2).sum(axis=1))),
    ],
)
def test_border_distance_matches_brute_force(metric, norm):
    from radiopredict.features.families.gldzm import border_distance

    _, roi = random_case(5, fill=0.85)
    for in_plane in (False, True):
        dist = border_distance(roi, in_plane=in_plane, metric=metric)
        padded = np.pad(roi, 1)
        outside = np.argwhere(~padded)
        if in_plane:
            outside = outside[(outside[:, 0] >= 1) & (outside[:, 0] <= roi.shape[0])]
        for v in np.argwhere(roi):
            p = v + 1
            cand = outside if not in_plane else outside[outside[:, 0] == p[0]]
            assert dist[tuple(v)] == pytest.approx(norm(cand - p).min())


def test_gldzm_distance_metric_setting():
    q = np.ones((1, 9, 9), dtype=np.int32)
    q[0, 4, 4] = 2
    roi = np.zeros_like(q, dtype=bool)
    yy, xx = np.mgrid[:9, :9]
    roi[0] = np.abs(yy - 4) + np.abs(xx - 4) <= 4  # a diamond: metrics disagree at its centre
    dims = ("2D",)
    got = {
        m: run("gldzm", q, roi, 2, FeatureSettings(texture_dims=dims, gldzm_distance_metric=m))
        for m in ("manhattan", "chebyshev", "euclidean")
    }
    assert got["manhattan"] == run("gldzm", q, roi, 2, FeatureSettings(texture_dims=dims))
    # centre voxel to the nearest outside voxel: 5 city-block steps, 3 king steps, sqrt(13)
    assert got["manhattan"]["dzm_lde_2D"] == pytest.approx((1 + 5**2) / 2)
    assert got["chebyshev"]["dzm_lde_2D"] == pytest.approx((1 + 3**2) / 2)
    assert 3 < np.sqrt(2 * got["euclidean"]["dzm_lde_2D"] - 1) < 5
    with pytest.raises(ConfigError, match="gldzm_distance_metric"):
        run("gldzm", q, roi, 2, FeatureSettings(gldzm_distance_metric="cosine"))


def test_texture_aggregations_setting():
    q, roi = random_case(9)
    full = run("glcm", q, roi, 4)
    for name in ("glcm", "glrlm"):
        avg = run(name, q, roi, 4, FeatureSettings(texture_aggregations=("avg",)))
        assert avg and all(t.endswith("_avg") for t in avg)
        comb = run(name, q, roi, 4, FeatureSettings(texture_aggregations=("comb",)))
        assert comb and all(t.endswith("_comb") for t in comb)
    assert all(full[t] == v for t, v in run("glcm", q, roi, 4).items())
    with pytest.raises(ConfigError, match="texture_aggregations"):
        run("glrlm", q, roi, 4, FeatureSettings(texture_aggregations=("mean",)))


def test_ngtdm_and_ngldm_match_loop_neighbourhoods():
    q, roi = random_case(6, n_levels=3)
    # loop NGTDM (3D, distance 1) and NGLDM dependence counts
    s = np.zeros(3)
    n = np.zeros(3)
    dep = {}
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)]
    for v in zip(*np.nonzero(roi), strict=True):
        vals, same = [], 0
        for o in offsets:
            k = tuple(np.add(v, o))
            if all(0 <= c < sh for c, sh in zip(k, q.shape, strict=True)) and roi[k]:
                vals.append(q[k])
                same += int(q[k] == q[v])
        if vals:
            s[q[v] - 1] += abs(q[v] - np.mean(vals))
            n[q[v] - 1] += 1
        dep[(int(q[v]), same + 1)] = dep.get((int(q[v]), same + 1), 0) + 1
    from radiopredict.features.families.ngtdm import ngtdm_features

    expected = ngtdm_features(np.stack([s, n])[None], levels=np.arange(1.0, 4.0))
    got = run("ngtdm", q, roi, 3, FeatureSettings(texture_dims=("3D",)))
    for stem, val in expected.items():
        assert got[f"{stem}_3D"] == pytest.approx(val[0], rel=1e-12)
    # NGLDM: low dependence emphasis and count non-uniformity from the loop matrix
    ns = sum(dep.values())
    lde = sum(c / j**2 for (_, j), c in dep.items()) / ns
    got = run("ngldm", q, roi, 3, FeatureSettings(texture_dims=("3D",)))
    assert got["ngl_lde_3D"] == pytest.approx(lde, rel=1e-12)


# ------------------------------------------------------------------------------ invariants


def test_uniform_region_gives_documented_values_and_no_nan():
    q = np.full((3, 4, 5), 2, dtype=np.int32)
    roi = np.ones_like(q, dtype=bool)
    out = {}
    for name in FAMILIES:
        out.update(run(name, q, roi, 3))
    assert all(np.isfinite(v) for v in out.values())
    for suffix in ("2D_avg", "2D_comb", "2_5D_avg", "2_5D_comb", "3D_avg", "3D_comb"):
        assert out[f"cm_joint_max_{suffix}"] == 1.0
        assert out[f"cm_joint_entr_{suffix}"] == 0.0
        assert out[f"cm_contrast_{suffix}"] == 0.0
        assert out[f"cm_joint_avg_{suffix}"] == 2.0
        assert out[f"cm_corr_{suffix}"] == 1.0  # documented value for 0/0
        assert out[f"cm_info_corr1_{suffix}"] == 0.0
    # one zone of 60 voxels in 3-D; one 20-voxel zone per slice in 2-D
    assert out["szm_sze_3D"] == pytest.approx(1 / 60**2)
    assert out["szm_z_perc_3D"] == pytest.approx(1 / 60)
    assert out["szm_lze_2D"] == pytest.approx(400.0)
    assert out["ngt_coarseness_3D"] == 1.0e6
    assert out["ngt_busyness_3D"] == 0.0 and out["ngt_strength_3D"] == 0.0
    # runs along x have length 5: 12 of them in 3-D
    assert out["rlm_r_perc_3D_comb"] > 0
    assert out["dzm_sde_3D"] == 1.0  # the single zone touches the border
    assert out["ngl_dc_perc_3D"] == 1.0


def test_checkerboard_slice_has_known_glcm():
    q = (np.indices((1, 4, 4)).sum(axis=0) % 2 + 1).astype(np.int32)
    roi = np.ones_like(q, dtype=bool)
    dims = FeatureSettings(texture_dims=("2D",))
    from radiopredict.features.families.glcm import glcm_matrices

    t = tx.prepare(q, roi, 2, family="GLCM", pad=1)
    m = glcm_matrices(t, tx.directions_2d(1), per_slice=True)[:, 0]
    np.testing.assert_array_equal(m[0], [[0, 12], [12, 0]])  # along x: all pairs differ
    np.testing.assert_array_equal(m[2], [[0, 12], [12, 0]])  # along y
    np.testing.assert_array_equal(m[1], [[10, 0], [0, 8]])  # diagonals: equal pairs
    np.testing.assert_array_equal(m[3], [[8, 0], [0, 10]])
    out = run("glcm", q, roi, 2, dims)
    assert out["cm_contrast_2D_avg"] == pytest.approx(0.5)  # (1 + 0 + 1 + 0) / 4
    assert out["cm_contrast_2D_comb"] == pytest.approx(24 * 2 / 84)
    runs = run("glrlm", q, roi, 2, dims)
    # x and y: 16 runs of length 1; diagonals: runs of lengths 1..4
    assert runs["rlm_sre_2D_comb"] < 1.0
    szm = run("glszm", q, roi, 2, dims)
    assert szm["szm_sze_2D"] == pytest.approx(1 / 64)  # 8-connectivity: two zones of 8 voxels


@pytest.mark.parametrize(
    "transform",
    [
        lambda a: np.rot90(a, 1, axes=(1, 2)),
        lambda a: np.rot90(a, 2, axes=(1, 2)),
        lambda a: a[::-1],
        lambda a: a[:, :, ::-1],
    ],
)
@pytest.mark.parametrize("name", list(FAMILIES))
def test_in_plane_rotation_and_flips_leave_features_unchanged(phantom, transform, name):
    q, roi, _ = phantom
    ref = run(name, q, roi, 6)
    got = run(name, np.ascontiguousarray(transform(q)), np.ascontiguousarray(transform(roi)), 6)
    for tag in ref:  # the 4 in-plane and 13 volumetric directions map onto themselves
        assert got[tag] == pytest.approx(ref[tag], rel=1e-10, abs=1e-12), tag


def test_levels_absent_from_roi_only_matter_through_ng():
    q, roi = random_case(7, n_levels=3)
    a = run("glcm", q, roi, 3)
    b = run("glcm", q, roi, 10)  # same grey levels, larger N_g
    assert a["cm_contrast_3D_avg"] == b["cm_contrast_3D_avg"]
    assert a["cm_inv_diff_norm_3D_avg"] != b["cm_inv_diff_norm_3D_avg"]
    # sparse huge grey levels (coded by sorting, not a lookup table) give the same matrices
    big = np.where(q == 3, 10**9, q)
    value_free = {"sze", "lze", "zsnu", "z", "zs", "glnu", "lde", "hde", "dcnu", "dc"}
    for name in ("glszm", "ngldm"):
        x = run(name, q, roi, 3)
        y = run(name, big, roi, 10**9)
        for tag in x:  # features that do not use grey-level values
            if tag.split("_")[1] in value_free:
                assert y[tag] == pytest.approx(x[tag], rel=1e-12), tag


def test_texture_dims_and_distance_settings():
    q, roi = random_case(8)
    s3 = FeatureSettings(texture_dims=("3D",), glcm_distance=1)
    out = run("glcm", q, roi, 4, s3)
    assert out and all(t.endswith(("_3D_avg", "_3D_comb")) for t in out)
    full = run("glcm", q, roi, 4)
    assert all(full[t] == out[t] for t in out)
    alias = run("glszm", q, roi, 4, FeatureSettings(texture_dims=("2.5D",)))
    assert list(alias) == [t for t in run("glszm", q, roi, 4) if t.endswith("_2_5D")]
    far = run("glcm", q, roi, 4, FeatureSettings(texture_dims=("3D",), glcm_distance=2))
    assert far["cm_contrast_3D_avg"] != out["cm_contrast_3D_avg"]
    ngl = run("ngldm", q, roi, 4, FeatureSettings(texture_dims=("3D",), ngldm_alpha=1))
    ngl0 = run("ngldm", q, roi, 4, FeatureSettings(texture_dims=("3D",)))
    assert ngl["ngl_hde_3D"] > ngl0["ngl_hde_3D"]  # alpha 1 makes more neighbours dependent


def test_morphological_mask_sets_gldzm_distances():
    q = np.ones((3, 7, 7), dtype=np.int32)
    q[:, 3, 3] = 2
    morph = np.ones_like(q, dtype=bool)
    roi = morph.copy()
    roi[:, 0, :] = False  # resegmentation removed a row: its edge is not the ROI edge
    a = run("gldzm", q, roi, 2, FeatureSettings(texture_dims=("2D",)), morph_roi=morph)
    b = run("gldzm", q, roi, 2, FeatureSettings(texture_dims=("2D",)))
    # per slice: the level-1 zone touches the edge (distance 1); the level-2 voxel at (3, 3)
    # is 4 steps from the edge of the 7x7 morphological mask but only 3 from the cut ROI
    assert a["dzm_lde_2D"] == pytest.approx((1 + 4**2) / 2)
    assert b["dzm_lde_2D"] == pytest.approx((1 + 3**2) / 2)
    # in 3-D the level-2 column reaches the first and last slice: distance 1 either way
    c = run("gldzm", q, roi, 2, FeatureSettings(texture_dims=("3D",)), morph_roi=morph)
    assert c["dzm_lde_3D"] == 1.0


# ------------------------------------------------------------------- degenerate and bad input


def test_single_voxel_roi():
    q = np.full((3, 3, 3), 2, dtype=np.int32)
    roi = np.zeros_like(q, dtype=bool)
    roi[1, 1, 1] = True
    for name in ("glcm", "ngtdm"):  # no neighbour pair at all: undefined, said so
        with pytest.raises(FeatureComputationError, match="empty"):
            run(name, q, roi, 2)
    szm = run("glszm", q, roi, 2)
    assert szm["szm_sze_3D"] == 1.0 and szm["szm_z_perc_3D"] == 1.0
    rlm = run("glrlm", q, roi, 2)
    assert rlm["rlm_sre_3D_avg"] == 1.0 and rlm["rlm_r_perc_3D_comb"] == 1.0
    ngl = run("ngldm", q, roi, 2)
    assert ngl["ngl_lde_3D"] == 1.0
    dzm = run("gldzm", q, roi, 2)
    assert dzm["dzm_sde_3D"] == 1.0
    for out in (szm, rlm, ngl, dzm):
        assert all(np.isfinite(v) for v in out.values())


def test_slices_without_pairs_are_left_out_of_2d_averages():
    q = np.ones((2, 4, 4), dtype=np.int32)
    q[0, :, ::2] = 2
    roi = np.zeros_like(q, dtype=bool)
    roi[0] = True
    roi[1, 0, 0] = True  # a lone voxel: no in-plane pair in slice 1
    dims = FeatureSettings(texture_dims=("2D",))
    only = run("glcm", q[:1], roi[:1], 2, dims)
    both = run("glcm", q, roi, 2, dims)
    assert both["cm_contrast_2D_avg"] == only["cm_contrast_2D_avg"]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_empty_roi_raises(name):
    q = np.ones((2, 3, 3), dtype=np.int32)
    with pytest.raises(FeatureComputationError, match="ROI is empty"):
        run(name, q, np.zeros_like(q, dtype=bool), 1)


def test_bad_inputs_raise_clear_errors():
    q = np.ones((2, 3, 3), dtype=np.int32)
    roi = np.ones_like(q, dtype=bool)
    with pytest.raises(FeatureComputationError, match="shape"):
        run("glcm", q, roi[:1], 2)
    with pytest.raises(FeatureComputationError, match="outside 1..1"):
        run("glszm", q * 2, roi, 1)
    with pytest.raises(FeatureComputationError, match="outside 1..3"):
        run("glrlm", q * 0, roi, 3)
    with pytest.raises(FeatureComputationError, match="integers"):
        run("ngtdm", q + 0.5, roi, 3)
    with pytest.raises(ConfigError, match="texture_dims"):
        run("ngldm", q, roi, 2, FeatureSettings(texture_dims=("4D",)))
    with pytest.raises(FeatureComputationError, match="morphological mask"):
        run("gldzm", q, roi, 2, morph_roi=roi[:1])
    with pytest.raises(FeatureComputationError, match="3-D"):
        run("glcm", q[0], roi[0], 2)
    with pytest.raises(ValueError):  # FeatureComputationError is a ValueError too
        run("glcm", q[0], roi[0], 2)


def test_memory_budgets_split_work_without_changing_values(phantom, monkeypatch):
    q, roi, _ = phantom
    ref = {name: run(name, q, roi, 6) for name in FAMILIES}
    glcm = family("glcm")
    monkeypatch.setattr(glcm, "MATRIX_BUDGET", 1)  # one slice per slab
    monkeypatch.setattr(tx, "ELEMENT_BUDGET", 1)  # one matrix per feature call
    for name in FAMILIES:
        got = run(name, q, roi, 6)
        assert got.keys() == ref[name].keys()
        for tag, value in ref[name].items():
            assert got[tag] == pytest.approx(value, rel=1e-12, abs=1e-15), tag


# pyradiomics feature name -> IBSI tag, where both define the same quantity (3-D, distance 1,
# pyradiomics' GLCM/GLRLM averaged over the 13 directions = IBSI "3D_avg", GLDM = NGLDM alpha 0)
PYRADIOMICS_SAME = {
    "glszm": {
        "SmallAreaEmphasis": "szm_sze_3D",
        "LargeAreaEmphasis": "szm_lze_3D",
        "GrayLevelNonUniformity": "szm_glnu_3D",
        "SizeZoneNonUniformity": "szm_zsnu_3D",
        "ZonePercentage": "szm_z_perc_3D",
        "GrayLevelVariance": "szm_gl_var_3D",
        "ZoneVariance": "szm_zs_var_3D",
        "ZoneEntropy": "szm_zs_entr_3D",
        "HighGrayLevelZoneEmphasis": "szm_hgze_3D",
    },
    "ngtdm": {
        "Coarseness": "ngt_coarseness_3D",
        "Contrast": "ngt_contrast_3D",
        "Busyness": "ngt_busyness_3D",
        "Complexity": "ngt_complexity_3D",
        "Strength": "ngt_strength_3D",
    },
    "gldm": {
        "SmallDependenceEmphasis": "ngl_lde_3D",
        "LargeDependenceEmphasis": "ngl_hde_3D",
        "DependenceNonUniformity": "ngl_dcnu_3D",
        "DependenceEntropy": "ngl_dc_entr_3D",
        "GrayLevelVariance": "ngl_gl_var_3D",
    },
    "glcm": {
        "JointEnergy": "cm_energy_3D_avg",
        "Contrast": "cm_contrast_3D_avg",
        "JointEntropy": "cm_joint_entr_3D_avg",
        "Idm": "cm_inv_diff_mom_3D_avg",
        "Correlation": "cm_corr_3D_avg",
        "ClusterShade": "cm_clust_shade_3D_avg",
    },
    "glrlm": {
        "ShortRunEmphasis": "rlm_sre_3D_avg",
        "RunPercentage": "rlm_r_perc_3D_avg",
        "GrayLevelNonUniformity": "rlm_glnu_3D_avg",
        "RunEntropy": "rlm_rl_entr_3D_avg",
    },
}


@pytest.mark.slow
def test_real_ct_roi_agrees_with_pyradiomics_where_definitions_coincide(shared_data):
    """24 644-voxel lung tumour (pyradiomics test case lung2), 25 HU bins, 3-D."""
    import logging

    radiomics = pytest.importorskip("radiomics")
    from radiomics import glcm, gldm, glrlm, glszm, ngtdm

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    base = shared_data / "pyradiomics-cases"
    img = SimpleITK.ReadImage(str(base / "lung2_image.nrrd"))
    lab = SimpleITK.ReadImage(str(base / "lung2_label.nrrd"))
    im = SimpleITK.GetArrayFromImage(img).astype(float)
    roi = SimpleITK.GetArrayFromImage(lab) == 1
    x = im[roi]
    q = np.zeros(im.shape, np.int32)
    q[roi] = np.floor(x / 25) - np.floor(x.min() / 25) + 1  # pyradiomics' fixed bin width
    ours = {}
    for name in ("glszm", "ngtdm", "ngldm", "glcm", "glrlm"):
        ours.update(run(name, q, roi, int(q.max()), FeatureSettings(texture_dims=("3D",))))
    classes = {
        "glszm": glszm.RadiomicsGLSZM,
        "ngtdm": ngtdm.RadiomicsNGTDM,
        "gldm": gldm.RadiomicsGLDM,
        "glcm": glcm.RadiomicsGLCM,
        "glrlm": glrlm.RadiomicsGLRLM,
    }
    assert radiomics.__version__
    for key, mapping in PYRADIOMICS_SAME.items():
        fc = classes[key](img, lab, binWidth=25, label=1)
        for feature in mapping:
            fc.enableFeatureByName(feature)
        fc.execute()
        for feature, tag in mapping.items():
            assert ours[tag] == pytest.approx(float(fc.featureValues[feature]), rel=1e-9), tag


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_glcm_equals_dense_matrices(monkeypatch, seed):
    """Many grey levels (filter responses): the matrices are kept sparse; every aggregation
    gives the dense matrices' values, and a slice without pairs is left out as there."""
    from radiopredict.features.families import glcm

    rng = np.random.default_rng(seed)
    q = rng.integers(1, 300, size=(5, 14, 15))
    roi = rng.random(q.shape) > 0.3
    roi[2] = False
    roi[2, 3, 3] = True  # a lone voxel: no in-plane pair in slice 2
    dims = FeatureSettings(texture_dims=("2D", "2_5D", "3D"), texture_aggregations=("avg", "comb"))
    assert len(np.unique(q[roi])) > glcm.SPARSE_LEVELS
    sparse = run("glcm", q, roi, 300, dims)
    monkeypatch.setattr(glcm, "SPARSE_LEVELS", 10**9)
    dense = run("glcm", q, roi, 300, dims)
    assert sparse.keys() == dense.keys() and len(dense) == 150
    for key, value in dense.items():
        assert sparse[key] == pytest.approx(value, rel=1e-11, abs=1e-14), key


def test_sparse_glcm_without_pairs_raises():
    from radiopredict.features.families import glcm

    q = np.zeros((5, 17, 17), dtype=np.int64)
    roi = np.zeros(q.shape, dtype=bool)
    roi[::2, ::2, ::2] = True  # no two ROI voxels are neighbours
    q[roi] = np.arange(1, roi.sum() + 1)
    assert roi.sum() > glcm.SPARSE_LEVELS
    with pytest.raises(FeatureComputationError, match="every 3D_avg matrix is empty"):
        run("glcm", q, roi, int(roi.sum()), FeatureSettings(texture_dims=("3D",)))


# vectorised complexity below 64 levels; above, per matrix, grouped by probability when few
# distinct probabilities (voxel counts) occur, else the plain double sum
@pytest.mark.parametrize("n, top", [(9, 5), (90, 5), (90, 1000)])
def test_ngtdm_features_equal_the_double_sums(n, top):
    """NGTDM's single-sum rewrites equal IBSI's double sums over the present levels."""
    from radiopredict.features.families.ngtdm import ngtdm_features

    rng = np.random.default_rng(n)
    k = 4
    m = np.zeros((k, 2, n))
    m[:, 1] = rng.integers(0, top, (k, n)) * (rng.random((k, n)) > 0.4)
    m[:, 0] = rng.random((k, n)) * m[:, 1] * 3
    m[1, 1] = 0
    m[1, 1, 2], m[1, 0, 2] = 4, 0.5  # a single grey level
    levels = np.sort(rng.choice(np.arange(1, 5 * n), n, replace=False)).astype(float)
    ours = ngtdm_features(m, levels=levels)
    for r in range(k):
        s, cnt = m[r, 0], m[r, 1]
        p = cnt / cnt.sum()
        idx = np.flatnonzero(p > 0)
        ngp = len(idx)
        pairs = list(itertools.product(idx, idx))
        d = {(a, b): levels[a] - levels[b] for a, b in pairs}
        contrast = sum(p[a] * p[b] * d[a, b] ** 2 for a, b in pairs)
        contrast *= s.sum() / cnt.sum() / (ngp * (ngp - 1)) if ngp > 1 else 0.0
        busy = sum(abs(levels[a] * p[a] - levels[b] * p[b]) for a, b in pairs)
        busy = (p * s).sum() / busy if busy > 0 else 0.0
        cplx = (
            sum(abs(d[a, b]) * (p[a] * s[a] + p[b] * s[b]) / (p[a] + p[b]) for a, b in pairs)
            / cnt.sum()
        )
        strength = sum((p[a] + p[b]) * d[a, b] ** 2 for a, b in pairs)
        strength = strength / s.sum() if s.sum() > 0 else 0.0
        expect = {
            "ngt_contrast": contrast,
            "ngt_busyness": busy,
            "ngt_complexity": cplx,
            "ngt_strength": strength,
        }
        for key, value in expect.items():
            assert ours[key][r] == pytest.approx(value, rel=1e-10, abs=1e-14), (key, r)
