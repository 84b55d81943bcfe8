"""Cohort extraction with bad input and bad output locations: nothing computed is lost, nothing
undefined is silent. Native engine on small images written in tmp (no reference data needed)."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from radiopredict.cohort import Cohort
from radiopredict.errors import ManifestError, OutputPathError
from radiopredict.features import FeatureSettings
from radiopredict.features.cache import FeatureCache
from radiopredict.features.extract import UNDEFINED_COLUMNS, ExtractionResult, extract

SETTINGS = FeatureSettings(families=("intensity_stats", "morphology", "glcm"))


@pytest.fixture()
def folder(tmp_path):
    """Three patients; p2's ROI is one voxel (GLCM and the PCA axes are undefined for it)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(3):
        img = sitk.GetImageFromArray(rng.normal(100, 20, (10, 14, 14)).round().astype(np.int16))
        img.SetSpacing((1.0, 1.0, 2.0))
        arr = np.zeros((10, 14, 14), np.uint8)
        if i == 2:
            arr[5, 7, 7] = 1
        else:
            arr[3:7, 4:10, 4:10] = 1
        mask = sitk.GetImageFromArray(arr)
        mask.CopyInformation(img)
        sitk.WriteImage(img, str(tmp_path / f"img{i}.nii.gz"))
        sitk.WriteImage(mask, str(tmp_path / f"mask{i}.nii.gz"))
        rows.append({"patient_id": f"p{i}", "image": f"img{i}.nii.gz", "mask": f"mask{i}.nii.gz"})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    return tmp_path


def _undefined_cells_are_listed(res: ExtractionResult) -> None:
    """Every missing cell of the table has a row in ``undefined`` (itself or its family)."""
    from radiopredict.features.extract import _family_of

    listed = {(r[0], r[4]) for r in res.undefined.itertuples(index=False)}
    for key, row in res.features.isna().iterrows():
        for col in res.features.columns[row.to_numpy()]:
            assert (key[0], col) in listed or (key[0], _family_of(col)) in listed, (key, col)


def test_features_not_computed_are_in_the_undefined_table(folder, tmp_path):
    res = extract(Cohort.read(folder / "manifest.csv"), SETTINGS, progress=False)
    assert list(res.undefined.columns) == UNDEFINED_COLUMNS
    assert len(res.failures) == 0 and len(res.features) == 3
    undef = res.undefined
    assert set(undef["patient_id"]) == {"p2"}
    assert {"glcm", "morph_pca_elongation"} <= set(undef["feature"])
    assert undef.loc[undef["feature"] == "glcm", "reason"].str.contains("GLCM").all()
    assert res.provenance["n_undefined"] == len(undef)
    # the table holds no value for them, and every missing cell is explained
    assert np.isnan(res.features.loc[("p2", "default", "baseline", "all"), "morph_pca_elongation"])
    assert res.features.loc[("p0", "default", "baseline", "all")].notna().all()
    _undefined_cells_are_listed(res)
    # kept through Parquet
    back = ExtractionResult.read_parquet(res.to_parquet(tmp_path / "f.parquet"))
    pd.testing.assert_frame_equal(back.undefined, undef.astype(object), check_dtype=False)


def test_undefined_features_survive_the_cache(folder, tmp_path):
    cohort = Cohort.read(folder / "manifest.csv")
    first = extract(cohort, SETTINGS, cache_dir=tmp_path / "cache", progress=False)
    again = extract(cohort, SETTINGS, cache_dir=tmp_path / "cache", progress=False)
    assert again.provenance["n_from_cache"] == 3
    pd.testing.assert_frame_equal(again.undefined, first.undefined)


class _NaNEngine:
    """A user-supplied engine whose library returns NaN for one feature (as pyradiomics does)."""

    name, version = "nan-engine", "1"

    def config(self):
        return {"engine": self.name}

    def compute(self, image, items):
        return [{"mean": 1.0, "odd": float("nan"), "big": float("inf")} for _ in items]


def test_non_finite_values_of_an_engine_are_reported_never_kept(folder):
    res = extract(Cohort.read(folder / "manifest.csv"), engine=_NaNEngine(), progress=False)
    assert list(res.features.columns) == ["mean"]
    assert len(res.undefined) == 6
    assert set(res.undefined["feature"]) == {"odd", "big"}
    assert res.undefined["reason"].str.contains("not finite").all()


def test_duplicate_case_keys_are_refused_by_extract(folder):
    table = pd.read_csv(folder / "manifest.csv")
    table = pd.concat([table, table.iloc[[1]]], ignore_index=True)
    cohort = Cohort.from_dataframe(table, root=folder)
    assert (cohort.validate(check_files=False)["problem"].str.contains("duplicate")).any()
    with pytest.raises(ManifestError, match="duplicate case key.*'p1'"):
        extract(cohort, SETTINGS, progress=False)


def test_no_case_is_an_error(folder):
    with pytest.raises(ManifestError, match="no case"):
        extract([], SETTINGS, progress=False)


