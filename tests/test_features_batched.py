"""Several ROIs at once: the texture families' ``compute_many`` and ``compute_features_many``.

The batched path packs the ROIs of a batch side by side on one grid and builds their matrices
together; every value must equal the one-ROI path (to rounding) and every per-ROI error must be
the one the one-ROI path raises, with the other ROIs unaffected.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from radiopredict.errors import EmptyMaskError, FeatureComputationError
from radiopredict.features import FeatureSettings, compute_features
from radiopredict.features.engine import compute_features_many
from radiopredict.features.families import TEXTURE_FAMILIES
from radiopredict.features.families import _texture as tx

SPACING = (1.0, 1.0, 1.0)


def family(name):
    return importlib.import_module(f"radiopredict.features.families.{name}")


def _random_item(rng, shape, n_levels, fill, offset=0):
    q = (rng.integers(1, n_levels + 1, size=shape) + offset).astype(np.int32)
    roi = rng.random(shape) < fill
    return q, roi, n_levels + offset, None


def _items(seed=0):
    """ROIs of many kinds: tiny, one voxel, one slice, many levels, shifted levels, holes, a
    ROI with a separate morphological mask, and an empty one (an error)."""
    rng = np.random.default_rng(seed)
    items = [
        _random_item(rng, (5, 7, 9), 6, 0.7),
        _random_item(rng, (1, 4, 4), 3, 0.6),  # one slice: the 3-D GLCM has no pair
        _random_item(rng, (3, 3, 3), 40, 0.9),
        (np.ones((1, 1, 1), np.int32), np.ones((1, 1, 1), bool), 1, None),  # one voxel
        _random_item(rng, (8, 12, 10), 120, 0.8),
        (np.zeros((3, 3, 3), np.int32), np.zeros((3, 3, 3), bool), 4, None),  # empty
        _random_item(rng, (4, 6, 6), 5, 0.95, offset=60),  # levels far from the others
        _random_item(rng, (6, 5, 7), 2, 1.0),  # one box of two levels
    ]
    q, roi, n, _ = _random_item(rng, (5, 6, 6), 4, 0.7)
    items.append((q, roi, n, ndimage_dilate(roi)))  # morphological mask larger than the ROI
    return items


def ndimage_dilate(mask):
    from scipy import ndimage

    return ndimage.binary_dilation(mask)


def _one(name, item, settings):
    q, roi, n_levels, morph = item
    try:
        return family(name).compute(
            q, roi, n_levels, spacing=SPACING, settings=settings, morph_roi=morph
        )
    except FeatureComputationError as exc:
        return exc


def _assert_same(got, ref, rel=1e-10):
    if isinstance(ref, Exception):
        assert type(got) is type(ref) and str(got) == str(ref)
        return
    assert not isinstance(got, Exception), got
    assert list(got) == list(ref)  # same tags, same order
    for tag, value in ref.items():
        assert got[tag] == pytest.approx(value, rel=rel, abs=1e-12), tag


SETTINGS = [
    None,
    FeatureSettings(texture_dims=("2D", "2_5D", "3D")),
    FeatureSettings(texture_dims=("3D",)),
    FeatureSettings(texture_dims=("2D",), texture_aggregations=("comb",)),
    FeatureSettings(texture_dims=("2_5D", "3D"), texture_aggregations=("avg",)),
    FeatureSettings(
        texture_dims=("2D", "2_5D", "3D"),
        glcm_distance=2,
        ngtdm_distance=2,
        ngldm_distance=2,
        ngldm_alpha=1,
        gldzm_distance_metric="chebyshev",
    ),  # fmt: skip
]


@pytest.mark.parametrize("name", TEXTURE_FAMILIES)
@pytest.mark.parametrize("settings", SETTINGS, ids=range(len(SETTINGS)))
def test_compute_many_equals_compute_for_each_roi(name, settings):
    items = _items()
    got = family(name).compute_many(items, spacing=SPACING, settings=settings)
    assert len(got) == len(items)
    for g, item in zip(got, items, strict=True):
        _assert_same(g, _one(name, item, settings))
    # the empty ROI fails alone; the one-slice ROI fails only where 3-D pairs are needed
    assert isinstance(got[5], FeatureComputationError)
    assert sum(isinstance(g, Exception) for g in got) <= 2


@pytest.mark.parametrize("name", TEXTURE_FAMILIES)
def test_batches_split_by_budget_without_changing_values(name, monkeypatch):
    items = _items(1)
    ref = [_one(name, item, None) for item in items]
    monkeypatch.setattr(tx, "BATCH_SLACK", 0)
    monkeypatch.setattr(tx, "BATCH_BUDGET", 1)  # every ROI in a batch of its own
    for g, r in zip(family(name).compute_many(items, spacing=SPACING), ref, strict=True):
        _assert_same(g, r)


def test_batches_keep_padding_small():
    ts = [
        tx.TextureInput(np.zeros((3, 3, 3), np.int32), np.arange(lo, hi, dtype=float), hi, 0)
        for lo, hi in [(1, 5), (2, 6), (400, 410), (3, 7), (405, 409)]
    ]
    out = tx.batches(ts, list(range(5)), lambda shape: 1000, 1)
    assert sorted(map(sorted, out)) == [[0, 1, 3], [2, 4]]  # far apart levels: separate


def test_batches_count_the_slices_and_rows_that_packing_adds():
    """Packed, every ROI of a batch gets the batch's slices and rows: 30 one-slice ROIs do
    not join a 60-slice one (their matrices would be padded to 60 slices each), but are
    batched among themselves."""
    levels = np.arange(1, 33, dtype=float)
    big = tx.TextureInput(np.zeros((62, 22, 22), np.int32), levels, 32, 1)
    small = [tx.TextureInput(np.zeros((3, 3, 3), np.int32), levels, 32, 1) for _ in range(30)]
    ts = [big, *small]
    seen = []

    def cost(shape):  # the per-slice GLCM's: 4 directions x slices, and their transposes
        seen.append(shape)
        return 2 * (4 * (shape[0] - 2) + 13)

    out = tx.batches(ts, list(range(len(ts))), cost, 2)
    assert (62, 22, 3) in seen  # a small ROI costed at the big one's slices and rows
    with_big = next(b for b in out if 0 in b)
    assert len(with_big) <= 2
    assert max(len(b) for b in out if 0 not in b) >= 20  # the small ones stay together
    padded = sum(
        sum(cost((max(ts[m].codes.shape[0] for m in b), 0, 0)) for m in b) * 32**2 for b in out
    )
    own = sum(cost(t.codes.shape) * 32**2 for t in ts)
    assert padded <= 2 * own + tx.BATCH_SLACK * len(out)


@pytest.mark.parametrize("order", [[(1, False), (0, False), (0, True)], [(0, True), (1, False)]])
def test_texture_item_repads_what_an_earlier_family_prepared(order):
    """A TextureItem prepared once serves the other paddings (and the morphological input when
    the mask equals the ROI) re-padded: equal to preparing it afresh; a morphological mask that
    differs from the ROI is prepared on its own box."""
    rng = np.random.default_rng(5)
    q, roi, n, _ = _random_item(rng, (5, 6, 7), 5, 0.6)
    grown = ndimage_dilate(roi)
    for morph in (None, roi.copy(), grown):
        item = tx.TextureItem(q, roi, n, morph)
        for pad, with_morph in order:
            got, ok = tx.prepare_many([item], family="t", pad=pad, with_morph=with_morph)
            assert ok == [0]
            m = (roi if morph is None else morph) if with_morph else None
            want = tx.prepare(q, roi, n, family="t", pad=pad, morph_roi=m)
            assert got[0].pad == want.pad and got[0].n_levels == want.n_levels
            assert np.array_equal(got[0].codes, want.codes)
            assert np.array_equal(got[0].levels, want.levels)
            assert (got[0].morph is None) == (want.morph is None)
            if want.morph is not None:
                assert np.array_equal(got[0].morph, want.morph)
        if morph is grown:  # its own box: never the base the other paddings re-pad
            assert item.prepared["base"] is not item.prepared[(0, True)]


def test_pack_keeps_rois_apart():
    rng = np.random.default_rng(3)
    a = tx.prepare(*_random_item(rng, (2, 3, 4), 3, 1.0)[:3], family="t", pad=1)
    b = tx.prepare(*_random_item(rng, (3, 2, 2), 9, 1.0, offset=5)[:3], family="t", pad=1)
    p = tx.pack([a, b], [7, 9])
    assert p.members == [7, 9] and p.n_items == 2
    assert list(p.n_levels) == [3, 14]
    assert np.array_equal(p.t.levels, np.union1d(a.levels, b.levels))
    # every ROI voxel keeps its grey level and belongs to its own item
    vals = p.t.values
    for k, t in enumerate((a, b)):
        xs = np.flatnonzero(p.item_of_x == k)
        sub = vals[: t.codes.shape[0], : t.codes.shape[1], xs.min() - 1 : xs.max() + 2]
        assert np.array_equal(sub, t.values)
    # at least 2 * pad + 1 zero columns between the two ROIs' voxels
    cols = np.flatnonzero(p.t.codes.any(axis=(0, 1)))
    assert np.diff(cols).max() >= 2 * 1 + 2


@pytest.mark.parametrize("pad", [0, 1, 2])
def test_pack_separates_every_pair_of_neighbouring_rois(pad):
    """Between any two packed ROIs lie more zero columns than the neighbourhood reaches."""
    rng = np.random.default_rng(4)
    ins = [
        tx.prepare(*_random_item(rng, shape, 4, 1.0)[:3], family="t", pad=pad)
        for shape in [(2, 3, 4), (1, 1, 1), (3, 2, 2), (2, 2, 5)]
    ]
    p = tx.pack(ins, list(range(len(ins))))
    owner = p.item_of_x
    cols = np.flatnonzero(p.t.codes.any(axis=(0, 1)))
    for a, b in zip(cols[:-1], cols[1:], strict=True):
        if owner[a] != owner[b]:  # the last column of one ROI, the first of the next
            assert b - a - 1 >= 2 * pad + 1
    assert [int(np.count_nonzero(p.t.codes[:, :, owner == k])) for k in range(4)] == [
        int(np.count_nonzero(t.codes)) for t in ins
    ]


def _image_items(seed=0):
    rng = np.random.default_rng(seed)
    img = rng.normal(40, 30, size=(12, 30, 30))
    img[4:8, 10:20, 10:20] += 100
    items = []
    for z0, y0, x0, size in [(2, 3, 3, 6), (5, 15, 12, 8), (0, 0, 0, 2), (8, 20, 22, 5)]:
        m = np.zeros(img.shape, bool)
        m[z0 : z0 + max(1, size // 2), y0 : y0 + size, x0 : x0 + size] = True
        items.append((img, m))
    items.append((img, np.zeros(img.shape, bool)))  # empty mask: EmptyMaskError
    m = np.zeros(img.shape, bool)
    m[6, 6, 6] = True
    items.append((img, m))  # one voxel: several families undefined
    return items


@pytest.mark.parametrize("preset", [None, "ct"])
def test_compute_features_many_equals_compute_features(preset):
    settings = FeatureSettings() if preset is None else FeatureSettings.preset(preset)
    items = _image_items()
    got = compute_features_many(items, settings, spacing=(2.0, 0.8, 0.8))
    assert isinstance(got[4], EmptyMaskError)
    for g, (img, m) in zip(got, items, strict=True):
        try:
            ref = compute_features(img, m, settings, spacing=(2.0, 0.8, 0.8))
        except EmptyMaskError as exc:
            assert str(g) == str(exc)
            continue
        assert list(g.index) == list(ref.index)
        np.testing.assert_allclose(g.to_numpy(), ref.to_numpy(), rtol=1e-10, atol=1e-12)
        assert g.attrs["not_computed"] == ref.attrs["not_computed"]


def test_a_failing_batch_is_rerun_roi_by_roi(monkeypatch):
    """A batch that fails as a whole is rerun ROI by ROI: only the ROI that fails on its own
    is lost, the others get the one-ROI values."""
    glcm = family("glcm")
    one = glcm.compute

    def broken(items, **kwargs):
        raise RuntimeError("boom")

    def fails_on_small(q, roi, n_levels, **kwargs):
        if roi.sum() < 20:
            raise RuntimeError(f"small ROI of {roi.sum()} voxels")
        return one(q, roi, n_levels, **kwargs)

    monkeypatch.setattr(glcm, "compute_many", broken)
    monkeypatch.setattr(glcm, "compute", fails_on_small)
    items = _image_items()[:3]  # the third ROI has 2 voxels
    got = compute_features_many(items, FeatureSettings(), spacing=(2.0, 0.8, 0.8))
    assert isinstance(got[2], RuntimeError) and "small ROI" in str(got[2])
    monkeypatch.setattr(glcm, "compute", one)
    for g, (img, m) in zip(got[:2], items[:2], strict=True):
        ref = compute_features(img, m, FeatureSettings(), spacing=(2.0, 0.8, 0.8))
        np.testing.assert_allclose(g.to_numpy(), ref.to_numpy(), rtol=1e-10, atol=1e-12)


def test_local_intensity_compute_many_equals_compute():
    from radiopredict.features.families import local_intensity as li

    rng = np.random.default_rng(5)
    img = rng.normal(0, 50, size=(10, 40, 40))
    items = []
    for z0, y0, x0, s in [(0, 0, 0, 3), (4, 10, 12, 9), (8, 35, 30, 5), (3, 20, 0, 1)]:
        m = np.zeros(img.shape, bool)
        m[z0 : z0 + 2, y0 : y0 + s, x0 : x0 + s] = True  # at borders and inside
        items.append((img[:, :, : 20 + x0] if x0 else img, m[:, :, : 20 + x0] if x0 else m))
    for spacing in [(2.0, 0.7, 0.7), (1.0, 1.0, 1.0)]:
        got = li.compute_many(items, spacing)
        for g, (im, m) in zip(got, items, strict=True):
            ref = li.compute(im, m, spacing)
            assert g == pytest.approx(ref, rel=1e-12)


def _brute_force_peaks(img, roi, spacing):
    """The IBSI definition voxel by voxel: mean of the image voxels whose centres lie within
    the 1 cm^3 sphere (voxels outside the image do not count)."""
    from radiopredict.features.preprocess import LOCAL_PEAK_RADIUS_MM

    grid = np.stack(np.meshgrid(*[np.arange(n) for n in img.shape], indexing="ij"), axis=-1)
    mm = grid * np.asarray(spacing)
    local = []
    for c in np.argwhere(roi):
        d2 = ((mm - c * np.asarray(spacing)) ** 2).sum(axis=-1)
        local.append(img[d2 <= LOCAL_PEAK_RADIUS_MM**2 + 1e-9].mean())
    local, vals = np.array(local), img[roi]
    return {"loc_peak_loc": local[vals == vals.max()].max(), "loc_peak_glob": local.max()}


@pytest.mark.parametrize("spacing", [(2.0, 0.7, 0.7), (1.0, 1.0, 1.0), (5.0, 0.6, 0.6)])
def test_local_intensity_running_sums_and_fft_equal_the_definition(spacing):
    from radiopredict.features.families import local_intensity as li

    rng = np.random.default_rng(11)
    img = rng.normal(0, 50, size=(7, 26, 28)).round()
    img[3, 12, 14] = 400  # one maximum inside, a tie of the maximum at the border below
    img[0, 0, 3] = 400
    rois = []
    for z0, y0, x0, s in [(2, 9, 11, 6), (0, 0, 0, 4), (5, 20, 22, 6)]:  # inside, at borders
        m = np.zeros(img.shape, bool)
        m[z0 : z0 + 2, y0 : y0 + s, x0 : x0 + s] = True
        rois.append(m)
    kernel = li.sphere_kernel(spacing)
    half = [(k - 1) // 2 for k in kernel.shape]
    widths = kernel.sum(axis=2)
    rows = [
        (dz - half[0], dy - half[1], (int(widths[dz, dy]) - 1) // 2)
        for dz in range(kernel.shape[0])
        for dy in range(kernel.shape[1])
        if widths[dz, dy] > 0
    ]
    by_rows = li._peaks([(img, m) for m in rois], rows, half)
    for m, rows_res, many in zip(rois, by_rows, li.compute_many([(img, m) for m in rois], spacing)):
        ref = _brute_force_peaks(img, m, spacing)
        assert rows_res == pytest.approx(ref, rel=1e-12)
        assert li._peaks_fft(img, m, kernel) == pytest.approx(ref, rel=1e-12)
        assert many == pytest.approx(ref, rel=1e-12)


def test_local_intensity_takes_the_fft_for_large_rois_on_fine_grids():
    from radiopredict.features.families import local_intensity as li

    big = np.zeros((40, 60, 60), bool)
    big[5:35, 10:50, 10:50] = True
    small = np.zeros((5, 12, 12), bool)
    small[1:4, 2:10, 2:10] = True
    fine = li.sphere_kernel((0.5, 0.5, 0.5))
    n_rows = int((fine.sum(axis=2) > 0).sum())
    assert li._fft_cheaper(big, fine.shape, n_rows)
    coarse = li.sphere_kernel((5.0, 2.0, 2.0))
    assert not li._fft_cheaper(small, coarse.shape, int((coarse.sum(axis=2) > 0).sum()))


def test_first_order_many_matches_numpy():
    from radiopredict.features.families.intensity_stats import first_order_many

    rng = np.random.default_rng(2)
    xs = [rng.normal(size=n) for n in (1, 2, 3, 10, 101)] + [np.full(7, 0.1), np.arange(5.0)]
    for x, got in zip(xs, first_order_many(xs, "s"), strict=True):
        p = np.percentile(x, [10, 25, 50, 75, 90])
        assert [got["s_p10"], got["s_median"], got["s_p90"]] == [p[0], p[2], p[4]]
        assert got["s_iqr"] == pytest.approx(p[3] - p[1], abs=1e-15)
        assert got["s_mean"] == pytest.approx(x.mean(), rel=1e-14)
        assert got["s_var"] == pytest.approx(x.var(), rel=1e-12, abs=1e-30)  # numpy: 2e-34 for 0.1s
        assert got["s_min"] == x.min() and got["s_max"] == x.max()
        assert got["s_medad"] == pytest.approx(np.mean(np.abs(x - np.median(x))), rel=1e-12)
    const = first_order_many([np.full(7, 0.1)], "s")[0]
    assert const["s_var"] == 0 and const["s_skew"] == 0 and const["s_kurt"] == 0


def test_first_order_many_moments_and_robust_statistics_equal_their_definitions():
    from scipy import stats

    from radiopredict.features.families.intensity_stats import first_order_many

    rng = np.random.default_rng(8)
    xs = [rng.gamma(2.0, 10.0, size=n) - 5 for n in (3, 17, 250)] + [np.array([1.0, 1.0, 4.0])]
    for x, got in zip(xs, first_order_many(xs, "s"), strict=True):
        assert got["s_skew"] == pytest.approx(stats.skew(x), rel=1e-10)
        assert got["s_kurt"] == pytest.approx(stats.kurtosis(x), rel=1e-10)  # excess kurtosis
        assert got["s_mad"] == pytest.approx(np.mean(np.abs(x - x.mean())), rel=1e-12)
        p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
        inner = x[(x >= p10) & (x <= p90)]
        assert got["s_rmad"] == pytest.approx(np.mean(np.abs(inner - inner.mean())), rel=1e-12)
        assert got["s_cov"] == pytest.approx(x.std() / x.mean(), rel=1e-12)
        assert got["s_qcod"] == pytest.approx((p75 - p25) / (p75 + p25), rel=1e-12)


def test_first_order_many_rejects_an_empty_sample():
    from radiopredict.features.families.intensity_stats import first_order_many

    with pytest.raises(FeatureComputationError, match="sample 1 of 3 is empty"):
        first_order_many([np.ones(3), np.zeros(0), np.ones(2)], "s")
    assert first_order_many([], "s") == []
