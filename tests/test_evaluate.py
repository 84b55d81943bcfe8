"""Cross-validation, nested CV, model comparison and the executor interface."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.errors import ConfigError, TargetError
from radiopredict.evaluate import (
    SurvivalStratifiedKFold,
    compare_models,
    cross_validate,
    nested_cv,
)
from radiopredict.models import ElasticNetLogistic, SurvivalPipeline, XGBResponse, XGBSurvival
from radiopredict.parallel import run_tasks
from radiopredict.select import UnivariateSelector
from radiopredict.targets import make_survival_target


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    d = load_rossi()
    y = make_survival_target(d["arrest"], d["week"])
    return d.drop(columns=["arrest", "week"]).astype(float), y


@pytest.fixture(scope="module")
def noise():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(90, 300)), columns=[f"f{i}" for i in range(300)])
    y = rng.integers(0, 2, 90)
    return X, y


def _xgb_cox():
    return SurvivalPipeline([("model", XGBSurvival(n_estimators=20, max_depth=2))])


def test_survival_cv_scores_predictions_and_no_leak(rossi):
    X, y = rossi
    res = cross_validate(_xgb_cox(), X, y, n_splits=4, n_repeats=2, random_state=1)
    assert list(res.scores.columns[:2]) == ["repeat", "fold"] and len(res.scores) == 8
    for m in ("harrell_c", "uno_c", "mean_auc", "ibs"):
        assert res.scores[m].between(0, 1).all()
    assert 0.55 < res.scores["harrell_c"].mean() < 0.75
    # every patient predicted exactly once per repeat
    counts = res.predictions.groupby("repeat")["row"].apply(lambda r: sorted(r))
    assert all(list(c) == list(range(len(X))) for c in counts)
    # the fold model was fitted on the training rows only: refit it by hand
    f = res._folds[0]
    manual = clone(_xgb_cox()).fit(X.iloc[f["train"]], y[f["train"]]).predict(X.iloc[f["test"]])
    np.testing.assert_allclose(manual, f["pred"])
    # stratified on the event: each test fold has about the same event rate
    rates = [y["event"][fold["test"]].mean() for fold in res._folds]
    assert max(rates) - min(rates) < 0.05
    summ = res.summary(n_bootstrap=50)
    assert (summ["ci_low"] <= summ["mean"]).all() and (summ["mean"] <= summ["ci_high"]).all()
    rep = res.summary(ci="repeats")
    assert set(rep["ci"]) == {"repeats"}


def test_selection_inside_folds_stays_honest_on_noise():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(90, 300)), columns=[f"f{i}" for i in range(300)])
    y = rng.integers(0, 2, 90)
    pipe = Pipeline(
        [
            ("select", UnivariateSelector(k=5, columns=None)),
            ("scale", StandardScaler()),
            ("model", ElasticNetLogistic(C=1.0, l1_ratio=0.0)),
        ]
    )
    honest = cross_validate(pipe, X, y, n_splits=3, n_repeats=5, random_state=0)
    # the leaky way: select on all patients first, then cross-validate the rest
    keep = UnivariateSelector(k=5, columns=None).fit(X, y).transform(X)
    leaky = cross_validate(pipe[1:], keep, y, n_splits=3, n_repeats=5, random_state=0)
    assert abs(honest.scores["auc"].mean() - 0.5) < 0.08  # pure noise: chance level
    assert leaky.scores["auc"].mean() > 0.7  # selection on all data: optimistic


def test_binary_cv_metrics_and_index(noise):
    X, y = noise
    X = X.set_index(pd.Index([f"P{i:03d}" for i in range(len(X))]))
    signal = X.assign(f0=X["f0"] + 2 * y)
    res = cross_validate(
        XGBResponse(n_estimators=20),
        signal,
        y,
        n_splits=3,
        metrics=["auc", "brier", "calibration_slope", "ici"],
        progress=True,
    )
    assert res.scores["auc"].mean() > 0.8
    assert set(res.predictions["index"]) == set(X.index)
    assert res.predictions["prediction"].between(0, 1).all()
    with pytest.raises(ConfigError, match="two repeats"):
        res.summary(ci="repeats")


def test_nested_cv_records_inner_choice(rossi):
    X, y = rossi
    res = nested_cv(
        _xgb_cox(),
        {"model__max_depth": [1, 3]},
        X.iloc[:240],
        y[:240],
        n_splits=3,
        inner_splits=2,
        metrics=["harrell_c", "ibs"],
    )
    assert len(res.best_params) == 3
    assert all(b["model__max_depth"] in (1, 3) for b in res.best_params)
    assert res.scores["ibs"].between(0, 0.5).all()


class _AccuracyLiar(ClassifierMixin, BaseEstimator):
    """Good probabilities with ``informative=True``, noise without; its own ``score`` (as
    scikit-learn's accuracy can) prefers the noise."""

    def __init__(self, informative: bool = False):
        self.informative = informative

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        if self.informative:
            p1 = 1.0 / (1.0 + np.exp(-X[:, 0]))
        else:
            p1 = np.random.default_rng(len(X)).uniform(size=len(X))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def score(self, X, y, sample_weight=None):
        return 0.0 if self.informative else 1.0


def test_nested_cv_tunes_binary_models_by_auc_not_their_own_score():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"f0": rng.normal(size=120), "f1": rng.normal(size=120)})
    y = (X["f0"] + rng.normal(0, 0.5, 120) > 0).astype(int).to_numpy()
    grid = {"informative": [False, True]}
    res = nested_cv(_AccuracyLiar(), grid, X, y, n_splits=3, inner_splits=3)
    assert [b["informative"] for b in res.best_params] == [True, True, True]
    assert res.scores["auc"].mean() > 0.8
    # an explicit scoring is used as given (here the estimator's own score)
    own = nested_cv(_AccuracyLiar(), grid, X, y, n_splits=3, inner_splits=3, scoring=_own_score)
    assert [b["informative"] for b in own.best_params] == [False, False, False]


