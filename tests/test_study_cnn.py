"""A response study with the supervised CNN: the ablation runs inside `run_study`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from radiopredict.errors import ConfigError


def test_cnn_section_is_validated() -> None:
    from radiopredict.study import Study

    with pytest.raises(ConfigError, match="cnn.enabled needs task: response"):
        Study.from_dict({"manifest": "m.csv", "cnn": {"enabled": True}})
    with pytest.raises(ConfigError, match="cnn.mode must be 3d or 2.5d"):
        Study.from_dict({"manifest": "m.csv", "task": "response", "cnn": {"mode": "2d"}})
    with pytest.raises(ConfigError, match="cnn.size = 'big'"):
        Study.from_dict({"manifest": "m.csv", "task": "response", "cnn": {"size": "big"}})


@pytest.mark.slow
def test_response_study_with_cnn_writes_the_ablation(tmp_path: Path) -> None:
    from radiopredict import make_synthetic_cohort
    from radiopredict.study import Study

    make_synthetic_cohort(tmp_path / "cohort", n_patients=40, seed=2, diagnosis=True)
    study = Study.from_dict(
        {
            "manifest": str(tmp_path / "cohort" / "manifest_diagnosis.csv"),
            "output": str(tmp_path / "out"),
            "task": "response",
            "features": {"settings": "ct", "label": 1},
            "cnn": {"enabled": True, "size": 16, "crop_mm": 40, "epochs": 2, "inner_cv": 2},
            "embeddings": {"enabled": True, "epochs": 1, "n_components": 2},
            "model": {"estimator": "logistic", "cv_splits": 3, "cv_repeats": 1, "n_bootstrap": 50},
            "report": {"n_patients": 1},
        }
    )
    outputs = study.run()
    table = pd.read_csv(outputs["ablation"])
    assert set(table["model"]) == {
        "clinical",
        "radiomics",
        "radiomics+clinical",
        "embeddings",
        "embeddings+radiomics+clinical",
        "cnn",
        "cnn+clinical",
        "all (late)",
        "all (intermediate)",
    }
    assert table["auc"].between(0, 1).all()
    ref = table.set_index("model").loc["radiomics+clinical", "diff_vs_reference"]
    assert ref == 0
    html = outputs["report"].read_text()
    assert "Ablation" in html and "synthetic data" in html