def test_cache_location_checked_before_work(folder, tmp_path):
    cohort = Cohort.read(folder / "manifest.csv")
    a_file = tmp_path / "cache.txt"
    a_file.write_text("not a folder")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        extract(cohort, SETTINGS, cache_dir=a_file, progress=False)
    with pytest.raises(OutputPathError, match="cannot be written"):
        extract(cohort, SETTINGS, cache_dir=a_file / "sub", progress=False)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders"
)
def test_read_only_cache_checked_before_work(folder, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputPathError, match="cannot be written"):
            extract(Cohort.read(folder / "manifest.csv"), SETTINGS, cache_dir=ro, progress=False)
    finally:
        ro.chmod(0o755)


def test_a_cache_that_fails_mid_run_keeps_the_results(folder, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for i in range(256):  # every entry's sub-folder is taken by a file: each write fails
        (cache / f"{i:02x}").write_text("")
    with pytest.warns(UserWarning, match="could not be written to the cache"):
        res = extract(Cohort.read(folder / "manifest.csv"), SETTINGS, cache_dir=cache)
    assert len(res.features) == 3 and len(res.failures) == 0
    assert res.provenance["n_cache_errors"] == 3


def test_leftover_temporary_files_are_cleaned_and_never_counted(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    cache.put("ab" + "0" * 62, {"x": 1.0}, {})
    sub = tmp_path / "cache" / "ab"
    stale, fresh = sub / ".tmp-old.json", sub / ".tmp-new.json"
    stale.write_text('{"features": {"x": 1')  # an interrupted write
    fresh.write_text("{")  # another process writing now
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert len(cache) == 1
    assert cache.clean() == 1
    assert not stale.exists() and fresh.exists()
    assert len(cache) == 1


def test_extract_cleans_leftover_temporary_files(folder, tmp_path):
    cache = tmp_path / "cache"
    (cache / "00").mkdir(parents=True)
    stale = cache / "00" / ".tmp-killed.json"
    stale.write_text('{"features": {"x"')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    extract(Cohort.read(folder / "manifest.csv"), SETTINGS, cache_dir=cache, progress=False)
    assert not stale.exists()
    assert len(FeatureCache(cache)) == 3


def test_damaged_cache_entry_is_recomputed(folder, tmp_path):
    cohort = Cohort.read(folder / "manifest.csv")
    first = extract(cohort, SETTINGS, cache_dir=tmp_path / "c", progress=False)
    for entry in (tmp_path / "c").glob("*/*.json"):
        entry.write_text('{"features": [1, 2')  # cut short
    again = extract(cohort, SETTINGS, cache_dir=tmp_path / "c", progress=False)
    assert again.provenance["n_from_cache"] == 0
    pd.testing.assert_frame_equal(again.features, first.features)


def test_final_write_failure_keeps_the_table_in_a_partial_file(folder, tmp_path, monkeypatch):
    from radiopredict._outputs import write_or_keep

    res = extract(Cohort.read(folder / "manifest.csv"), SETTINGS, progress=False)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output's folder should be")
    monkeypatch.chdir(tmp_path)
    path, error = write_or_keep(res.to_parquet, blocker / "features.parquet", "feature table")
    assert isinstance(error, OutputPathError)
    assert path.parent == tmp_path and path.name.startswith("features.partial-")
    pd.testing.assert_frame_equal(ExtractionResult.read_parquet(path).features, res.features)


def test_to_parquet_on_a_folder_is_an_output_error(folder, tmp_path):
    res = extract(Cohort.read(folder / "manifest.csv"), SETTINGS, progress=False)
    with pytest.raises(OutputPathError, match="existing folder"):
        res.to_parquet(tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))


# -- the CLI ---------------------------------------------------------------------------------


def _settings_yaml(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("families: [intensity_stats, morphology, glcm]\n")
    return path


def test_cli_checks_the_output_before_the_work(folder, tmp_path):
    from radiopredict.features.cli import app

    result = CliRunner().invoke(
        app,
        [str(folder / "manifest.csv"), "-s", str(_settings_yaml(tmp_path)), "-o", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "existing folder" in result.output and "features.parquet" in result.output


def test_cli_summary_lists_undefined_features(folder, tmp_path):
    from radiopredict.features.cli import app

    out = tmp_path / "out" / "f.parquet"
    result = CliRunner().invoke(
        app,
        [
            str(folder / "manifest.csv"),
            "-s",
            str(_settings_yaml(tmp_path)),
            "-o",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pair(s) not computed" in result.output
    assert "morph_pca_elongation" in result.output and "p2" in result.output
    assert len(ExtractionResult.read_parquet(out).undefined) > 0


def test_cli_on_an_empty_manifest_fails(folder, tmp_path):
    from radiopredict.features.cli import app

    empty = tmp_path / "empty.csv"
    empty.write_text("patient_id,image,mask\n")
    result = CliRunner().invoke(app, [str(empty), "-o", str(tmp_path / "f.parquet")])
    assert result.exit_code == 2 and "no rows" in result.output


def test_cli_refuses_an_output_that_is_not_parquet(folder, tmp_path):
    from radiopredict.features.cli import app

    out = tmp_path / "features.csv"
    result = CliRunner().invoke(app, [str(folder / "manifest.csv"), "-o", str(out)])
    assert result.exit_code == 2
    assert "features.parquet" in result.output and not out.exists()
