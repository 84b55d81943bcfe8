"""Several ROIs at once: the texture families' ``compute_many`` and ``compute_features_many``.

The batched path packs the ROIs of a batch side by side on one grid and builds their matrices
together; every value must equal the one-ROI path (to rounding) and every per-ROI error must be
the one the one-ROI path raises, with the other ROIs unaffected.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

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
    SimpleNamespace(texture_dims=("3D",)),
    SimpleNamespace(texture_dims=("2D",), texture_aggregations=("comb",)),
    SimpleNamespace(texture_dims=("2_5D", "3D"), texture_aggregations=("avg",)),
    SimpleNamespace(
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
    out = tx.batches(ts, list(range(5)), lambda t: 1000, 1)
    assert sorted(map(sorted, out)) == [[0, 1, 3], [2, 4]]  # far apart levels: separate


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
