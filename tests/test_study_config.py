"""Study settings are validated up front; unknown keys name the closest valid key."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiopredict.errors import ConfigError
from radiopredict.study import Study


def test_yaml_round_trip_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text(
        "manifest: cohort/manifest.csv\noutput: out\nhorizon: 24\n"
        "features: {engine: native, settings: ct}\nmodel: {cv_splits: 3}\n"
    )
    study = Study.from_yaml(tmp_path / "study.yaml")
    assert Path(study.manifest) == tmp_path.resolve() / "cohort" / "manifest.csv"
    assert study.model.cv_splits == 3 and study.model.cv_repeats == 2
    assert study.to_dict()["features"]["engine"] == "native"


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ({"manifest": "m.csv", "horizn": 3}, "did you mean 'horizon'"),
        ({"manifest": "m.csv", "model": {"cv_split": 3}}, "did you mean 'cv_splits'"),
        ({"manifest": "m.csv", "treatment": {"lerner": "t"}}, "did you mean 'learner'"),
        ({"manifest": "m.csv", "task": "classification"}, "task must be"),
        ({"manifest": "m.csv", "horizon": -1}, "horizon must be"),
        ({"manifest": "m.csv", "features": {"engine": "mirp"}}, "features.engine"),
        ({"manifest": "m.csv", "model": {"cv_splits": 1}}, "cv_splits"),
        ({"output": "x"}, "no 'manifest'"),
    ],
)
def test_bad_settings_are_rejected(mapping, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Study.from_dict(mapping)


def test_bad_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Study.from_yaml(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        Study.from_yaml(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("manifest: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        Study.from_yaml(tmp_path / "broken.yaml")
