"""Cohort extraction: failures recorded, cache and resume after SIGKILL, joblib and Dask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("radiomics")
sitk = pytest.importorskip("SimpleITK")

from radiopredict.cohort import Cohort  # noqa: E402
from radiopredict.errors import ConfigError, FeatureComputationError  # noqa: E402
from radiopredict.features.cache import FeatureCache, file_digest  # noqa: E402
from radiopredict.features.extract import (  # noqa: E402
    FAILURE_COLUMNS,
    INDEX_NAMES,
    ExtractionResult,
    extract,
)

PARAMS = {
    "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}},
    "featureClass": {"firstorder": None, "glcm": None},
    "setting": {"binWidth": 25},
}


@pytest.fixture(scope="module")
def cohort_dir(shared_data, tmp_path_factory):
    """Six distinct small cases derived from breast1 (intensity offsets), one with 2 labels."""
    root = tmp_path_factory.mktemp("cohort")
    src = shared_data / "pyradiomics-cases"
    image = sitk.ReadImage(str(src / "breast1_image.nrrd"))
    mask = sitk.ReadImage(str(src / "breast1_label.nrrd"))
    rows = []
    for i in range(6):
        img = sitk.Cast(image, sitk.sitkInt16) + (7 * i)
        sitk.WriteImage(img, str(root / f"p{i}.nrrd"))
        rows.append({"patient_id": f"p{i}", "image": f"p{i}.nrrd", "mask": "mask.nrrd", "label": 1})
    arr = sitk.GetArrayFromImage(mask).astype(np.uint8)
    arr[2:6, 10:20, 5:15] = np.where(arr[2:6, 10:20, 5:15] == 0, 2, arr[2:6, 10:20, 5:15])
    two = sitk.GetImageFromArray(arr)
    two.CopyInformation(mask)
    sitk.WriteImage(mask, str(root / "mask.nrrd"))
    sitk.WriteImage(two, str(root / "mask2.nrrd"))
    rows.append({"patient_id": "p0", "image": "p0.nrrd", "mask": "mask2.nrrd", "label": 2})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def _cohort(cohort_dir, extra_rows=()):
    df = pd.read_csv(cohort_dir / "manifest.csv")
    if extra_rows:
        df = pd.concat([df, pd.DataFrame(list(extra_rows))], ignore_index=True)
    return Cohort.from_dataframe(df, root=cohort_dir)


@pytest.fixture(scope="module")
def serial(cohort_dir):
    return extract(_cohort(cohort_dir), PARAMS, engine="pyradiomics", progress=False)


def test_table_shape_index_and_provenance(serial, cohort_dir):
    feats = serial.features
    assert list(feats.index.names) == INDEX_NAMES
    assert len(feats) == 7 and serial.failures.empty
    assert ("p0", "default", "baseline", "2") in feats.index
    assert "log-sigma-2-0-mm-3D_glcm_Contrast" in feats.columns
    assert feats.notna().all().all()
    prov = serial.provenance
    assert prov["engine"] == "pyradiomics" and prov["versions"]["pyradiomics-bhklab"]
    assert prov["config"]["imageType"]["LoG"] == {"sigma": [2.0]}
    key = "p3|default|baseline|1"
    assert prov["inputs"][key]["image_sha256"] == file_digest(cohort_dir / "p3.nrrd")
    # the intensity offset changes first-order means by exactly 7 * i
    means = feats["original_firstorder_Mean"].droplevel([1, 2, 3])
    assert means["p3"] - means["p1"] == pytest.approx(14.0, rel=1e-12)


def test_parquet_round_trip_keeps_failures_and_provenance(cohort_dir, tmp_path):
    bad = {"patient_id": "bad", "image": "missing.nrrd", "mask": "mask.nrrd", "label": 1}
    res = extract(_cohort(cohort_dir, [bad]), PARAMS, engine="pyradiomics", progress=False)
    path = res.to_parquet(tmp_path / "f.parquet")
    back = ExtractionResult.read_parquet(path)
    pd.testing.assert_frame_equal(back.features, res.features)
    pd.testing.assert_frame_equal(back.failures, res.failures)
    assert back.provenance == res.provenance


def test_failures_recorded_good_cases_finish(cohort_dir):
    rows = [
        {"patient_id": "nofile", "image": "missing.nrrd", "mask": "mask.nrrd", "label": 1},
        {"patient_id": "nolabel", "image": "p1.nrrd", "mask": "mask.nrrd", "label": 5},
        {"patient_id": "textlabel", "image": "p2.nrrd", "mask": "mask.nrrd", "label": "GTV"},
    ]
    res = extract(_cohort(cohort_dir, rows), PARAMS, engine="pyradiomics", progress=False)
    assert len(res.features) == 7
    fails = res.failures.set_index("patient_id")
    assert list(res.failures.columns) == FAILURE_COLUMNS
    assert fails.loc["nofile", "stage"] == "read" and "missing.nrrd" in fails.loc["nofile", "error"]
    assert "Label (5) not present" in fails.loc["nolabel", "error"]
    assert "integer label" in fails.loc["textlabel", "error"]
    assert all(fails["fix"].str.len() > 0)


def test_on_error_raise_stops(cohort_dir):
    rows = [{"patient_id": "nofile", "image": "missing.nrrd", "mask": "mask.nrrd", "label": 1}]
    with pytest.raises(FeatureComputationError, match="patient nofile"):
        extract(
            _cohort(cohort_dir, rows),
            PARAMS,
            engine="pyradiomics",
            on_error="raise",
            progress=False,
        )


def test_bad_arguments(cohort_dir):
    cohort = _cohort(cohort_dir)
    with pytest.raises(ConfigError, match="on_error"):
        extract(cohort, PARAMS, engine="pyradiomics", on_error="ignore")
    with pytest.raises(ConfigError, match="n_jobs"):
        extract(cohort, PARAMS, engine="pyradiomics", n_jobs=0)
    with pytest.raises(ConfigError, match="unknown engine"):
        extract(cohort, PARAMS, engine="mirp")
    with pytest.raises(ConfigError, match="unknown executor"):
        extract(cohort, PARAMS, engine="pyradiomics", executor="spark", progress=False)


def test_cache_reused_and_settings_change_invalidates(cohort_dir, serial, tmp_path):
    cache = tmp_path / "cache"
    first = extract(
        _cohort(cohort_dir), PARAMS, engine="pyradiomics", cache_dir=cache, progress=False
    )
    assert first.provenance["n_from_cache"] == 0 and len(FeatureCache(cache)) == 7
    again = extract(
        _cohort(cohort_dir), PARAMS, engine="pyradiomics", cache_dir=cache, progress=False
    )
    assert again.provenance["n_from_cache"] == 7
    pd.testing.assert_frame_equal(again.features, serial.features)
    changed = {**PARAMS, "setting": {"binWidth": 10}}
    other = extract(
        _cohort(cohort_dir), changed, engine="pyradiomics", cache_dir=cache, progress=False
    )
    assert other.provenance["n_from_cache"] == 0
    assert not np.allclose(
        other.features["original_glcm_Contrast"], serial.features["original_glcm_Contrast"]
    )


def test_resume_after_sigkill_recomputes_only_missing(cohort_dir, serial, tmp_path):
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import time, pandas as pd
        from radiopredict.cohort import Cohort
        from radiopredict.features.extract import extract
        import radiopredict.features.engines as engines
        orig = engines.PyradiomicsBackend.compute
        def slow(self, image, items):
            time.sleep(1.0)  # leave time to kill the run between cases
            return orig(self, image, items)
        engines.PyradiomicsBackend.compute = slow
        df = pd.read_csv({str(cohort_dir / "manifest.csv")!r})
        extract(Cohort.from_dataframe(df, root={str(cohort_dir)!r}), {PARAMS!r},
                engine="pyradiomics", cache_dir={str(cache)!r}, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 120
        while len(FeatureCache(cache)) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(FeatureCache(cache))
    assert 2 <= done < 7
    res = extract(
        _cohort(cohort_dir), PARAMS, engine="pyradiomics", cache_dir=cache, progress=False
    )
    assert res.provenance["n_from_cache"] == done
    pd.testing.assert_frame_equal(res.features, serial.features)


def test_joblib_two_processes_same_table(cohort_dir, serial):
    res = extract(_cohort(cohort_dir), PARAMS, engine="pyradiomics", n_jobs=2, progress=True)
    pd.testing.assert_frame_equal(res.features, serial.features)


def test_dask_local_cluster_same_table(cohort_dir, serial):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = extract(
            _cohort(cohort_dir), PARAMS, engine="pyradiomics", executor=client, progress=False
        )
        # executor="dask" uses the running client
        again = extract(
            _cohort(cohort_dir), PARAMS, engine="pyradiomics", executor="dask", progress=False
        )
    pd.testing.assert_frame_equal(res.features, serial.features)
    pd.testing.assert_frame_equal(again.features, serial.features)


def test_native_engine_filters_once_on_exact_crop(shared_data, cohort_dir):
    from radiopredict.features import FeatureSettings, compute_features
    from radiopredict.features.engines import NativeEngine
    from radiopredict.features.filters import FilterSpec, apply_filter

    settings = FeatureSettings(families=("intensity_stats", "glcm"))
    specs = [
        FilterSpec(kind="log", boundary="mirror", sigma_mm=2.0),
        FilterSpec(kind="wavelet", boundary="periodic", wavelet="coif1", response="HLL"),
    ]
    engine = NativeEngine(settings, specs)
    image = cohort_dir / "p0.nrrd"
    out = engine.compute(image, [(cohort_dir / "mask2.nrrd", 1), (cohort_dir / "mask2.nrrd", 2)])
    full_image = sitk.ReadImage(str(image))
    mask = sitk.ReadImage(str(cohort_dir / "mask2.nrrd"))
    worst = 0.0
    for label, feats in zip((1, 2), out):
        assert isinstance(feats, dict), feats
        roi = sitk.Cast(mask == label, sitk.sitkUInt8)
        for spec in specs:
            ref = compute_features(apply_filter(full_image, spec), roi, settings)
            for tag, value in ref.items():
                ours = feats[f"{spec.name}__{tag}"]
                if ours != value:
                    worst = max(worst, abs(ours - value) / max(abs(value), 1e-300))
        assert feats["stat_mean"] == pytest.approx(
            compute_features(full_image, roi, settings)["stat_mean"], rel=1e-12
        )
    assert worst < 1e-6


@pytest.mark.parametrize(
    "spec_kw",
    [
        dict(kind="log", boundary="mirror", sigma_mm=1.5),
        dict(kind="log", boundary="constant", sigma_mm=1.5),
        dict(kind="wavelet", boundary="periodic", wavelet="coif1", response="HLL"),
    ],
    ids=["log-mirror", "log-zero", "wavelet-periodic"],
)
def test_native_engine_scattered_labels_equal_whole_image(
    shared_data, tmp_path, monkeypatch, spec_kw
):
    """Labels far apart get crops of their own; values equal whole-image filtering, also for a
    label at the image border (its crop ends at the border, or keeps the whole axis when the
    boundary condition is periodic)."""
    from radiopredict.errors import LabelNotFoundError
    from radiopredict.features import FeatureSettings, compute_features
    from radiopredict.features.engines import NativeEngine
    from radiopredict.features.engines import _crop as backend
    from radiopredict.features.filters import FilterSpec, apply_filter

    groups_used = []
    real_crop_groups = backend.crop_groups

    def recording_crop_groups(*args, **kwargs):  # the real function; its groups are recorded
        groups = real_crop_groups(*args, **kwargs)
        groups_used.append([members for members, _, _ in groups])
        return groups

    monkeypatch.setattr(backend, "crop_groups", recording_crop_groups)
    src = shared_data / "pyradiomics-cases"
    image = sitk.ReadImage(str(src / "brain2_image.nrrd"))
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(src / "brain2_label.nrrd"))).astype(np.uint8)
    arr[8:12, 30:40, 30:40] = 2  # far from the tumour, inside the image
    arr[8:12, 200:210, 30:40] = 3  # far from both
    arr[0:3, 240:250, 240:256] = 4  # at the image border
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(image)
    path = tmp_path / "labels.nrrd"
    sitk.WriteImage(mask, str(path))
    settings = FeatureSettings(families=("local_intensity", "intensity_stats", "glcm"))
    spec = FilterSpec(**spec_kw)
    engine = NativeEngine(settings, [spec])
    out = engine.compute(
        str(src / "brain2_image.nrrd"), [(path, 1), (path, 2), (path, 7), (path, 3)]
    )
    assert groups_used == [[[0], [1], [2]]]  # three crops: one per label
    out += engine.compute(str(src / "brain2_image.nrrd"), [(path, 4)])
    assert isinstance(out[2], LabelNotFoundError) and out[2].radiopredict_stage == "read"
    filtered = apply_filter(image, spec)
    worst = 0.0
    for label, feats in zip((1, 2, 3, 4), (out[0], out[1], out[3], out[4]), strict=True):
        roi = sitk.Cast(mask == label, sitk.sitkUInt8)
        ref = dict(compute_features(image, roi, settings))
        ref.update(
            {f"{spec.name}__{k}": v for k, v in compute_features(filtered, roi, settings).items()}
        )
        assert sorted(feats) == sorted(ref)
        for tag, value in ref.items():
            if feats[tag] != value:
                worst = max(worst, abs(feats[tag] - value) / max(abs(value), 1e-300))
    assert worst < 1e-6


@pytest.mark.parametrize("pixel", ["uint8", "int32"])
def test_native_engine_reads_named_labels_of_a_label_map(tmp_path, pixel):
    """Labels by name (sidecar) or number from one scan of the label map; an absent label fails
    alone, with the labels present in its message (int32: the signed scan, as read_mask does
    it; a negative value would be refused as an image given as mask)."""
    from radiopredict.errors import LabelNotFoundError
    from radiopredict.features import FeatureSettings
    from radiopredict.features.engines import NativeEngine
    from radiopredict.imaging import write_mask

    rng = np.random.default_rng(3)
    pixels = rng.normal(100, 20, (12, 30, 30)).round()
    arr = np.zeros(pixels.shape, dtype=pixel)
    arr[2:6, 3:9, 3:9], arr[6:9, 10:20, 12:18], arr[3:5, 22:28, 20:26] = 1, 2, 4
    image = sitk.GetImageFromArray(pixels)
    image.SetSpacing((0.8, 0.8, 2.0))
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(image)
    image_path = tmp_path / "image.nrrd"
    sitk.WriteImage(image, str(image_path))
    path = write_mask(mask, tmp_path / "unet.nrrd", {1: "tumour", 2: "necrosis", 4: "node"})
    engine = NativeEngine(FeatureSettings(families=("intensity_stats",)))
    out = engine.compute(
        str(image_path), [(path, "necrosis"), (path, 4), (path, "oedema"), (path, 1)]
    )
    for res, value in zip((out[0], out[1], out[3]), (2, 4, 1), strict=True):
        assert res["stat_mean"] == pytest.approx(pixels[arr == value].mean(), rel=1e-12)
    assert isinstance(out[2], LabelNotFoundError)
    assert "1 ('tumour'), 2 ('necrosis'), 4 ('node')" in str(out[2])


def test_native_engine_through_extract(cohort_dir):
    from radiopredict.features import FeatureSettings

    settings = FeatureSettings(families=("intensity_stats",))
    absent = {"patient_id": "absent", "image": "p1.nrrd", "mask": "mask.nrrd", "label": 9}
    res = extract(_cohort(cohort_dir, [absent]), settings, engine="native", progress=False)
    assert len(res.features) == 7
    fail = res.failures.set_index("patient_id").loc["absent"]
    assert fail["stage"] == "read" and "9" in fail["error"] and fail["fix"]
    assert res.provenance["config"]["settings"]["families"] == ["intensity_stats"]
    means = res.features["stat_mean"].droplevel([1, 2, 3])
    assert means["p3"] - means["p1"] == pytest.approx(14.0, rel=1e-9)


def test_native_engine_all_families_batched_equal_one_roi_at_a_time(cohort_dir):
    """Every family, several labels and image types in one batch: the values of
    compute_features on each label of the whole (filtered) image."""
    from radiopredict.features import FeatureSettings, compute_features
    from radiopredict.features.engines import NativeEngine
    from radiopredict.features.filters import FilterSpec, apply_filter

    settings = FeatureSettings()
    spec = FilterSpec(kind="log", boundary="mirror", sigma_mm=1.5)
    engine = NativeEngine(settings, [spec])
    image = cohort_dir / "p0.nrrd"
    path = cohort_dir / "mask2.nrrd"
    out = engine.compute(image, [(path, 1), (path, 2)])
    full_image = sitk.ReadImage(str(image))
    filtered = apply_filter(full_image, spec)
    mask = sitk.ReadImage(str(path))
    for label, feats in zip((1, 2), out, strict=True):
        roi = sitk.Cast(mask == label, sitk.sitkUInt8)
        ref = dict(compute_features(full_image, roi, settings))
        ref.update(
            {f"{spec.name}__{k}": v for k, v in compute_features(filtered, roi, settings).items()}
        )
        assert sorted(feats) == sorted(ref)
        for tag, value in ref.items():
            assert feats[tag] == pytest.approx(value, rel=1e-9, abs=1e-12), tag


def test_native_engine_with_resampling_batches_one_image_type_at_a_time(cohort_dir, monkeypatch):
    """With resampling each ROI needs the whole (filtered) image: the engine computes one
    image type at a time, on views of it (memory does not grow with labels x filters), and
    the values are compute_features' on the whole (filtered) image."""
    from radiopredict.features import FeatureSettings, compute_features
    from radiopredict.features import engine as core
    from radiopredict.features.engines import NativeEngine
    from radiopredict.features.filters import FilterSpec, apply_filter

    sizes = []
    real = core.features_many_as_dicts

    def recording(batch, *args, **kwargs):  # the real function; its batch sizes are recorded
        sizes.append(len(batch))
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(core, "features_many_as_dicts", recording)
    settings = FeatureSettings(new_spacing=(2.0, 2.0, 2.0), families=("intensity_stats", "glcm"))
    specs = [
        FilterSpec(kind="log", boundary="mirror", sigma_mm=1.5),
        FilterSpec(kind="mean", boundary="nearest", support=3),
    ]
    image, path = cohort_dir / "p0.nrrd", cohort_dir / "mask2.nrrd"
    out = NativeEngine(settings, specs).compute(image, [(path, 1), (path, 2)])
    assert sizes == [2, 2, 2]  # original, then each filter: the two labels of that image type
    full_image, mask = sitk.ReadImage(str(image)), sitk.ReadImage(str(path))
    for label, feats in zip((1, 2), out, strict=True):
        roi = sitk.Cast(mask == label, sitk.sitkUInt8)
        ref = dict(compute_features(full_image, roi, settings))
        for spec in specs:
            filtered = compute_features(apply_filter(full_image, spec), roi, settings)
            ref.update({f"{spec.name}__{k}": v for k, v in filtered.items()})
        assert list(feats) == list(ref)
        for tag, value in ref.items():
            assert feats[tag] == pytest.approx(value, rel=1e-9, abs=1e-12), tag


def test_native_engine_checks_in_memory_masks_against_the_image(cohort_dir):
    from radiopredict.errors import GeometryMismatchError
    from radiopredict.features import FeatureSettings
    from radiopredict.features.engines import NativeEngine

    engine = NativeEngine(FeatureSettings(families=("intensity_stats",)))
    image = cohort_dir / "p0.nrrd"
    shifted = sitk.ReadImage(str(cohort_dir / "mask2.nrrd"))
    shifted.SetOrigin([o + 5.0 for o in shifted.GetOrigin()])
    out = engine.compute(image, [(shifted, 1), (cohort_dir / "mask2.nrrd", 1)])
    assert isinstance(out[0], GeometryMismatchError) and out[0].radiopredict_stage == "read"
    assert "origin" in str(out[0]) and out[0].fix
    assert isinstance(out[1], dict) and "stat_mean" in out[1]
