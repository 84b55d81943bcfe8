"""IBSI preprocessing: interpolation grid, mask interpolation, resegmentation, discretisation."""

from __future__ import annotations

import numpy as np
import pytest

from radiopredict.errors import ConfigError, EmptyMaskError
from radiopredict.features import FeatureSettings
from radiopredict.features.preprocess import (
    LOCAL_PEAK_RADIUS_MM,
    discretise,
    ibsi_grid,
    interpolate,
    preprocess,
    resegment,
)


def test_ibsi_grid_matches_ct_phantom_config_c_dimensions():
    # IBSI-1 diagnostic values for configuration C: 100 x 99 x 90 voxels at 2 mm
    assert ibsi_grid(204, 0.977, 2.0).size == 100
    assert ibsi_grid(201, 0.977, 2.0).size == 99
    assert ibsi_grid(60, 3.0, 2.0).size == 90
    pos = ibsi_grid(60, 3.0, 2.0)
    assert np.isclose(pos.mean(), 29.5)  # centred on the original axis centre
    assert np.allclose(np.diff(pos), 2.0 / 3.0)
    assert np.allclose(ibsi_grid(7, 1.0, 1.0), np.arange(7))  # same spacing: same grid


def _ramp(shape=(12, 14, 16), spacing=(3.0, 1.0, 1.0)):
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    return 2.0 * x - 3.0 * y + 0.5 * z + 100.0


def test_linear_interpolation_reproduces_a_linear_field():
    spacing = (3.0, 1.0, 1.0)
    img = _ramp(spacing=spacing)
    mask = np.zeros(img.shape, bool)
    mask[3:9, 4:10, 5:11] = True
    s = FeatureSettings(new_spacing=(2.0, 2.0, 2.0), interpolator="linear")
    out, new_mask, new_sp, full = interpolate(img, mask, spacing, s, margin_mm=0.0)
    assert new_sp == (2.0, 2.0, 2.0)
    assert full == (18, 7, 8)
    # check the values against the analytic field at the IBSI grid positions
    pz, py, px = (ibsi_grid(n, sp, 2.0) for n, sp in zip(img.shape, spacing))
    lo = [int(np.searchsorted(p, v)) for p, v in zip((pz, py, px), (3 - 2, 4 - 2, 5 - 2))]
    z0, y0, x0 = (p[i] for p, i in zip((pz, py, px), lo))
    expected = 2.0 * x0 - 3.0 * y0 + 0.5 * 3.0 * z0 + 100.0
    assert np.isclose(out[0, 0, 0], expected)
    assert new_mask.any() and new_mask.dtype == bool
    # cubic B-spline interpolation is exact for a linear field too (away from the border)
    s3 = s.replace(interpolator="cubic", round_intensities=True)
    out3, *_ = interpolate(img, mask, spacing, s3, margin_mm=0.0)
    assert np.array_equal(out3, np.rint(out))


def test_2d_interpolation_keeps_slices_and_mask_threshold():
    img = _ramp(spacing=(3.0, 1.0, 1.0))
    mask = np.zeros(img.shape, bool)
    mask[2:10, 3:9, 3:9] = True
    s = FeatureSettings(new_spacing=(0.5, 0.5), interpolation_dims="2D")
    out, m, sp, full = interpolate(img, mask, (3.0, 1.0, 1.0), s)
    assert sp == (3.0, 0.5, 0.5) and full[0] == 12
    # the in-plane extent of the mask doubles (partial volume threshold at 0.5)
    assert m.sum() == pytest.approx(8 * 12 * 12, rel=0.2)
    low = interpolate(img, mask, (3.0, 1.0, 1.0), s.replace(mask_threshold=0.01))[1]
    high = interpolate(img, mask, (3.0, 1.0, 1.0), s.replace(mask_threshold=1.0))[1]
    assert low.sum() > m.sum() > high.sum() > 0


