"""Adaptive defaults: the inner choice, its visibility, the scikit-learn contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from radiopredict.errors import ConfigError
from radiopredict.evaluate import cross_validate, nested_cv
from radiopredict.models import (
    AdaptiveResponse,
    AdaptiveSurvival,
    CoxPH,
    ElasticNetLogistic,
    NullSurvival,
    SurvivalPipeline,
    XGBSurvival,
    adaptive_candidates,
    default_pipeline,
    predict_survival_function,
)
from radiopredict.targets import make_survival_target


def _linear(n=120, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    y = (X["f0"] - X["f1"] + rng.normal(0, 0.7, n) > 0).astype(int).to_numpy()
    return X, y


def _small_response_candidates():
    """Two cheap candidates: a strong and a weak ridge penalty."""
    return [
        ("strong", ElasticNetLogistic(C=1e-4, l1_ratio=0.0)),
        ("weak", ElasticNetLogistic(C=1.0, l1_ratio=0.0)),
    ]


class _Recorder(ClassifierMixin, BaseEstimator):
    """Ridge logistic that records the ``row`` ids of every table it fits on or predicts."""

    log: list[tuple[str, frozenset]] = []

    def fit(self, X, y):
        type(self).log.append(("fit", frozenset(X["row"])))
        self.model_ = ElasticNetLogistic(l1_ratio=0.0).fit(X.drop(columns="row"), y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        type(self).log.append(("predict", frozenset(X["row"])))
        return self.model_.predict_proba(X.drop(columns="row"))


def test_response_choice_is_visible_and_made_on_the_training_data_only():
    X, y = _linear()
    X["row"] = np.arange(len(X))
    train = np.arange(len(X)) < 90
    _Recorder.log.clear()
    model = AdaptiveResponse([("rec", _Recorder()), ("rec2", _Recorder())], n_splits=3)
    model.fit(X[train], y[train])
    seen = frozenset().union(*(rows for _, rows in _Recorder.log))
    assert seen <= set(np.flatnonzero(train))  # the held-out rows never reach a candidate
    assert len(_Recorder.log) == 2 * 3 * 2 + 1  # 2 candidates x 3 inner folds x fit+predict, refit
    # inner held-out parts are disjoint from their inner training parts
    for (kind_f, fit_rows), (kind_p, pred_rows) in zip(
        _Recorder.log[0:12:2], _Recorder.log[1:12:2], strict=True
    ):
        assert (kind_f, kind_p) == ("fit", "predict") and not fit_rows & pred_rows
    table = model.inner_scores_
    assert list(table.index) == ["rec", "rec2"]
    assert {"fold_0", "fold_1", "fold_2", "mean", "sd", "chosen"} <= set(table.columns)
    assert table["chosen"].sum() == 1 and model.chosen_ == "rec"  # tie -> the first one
    assert model.predict_proba(X[~train]).shape == (30, 2)


def test_response_contract_clone_string_labels_pipeline_and_grid_search():
    X, y = _linear()
    labels = np.where(y == 1, "responder", "non")
    model = AdaptiveResponse(_small_response_candidates(), n_splits=3, random_state=1)
    params = model.get_params()
    assert params["n_splits"] == 3 and params["random_state"] == 1
    assert "candidates" in params
    fitted = clone(model).fit(X, labels)
    assert set(fitted.predict(X)) <= {"responder", "non"}
    assert list(fitted.classes_) == ["non", "responder"]
    assert fitted.chosen_ == "weak"  # clear linear signal: the weak penalty wins
    assert fitted.inner_scores_.loc["weak", "mean"] > fitted.inner_scores_.loc["strong", "mean"]
    assert fitted.score(X, labels) > 0.8
    assert not hasattr(clone(model), "chosen_")
    search = GridSearchCV(Pipeline([("model", model)]), {"model__n_splits": [2, 3]}, cv=3)
    search.fit(X, labels)
    assert search.best_estimator_[-1].chosen_ in {"weak", "strong"}


def test_determinism_and_seed_of_the_inner_folds():
    X, y = _linear(seed=3)
    a = AdaptiveResponse(_small_response_candidates(), random_state=0).fit(X, y)
    b = AdaptiveResponse(_small_response_candidates(), random_state=0).fit(X, y)
    pd.testing.assert_frame_equal(a.inner_scores_, b.inner_scores_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = AdaptiveResponse(_small_response_candidates(), random_state=5).fit(X, y)
    assert not np.allclose(a.inner_scores_["fold_0"], c.inner_scores_["fold_0"])


def test_default_response_pipeline_adapts_and_cross_validate_tabulates_the_choice():
    rng = np.random.default_rng(0)
    n = 160
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    y_lin = (X.sum(axis=1) + rng.normal(0, 0.5, n) > 0).astype(int).to_numpy()
    y_xor = ((X["a"] > 0) ^ (X["b"] > 0)).astype(int).to_numpy()  # no linear signal at all
    pipe = default_pipeline("response", random_state=0)
    pipe.set_params(model__n_splits=3)
    names = list(adaptive_candidates("response"))
    lin = clone(pipe).fit(X, y_lin)[-1]
    xor = clone(pipe).fit(X, y_xor)[-1]
    assert list(lin.inner_scores_.index) == names
    assert lin.chosen_.startswith(("l2_", "enet"))
    assert xor.chosen_ in {"rf", "xgb"}
    assert xor.inner_scores_.loc[xor.chosen_, "mean"] > 0.8


def test_cross_validate_tabulates_the_inner_choice_per_outer_fold():
    X, y = _linear(seed=4)
    pipe = Pipeline([("model", AdaptiveResponse(_small_response_candidates(), n_splits=3))])
    res = cross_validate(pipe, X, y, n_splits=3, metrics=["auc"])
    ic = res.inner_choice
    assert len(ic) == 3 * 2
    assert set(ic.columns) == {"repeat", "fold", "candidate", "inner_mean", "inner_sd", "chosen"}
    assert ic.groupby(["repeat", "fold"])["chosen"].sum().eq(1).all()
    picked = res.chosen()
    assert len(picked) == 3 and {"candidate", "inner_mean", "auc"} <= set(picked.columns)
    assert res.scores["auc"].mean() > 0.8
    assert set(picked["candidate"]) == {"weak"}


def test_no_signal_falls_back_to_the_base_rate():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = rng.integers(0, 2, 60)
    cands = [
        ("ridge", ElasticNetLogistic(l1_ratio=0.0)),
        *[(k, v) for k, v in adaptive_candidates("response").items() if k == "base_rate"],
    ]
    model = AdaptiveResponse(cands, n_splits=3, random_state=0).fit(X, y)
    if model.inner_scores_.loc["ridge", "mean"] < 0.5:
        assert model.chosen_ == "base_rate"
        assert np.ptp(model.predict_proba(X)[:, 1]) == 0
    assert model.inner_scores_.loc["base_rate", "mean"] == pytest.approx(0.5)


def test_bad_inputs_name_the_fix():
    X, y = _linear(n=20)
    with pytest.raises(ConfigError, match="unique names"):
        AdaptiveResponse([("a", ElasticNetLogistic()), ("a", ElasticNetLogistic())]).fit(X, y)
    with pytest.raises(ConfigError, match="n_splits"):
        AdaptiveResponse(_small_response_candidates(), n_splits=1).fit(X, y)
    y1 = np.zeros(20, dtype=int)
    y1[0] = 1
    with pytest.raises(ConfigError, match="at least 2 patients of each class"):
        AdaptiveResponse(_small_response_candidates()).fit(X, y1)
    # few patients of one class: fewer inner folds, recorded
    y3 = np.zeros(20, dtype=int)
    y3[:3] = 1
    fitted = AdaptiveResponse(_small_response_candidates(), n_splits=5).fit(X, y3)
    assert fitted.n_inner_splits_ == 3 and "fold_3" not in fitted.inner_scores_


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    d = load_rossi()
    y = make_survival_target(d["arrest"], d["week"])
    return d.drop(columns=["arrest", "week"]).astype(float), y


def test_survival_choice_survival_function_weights_and_cv_table(rossi):
    X, y = rossi
    cands = [
        ("cox", SurvivalPipeline([("model", CoxPH(alpha=0.1))])),
        ("trees", SurvivalPipeline([("model", XGBSurvival(n_estimators=20))])),
        ("null", SurvivalPipeline([("model", NullSurvival())])),
    ]
    model = AdaptiveSurvival(cands, n_splits=3, random_state=0)
    fitted = clone(model).fit(X, y)
    assert fitted.chosen_ in {"cox", "trees"}
    assert fitted.inner_scores_.loc["null", "mean"] == pytest.approx(0.5)
    s = predict_survival_function(fitted, X.iloc[:4], [10.0, 30.0])
    assert s.shape == (4, 2) and np.all(np.diff(s, axis=1) <= 1e-12)
    again = clone(model).fit(X, y)
    np.testing.assert_array_equal(fitted.predict(X), again.predict(X))
    w = np.where(X["fin"].to_numpy() > 0, 2.0, 1.0)
    weighted = clone(model).fit(X, y, sample_weight=w)
    assert weighted.chosen_ in {"cox", "trees", "null"}
    res = cross_validate(
        SurvivalPipeline([("model", model)]), X, y, n_splits=3, metrics=["harrell_c"]
    )
    assert len(res.inner_choice) == 9
    assert res.chosen()["candidate"].isin(["cox", "trees"]).all()


def test_null_survival_is_the_nelson_aalen_estimate(rossi):
    from lifelines import NelsonAalenFitter

    X, y = rossi
    model = NullSurvival().fit(X, y)
    assert np.all(model.predict(X) == 0)
    naf = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(y["time"], y["event"])
    t = np.array([5.0, 20.0, 52.0])
    ref = np.exp(-naf.cumulative_hazard_at_times(t).to_numpy())
    np.testing.assert_allclose(model.predict_survival_function(X.iloc[:1], t)[0], ref, atol=1e-9)


def test_default_survival_pipeline_candidates_fit(rossi):
    X, y = rossi
    names = list(adaptive_candidates("survival"))
    assert names[-1] == "null" and "xgb_cox_forest" in names
    for name, cand in adaptive_candidates("survival").items():
        fitted = clone(cand).fit(X.iloc[:200], y[:200])
        assert fitted.predict(X.iloc[:5]).shape == (5,), name
    pipe = default_pipeline("survival")
    assert isinstance(pipe, SurvivalPipeline) and isinstance(pipe[-1], AdaptiveSurvival)


def test_nested_cv_fills_the_same_table_from_the_grid_search(rossi):
    X, y = _linear()
    res = nested_cv(
        ElasticNetLogistic(l1_ratio=0.0), {"C": [1e-4, 1.0]}, X, y, n_splits=3, inner_splits=3
    )
    ic = res.inner_choice
    assert len(ic) == 6 and ic.groupby("fold")["chosen"].sum().eq(1).all()
    assert set(ic["candidate"]) == {str({"C": 1e-4}), str({"C": 1.0})}


def test_fitted_choice_saves_and_loads_with_skops(rossi, tmp_path):
    import skops.io as sio

    from radiopredict.bundle import TRUSTED_TYPES

    X, y = rossi
    cands = [
        ("cox", SurvivalPipeline([("model", CoxPH(alpha=0.1))])),
        ("null", SurvivalPipeline([("model", NullSurvival())])),
    ]
    model = AdaptiveSurvival(cands, n_splits=3).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert not [t for t in untrusted if t not in TRUSTED_TYPES]
    loaded = sio.load(path, trusted=untrusted)
    assert loaded.chosen_ == model.chosen_
    pd.testing.assert_frame_equal(loaded.inner_scores_, model.inner_scores_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
