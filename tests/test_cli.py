"""The command-line interface, run in-process with typer's runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from typer.testing import CliRunner

from radiopredict import __version__
from radiopredict.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_validate_reports_problems_and_exit_code(tmp_path: Path) -> None:
    img = sitk.GetImageFromArray(np.zeros((4, 8, 8), np.int16))
    sitk.WriteImage(img, str(tmp_path / "img.nii.gz"))
    m = np.zeros((4, 8, 8), np.uint8)
    m[1:3, 2:5, 2:5] = 1
    sitk.WriteImage(sitk.GetImageFromArray(m), str(tmp_path / "mask.nii.gz"))
    good = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "image": ["img.nii.gz"] * 2,
            "mask": ["mask.nii.gz"] * 2,
            "time": [1.0, 2.0],
            "event": [1, 0],
        }
    )
    good.to_csv(tmp_path / "good.csv", index=False)
    result = runner.invoke(app, ["validate", str(tmp_path / "good.csv")])
    assert result.exit_code == 0, result.output
    assert "no problems found" in " ".join(result.output.split())

    bad = good.assign(event=[1, 7], image=["img.nii.gz", "gone.nii.gz"])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    result = runner.invoke(
        app, ["validate", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 1
    table = pd.read_csv(tmp_path / "p.csv")
    assert set(table["column"]) == {"event", "image"}


def test_validate_missing_manifest(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.csv")])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def _one_case(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    img = sitk.GetImageFromArray(rng.normal(0, 50, (6, 10, 10)).astype(np.int16))
    sitk.WriteImage(img, str(tmp_path / "img.nii.gz"))
    m = np.zeros((6, 10, 10), np.uint8)
    m[1:4, 2:6, 2:6] = 1
    sitk.WriteImage(sitk.GetImageFromArray(m), str(tmp_path / "mask.nii.gz"))
    path = tmp_path / "m.csv"
    pd.DataFrame({"patient_id": ["007"], "image": ["img.nii.gz"], "mask": ["mask.nii.gz"]}).to_csv(
        path, index=False
    )
    return path


def test_validate_finds_a_truncated_image_and_names_it(tmp_path: Path) -> None:
    manifest = _one_case(tmp_path)
    data = (tmp_path / "img.nii.gz").read_bytes()
    (tmp_path / "img.nii.gz").write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["validate", str(manifest)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "007" in text and "incomplete" in text


def test_validate_out_on_a_folder_fails_before_reading(tmp_path: Path) -> None:
    manifest = _one_case(tmp_path)
    result = runner.invoke(app, ["validate", str(manifest), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "existing folder" in " ".join(result.output.split())


def test_validate_empty_manifest_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("patient_id,image,mask\n")
    result = runner.invoke(app, ["validate", str(tmp_path / "m.csv")])
    assert result.exit_code == 1
    assert "no rows" in " ".join(result.output.split())
