"""ClinicalPreprocessor: imputation, one-hot, scaling, passthrough, folds, bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from radiopredict.errors import ConfigError, FeatureTableError
from radiopredict.preprocess import ClinicalPreprocessor


@parametrize_with_checks([ClinicalPreprocessor()])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def _frame():
    return pd.DataFrame(
        {
            "rad__f0": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "clin__age": [50.0, np.nan, 70.0, 60.0, 80.0, 40.0],
            "clin__sex": ["F", "M", None, "F", "F", "M"],
            "clin__stage": [1, 2, 2, 3, 4, 2],
            "clin__smoker": [True, False, True, True, False, False],
            "batch": list("AABBAB"),
        },
        index=[f"P{i}" for i in range(6)],
    )


def test_impute_encode_scale_and_pass_through():
    X = _frame()
    pre = ClinicalPreprocessor(categorical=["clin__stage"])
    out = pre.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == list(X.index)
    assert pre.numeric_ == ["clin__age"]
    assert pre.categorical_ == ["clin__sex", "clin__stage", "clin__smoker"]
    # median of the observed ages (60) imputed, then z-scored with the training mean / SD
    age = np.array([50, 60, 70, 60, 80, 40.0])
    np.testing.assert_allclose(out["clin__age"], (age - age.mean()) / age.std())
    # most frequent sex (F) imputed, one column per level
    assert out["clin__sex_F"].tolist() == [1, 0, 1, 1, 1, 0]
    assert [c for c in out if c.startswith("clin__stage_")] == [
        "clin__stage_1",
        "clin__stage_2",
        "clin__stage_3",
        "clin__stage_4",
    ]
    assert {"clin__smoker_False", "clin__smoker_True"} <= set(out.columns)
    # radiomics and batch pass through unchanged, after the clinical columns
    assert list(out.columns[-2:]) == ["rad__f0", "batch"]
    pd.testing.assert_series_equal(out["rad__f0"], X["rad__f0"])
    assert list(pre.get_feature_names_out()) == list(out.columns)
    pd.testing.assert_frame_equal(pre.transform(X), out)


def test_options_constant_fill_indicator_drop_and_no_scaling():
    X = _frame()
    pre = ClinicalPreprocessor(
        categorical_strategy="constant", add_indicator=True, drop="if_binary", scale=False
    ).fit(X)
    out = pre.transform(X)
    assert "clin__sex_missing" in out and out.loc["P2", "clin__sex_missing"] == 1
    assert "missingindicator_clin__age" in out
    assert out.loc["P1", "clin__age"] == 60.0  # median, unscaled
    assert "clin__smoker_True" in out and "clin__smoker_False" not in out


def test_unknown_level_at_transform_is_all_zero_and_fit_uses_only_training_rows():
    X = _frame()
    pre = ClinicalPreprocessor().fit(X.iloc[:4])
    assert pre.transformer_.named_transformers_["numeric"]["impute"].statistics_[0] == 60.0
    new = X.iloc[4:].copy()
    new["clin__sex"] = ["U", "F"]
    out = pre.transform(new)
    assert out.loc["P4", ["clin__sex_F", "clin__sex_M"]].tolist() == [0, 0]
    # stage 4 never seen in the first four rows: no column for it
    assert "clin__stage_4" not in out


def test_all_columns_when_no_clinical_group_and_numpy_input():
    X = pd.DataFrame({"age": [1.0, 2.0, np.nan], "grade": ["a", "b", "a"]})
    out = ClinicalPreprocessor().fit_transform(X)
    assert list(out.columns) == ["age", "grade_a", "grade_b"]
    arr = ClinicalPreprocessor().fit_transform(np.array([[1.0, 2.0], [np.nan, 4.0], [3.0, 8.0]]))
    assert isinstance(arr, np.ndarray) and np.isfinite(arr.astype(float)).all()


def test_in_pipeline_with_grid_search_and_clone():
    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame(
        {
            "clin__age": np.where(rng.random(n) < 0.1, np.nan, rng.normal(60, 10, n)),
            "clin__sex": rng.choice(["F", "M"], n),
        }
    )
    y = (X["clin__sex"] == "M").to_numpy(dtype=int)
    pipe = make_pipeline(ClinicalPreprocessor(), LogisticRegression())
    grid = GridSearchCV(pipe, {"clinicalpreprocessor__scale": [True, False]}, cv=3).fit(X, y)
    assert grid.best_score_ == 1.0
    assert clone(ClinicalPreprocessor(categorical=("clin__x",))).categorical == ("clin__x",)


def test_bad_inputs():
    X = _frame()
    with pytest.raises(ConfigError, match=r"categorical column\(s\) \['clin__grade'\]"):
        ClinicalPreprocessor(categorical=["clin__grade"]).fit(X)
    empty = X.assign(clin__bmi=np.nan)
    with pytest.raises(FeatureTableError, match=r"\['clin__bmi'\] have no value"):
        ClinicalPreprocessor().fit(empty)
    inf = X.assign(clin__age=[1.0, np.inf, 2, 3, 4, 5])
    with pytest.raises(FeatureTableError, match="'clin__age' has infinite values"):
        ClinicalPreprocessor().fit(inf)
    fitted = ClinicalPreprocessor().fit(X)
    with pytest.raises(ConfigError, match=r"missing: \['clin__sex'\]"):
        fitted.transform(X.drop(columns=["clin__sex"]))
    with pytest.raises(ConfigError, match="neither a column group"):
        ClinicalPreprocessor(columns=["clin__nope"]).fit(X)
