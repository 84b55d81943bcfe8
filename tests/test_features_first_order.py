"""Morphology, local intensity, statistics, histogram, IVH and the engine's contract."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import stats
from scipy.spatial.distance import cdist

from radiopredict.errors import (
    ConfigError,
    EmptyMaskError,
    FeatureComputationError,
    GeometryMismatchError,
)
from radiopredict.features import FeatureSettings, compute_features, get_feature
from radiopredict.features.families import (
    intensity_histogram,
    intensity_stats,
    ivh,
    local_intensity,
    morphology,
)


def test_intensity_stats_match_scipy():
    x = np.random.default_rng(1).gamma(2.0, 10.0, 500)
    out = intensity_stats.compute(x)
    assert out["stat_mean"] == pytest.approx(x.mean())
    assert out["stat_var"] == pytest.approx(x.var())
    assert out["stat_skew"] == pytest.approx(stats.skew(x))
    assert out["stat_kurt"] == pytest.approx(stats.kurtosis(x))
    assert out["stat_iqr"] == pytest.approx(stats.iqr(x))
    assert out["stat_medad"] == pytest.approx(np.mean(np.abs(x - np.median(x))))
    assert out["stat_energy"] == pytest.approx(np.sum(x**2))
    assert out["stat_cov"] == pytest.approx(x.std() / x.mean())


def test_intensity_histogram_small_example():
    q = np.array([1, 1, 1, 2, 4, 4])
    out = intensity_histogram.compute(q, 4)
    # histogram 3, 1, 0, 2 -> gradient -2, -1.5, 0.5, 2
    assert out["ih_mode"] == 1
    assert out["ih_max_grad"] == 2 and out["ih_max_grad_g"] == 4
    assert out["ih_min_grad"] == -2 and out["ih_min_grad_g"] == 1
    p = np.array([3, 1, 2]) / 6
    assert out["ih_entropy"] == pytest.approx(-np.sum(p * np.log2(p)))
    assert out["ih_uniformity"] == pytest.approx(np.sum(p**2))


def test_ivh_small_example():
    # values 1, 3, 3, 6 on the lattice 1..6
    s = FeatureSettings(ivh_discretisation="none")
    out = ivh.compute(np.array([1.0, 3.0, 3.0, 6.0]), s)
    assert out["ivh_v10"] == 0.75  # first level with gamma >= 0.1 is 2; 3 of 4 voxels >= 2
    assert out["ivh_v90"] == 0.25  # level 6
    assert out["ivh_i10"] == 7  # nu <= 0.1 only above the maximum
    assert out["ivh_i90"] == 2  # nu(2) = 0.75
    assert out["ivh_diff_i10_i90"] == 5
    fbs = ivh.compute(
        np.array([0.0, 1.0, 7.0]), s.replace(ivh_discretisation="fbs", ivh_bin_width=2.5)
    )
    assert fbs["ivh_i10"] == pytest.approx(8.75)  # one bin above the last centre 6.25
    with pytest.raises(FeatureComputationError, match="integer"):
        ivh.compute(np.array([0.5, 1.25, 3.0]), s)
    # the engine reports the family instead of failing or rounding silently
    img = np.random.default_rng(2).normal(0.0, 1.0, (6, 6, 6))
    out = compute_features(
        img,
        np.ones(img.shape, np.uint8),
        FeatureSettings(families=["ivh", "intensity_stats"]),
        spacing=(1.0, 1.0, 1.0),
    )
    assert "integer" in out.attrs["not_computed"]["ivh"] and "stat_mean" in out.index


def test_local_intensity_sphere_kernel_and_peaks():
    k = local_intensity.sphere_kernel((2.0, 2.0, 2.0))
    assert k.shape == (7, 7, 7) and k.sum() == 123  # voxel centres within 6.2 mm
    img = np.zeros((20, 20, 20))
    img[10, 10, 10] = 123.0
    roi = np.zeros(img.shape, bool)
    roi[8:13, 8:13, 8:13] = True
    out = local_intensity.compute(img, roi, (2.0, 2.0, 2.0))
    assert out["loc_peak_loc"] == pytest.approx(1.0)
    assert out["loc_peak_glob"] == pytest.approx(1.0)


def test_moran_geary_fft_equals_brute_force():
    rng = np.random.default_rng(3)
    img = rng.normal(size=(6, 7, 8)) + np.arange(8)
    roi = rng.random(img.shape) > 0.4
    spacing = (3.0, 1.0, 0.8)
    mi, gc = morphology.moran_geary(img, roi, spacing)
    pos = np.argwhere(roi) * np.asarray(spacing)
    x = img[roi]
    d = cdist(pos, pos)
    w = np.zeros_like(d)
    np.divide(1.0, d, out=w, where=d > 0)
    dev = x - x.mean()
    n = x.size
    moran = n / w.sum() * (w * np.outer(dev, dev)).sum() / np.sum(dev**2)
    geary = (n - 1) * (w * (x[:, None] - x[None, :]) ** 2).sum() / (2 * w.sum() * np.sum(dev**2))
    assert mi == pytest.approx(moran, rel=1e-9)
    assert gc == pytest.approx(geary, rel=1e-9)


def test_morphology_of_a_voxelised_sphere():
    r = 10.0
    g = np.arange(-14, 15)
    z, y, x = np.meshgrid(g, g, g, indexing="ij")
    ball = z**2 + y**2 + x**2 <= r**2
    out = morphology.compute(np.ones(ball.shape), ball, ball, (1.0, 1.0, 1.0))
    assert out["morph_vol_approx"] == ball.sum()
    assert out["morph_volume"] == pytest.approx(4 / 3 * np.pi * r**3, rel=0.03)
    assert out["morph_sphericity"] == pytest.approx(1.0, abs=0.1)
    assert out["morph_diam"] == pytest.approx(2 * r + 1, rel=0.05)
    assert out["morph_pca_elongation"] == pytest.approx(1.0, abs=1e-6)
    assert out["morph_com"] == pytest.approx(0.0, abs=1e-9)
    assert morphology._ellipsoid_area(2.0, 2.0, 2.0) == pytest.approx(16 * np.pi)
    # the IBSI series is accurate for near-spherical ellipsoids: (1.2, 1.1, 1) has area 15.1886
    # (numerical integration); for elongated ones it is only an approximation
    assert morphology._ellipsoid_area(1.2, 1.1, 1.0) == pytest.approx(15.1886, rel=5e-3)


def test_morphology_geometry_cache_reuses_only_what_the_grey_values_do_not_change():
    # an ROI is measured once for all its filter responses: the mesh-based features come from
    # the cache, the grey-value ones (centre of mass shift, integrated intensity, Moran, Geary)
    # from the image of each call; a different spacing or mask shape is a different entry
    rng = np.random.default_rng(3)
    mask = np.zeros((12, 14, 16), bool)
    mask[2:9, 3:11, 4:13] = True
    mask[2:5, 3:6, 4:7] = False
    img_a, img_b = rng.normal(50, 10, mask.shape), rng.normal(-20, 5, mask.shape) ** 2
    sp = (2.0, 0.8, 0.7)

    def fresh(img, spacing=sp, m=mask):
        morphology._GEOMETRY_CACHE.clear()
        return morphology.compute(img, m, m, spacing)

    ref_a, ref_b = fresh(img_a), fresh(img_b)
    morphology._GEOMETRY_CACHE.clear()
    a = morphology.compute(img_a, mask, mask, sp)
    b = morphology.compute(img_b, mask, mask, sp)  # geometry from the cache
    assert len(morphology._GEOMETRY_CACHE) == 1
    assert list(a) == list(ref_a) and a == ref_a
    assert list(b) == list(ref_b) and b == ref_b
    for tag in ("morph_com", "morph_integ_int", "morph_moran_i", "morph_geary_c"):
        assert a[tag] != b[tag]
    assert a["morph_volume"] == b["morph_volume"]
    other = morphology.compute(img_a, mask, mask, (1.0, 0.8, 0.7))
    assert other["morph_volume"] == pytest.approx(a["morph_volume"] / 2, rel=1e-12)
    same_bytes = mask.reshape(16, 14, 12)  # same bits in another shape: another ROI
    c = morphology.compute(img_a.reshape(16, 14, 12), same_bytes, same_bytes, sp)
    assert len(morphology._GEOMETRY_CACHE) == 3  # (mask, sp), (mask, other sp), reshaped
    assert c == fresh(img_a.reshape(16, 14, 12), m=same_bytes)


def _blob():
    rng = np.random.default_rng(0)

    img = rng.normal(100.0, 20.0, (20, 24, 24)).round()
    mask = np.zeros(img.shape, np.uint8)
    mask[5:15, 6:18, 5:19] = 1
    return img, mask


def test_engine_numpy_and_sitk_inputs_agree_and_are_finite():
    img, mask = _blob()
    s = FeatureSettings(families=["morphology", "intensity_stats", "intensity_histogram", "ivh"])
    a = compute_features(img, mask, s, spacing=(2.0, 1.0, 1.0))
    im = sitk.GetImageFromArray(img)
    im.SetSpacing((1.0, 1.0, 2.0))
    mk = sitk.GetImageFromArray(mask)
    mk.SetSpacing((1.0, 1.0, 2.0))
    b = compute_features(im, mk, s)
    pd_ = __import__("pandas")
    pd_.testing.assert_series_equal(a, b)
    assert np.isfinite(a.to_numpy()).all()
    assert a["morph_vol_approx"] == 10 * 12 * 14 * 2.0
    assert set(a.attrs["settings"]) == set(FeatureSettings.field_names())
    for tag in a.index:
        get_feature(tag)  # every emitted tag has a registry entry with code and formula


def test_engine_reports_instead_of_nan():
    img = np.zeros((5, 5, 5))
    img[:, :, :2] = -1.0
    img[:, :, 3:] = 1.0
    mask = np.ones(img.shape, np.uint8)
    s = FeatureSettings(families=["intensity_stats"])
    out = compute_features(img, mask, s, spacing=(1.0, 1.0, 1.0))
    assert "stat_cov" not in out.index
    assert "not finite" in out.attrs["not_computed"]["stat_cov"]
    assert not out.isna().any()


def test_engine_bad_inputs():
    img, mask = _blob()
    with pytest.raises(ConfigError, match="spacing"):
        compute_features(img, mask)
    with pytest.raises(GeometryMismatchError):
        compute_features(img, mask[:, :, :-1], spacing=(1.0, 1.0, 1.0))
    with pytest.raises(EmptyMaskError, match="P1"):
        compute_features(img, np.zeros_like(mask), spacing=(1, 1, 1), patient="P1")
    with pytest.raises(EmptyMaskError, match="resegmentation"):
        compute_features(
            img, mask, FeatureSettings(reseg_range=(5000, 6000)), spacing=(1.0, 1.0, 1.0)
        )
    bad = img.copy()
    bad[10, 10, 10] = np.nan
    with pytest.raises(ConfigError, match="non-finite"):
        compute_features(bad, mask, spacing=(1.0, 1.0, 1.0))
    im = sitk.GetImageFromArray(img)
    mk = sitk.GetImageFromArray(mask)
    mk.SetSpacing((1.0, 1.0, 2.0))
    with pytest.raises(GeometryMismatchError, match="spacing"):
        compute_features(im, mk)
    with pytest.raises(ConfigError, match="ibsi-c"):
        compute_features(im, sitk.GetImageFromArray(mask), "ibsi_c")
    labels = mask.copy()
    labels[5:8] = 2
    with pytest.raises(ConfigError, match="several labels"):
        compute_features(img, labels, spacing=(1.0, 1.0, 1.0))
    # a numpy image with a SimpleITK mask, and a 0/255 mask, are fine
    s = FeatureSettings(families=["intensity_stats"])
    a = compute_features(img, sitk.GetImageFromArray(mask * 255), s, spacing=(1.0, 1.0, 1.0))
    assert a["stat_mean"] == pytest.approx(img[mask > 0].mean())


def test_generated_features_page_is_up_to_date(repo_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_features", repo_root / "docs" / "gen_features.py"
    )
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = (repo_root / "docs" / "features.md").read_text()
    assert page == gen.render(), "docs/features.md is stale: run python docs/gen_features.py"


@pytest.mark.parametrize(
    ("where", "missing"),
    [
        ((5, 5, 5), {"glcm", "morph_pca_maj_axis", "morph_moran_i"}),
        ((5, 5, slice(2, 9)), {"morph_vol_dens_aee", "morph_area_dens_aee"}),
        ((5, slice(3, 8), slice(3, 9)), {"morph_vol_dens_aee"}),
    ],
    ids=["single-voxel", "line", "single-slice"],
)
def test_degenerate_rois_report_what_cannot_be_computed(where, missing):
    img = np.random.default_rng(0).normal(100.0, 20.0, (10, 12, 12)).round()
    mask = np.zeros(img.shape, np.uint8)
    mask[where] = 1
    s = FeatureSettings(texture_dims=("2D", "2_5D", "3D"))
    with np.errstate(all="raise"):
        out = compute_features(img, mask, s, spacing=(2.0, 1.0, 1.0))
    assert missing <= set(out.attrs["not_computed"])
    assert np.isfinite(out.to_numpy()).all()
    assert "stat_mean" in out.index and "morph_volume" in out.index


def test_moran_geary_sampled_approximates_exact():
    rng = np.random.default_rng(5)
    z, y, x = np.meshgrid(*[np.arange(n) for n in (12, 30, 30)], indexing="ij")
    img = 0.2 * x + np.sin(y / 3.0) + rng.normal(0.0, 0.5, x.shape)
    roi = np.ones(img.shape, bool)
    exact = morphology.moran_geary(img, roi, (2.0, 1.0, 1.0))
    # a subset of every voxel gives the exact value; a 3000-voxel subset an estimate
    full = morphology.moran_geary_sampled(img, roi, (2.0, 1.0, 1.0), roi.size)
    assert full == pytest.approx(exact, rel=1e-9)
    approx = morphology.moran_geary_sampled(img, roi, (2.0, 1.0, 1.0), 3000)
    assert approx == pytest.approx(exact, rel=0.1)
    s = FeatureSettings(families=["morphology"], moran_geary_max_voxels=3000)
    out = compute_features(img, roi.astype(np.uint8), s, spacing=(2.0, 1.0, 1.0))
    assert out["morph_moran_i"] == pytest.approx(approx[0])
    with pytest.raises(ConfigError, match="moran_geary_max_voxels"):
        FeatureSettings(moran_geary_max_voxels=1)
