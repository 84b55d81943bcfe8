"""Honest validation: repeated stratified K-fold, nested CV, bootstrap CIs, model comparison.

The whole estimator (usually a :class:`sklearn.pipeline.Pipeline` with harmonisation, selection
and the model) is cloned and refitted in every training fold, so nothing learnt from a test fold
leaks into its predictions. Survival targets are stratified on the event indicator, binary ones
on the class.

Confidence intervals (``CVResult.summary``): the point estimate is the mean of the per-fold
metrics over all folds and repeats. ``ci="bootstrap"`` (default) resamples the patients of each
test fold with replacement (models fixed), recomputes every fold's metric and takes percentiles
of the resulting mean over folds; it reflects test-sample variability, not the variability of
refitting. ``ci="repeats"`` uses a t-interval over the per-repeat means (needs >= 2 repeats).
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import RepeatedStratifiedKFold

from radiopredict import metrics as M
from radiopredict.errors import ConfigError, RadiopredictError
from radiopredict.parallel import run_tasks
from radiopredict.targets import binary_target, check_survival_target
from radiopredict.targets import is_survival as _is_survival

__all__ = [
    "SurvivalStratifiedKFold",
    "CVResult",
    "Comparison",
    "cross_validate",
    "nested_cv",
    "compare_models",
    "SURVIVAL_METRICS",
    "BINARY_METRICS",
]

SURVIVAL_METRICS = ("harrell_c", "uno_c", "mean_auc", "ibs")
"""Default survival metrics: Harrell C, Uno C(tau), mean time-dependent AUC, integrated Brier."""
BINARY_METRICS = ("auc", "brier")
"""Default binary metrics; ``calibration_slope``, ``calibration_intercept`` and ``ici`` too."""


class SurvivalStratifiedKFold:
    """Repeated stratified K-fold that also accepts survival targets (stratified on the event).

    A thin wrapper of :class:`sklearn.model_selection.RepeatedStratifiedKFold`, usable as the
    ``cv`` of :class:`sklearn.model_selection.GridSearchCV` with a structured survival ``y``.
    """

    def __init__(self, n_splits: int = 5, n_repeats: int = 1, random_state: int | None = 0):
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def _labels(self, y):
        arr = np.asarray(y)
        if _is_survival(arr):
            event, _ = check_survival_target(arr)
            return event.astype(int)
        return arr

    def split(self, X, y, groups=None):
        cv = RepeatedStratifiedKFold(
            n_splits=self.n_splits, n_repeats=self.n_repeats, random_state=self.random_state
        )
        yield from cv.split(np.zeros((len(y), 1)), self._labels(y))

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits * self.n_repeats


# --------------------------------------------------------------------------- fold work


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]


def _default_times(y) -> np.ndarray:
    event, time = check_survival_target(y)
    return np.unique(np.percentile(time[event], np.arange(10, 81, 10)))


def _fold_times(times: np.ndarray, y_test) -> np.ndarray:
    """The evaluation times usable in a test fold: inside its follow-up and at or after its
    first event (a time-dependent AUC needs a case, someone with the event by that time)."""
    low, high = M.valid_time_range(y_test)
    event, time = check_survival_target(y_test, allow_all_censored=True)
    if event.any():
        low = max(low, float(time[event].min()))
    return times[(times >= low) & (times < high)]


def _survival_metric(name, y_train, y_test, risk, surv, times) -> float:
    if name == "harrell_c":
        return M.harrell_c(y_test, risk)
    if name == "uno_c":
        return M.uno_c(y_train, y_test, risk, tau=times.max())
    if name == "mean_auc":
        return M.cumulative_dynamic_auc(y_train, y_test, risk, times)[1]
    if name == "ibs":
        if surv is None:
            raise ConfigError(
                "metric 'ibs' needs predict_survival_function", fix="drop 'ibs' from metrics"
            )
        return M.integrated_brier_score(y_train, y_test, surv, times)
    raise ConfigError(
        f"unknown survival metric {name!r}", fix=f"use some of {list(SURVIVAL_METRICS)}"
    )


def _binary_metric(name, y_test, proba) -> float:
    if name == "auc":
        return M.roc_auc(y_test, proba)
    if name == "brier":
        return M.binary_brier(y_test, proba)
    if name in ("calibration_slope", "calibration_intercept", "ici"):
        cal = M.binary_calibration(y_test, proba, n_groups=min(5, len(y_test)))
        return {"calibration_slope": cal.slope, "calibration_intercept": cal.intercept}.get(
            name, cal.ici
        )
    raise ConfigError(
        f"unknown binary metric {name!r}",
        fix="use some of auc, brier, calibration_slope, calibration_intercept, ici",
    )


def _score_fold(survival, names, y_train, y_test, pred, surv, times) -> dict[str, float]:
    out = {}
    for name in names:
        if callable(name):
            out[name.__name__] = float(name(y_test, pred))
        elif survival:
            out[name] = _survival_metric(name, y_train, y_test, pred, surv, times)
        else:
            out[name] = _binary_metric(name, y_test, pred)
    return out


def _inner_choice(model) -> list[dict] | None:
    """The inner choice of a fitted model, one row per candidate, or None when it made none.

    Knows the adaptive defaults (``chosen_`` and ``inner_scores_``, possibly as the last step of
    a pipeline) and scikit-learn searches (``cv_results_``: one candidate per setting).
    """
    from sklearn.pipeline import Pipeline

    last = model.steps[-1][1] if isinstance(model, Pipeline) else model
    table = getattr(last, "inner_scores_", None)
    if isinstance(table, pd.DataFrame):
        return [
            {
                "candidate": str(name),
                "inner_mean": float(row["mean"]),
                "inner_sd": float(row["sd"]),
                "chosen": bool(row["chosen"]),
            }
            for name, row in table.iterrows()
        ]
    res = getattr(model, "cv_results_", None)
    if isinstance(res, Mapping) and "mean_test_score" in res:
        best = getattr(model, "best_index_", None)
        return [
            {
                "candidate": str(_short_params(params)),
                "inner_mean": float(res["mean_test_score"][i]),
                "inner_sd": float(res["std_test_score"][i]),
                "chosen": i == best,
            }
            for i, params in enumerate(res["params"])
        ]
    return None


def _short_params(params: Mapping) -> dict:
    """Grid-search settings with an estimator (a model family) named by its class."""
    return {k: type(v).__name__ if hasattr(v, "fit") else v for k, v in params.items()}


def _run_fold(task, *, estimator, X, y, survival, names, times, fit_params):
    rep, fold, train, test = task
    model = clone(estimator)
    t0 = _time.perf_counter()
    model.fit(_take(X, train), y[train], **fit_params)
    fit_time = _time.perf_counter() - t0
    X_test = _take(X, test)
    choice = _inner_choice(model)
    best = getattr(model, "best_params_", None)
    model = getattr(model, "best_estimator_", model)  # a search: predict with the refit model
    surv = None
    ft = None
    if survival:
        pred = np.asarray(model.predict(X_test), dtype=float)
        ft = _fold_times(times, y[test])
        if len(ft) < 2 and set(names) & {"uno_c", "mean_auc", "ibs"}:
            raise RadiopredictError(
                f"repeat {rep}, fold {fold}: fewer than two evaluation times lie inside the "
                "test fold's follow-up",
                fix="pass times= inside the follow-up of every fold, or use fewer folds",
            )
        if "ibs" in names:
            from radiopredict.models.pipelines import predict_survival_function

            surv = np.asarray(predict_survival_function(model, X_test, ft), dtype=float)
    else:
        pred = np.asarray(model.predict_proba(X_test), dtype=float)[:, 1]
    scores = _score_fold(survival, names, y[train], y[test], pred, surv, ft)
    extra = {}
    if best is not None:
        extra["best_params"] = dict(best)
    if choice is not None:
        extra["inner_choice"] = choice
    return {
        "repeat": rep,
        "fold": fold,
        "train": train,
        "test": test,
        "pred": pred,
        "surv": surv,
        "times": ft,
        "scores": scores,
        "fit_time": fit_time,
        **extra,
    }


# --------------------------------------------------------------------------- result


@dataclass
class CVResult:
    """Result of :func:`cross_validate`.

    Attributes
    ----------
    scores
        One row per (repeat, fold): the metrics, ``fit_time`` (s), ``n_test``.
    predictions
        Out-of-fold predictions, one row per (repeat, patient): ``repeat``, ``fold``, ``row``
        (position in ``X``), ``index`` (the index label when ``X`` is a DataFrame) and
        ``prediction`` (risk score for survival, probability of class 1 for binary).
    task
        ``"survival"`` or ``"binary"``.
    times
        Evaluation time grid of the time-dependent metrics (survival only).
    best_params
        Per fold, the hyper-parameters chosen by the inner search (nested CV only).
    inner_choice
        The inner choice per outer fold, one row per (repeat, fold, candidate): ``candidate``,
        ``inner_mean`` and ``inner_sd`` (its score over the inner folds of that outer training
        fold: ROC AUC or Harrell's C for the adaptive defaults, the search's ``scoring`` for
        nested CV), ``chosen`` (True for the one refitted and scored on the outer test fold).
        Empty when the estimator makes no inner choice. :meth:`chosen` lists the choices.
    """

    scores: pd.DataFrame
    predictions: pd.DataFrame
    task: str
    times: np.ndarray | None
    best_params: list[dict] = field(default_factory=list)
    inner_choice: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["repeat", "fold", "candidate", "inner_mean", "inner_sd", "chosen"]
        )
    )
    _folds: list[dict] = field(default_factory=list, repr=False)
    _y: Any = field(default=None, repr=False)
    _metrics: tuple = field(default=(), repr=False)

    def chosen(self) -> pd.DataFrame:
        """One row per outer fold: the candidate chosen inside it and its inner score, next to
        the fold's outer metrics (empty when the estimator makes no inner choice)."""
        ic = self.inner_choice
        if ic.empty:
            return ic
        pick = ic[ic["chosen"].astype(bool)].drop(columns="chosen")
        return pick.merge(self.scores, on=["repeat", "fold"], how="left").reset_index(drop=True)

    @property
    def metric_names(self) -> list[str]:
        return [m.__name__ if callable(m) else m for m in self._metrics]

    def summary(
        self,
        *,
        ci: str = "bootstrap",
        level: float = 0.95,
        n_bootstrap: int = 200,
        random_state: int = 0,
    ) -> pd.DataFrame:
        """Mean, SD over folds and a confidence interval per metric (see the module doc).

        Returns
        -------
        pandas.DataFrame
            Index: metric; columns ``mean``, ``sd``, ``ci_low``, ``ci_high``, ``ci``,
            ``n_folds`` and, for the bootstrap, ``n_failed`` (replicates whose metric was
            undefined, e.g. no event in a resample; they are left out and counted here).
        """
        names = self.metric_names
        alpha = (1 - level) / 2
        rows = {}
        if ci == "repeats":
            from scipy import stats

            per_rep = self.scores.groupby("repeat")[names].mean()
            if len(per_rep) < 2:
                raise ConfigError(
                    "ci='repeats' needs at least two repeats", fix="use n_repeats >= 2"
                )
            for name in names:
                v = per_rep[name].to_numpy()
                half = stats.t.ppf(1 - alpha, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
                rows[name] = self._row(name, v.mean() - half, v.mean() + half, "repeats", 0)
        elif ci == "bootstrap":
            boot, failed = self._bootstrap(n_bootstrap, random_state)
            for j, name in enumerate(names):
                lo, hi = np.quantile(boot[:, j], [alpha, 1 - alpha])
                rows[name] = self._row(name, lo, hi, "bootstrap", failed)
        else:
            raise ConfigError(f"unknown ci {ci!r}", fix="use 'bootstrap' or 'repeats'")
        return pd.DataFrame.from_dict(rows, orient="index")

    def _row(self, name, lo, hi, how, failed) -> dict:
        v = self.scores[name].to_numpy(dtype=float)
        return {
            "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "ci_low": float(lo),
            "ci_high": float(hi),
            "ci": how,
            "n_folds": len(v),
            "n_failed": int(failed),
        }

    def _bootstrap(self, n_bootstrap: int, random_state: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng(random_state)
        survival = self.task == "survival"
        y = self._y
        out = []
        failed = 0
        for _ in range(n_bootstrap):
            fold_scores = []
            try:
                for f in self._folds:
                    b = rng.integers(0, len(f["test"]), len(f["test"]))
                    yt = y[f["test"]][b]
                    surv = None if f["surv"] is None else f["surv"][b]
                    times = f["times"]
                    if survival:
                        times = _fold_times(times, yt)
                        if surv is not None:
                            surv = surv[:, np.isin(f["times"], times)]
                    s = _score_fold(
                        survival, self._metrics, y[f["train"]], yt, f["pred"][b], surv, times
                    )
                    fold_scores.append([s[n] for n in self.metric_names])
            except (RadiopredictError, ValueError):
                failed += 1
                continue
            out.append(np.mean(fold_scores, axis=0))
        if not out:
            raise RadiopredictError(
                "every bootstrap replicate failed (metrics undefined on resampled test folds)",
                fix="use ci='repeats' or larger test folds",
            )
        return np.asarray(out), failed


def _check_xy(X, y):
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if _is_survival(y):
        check_survival_target(y)
        y = np.asarray(y)
        survival = True
    else:
        y = binary_target(y)[1]  # any two labels; 1 = the later one ('responder' > 'non')
        survival = False
    if len(y) != n:
        raise ConfigError(f"X has {n} rows but y has {len(y)}", fix="align X and y by patient")
    return y, survival


def _splits(cv, y, survival, n_splits, n_repeats, random_state) -> list[tuple]:
    if cv is None:
        cv = SurvivalStratifiedKFold(n_splits, n_repeats, random_state)
    if hasattr(cv, "split"):
        if survival and not isinstance(cv, SurvivalStratifiedKFold):
            labels = check_survival_target(y)[0].astype(int)
            raw = list(cv.split(np.zeros((len(y), 1)), labels))
        else:
            raw = list(cv.split(np.zeros((len(y), 1)), y))
    else:
        raw = list(cv)
    per_repeat = getattr(cv, "n_splits", None) or getattr(cv, "cvargs", {}).get("n_splits")
    if isinstance(per_repeat, int) and per_repeat and len(raw) % per_repeat == 0:
        return [(i // per_repeat, i % per_repeat, tr, te) for i, (tr, te) in enumerate(raw)]
    return [(0, i, tr, te) for i, (tr, te) in enumerate(raw)]


def cross_validate(
    estimator,
    X,
    y,
    *,
    cv=None,
    n_splits: int = 5,
    n_repeats: int = 1,
    random_state: int | None = 0,
    metrics: Sequence[str | Callable] | None = None,
    times: Iterable[float] | None = None,
    n_jobs: int = 1,
    executor: str | Any | None = None,
    progress: bool = False,
    fit_params: Mapping[str, Any] | None = None,
) -> CVResult:
    """Repeated stratified K-fold cross-validation of a whole pipeline.

    Parameters
    ----------
    estimator
        Unfitted estimator or pipeline; cloned and refitted in every training fold.
    X
        Features (DataFrame or array), one row per patient.
    y
        Survival structured array or binary vector.
    cv
        Splitter (anything with ``split``) or an iterable of ``(train, test)`` index pairs;
        default ``SurvivalStratifiedKFold(n_splits, n_repeats, random_state)``.
    metrics
        Metric names (:data:`SURVIVAL_METRICS`, :data:`BINARY_METRICS`) or callables
        ``f(y_test, prediction) -> float``.
    times
        Survival evaluation times for Uno C (:math:`\\tau` = the largest time), the mean AUC and
        the IBS; default the 10th, 20th, ..., 80th percentiles of the event times. In each fold
        only the times inside the test fold's follow-up are used (see :mod:`radiopredict.metrics`).
    n_jobs, executor
        Parallelism over folds (see :func:`radiopredict.parallel.run_tasks`).
    progress
        Show a progress bar.
    fit_params
        Extra keyword arguments of ``estimator.fit``.
    """
    y, survival = _check_xy(X, y)
    names = (
        tuple(metrics)
        if metrics is not None
        else (SURVIVAL_METRICS if survival else BINARY_METRICS)
    )
    grid = None
    if survival:
        grid = _default_times(y) if times is None else np.unique(np.asarray(times, dtype=float))
    tasks = _splits(cv, y, survival, n_splits, n_repeats, random_state)
    work = partial(
        _run_fold,
        estimator=estimator,
        X=X,
        y=y,
        survival=survival,
        names=names,
        times=grid,
        fit_params=dict(fit_params or {}),
    )
    folds = run_tasks(
        work, tasks, n_jobs=n_jobs, executor=executor, progress=progress, description="folds"
    )
    score_rows, pred_rows = [], []
    index = X.index if hasattr(X, "index") else None
    for f in folds:
        score_rows.append(
            {
                "repeat": f["repeat"],
                "fold": f["fold"],
                **f["scores"],
                "fit_time": f["fit_time"],
                "n_test": len(f["test"]),
            }
        )
        pred_rows.append(
            pd.DataFrame(
                {
                    "repeat": f["repeat"],
                    "fold": f["fold"],
                    "row": f["test"],
                    "index": f["test"] if index is None else index[f["test"]],
                    "prediction": f["pred"],
                }
            )
        )
    predictions = pd.concat(pred_rows, ignore_index=True).sort_values(["repeat", "row"])
    choice_rows = [
        {"repeat": f["repeat"], "fold": f["fold"], **row}
        for f in folds
        for row in f.get("inner_choice", ())
    ]
    extra = {}
    if choice_rows:
        extra["inner_choice"] = pd.DataFrame(choice_rows)
    return CVResult(
        scores=pd.DataFrame(score_rows),
        predictions=predictions.reset_index(drop=True),
        task="survival" if survival else "binary",
        times=grid,
        best_params=[f["best_params"] for f in folds if "best_params" in f],
        **extra,
        _folds=folds,
        _y=y,
        _metrics=names,
    )


def nested_cv(
    estimator,
    param_grid: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]],
    X,
    y,
    *,
    inner_splits: int = 3,
    inner_repeats: int = 1,
    scoring: str | Callable | None = None,
    **kwargs,
) -> CVResult:
    """Nested cross-validation: a grid search inside every outer training fold.

    The inner search (:class:`sklearn.model_selection.GridSearchCV`, stratified inner folds)
    picks the hyper-parameters on the outer training fold only; the refitted best model is
    scored on the outer test fold. ``scoring`` default: for a binary target the ROC AUC of
    ``predict_proba(X)[:, 1]`` (the metric the outer folds report, whatever the estimator's own
    ``score``: scikit-learn classifiers score by accuracy), for survival the estimator's
    ``score`` (Harrell C for ours). ``kwargs`` go to :func:`cross_validate`; the chosen
    parameters are in ``result.best_params``.
    """
    from sklearn.model_selection import GridSearchCV

    if scoring is None and not _is_survival(y):
        from radiopredict.models.response import proba_auc

        scoring = proba_auc
    rs = kwargs.get("random_state", 0)
    search = GridSearchCV(
        estimator,
        param_grid,
        cv=SurvivalStratifiedKFold(inner_splits, inner_repeats, rs),
        scoring=scoring,
        refit=True,
        n_jobs=1,
        error_score="raise",
    )
    return cross_validate(search, X, y, **kwargs)


@dataclass
class Comparison:
    """Result of :func:`compare_models`: a tidy ``table`` and the per-model results."""

    table: pd.DataFrame
    results: dict[str, CVResult]


def compare_models(
    models: Mapping[str, Any],
    X,
    y,
    *,
    ci: str = "bootstrap",
    level: float = 0.95,
    n_bootstrap: int = 200,
    **kwargs,
) -> Comparison:
    """Cross-validate several pipelines on the same folds and tabulate metrics with CIs.

    Parameters
    ----------
    models
        ``{name: unfitted estimator}``.
    kwargs
        Passed to :func:`cross_validate` (same ``random_state`` => same folds for every model).

    Returns
    -------
    Comparison
        ``table``: one row per (model, metric) with ``mean``, ``sd``, ``ci_low``, ``ci_high``,
        and ``fit_time`` (mean seconds per fold).
    """
    if not models:
        raise ConfigError("no models to compare", fix="pass {name: pipeline}")
    results, frames = {}, []
    for name, est in models.items():
        res = cross_validate(est, X, y, **kwargs)
        results[name] = res
        summ = res.summary(ci=ci, level=level, n_bootstrap=n_bootstrap)
        summ.insert(0, "model", name)
        summ["fit_time"] = float(res.scores["fit_time"].mean())
        frames.append(summ.rename_axis("metric").reset_index())
    table = pd.concat(frames, ignore_index=True)[
        ["model", "metric", "mean", "sd", "ci_low", "ci_high", "ci", "n_folds", "fit_time"]
    ]
    return Comparison(table=table, results=results)
