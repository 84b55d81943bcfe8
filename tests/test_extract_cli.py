"""``radiopredict extract`` command (mounted by the main CLI; tested here on its own app)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("radiomics")

from radiopredict.features.cli import app  # noqa: E402
from radiopredict.features.extract import ExtractionResult  # noqa: E402

PARAMS = "imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\nsetting:\n  binWidth: 25\n"


def _manifest(shared_data, tmp_path, extra=()):
    root = shared_data / "pyradiomics-cases"
    rows = [
        {
            "patient_id": "breast1",
            "image": str(root / "breast1_image.nrrd"),
            "mask": str(root / "breast1_label.nrrd"),
            "label": 1,
        },
        *extra,
    ]
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_cli_extract_pyradiomics_writes_parquet(shared_data, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    bad = {
        "patient_id": "ghost",
        "image": str(tmp_path / "none.nrrd"),
        "mask": str(tmp_path / "none.nrrd"),
        "label": 1,
    }
    out = tmp_path / "f.parquet"
    result = CliRunner().invoke(
        app,
        [
            str(_manifest(shared_data, tmp_path, [bad])),
            "--settings",
            str(params),
            "--engine",
            "pyradiomics",
            "--out",
            str(out),
            "--no-progress",
            "--cache-dir",
            str(tmp_path / "c"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 failed" in result.output and "ghost" in result.output
    back = ExtractionResult.read_parquet(out)
    assert back.features.shape[0] == 1 and "original_firstorder_Mean" in back.features
    assert back.failures["patient_id"].tolist() == ["ghost"]


def test_cli_bad_engine_exits_with_message(shared_data, tmp_path):
    result = CliRunner().invoke(
        app, [str(_manifest(shared_data, tmp_path)), "--engine", "mirp", "--no-progress"]
    )
    assert result.exit_code == 2
    assert "unknown engine" in result.output
