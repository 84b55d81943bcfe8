"""Survival and response estimators: sklearn contract, reference agreement, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.errors import ConfigError, TargetError
from radiopredict.evaluate import SurvivalStratifiedKFold, nested_cv
from radiopredict.models import (
    CoxPH,
    ElasticNetLogistic,
    SurvivalPipeline,
    XGBResponse,
    XGBSurvival,
    candidate_pipelines,
    default_param_grid,
    default_pipeline,
    predict_survival_function,
)
from radiopredict.models._baseline import BreslowBaseline
from radiopredict.targets import make_survival_target


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    d = load_rossi()
    y = make_survival_target(d["arrest"], d["week"])
    return d.drop(columns=["arrest", "week"]).astype(float), y, d


def test_coxph_unpenalised_matches_lifelines(rossi):
    from lifelines import CoxPHFitter

    X, y, d = rossi
    ref = CoxPHFitter().fit(d, "week", "arrest")
    model = CoxPH(alpha=0.0).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.params_.to_numpy(), atol=1e-6)
    times = np.array([5.0, 20.0, 52.0])
    ref_s = ref.predict_survival_function(d.iloc[:10], times=times).T.to_numpy()
    np.testing.assert_allclose(
        model.predict_survival_function(X.iloc[:10], times), ref_s, atol=1e-6
    )
    # risk = linear predictor, higher = worse
    np.testing.assert_allclose(model.predict(X), X.to_numpy() @ ref.params_.to_numpy())
    assert 0.6 < model.score(X, y) < 0.7


def test_breslow_matches_lifelines_baseline(rossi):
    from lifelines import CoxPHFitter

    X, y, d = rossi
    ref = CoxPHFitter().fit(d, "week", "arrest")
    eta = X.to_numpy() @ ref.params_.to_numpy()
    base = BreslowBaseline().fit(eta, y["event"], y["time"])
    s = base.survival(eta[:5], [10.0, 30.0])
    ref_s = ref.predict_survival_function(d.iloc[:5], times=[10.0, 30.0]).T.to_numpy()
    np.testing.assert_allclose(s, ref_s, atol=1e-8)
    assert base.baseline_cumulative_hazard([0.0])[0] == 0.0
    h = base.baseline_cumulative_hazard([52.0, 100.0])  # flat after follow-up
    assert h[0] == h[1]


@pytest.mark.parametrize(
    "model",
    [
        CoxPH(alpha=0.1, l1_ratio=0.5),
        XGBSurvival(objective="cox", n_estimators=30),
        XGBSurvival(objective="aft", n_estimators=30),
        XGBSurvival(objective="aft", n_estimators=30, aft_survival="breslow"),
    ],
    ids=["coxnet", "xgb_cox", "xgb_aft", "xgb_aft_breslow"],
)
def test_survival_contract(rossi, model):
    X, y, _ = rossi
    fitted = clone(model).fit(X, y)
    times = np.array([1.0, 10.0, 30.0, 52.0])
    s = fitted.predict_survival_function(X, times)
    assert s.shape == (len(X), 4)
    assert np.all((s >= 0) & (s <= 1)) and np.all(np.diff(s, axis=1) <= 1e-12)
    # higher risk => lower survival at every time
    r = fitted.predict(X)
    hi, lo = np.argmax(r), np.argmin(r)
    assert np.all(s[hi] <= s[lo] + 1e-12)
    assert fitted.score(X, y) > 0.55
    # pipeline + grid search with the stratified survival splitter
    pipe = SurvivalPipeline([("scale", StandardScaler()), ("model", clone(model))])
    key = "model__alpha" if isinstance(model, CoxPH) else "model__max_depth"
    grid = {key: [0.05, 0.5] if isinstance(model, CoxPH) else [1, 2]}
    search = GridSearchCV(pipe, grid, cv=SurvivalStratifiedKFold(2, 1, 0))
    search.fit(X.iloc[:200], y[:200])
    assert search.best_params_[key] in grid[key]
    assert search.best_estimator_.predict_survival_function(X.iloc[:3], times).shape == (3, 4)
    # plain sklearn pipelines work through the helper, like SurvivalPipeline
    plain = make_pipeline(StandardScaler(), clone(model)).fit(X, y)
    ours = SurvivalPipeline([("scale", StandardScaler()), ("model", clone(model))]).fit(X, y)
    np.testing.assert_allclose(
        predict_survival_function(plain, X.iloc[:3], times),
        ours.predict_survival_function(X.iloc[:3], times),
    )
    # determinism
    again = clone(model).fit(X, y).predict(X)
    np.testing.assert_array_equal(again, r)


def test_survival_bad_inputs(rossi):
    X, y, _ = rossi
    with pytest.raises(TargetError, match="structured array"):
        CoxPH().fit(X, y["time"])
    with pytest.raises(ConfigError, match="rows"):
        XGBSurvival(n_estimators=5).fit(X.iloc[:-1], y)
    with pytest.raises(ConfigError, match="objective"):
        XGBSurvival(objective="weibull").fit(X, y)
    with pytest.raises(ConfigError, match="l1_ratio"):
        CoxPH(l1_ratio=2.0).fit(X, y)
    fitted = CoxPH().fit(X, y)
    with pytest.raises(ConfigError, match="times"):
        fitted.predict_survival_function(X, [-1.0])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CoxPH().predict(X)


def test_coxph_constant_column_gets_zero_coef(rossi):
    X, y, _ = rossi
    X2 = X.assign(const=1.0)
    model = CoxPH(alpha=0.01).fit(X2, y)
    assert model.coef_[-1] == 0.0 and model.coef_.shape == (X2.shape[1],)


@pytest.mark.slow
def test_response_estimators_pass_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    for est in (ElasticNetLogistic(), XGBResponse(n_estimators=10)):
        results = check_estimator(est, on_fail=None)
        failed = [r["check_name"] for r in results if r["status"] == "failed"]
        assert failed == [], failed


def test_enet_logistic_matches_sklearn_and_labels():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ours = ElasticNetLogistic(C=0.1, l1_ratio=1.0).fit(X, y)
    ref = LogisticRegression(C=0.1, l1_ratio=1.0, solver="saga", max_iter=2000, random_state=0)
    ref.fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    assert np.sum(ours.coef_ != 0) < X.shape[1]  # L1 gives exact zeros
    labels = np.where(y == 1, "responder", "non")
    fitted = ElasticNetLogistic().fit(X, labels)
    assert set(fitted.predict(X)) <= {"responder", "non"}
    assert fitted.score(X, labels) > 0.95
    with pytest.raises(TargetError, match="one class"):
        XGBResponse().fit(X[:10], np.ones(10))
    with pytest.raises(TargetError, match="Only binary"):
        ElasticNetLogistic().fit(X[:9], np.arange(9) % 3)
    # clone + grid search on the response models
    search = GridSearchCV(XGBResponse(n_estimators=10), {"max_depth": [1, 2]}, cv=3)
    search.fit(X[:200], y[:200])
    assert clone(search.best_estimator_).get_params()["max_depth"] in (1, 2)


def test_default_pipelines_fit(rossi):
    from radiopredict.models import AdaptiveResponse, AdaptiveSurvival

    X, y, _ = rossi
    surv = default_pipeline("survival").fit(X, y)
    assert isinstance(surv[-1], AdaptiveSurvival) and surv[-1].chosen_
    assert surv.predict_survival_function(X.iloc[:2], [10.0]).shape == (2, 1)
    rng = np.random.default_rng(0)
    Xb = pd.DataFrame(rng.normal(size=(80, 6)), columns=[f"f{i}" for i in range(6)])
    yb = (Xb["f0"] + rng.normal(0, 0.5, 80) > 0).astype(int)
    resp = default_pipeline("response").set_params(model__n_splits=3).fit(Xb, yb)
    assert resp.predict_proba(Xb).shape == (80, 2)
    assert isinstance(resp[-1], AdaptiveResponse)
    assert set(default_param_grid("survival", "coxnet"))
    # the default needs no grid: it chooses inside fit
    with pytest.raises(ConfigError, match="candidate name"):
        default_param_grid("response")
    enet = candidate_pipelines("response")["enet"]
    assert type(enet.steps[-1][1]).__name__ == "ElasticNetLogistic"
    assert default_param_grid("response", "enet") == {"model__C": [0.03, 0.1, 0.3]}
    # candidate xgb_or_enet: the grid is a list, the inner loop chooses the model family
    grid = default_param_grid("response", "xgb_or_enet")
    assert isinstance(grid, list)
    assert {type(g["model"][0]).__name__ for g in grid} == {"XGBResponse", "ElasticNetLogistic"}
    choose = candidate_pipelines("response")["xgb_or_enet"]
    res = nested_cv(choose, grid, Xb, yb, n_splits=3, inner_splits=3)
    assert res.scores["auc"].mean() > 0.8
    assert {type(b["model"]).__name__ for b in res.best_params} <= {
        "XGBResponse",
        "ElasticNetLogistic",
    }
    # its linear fallback on pure noise shrinks to the base rate: one constant prediction
    noise = pd.DataFrame(rng.normal(size=(100, 30)), columns=[f"n{i}" for i in range(30)])
    yn = rng.integers(0, 2, 100)
    fallback = clone(choose).set_params(**{k: v[0] for k, v in grid[1].items()})
    fallback.fit(noise, yn)
    assert np.ptp(fallback.predict_proba(noise)[:, 1]) < 1e-6
    with pytest.raises(ConfigError, match="task"):
        default_pipeline("regression")


def test_response_forest_candidates_fit_predict_clone_and_score_by_auc():
    from radiopredict.metrics import roc_auc
    from radiopredict.models import RandomForestResponse, SoftVoteResponse

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(90, 8)), columns=[f"f{i}" for i in range(8)])
    X["const"] = 1.0  # dropped by the constant-column filter
    y = (X["f0"] - X["f1"] + rng.normal(0, 0.7, 90) > 0).astype(int)
    cands = candidate_pipelines("response")
    for name in ("rf", "enet_rf"):
        pipe = clone(cands[name]).set_params(
            **{("model__n_estimators" if name == "rf" else "model__rf__model__n_estimators"): 50}
        )
        fitted = clone(pipe).fit(X, y)
        proba = fitted.predict_proba(X)
        assert proba.shape == (90, 2)
        assert np.all((proba >= 0) & (proba <= 1))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        # score is the AUC (as the other response models), not scikit-learn's accuracy
        assert fitted.score(X, y) == pytest.approx(roc_auc(y, proba[:, 1]))
        again = clone(pipe).fit(X, y).predict_proba(X)
        np.testing.assert_allclose(again, proba)  # seeded: a clone refits to the same model
        res = nested_cv(pipe, default_param_grid("response", name), X, y, n_splits=3)
        assert res.scores["auc"].mean() > 0.75
        assert len(res.best_params) == 3
    assert isinstance(cands["rf"].steps[-1][1], RandomForestResponse)
    assert isinstance(cands["enet_rf"].steps[-1][1], SoftVoteResponse)
    assert cands["enet_rf"].steps[-1][1].voting == "soft"


def test_breslow_integer_weights_equal_duplicated_rows() -> None:
    from radiopredict.models._baseline import BreslowBaseline

    rng = np.random.default_rng(4)
    eta = rng.normal(size=30)
    time = rng.exponential(size=30).round(2)
    event = rng.uniform(size=30) < 0.7
    w = rng.integers(1, 4, size=30)
    weighted = BreslowBaseline().fit(eta, event, time, sample_weight=w)
    rep = np.repeat(np.arange(30), w)
    duplicated = BreslowBaseline().fit(eta[rep], event[rep], time[rep])
    grid = np.linspace(0, time.max(), 25)
    # the centring offset differs (weighted vs plain mean); survival does not depend on it
    np.testing.assert_allclose(
        weighted.survival(eta, grid), duplicated.survival(eta, grid), rtol=1e-10
    )


def test_coxph_sample_weight_changes_the_fit_and_rejects_bad_weights() -> None:
    from radiopredict.errors import ConfigError
    from radiopredict.models import CoxPH
    from radiopredict.targets import make_survival_target

    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 2))
    t = rng.exponential(np.exp(-X[:, 0]))
    y = make_survival_target(rng.uniform(size=80) < 0.8, t)
    w = np.where(X[:, 1] > 0, 3.0, 1.0)
    plain = CoxPH(alpha=0.01).fit(X, y)
    weighted = CoxPH(alpha=0.01).fit(X, y, sample_weight=w)
    assert not np.allclose(plain.coef_, weighted.coef_)
    with pytest.raises(ConfigError, match="sample_weight"):
        CoxPH().fit(X, y, sample_weight=-w)
