"""SHAP explanations: local accuracy for each method, group shares, readable names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.errors import ConfigError
from radiopredict.explain import explain, group_shares, readable_name


@pytest.fixture()
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        rng.normal(size=(120, 4)),
        columns=[
            "rad__tumour__morph_volume",
            "rad__tumour__stat_mean",
            "emb__emb_000",
            "clin__age",
        ],
        index=[f"p{i}" for i in range(120)],
    )
    logit = 1.5 * X.iloc[:, 0] - X.iloc[:, 3]
    y = (logit + rng.normal(size=120) > 0).astype(int)
    return X, y


def test_treeshap_sums_to_xgboost_margin(data) -> None:
    X, y = data
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    ex = explain(model, X)
    assert ex.method == "tree" and ex.output == "log-odds"
    margin = model.predict(X, output_margin=True)
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.base_value, margin, atol=1e-4)


def test_treeshap_on_xgboost_cox_is_log_hazard(data) -> None:
    X, _ = data
    rng = np.random.default_rng(1)
    time = rng.exponential(np.exp(-X.iloc[:, 0].to_numpy()))
    label = np.where(rng.uniform(size=len(X)) < 0.8, time, -time)  # xgboost: negative = censored
    booster = xgb.train(
        {"objective": "survival:cox", "max_depth": 2}, xgb.DMatrix(X, label=label), 15
    )
    reg = xgb.XGBRegressor()
    reg._Booster = booster
    ex = explain(reg, X)
    assert ex.output == "log-hazard"
    margin = booster.predict(xgb.DMatrix(X), output_margin=True)
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.base_value, margin, atol=1e-4)


def test_linear_shap_in_pipeline_is_exact(data) -> None:
    X, y = data
    model = make_pipeline(
        StandardScaler().set_output(transform="pandas"), LogisticRegression()
    ).fit(X, y)
    ex = explain(model, X)
    assert ex.method == "linear" and ex.output == "log-odds"
    np.testing.assert_allclose(
        ex.values.sum(axis=1) + ex.base_value, model.decision_function(X), atol=1e-10
    )
    assert list(ex.values.columns) == list(X.columns)


def test_permutation_fallback_local_accuracy(data) -> None:
    X, y = data
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    ex = explain(model, X.iloc[:20], background=X.iloc[:40])
    assert ex.method == "permutation"
    np.testing.assert_allclose(
        ex.values.sum(axis=1) + ex.base_value, model.predict(X.iloc[:20]), atol=1e-6
    )


def test_permutation_explains_a_classifiers_probability(data) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    ex = explain(model, X.iloc[:20], background=X.iloc[:40])
    assert ex.method == "permutation" and ex.output == "probability of the outcome"
    np.testing.assert_allclose(
        ex.values.sum(axis=1) + ex.base_value, model.predict_proba(X.iloc[:20])[:, 1], atol=1e-6
    )


def test_group_shares_and_patient_view(data) -> None:
    X, y = data
    ex = explain(xgb.XGBClassifier(n_estimators=10).fit(X, y), X)
    per_patient, glob = group_shares(ex)
    assert set(glob.index) == {"radiomics", "embedding", "clinical"}
    np.testing.assert_allclose(per_patient.sum(axis=1), 1.0)
    assert glob.sum() == pytest.approx(1.0)
    assert glob["radiomics"] > glob["embedding"]  # the outcome depends on a radiomic feature
    top = ex.patient("p3", top=2)
    assert len(top) == 2 and {"feature", "name", "group", "value", "contribution"} <= set(
        top.columns
    )
    with pytest.raises(KeyError):
        ex.patient("nobody")


def test_bad_requests() -> None:
    with pytest.raises(ConfigError, match="DataFrame"):
        explain(LogisticRegression(), np.zeros((3, 2)))
    X = pd.DataFrame({"a": [0.0, 1.0, 0.0, 1.0]})
    m = LogisticRegression().fit(X, [0, 1, 0, 1])
    with pytest.raises(ConfigError, match="horizon"):
        explain(m, X, output="survival")
    with pytest.raises(ConfigError, match="unknown output"):
        explain(m, X, output="banana")


def test_readable_names() -> None:
    assert readable_name("original_glcm_JointEnergy") == "glcm: JointEnergy (original)"
    assert readable_name("clin__age") == "age"
    assert readable_name("rad__1__default__baseline__cm_joint_max_3D_avg") == (
        "1 · baseline · glcm: Joint maximum, 3D, averaged [GYBY]"
    )