def test_resegment_range_then_outliers():
    rng = np.random.default_rng(0)
    img = rng.normal(0.0, 10.0, (10, 10, 10))
    img[0, 0, 0] = 1000.0
    img[0, 0, 1] = -1000.0
    mask = np.ones(img.shape, bool)
    r = resegment(img, mask, FeatureSettings(reseg_range=(-500, None)))
    assert not r[0, 0, 1] and r[0, 0, 0] and r.sum() == 999
    o = resegment(img, mask, FeatureSettings(reseg_outlier_sigma=3.0))
    assert not o[0, 0, 0] and not o[0, 0, 1]
    both = resegment(img, mask, FeatureSettings(reseg_range=(-500, 500), reseg_outlier_sigma=3.0))
    v = img[(img >= -500) & (img <= 500)]
    keep = np.abs(img - v.mean()) <= 3 * v.std()
    assert np.array_equal(both, keep & (img >= -500) & (img <= 500))


def test_discretise_fbn_fbs_none():
    x = np.array([-500.0, -475.0, -474.9, 0.0, 399.0, 400.0])
    q, n = discretise(x, "fbs", bin_width=25.0, lower_bound=-500.0)
    assert list(q) == [1, 2, 2, 21, 36, 37] and n == 37
    q, n = discretise(x, "fbn", bin_number=3)
    assert list(q) == [1, 1, 1, 2, 3, 3] and n == 3
    q, n = discretise(np.array([1.0, 3.0, 6.0]), "none")
    assert list(q) == [1, 3, 6] and n == 6 and q.dtype == np.int32
    q, n = discretise(np.array([5.0, 5.0]), "fbn", bin_number=8)
    assert list(q) == [1, 1] and n == 8
    with pytest.raises(ConfigError, match="lower bound"):
        discretise(x, "fbs", bin_width=25.0, lower_bound=-400.0)
    with pytest.raises(ConfigError, match="positive integer"):
        discretise(np.array([0.5, 2.0]), "none")
    with pytest.raises(EmptyMaskError):
        discretise(np.array([]), "fbn")


def test_preprocess_masks_and_empty_roi_errors():
    img = np.full((6, 6, 6), 100.0)
    img[2, 2, 2] = 5000.0
    mask = np.zeros(img.shape, bool)
    mask[1:5, 1:5, 1:5] = True
    s = FeatureSettings(reseg_range=(-1000, 3000), diagnostics=True)
    pre = preprocess(img, mask, (1.0, 1.0, 1.0), s)
    assert pre.morph_mask.sum() == 64 and pre.int_mask.sum() == 63
    assert pre.diagnostics["int_mask_vox_count_reseg_roi"] == 63
    assert pre.diagnostics["morph_mask_vox_count_reseg_roi"] == 64
    assert pre.diagnostics["img_dim_x_init_img"] == 6
    with pytest.raises(EmptyMaskError, match="resegmentation"):
        preprocess(img, mask, (1.0, 1.0, 1.0), FeatureSettings(reseg_range=(-1000, 0)))
    with pytest.raises(EmptyMaskError, match="no voxel"):
        preprocess(img, np.zeros_like(mask), (1.0, 1.0, 1.0), s, patient="P7")
    tiny = np.zeros(img.shape, bool)
    tiny[3, 3, 3] = True
    with pytest.raises(EmptyMaskError, match="interpolation"):
        preprocess(img, tiny, (1.0, 1.0, 1.0), FeatureSettings(new_spacing=(5.0, 5.0, 5.0)))


def test_local_peak_radius_is_one_cubic_centimetre():
    assert 4.0 / 3.0 * np.pi * LOCAL_PEAK_RADIUS_MM**3 == pytest.approx(1000.0)


def test_nan_next_to_the_roi_pulled_in_by_interpolation_is_an_error():
    """The finite check on the original grid passes (the NaN lies outside the mask), but linear
    interpolation onto a coarser grid carries it into the ROI: refused, not silently NaN."""
    from radiopredict.features import compute_features

    rng = np.random.default_rng(0)
    image = rng.normal(50, 10, (16, 16, 16))
    mask = np.zeros(image.shape, bool)
    mask[5:11, 5:11, 5:11] = True
    image[8, 8, 11] = np.nan  # the voxel just outside the ROI's edge
    settings = FeatureSettings(new_spacing=(2.0, 2.0, 2.0), families=("intensity_stats",))
    with pytest.raises(ConfigError, match="NaN or infinite after interpolation"):
        compute_features(image, mask, settings, spacing=(1.0, 1.0, 1.0), patient="P1")
    image[8, 8, 11] = 50.0
    assert len(compute_features(image, mask, settings, spacing=(1.0, 1.0, 1.0)))