def _own_score(estimator, X, y):
    return estimator.score(X, y)


def test_compare_models_same_folds(noise):
    X, y = noise
    X = X.iloc[:, :20].assign(f0=X["f0"] + 1.5 * y)
    cmp = compare_models(
        {
            "xgb": XGBResponse(n_estimators=10),
            "enet": Pipeline([("s", StandardScaler()), ("m", ElasticNetLogistic(C=0.1))]),
        },
        X,
        y,
        n_splits=3,
        n_bootstrap=30,
    )
    assert list(cmp.table["model"].unique()) == ["xgb", "enet"]
    assert set(cmp.table["metric"]) == {"auc", "brier"}
    tests_a = [f["test"].tolist() for f in cmp.results["xgb"]._folds]
    tests_b = [f["test"].tolist() for f in cmp.results["enet"]._folds]
    assert tests_a == tests_b


def test_bad_inputs(rossi, noise):
    X, y = rossi
    with pytest.raises(ConfigError, match="rows"):
        cross_validate(_xgb_cox(), X.iloc[:-1], y)
    with pytest.raises(ConfigError, match="unknown survival metric"):
        cross_validate(_xgb_cox(), X, y, n_splits=2, metrics=["auc"])
    with pytest.raises(TargetError):
        cross_validate(XGBResponse(), noise[0], np.full(90, 2))
    with pytest.raises(ConfigError, match="unknown ci"):
        cross_validate(_xgb_cox(), X, y, n_splits=2, metrics=["harrell_c"]).summary(ci="x")
    with pytest.raises(ConfigError, match="no models"):
        compare_models({}, X, y)
    with pytest.raises(ConfigError, match="executor"):
        run_tasks(abs, [1], executor="threads")


def test_sklearn_repeated_splitter_and_index_pairs(rossi):
    from sklearn.model_selection import RepeatedStratifiedKFold

    X, y = rossi
    cv = RepeatedStratifiedKFold(n_splits=2, n_repeats=2, random_state=0)
    res = cross_validate(_xgb_cox(), X, y, cv=cv, metrics=["harrell_c"])
    assert res.scores[["repeat", "fold"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    pairs = [(np.arange(0, 300), np.arange(300, 432))]
    one = cross_validate(_xgb_cox(), X, y, cv=pairs, metrics=["harrell_c"])
    assert len(one.scores) == 1 and len(one.predictions) == 132


def test_splitter_accepts_survival_target(rossi):
    X, y = rossi
    cv = SurvivalStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    splits = list(cv.split(X, y))
    assert len(splits) == cv.get_n_splits() == 6


def test_run_tasks_backends_agree():
    items = list(range(6))
    serial = run_tasks(abs, [-i for i in items])
    assert serial == items
    assert run_tasks(abs, [-i for i in items], n_jobs=2) == items


@pytest.mark.slow
def test_parallel_folds_equal_serial_and_dask(rossi):
    X, y = rossi
    kw = dict(n_splits=3, metrics=["harrell_c"], random_state=0)
    serial = cross_validate(_xgb_cox(), X, y, **kw).scores
    par = cross_validate(_xgb_cox(), X, y, n_jobs=2, **kw).scores
    pd.testing.assert_frame_equal(serial.drop(columns="fit_time"), par.drop(columns="fit_time"))
    pytest.importorskip("distributed")
    dask = cross_validate(_xgb_cox(), X, y, executor="dask", **kw).scores
    pd.testing.assert_frame_equal(serial.drop(columns="fit_time"), dask.drop(columns="fit_time"))


def test_fold_times_start_at_the_first_event_of_the_fold() -> None:
    from radiopredict.evaluate import _fold_times
    from radiopredict.targets import make_survival_target

    y = make_survival_target([0, 0, 1, 1, 0], [1.0, 2.0, 5.0, 7.0, 9.0])
    times = np.array([1.5, 3.0, 5.0, 6.0, 8.5, 9.0])
    # 1.5 and 3.0 lie in follow-up but precede the first event (5.0): no case there yet
    np.testing.assert_array_equal(_fold_times(times, y), [5.0, 6.0, 8.5])
