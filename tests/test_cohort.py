"""Cohort manifests: loading, targets and one test per kind of manifest problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiopredict import Cohort
from radiopredict.errors import ManifestError, TargetError


def _write(arr: np.ndarray, path: Path, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)) -> Path:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(path))
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(4):
        _write(rng.normal(0, 10, (8, 16, 16)).astype(np.int16), tmp_path / f"img{i}.nii.gz")
        m = np.zeros((8, 16, 16), np.uint8)
        m[2:6, 4:10, 4:10] = 1
        m[3:5, 6:8, 6:8] = 2
        _write(m, tmp_path / f"mask{i}.nii.gz")
    return tmp_path


def _good_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ["p0", "p1", "p2", "p3"],
            "image": [f"img{i}.nii.gz" for i in range(4)],
            "mask": [f"mask{i}.nii.gz" for i in range(4)],
            "label": [1, 1, 1, 1],
            "time": [10.0, 20.0, 5.5, 30.0],
            "event": [1, 0, 1, 0],
            "response": [1, 0, 0, 1],
            "treatment": ["A", "B", "A", "B"],
            "batch": ["s1", "s1", "s2", "s2"],
            "age": [60, 70, 55, 65],
            "stage": ["II", "III", "I", "IV"],
        }
    )


def _problems(table: pd.DataFrame, root: Path, **kw) -> pd.DataFrame:
    return Cohort.from_dataframe(table, root=root).validate(**kw)


def test_good_manifest_has_no_problem_and_gives_targets(folder: Path) -> None:
    table = _good_table()
    table.to_csv(folder / "manifest.csv", index=False)
    cohort = Cohort.read(folder / "manifest.csv")
    assert cohort.validate().empty
    assert cohort.patient_ids == ["p0", "p1", "p2", "p3"]
    y = cohort.survival_target()
    assert y.dtype.names == ("event", "time")
    np.testing.assert_array_equal(y["event"], [True, False, True, False])
    np.testing.assert_allclose(y["time"], [10.0, 20.0, 5.5, 30.0])
    np.testing.assert_array_equal(cohort.binary_target(), [1, 0, 0, 1])
    assert list(cohort.clinical().columns) == ["age", "stage"]
    assert cohort.treatment().tolist() == ["A", "B", "A", "B"]
    case = cohort.cases()[0]
    assert case.image == (folder / "img0.nii.gz").resolve()
    assert case.key == ("p0", "default", "baseline", 1)


def test_parquet_manifest_and_patient_table(folder: Path) -> None:
    table = _good_table()
    cases = table[["patient_id", "image", "mask", "label"]]
    patients = table.drop(columns=["image", "mask", "label"])
    cases.to_parquet(folder / "cases.parquet")
    patients.to_csv(folder / "patients.csv", index=False)
    cohort = Cohort.read(folder / "cases.parquet", patients=folder / "patients.csv")
    assert cohort.validate().empty
    assert cohort.survival_target()["time"].tolist() == [10.0, 20.0, 5.5, 30.0]


def test_several_rows_per_patient_are_one_patient(folder: Path) -> None:
    table = _good_table()
    extra = table.iloc[[0]].assign(label=2)
    cohort = Cohort.from_dataframe(pd.concat([table, extra]), root=folder)
    assert cohort.validate().empty
    assert len(cohort) == 5 and len(cohort.patient_ids) == 4
    assert len(cohort.survival_target()) == 4


def test_missing_required_column_raises_with_table(folder: Path) -> None:
    with pytest.raises(ManifestError, match="patient_id") as info:
        Cohort.from_dataframe(_good_table().drop(columns=["patient_id"]), root=folder)
    assert list(info.value.problems["column"]) == ["patient_id"]


def test_missing_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="manifest file does not exist"):
        Cohort.read(tmp_path / "nope.csv")


def test_unsupported_manifest_format(tmp_path: Path) -> None:
    (tmp_path / "m.xlsx").write_text("x")
    with pytest.raises(ManifestError, match="unsupported manifest format"):
        Cohort.read(tmp_path / "m.xlsx")


@pytest.mark.parametrize(
    ("change", "column", "fragment"),
    [
        (lambda t: t.assign(patient_id=["p0", None, "p2", "p3"]), "patient_id", "no patient_id"),
        (lambda t: t.assign(patient_id=["p0", "p0", "p2", "p3"]), "patient_id", "duplicate case"),
        (lambda t: t.assign(time=[10.0, -1.0, 5.5, 30.0]), "time", "negative time"),
        (lambda t: t.assign(time=[10.0, None, 5.5, 30.0]), "time", "missing follow-up time"),
        (lambda t: t.assign(time=["10", "abc", "5", "3"]), "time", "not a number"),
        (lambda t: t.assign(event=[1, 2, 0, 1]), "event", "not 0/1"),
        (lambda t: t.assign(event=[1, None, 0, 1]), "event", "missing event"),
        (lambda t: t.assign(response=[1, 0, 3, 1]), "response", "not binary"),
        (lambda t: t.assign(response=[1, 1, 1, 1]), "response", "every patient has response"),
        (lambda t: t.assign(treatment=["A"] * 4), "treatment", "every patient has treatment"),
        (lambda t: t.assign(treatment=["A", None, "B", "A"]), "treatment", "missing treatment"),
        (lambda t: t.assign(batch=["s1", None, "s2", "s2"]), "batch", "missing batch"),
        (lambda t: t.drop(columns=["event"]), "event", "no 'event' column"),
        (lambda t: t.drop(columns=["time"]), "time", "no 'time' column"),
    ],
)
def test_each_table_problem_is_reported(folder, change, column, fragment) -> None:
    problems = _problems(change(_good_table()), folder, check_files=False)
    hits = problems[(problems["column"] == column) & problems["problem"].str.contains(fragment)]
    assert len(hits) == 1, problems
    assert hits["fix"].str.len().gt(0).all()


def test_patient_level_disagreement(folder: Path) -> None:
    table = _good_table()
    extra = table.iloc[[0]].assign(label=2, age=99)
    problems = _problems(pd.concat([table, extra]), folder, check_files=False)
    row = problems[problems["column"] == "age"]
    assert len(row) == 1 and row["patient_id"].iloc[0] == "p0"


def test_missing_image_and_mask_files(folder: Path) -> None:
    table = _good_table()
    table.loc[1, "image"] = "missing.nii.gz"
    table.loc[2, "mask"] = "missing_mask.nii.gz"
    problems = _problems(table, folder)
    assert set(zip(problems["patient_id"], problems["column"])) == {("p1", "image"), ("p2", "mask")}
    assert problems["problem"].str.contains("does not exist").all()


def test_unreadable_image(folder: Path) -> None:
    (folder / "broken.nii.gz").write_bytes(b"not an image")
    table = _good_table()
    table.loc[0, "image"] = "broken.nii.gz"
    problems = _problems(table, folder)
    assert problems[["patient_id", "column"]].values.tolist() == [["p0", "image"]]


def test_geometry_mismatch(folder: Path) -> None:
    m = np.zeros((8, 16, 16), np.uint8)
    m[2:6, 4:10, 4:10] = 1
    _write(m, folder / "shifted.nii.gz", origin=(5.0, 0.0, 0.0))
    table = _good_table()
    table.loc[3, "mask"] = "shifted.nii.gz"
    problems = _problems(table, folder)
    assert problems[["patient_id", "column"]].values.tolist() == [["p3", "mask"]]
    assert "geometry" in problems["problem"].iloc[0]


def test_empty_mask_and_absent_label(folder: Path) -> None:
    _write(np.zeros((8, 16, 16), np.uint8), folder / "empty.nii.gz")
    table = _good_table()
    table.loc[0, "mask"] = "empty.nii.gz"
    table.loc[0, "label"] = None
    table.loc[1, "label"] = 7
    problems = _problems(table, folder)
    got = {(r.patient_id, r.column) for r in problems.itertuples()}
    assert got == {("p0", "mask"), ("p1", "label")}


def test_several_problems_are_all_reported(folder: Path) -> None:
    table = _good_table()
    table.loc[0, "image"] = "missing.nii.gz"
    table.loc[1, "event"] = 5
    table.loc[2, "time"] = -3
    table.loc[3, "label"] = 9
    problems = _problems(table, folder)
    assert {(r.patient_id, r.column) for r in problems.itertuples()} == {
        ("p0", "image"),
        ("p1", "event"),
        ("p2", "time"),
        ("p3", "label"),
    }
    with pytest.raises(ManifestError, match="4 problem") as info:
        Cohort.from_dataframe(table, root=folder).check()
    assert len(info.value.problems) == 4


def test_targets_raise_clear_errors(folder: Path) -> None:
    cohort = Cohort.from_dataframe(_good_table().drop(columns=["response"]), root=folder)
    with pytest.raises(ManifestError, match="no 'response' column"):
        cohort.binary_target()
    bad = Cohort.from_dataframe(_good_table().assign(time=[1, -2, 3, 4]), root=folder)
    with pytest.raises(TargetError, match="p1") as info:
        bad.survival_target()
    assert "p1" in info.value.problem and info.value.fix, "the error names the patient and a fix"
    assert "p0" not in info.value.problem and "p2" not in info.value.problem


def test_with_masks_and_subset(folder: Path) -> None:
    cohort = Cohort.from_dataframe(_good_table(), root=folder)
    new = cohort.with_masks({"p0": "mask3.nii.gz"})
    assert new.cases()[0].mask == (folder / "mask3.nii.gz").resolve()
    assert cohort.cases()[0].mask == (folder / "mask0.nii.gz").resolve()
    with pytest.raises(ManifestError, match="not in the cohort"):
        cohort.with_masks({"zz": "mask3.nii.gz"})
    sub = cohort.subset(["p2", "p0"])
    assert sub.patient_ids == ["p0", "p2"]
    with pytest.raises(ManifestError, match="unknown patient"):
        cohort.subset(["nobody"])


# -- bad tables a user hands us (issue 14) ---------------------------------------------------


def test_patient_ids_are_text_leading_zeros_kept(folder: Path) -> None:
    table = _good_table().assign(patient_id=["0001", "01", "1", "007"])
    table.to_csv(folder / "manifest.csv", index=False)
    cohort = Cohort.read(folder / "manifest.csv")
    assert cohort.patient_ids == ["0001", "01", "1", "007"]
    assert cohort.validate(check_files=False).empty  # '01' and '1' do not collide
    pts = pd.DataFrame({"patient_id": ["0001", "01", "1", "007"], "site": list("abcd")})
    pts.to_csv(folder / "patients.csv", index=False)
    merged = Cohort.read(folder / "manifest.csv", patients=folder / "patients.csv")
    assert merged.patients.loc["0001", "site"] == "a" and merged.patients.loc["1", "site"] == "c"


def test_float_ids_from_a_dataframe_lose_no_text(folder: Path) -> None:
    table = _good_table().assign(patient_id=[1.0, 2.0, 3.0, 4.0])
    assert Cohort.from_dataframe(table, root=folder).patient_ids == ["1", "2", "3", "4"]


def test_empty_manifest_is_an_error(folder: Path) -> None:
    _good_table().iloc[:0].to_csv(folder / "header_only.csv", index=False)
    with pytest.raises(ManifestError, match="no rows"):
        Cohort.read(folder / "header_only.csv")
    (folder / "blank.csv").write_text("")
    with pytest.raises(ManifestError, match="empty"):
        Cohort.read(folder / "blank.csv")


def test_semicolon_separated_manifest_is_explained(folder: Path) -> None:
    _good_table().to_csv(folder / "excel.csv", index=False, sep=";")
    with pytest.raises(ManifestError, match="separated by another character"):
        Cohort.read(folder / "excel.csv")


def test_byte_order_mark_in_header_is_ignored(folder: Path) -> None:
    _good_table().to_csv(folder / "bom.csv", index=False, encoding="utf-8-sig")
    assert Cohort.read(folder / "bom.csv").patient_ids == ["p0", "p1", "p2", "p3"]


def test_numeric_clinical_column_with_a_few_text_values(folder: Path) -> None:
    table = pd.concat([_good_table()] * 3, ignore_index=True)
    table["patient_id"] = [f"p{i}" for i in range(len(table))]
    table["age"] = table["age"].astype(object)
    table.loc[4, "age"] = "unknown"
    table.loc[7, "age"] = "n/a"
    problems = _problems(table, folder, check_files=False)
    rows = problems[problems["column"] == "age"]
    assert sorted(rows["patient_id"]) == ["p4", "p7"]
    assert rows["problem"].str.contains("'unknown'").any()
    assert rows["problem"].str.contains("'n/a'").any()
    # a text column (stage) is categories, not reported
    assert not (problems["column"] == "stage").any()


def test_truncated_mask_is_reported_as_truncated_in_validate(folder: Path) -> None:
    path = folder / "mask1.nii.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    problems = _problems(_good_table(), folder)
    row = problems[(problems["patient_id"] == "p1")]
    assert len(row) == 1 and row["column"].iloc[0] == "mask"
    assert "incomplete" in row["problem"].iloc[0]
    assert "empty" not in row["problem"].iloc[0]


def test_swapped_image_and_mask_columns_are_named(folder: Path) -> None:
    table = _good_table()
    table.loc[2, ["image", "mask"]] = table.loc[2, ["mask", "image"]].to_numpy()
    problems = _problems(table, folder)
    row = problems[problems["patient_id"] == "p2"]
    assert row["problem"].str.contains("negative values").any()
    assert row["fix"].str.contains("swapped").any()


def test_manifest_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="is a folder"):
        Cohort.read(tmp_path)
