"""External validation of a locked model, case-mix shift, subgroup and site audits.

Every function takes plain data (a target, a table of predictions, feature tables) and returns
a tidy :class:`pandas.DataFrame` or a dict, so it serves scripts, the study report and
``radiopredict predict`` alike. The metrics themselves come from :mod:`radiopredict.metrics`.

Targets follow the project's convention: a survival target is the structured array of
:func:`radiopredict.make_survival_target` (fields ``event``, ``time``), a response target a 0/1
vector. Predictions are a DataFrame, one row per patient in the order of ``y``:

* survival: ``risk`` (higher = worse) and ``survival_at_horizon``
  (:math:`\\hat S(h \\mid x_i)` at the model's horizon :math:`h`);
* response: ``probability`` (:math:`\\hat p_i = \\hat P(y_i = 1 \\mid x_i)`).

An optional ``patient_id`` column (or the index) names patients in error messages.

Confidence intervals are percentile bootstraps over patients: ``n_bootstrap`` resamples of the
validation patients with replacement, every metric recomputed on each; the interval is the 2.5th
and 97.5th percentile of the replicates where the metric is defined. A metric that cannot be
computed is reported with ``value`` NaN *and* a ``note`` that says why, never a bare NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from radiopredict import metrics as M
from radiopredict.errors import (
    ConfigError,
    EvaluationTimeError,
    FeatureTableError,
    RadiopredictError,
    TargetError,
)
from radiopredict.targets import check_binary_target, check_survival_target

__all__ = [
    "SURVIVAL_VALIDATION_METRICS",
    "RESPONSE_VALIDATION_METRICS",
    "external_validation",
    "calibration_at_horizon",
    "shift_diagnostics",
    "subgroup_audit",
    "site_leakage",
    "leave_one_site_out",
    "risk_cutpoints",
]

SURVIVAL_VALIDATION_METRICS = (
    "harrell_c",
    "uno_c",
    "td_auc",
    "ibs",
    "calibration_intercept",
    "calibration_slope",
)
"""Metrics of :func:`external_validation` for ``task="survival"``, in output order."""

RESPONSE_VALIDATION_METRICS = ("auc", "brier", "calibration_intercept", "calibration_slope")
"""Metrics of :func:`external_validation` for ``task="response"``, in output order."""

_TASKS = ("survival", "response")
_EPS = 1e-10
_IBS_GRID = 50


# --------------------------------------------------------------------------- input checks


def _check_task(task: str) -> str:
    if task not in _TASKS:
        raise ConfigError(
            f"task must be 'survival' or 'response', got {task!r}",
            fix="pass task='survival' (structured survival target) or task='response' (0/1)",
        )
    return task


def _patient_names(prediction: pd.DataFrame) -> np.ndarray:
    if "patient_id" in prediction.columns:
        return prediction["patient_id"].astype(str).to_numpy()
    return np.asarray([str(i) for i in prediction.index])


def _check_prediction(task: str, y, prediction, what: str):
    """Validate ``y`` and ``prediction``; return plain arrays ``(y, pred dict)``."""
    if not isinstance(prediction, pd.DataFrame):
        raise ConfigError(
            f"{what}: prediction must be a pandas DataFrame, got {type(prediction).__name__}",
            fix="pass the predictions table (e.g. predictions.csv read with pandas.read_csv)",
        )
    needed = ("risk", "survival_at_horizon") if task == "survival" else ("probability",)
    missing = [c for c in needed if c not in prediction.columns]
    if missing:
        raise ConfigError(
            f"{what}: the prediction table lacks column(s) {', '.join(missing)} needed for "
            f"task={task!r} (it has {', '.join(map(str, prediction.columns)) or 'no columns'})",
            fix="survival predictions need 'risk' and 'survival_at_horizon', response "
            "predictions need 'probability'",
        )
    if task == "survival":
        arr = np.asarray(y)
        if arr.dtype.names is None:
            raise TargetError(
                f"{what}: task='survival' needs a structured survival target, got a plain "
                f"array of dtype {arr.dtype}",
                fix="build y with radiopredict.make_survival_target(event, time), or use "
                "task='response' for a 0/1 outcome",
            )
        check_survival_target(arr)
        y_out = arr
    else:
        if np.asarray(y).dtype.names is not None:
            raise TargetError(
                f"{what}: task='response' needs a 0/1 response, got a survival target",
                fix="pass task='survival' for a survival target",
            )
        y_out = check_binary_target(y)
    if len(y_out) != len(prediction):
        raise ConfigError(
            f"{what}: y has {len(y_out)} patients but the prediction table has "
            f"{len(prediction)} rows",
            fix="pass one prediction row per patient, in the order of y",
        )
    names = _patient_names(prediction)
    out = {}
    for col in needed:
        values = pd.to_numeric(prediction[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ConfigError(
                f"{what}: column {col!r} is missing or not a finite number for patient(s) "
                f"{', '.join(names[bad][:5])}",
                fix="score these patients again, or drop them from both y and the predictions "
                "(see failures.csv of radiopredict predict)",
            )
        if col != "risk" and (values.min() < 0 or values.max() > 1):
            bad = (values < 0) | (values > 1)
            raise ConfigError(
                f"{what}: column {col!r} must hold probabilities in [0, 1]; patient(s) "
                f"{', '.join(names[bad][:5])} are outside",
                fix="pass survival probabilities / predicted probabilities, not risk scores",
            )
        out[col] = values
    return y_out, out


def _check_horizon(y, horizon, what: str) -> float:
    if horizon is None:
        raise ConfigError(
            f"{what}: task='survival' needs the horizon that 'survival_at_horizon' refers to",
            fix="pass horizon=<the model's horizon> (StudyModel.horizon_)",
        )
    try:
        horizon = float(horizon)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{what}: horizon must be a number, got {horizon!r}", fix="pass e.g. horizon=24"
        ) from None
    low, high = M.valid_time_range(y)
    if not (low <= horizon < high):
        raise EvaluationTimeError(
            f"{what}: horizon {horizon:g} lies outside the follow-up of the validation cohort "
            f"[{low:g}, {high:g})",
            fix="validate at a horizon inside the validation follow-up, or collect longer "
            "follow-up",
        )
    return horizon


def _check_curves(survival_curves, n: int, what: str):
    if survival_curves is None:
        return None
    try:
        times, surv = survival_curves
    except (TypeError, ValueError):
        raise ConfigError(
            f"{what}: survival_curves must be a pair (times, array n x len(times))",
            fix="pass (times, predict_survival_function(X, times))",
        ) from None
    times = np.asarray(times, dtype=float).ravel()
    surv = np.asarray(surv, dtype=float)
    if surv.ndim != 2 or surv.shape != (n, len(times)):
        raise ConfigError(
            f"{what}: survival_curves holds an array of shape {surv.shape}, expected "
            f"({n}, {len(times)}): one row per patient and one column per time",
            fix="pass (times, predict_survival_function(X, times)) for the same patients",
        )
    if not np.all(np.isfinite(surv)) or surv.min() < 0 or surv.max() > 1:
        raise ConfigError(
            f"{what}: survival_curves must hold finite probabilities in [0, 1]",
            fix="pass predicted survival probabilities",
        )
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ConfigError(
            f"{what}: survival_curves times must be at least two strictly increasing values",
            fix="pass e.g. numpy.linspace(1, horizon, 50)",
        )
    return times, surv


# --------------------------------------------------------------------------- calibration


def _cloglog_fit(c: np.ndarray, d: np.ndarray, w: np.ndarray, *, slope: bool) -> np.ndarray:
    """Weighted binomial GLM with complementary log-log link, Fisher scoring.

    ``slope=True``: :math:`\\eta = a + b c`, returns ``[a, b]``; ``slope=False``:
    :math:`\\eta = a + c` (offset), returns ``[a]``.
    """
    Z = np.column_stack([np.ones_like(c), c]) if slope else np.ones((len(c), 1))
    offset = np.zeros_like(c) if slope else c

    def loglik(beta):
        eta = np.clip(Z @ beta + offset, -50, 30)
        e = np.exp(eta)
        # log P(D=1) = log(1 - exp(-e)), log P(D=0) = -e
        return float(np.sum(w * (d * np.log(-np.expm1(-np.maximum(e, 1e-300))) - (1 - d) * e)))

    beta = np.zeros(Z.shape[1])
    if slope:
        beta[1] = 1.0
    current = loglik(beta)
    for _ in range(200):
        eta = np.clip(Z @ beta + offset, -50, 30)
        e = np.exp(eta)
        mu = np.clip(-np.expm1(-e), _EPS, 1 - _EPS)
        dmu = e * np.exp(-e)
        grad = Z.T @ (w * (d - mu) * dmu / (mu * (1 - mu)))
        info = Z.T @ (Z * (w * dmu**2 / (mu * (1 - mu)))[:, None])
        if not np.all(np.isfinite(info)) or np.linalg.cond(info) > 1e12:
            raise TargetError(
                "calibration at the horizon is undefined: predictions or outcomes carry no "
                "information (all predictions equal, or no event / no survivor at the horizon)",
                fix="validate on a cohort with events before and patients followed beyond the "
                "horizon",
            )
        step = np.linalg.solve(info, grad)
        for _halving in range(30):  # damped Fisher scoring: never decrease the likelihood
            trial = beta + step
            value = loglik(trial)
            if value >= current - 1e-12 * abs(current):
                break
            step = step / 2
        beta, previous, current = trial, current, value
        if np.max(np.abs(step)) < 1e-8 or abs(current - previous) < 1e-12 * (1 + abs(current)):
            return beta
    raise TargetError(
        "calibration at the horizon did not converge (predictions separate the outcomes "
        "perfectly or the cohort is too small)",
        fix="use a larger validation cohort",
    )


def calibration_at_horizon(y, survival_at_horizon, horizon: float, *, y_train=None) -> dict:
    """Calibration intercept and slope of predicted survival at a horizon.

    Let :math:`h` be the horizon, :math:`\\hat S_i = \\hat S(h \\mid x_i)` the predicted
    survival, :math:`D_i = \\delta_i\\,\\mathbb 1[T_i \\le h]` the observed event by
    :math:`h` and :math:`c_i = \\log(-\\log \\hat S_i)` the complementary log-log of the
    predicted event probability :math:`1 - \\hat S_i`. Patients censored before :math:`h`
    have an unknown :math:`D_i`; the others are weighted by the inverse probability of
    being uncensored (IPCW),

    .. math::
        w_i = \\frac{D_i}{\\hat G(T_i)} + \\frac{\\mathbb 1[T_i > h]}{\\hat G(h)},

    with :math:`\\hat G` the Kaplan-Meier estimate of the censoring distribution of
    ``y_train`` (default: ``y`` itself). Two weighted binomial regressions with
    complementary log-log link are fitted by maximum likelihood:

    .. math::
        \\log(-\\log(1 - P(D_i = 1))) = a + b\\, c_i
        \\qquad\\text{(slope } b\\text{)}

    .. math::
        \\log(-\\log(1 - P(D_i = 1))) = a_0 + c_i
        \\qquad\\text{(intercept } a_0\\text{, slope fixed at 1)}

    Perfect calibration gives :math:`b = 1` and :math:`a_0 = 0`: the link makes a
    proportional-hazards miscalibration :math:`S^{\\text{true}} = \\hat S^{\\,\\exp(a)}`
    exactly linear in :math:`c_i`. :math:`b < 1` means predictions too extreme (typical of
    overfitting), :math:`a_0 > 0` that more events occur than predicted.

    Parameters
    ----------
    y
        Survival target of the validation cohort.
    survival_at_horizon
        Predicted :math:`\\hat S(h \\mid x_i)`, one per patient.
    horizon
        :math:`h`, inside the follow-up of ``y``.
    y_train
        Target whose censoring distribution gives the weights (default ``y``).

    Returns
    -------
    dict
        ``{"calibration_intercept": a0, "calibration_slope": b}``.
    """
    return _calibration(y, survival_at_horizon, horizon, y_train, _CALIBRATION)


_CALIBRATION = ("calibration_intercept", "calibration_slope")


def _calibration(y, survival_at_horizon, horizon, y_train, which) -> dict:
    event, time = check_survival_target(y)
    s = np.clip(np.asarray(survival_at_horizon, dtype=float).ravel(), _EPS, 1 - _EPS)
    if len(s) != len(time):
        raise ConfigError(
            f"calibration_at_horizon: {len(s)} predictions for {len(time)} patients",
            fix="pass one prediction per patient",
        )
    g = M._censoring(y if y_train is None else y_train)
    d = (event & (time <= horizon)).astype(float)
    alive = time > horizon
    w = np.zeros(len(time))
    if d.any():
        w[d > 0] = 1.0 / M._ipcw_at(g, time[d > 0])
    if alive.any():
        w[alive] = 1.0 / M._ipcw_at(g, np.array([horizon]))[0]
    if not d.any() or not alive.any():
        raise TargetError(
            f"calibration at horizon {horizon:g} is undefined: "
            + ("no event by the horizon" if not d.any() else "nobody followed past the horizon"),
            fix="validate at a horizon with events before it and patients followed beyond it",
        )
    keep = w > 0
    c = np.log(-np.log(s[keep]))
    out = {}
    if "calibration_intercept" in which:
        out["calibration_intercept"] = float(_cloglog_fit(c, d[keep], w[keep], slope=False)[0])
    if "calibration_slope" in which:
        out["calibration_slope"] = float(_cloglog_fit(c, d[keep], w[keep], slope=True)[1])
    return out


# --------------------------------------------------------------------------- metrics


def _ibs_grid(y, horizon: float, curve_times: np.ndarray) -> np.ndarray:
    """Grid for the integrated Brier score (see :func:`external_validation`)."""
    _, time = check_survival_target(y)
    low = max(float(np.percentile(time, 10)), float(curve_times[0]))
    high = min(float(np.percentile(time, 90)), float(curve_times[-1]))
    if not high > low:
        raise EvaluationTimeError(
            f"the survival curves (times {curve_times[0]:g} to {curve_times[-1]:g}) do not "
            "overlap the 10th-90th percentile of the validation follow-up "
            f"({np.percentile(time, 10):g} to {np.percentile(time, 90):g})",
            fix="predict the survival curves over the validation follow-up",
        )
    return np.linspace(low, high, _IBS_GRID)


def _interp_curves(curve_times: np.ndarray, surv: np.ndarray, grid: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(curve_times, grid, side="right") - 1
    return np.where(idx[None, :] >= 0, surv[:, np.clip(idx, 0, None)], 1.0)


def _survival_metric(name, y, y_train, pred, horizon, curves, grid):
    ytr = y if y_train is None else y_train
    if name == "harrell_c":
        return M.harrell_c(y, pred["risk"])
    if name == "uno_c":
        return M.uno_c(ytr, y, pred["risk"], tau=horizon)
    if name == "td_auc":
        return M.cumulative_dynamic_auc(ytr, y, 1.0 - pred["survival_at_horizon"], [horizon])[1]
    if name == "ibs":
        times, surv = curves
        return M.integrated_brier_score(ytr, y, _interp_curves(times, surv, grid), grid)
    return _calibration(y, pred["survival_at_horizon"], horizon, y_train, (name,))[name]


def _response_metric(name, y, pred):
    p = pred["probability"]
    if name == "auc":
        return M.roc_auc(y, p)
    if name == "brier":
        return M.binary_brier(y, p)
    if name == "calibration_slope" and np.ptp(p) == 0:
        raise TargetError(
            "the calibration slope is undefined: every patient has the same predicted probability",
            fix="check that the model's predictions vary between patients",
        )
    cal = M.binary_calibration(y, p, n_groups=1)
    return cal.intercept if name == "calibration_intercept" else cal.slope


def _why(exc: Exception) -> str:
    return getattr(exc, "problem", None) or str(exc)


def _validate_arrays(
    task, y, pred, *, y_train, horizon, curves, n_bootstrap, random_state
) -> pd.DataFrame:
    """Point estimates and percentile-bootstrap CIs on validated arrays."""
    survival = task == "survival"
    names = SURVIVAL_VALIDATION_METRICS if survival else RESPONSE_VALIDATION_METRICS
    grid = None
    static_note: dict[str, str] = {}
    if survival and curves is None:
        static_note["ibs"] = (
            "not computed: the integrated Brier score needs predicted survival curves "
            "(pass survival_curves=(times, predict_survival_function(X, times)))"
        )
    elif survival:
        try:
            grid = _ibs_grid(y, horizon, curves[0])
        except RadiopredictError as exc:
            static_note["ibs"] = f"not computed: {_why(exc)}"

    def score(name, idx):
        yy = y if idx is None else y[idx]
        pp = pred if idx is None else {k: v[idx] for k, v in pred.items()}
        if not survival:
            return _response_metric(name, yy, pp)
        cc = curves if idx is None or curves is None else (curves[0], curves[1][idx])
        return _survival_metric(name, yy, y_train, pp, horizon, cc, grid)

    values, notes = {}, {}
    for name in names:
        if name in static_note:
            values[name], notes[name] = np.nan, static_note[name]
            continue
        try:
            values[name], notes[name] = float(score(name, None)), ""
            if not np.isfinite(values[name]):
                notes[name] = "not computed: the metric is not finite on this cohort"
        except (RadiopredictError, ValueError, np.linalg.LinAlgError) as exc:
            values[name], notes[name] = np.nan, f"not computed: {_why(exc)}"
    rng = np.random.default_rng(random_state)
    reps: dict[str, list[float]] = {n: [] for n in names}
    failed = dict.fromkeys(names, 0)
    todo = [n for n in names if np.isfinite(values[n])]
    n = len(y)
    for _ in range(n_bootstrap):
        idx = rng.integers(0, n, n)
        for name in todo:
            try:
                reps[name].append(float(score(name, idx)))
            except (RadiopredictError, ValueError, np.linalg.LinAlgError):
                failed[name] += 1
    rows = []
    for name in names:
        lo = hi = np.nan
        note = notes[name]
        if name in todo and n_bootstrap > 0:
            if reps[name]:
                lo, hi = np.percentile(reps[name], [2.5, 97.5])
            if failed[name]:
                note = (
                    f"{failed[name]} of {n_bootstrap} bootstrap replicates undefined and left "
                    "out of the interval"
                    if reps[name]
                    else "no confidence interval: the metric is undefined on every bootstrap "
                    "replicate"
                )
        elif name in todo:
            note = "no confidence interval: n_bootstrap=0"
        rows.append(
            {
                "metric": name,
                "value": values[name],
                "ci_low": float(lo),
                "ci_high": float(hi),
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high", "note"])


def _check_n_bootstrap(n_bootstrap) -> int:
    if not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 0:
        raise ConfigError(
            f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}",
            fix="pass e.g. n_bootstrap=200 (0 skips the confidence intervals)",
        )
    return int(n_bootstrap)


def external_validation(
    task: str,
    y,
    prediction: pd.DataFrame,
    *,
    y_train=None,
    horizon: float | None = None,
    n_bootstrap: int = 200,
    random_state: int = 0,
    survival_curves: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Discrimination and calibration of a locked model on a validation cohort.

    Survival (``task="survival"``), with :math:`h` the horizon:

    * ``harrell_c``: Harrell's concordance of ``risk`` (:func:`radiopredict.metrics.harrell_c`).
    * ``uno_c``: Uno's IPCW concordance of ``risk`` truncated at :math:`\\tau = h`
      (:func:`radiopredict.metrics.uno_c`).
    * ``td_auc``: cumulative/dynamic AUC at :math:`h` of the predicted event probability
      :math:`1 - \\hat S(h \\mid x_i)`: cases had the event by :math:`h`, controls are
      event-free after it, cases weighted by :math:`1 / \\hat G(T_i)`
      (:func:`radiopredict.metrics.cumulative_dynamic_auc`).
    * ``ibs``: integrated IPCW Brier score
      :math:`\\frac{1}{t_K - t_1}\\int_{t_1}^{t_K} \\mathrm{BS}(t)\\,dt` over 50 equally spaced
      times from the 10th to the 90th percentile of the validation follow-up (clipped to the
      times of ``survival_curves``; curves are read as step functions). Needs
      ``survival_curves``; without them the row says so in ``note``.
    * ``calibration_intercept``, ``calibration_slope``: complementary log-log recalibration
      of :math:`\\hat S(h \\mid x_i)` against the IPCW-weighted observed event by :math:`h`
      (see :func:`calibration_at_horizon`); ideal values 0 and 1.

    Response (``task="response"``): ``auc`` (:func:`radiopredict.metrics.roc_auc`),
    ``brier`` (:math:`\\frac1n\\sum_i (\\hat p_i - y_i)^2`), and the logistic recalibration
    :math:`\\operatorname{logit} P(y_i = 1) = a + b \\operatorname{logit}\\hat p_i`:
    ``calibration_slope`` :math:`b`, ``calibration_intercept`` :math:`a_0` with the slope
    fixed at 1 (:func:`radiopredict.metrics.binary_calibration`); ideal values 0 and 1.

    :math:`\\hat G` is the Kaplan-Meier estimate of the censoring distribution of ``y_train``.
    The default (the validation cohort itself) is the right choice for an external cohort,
    whose follow-up and censoring usually differ from the development cohort's; on each
    bootstrap replicate it is then re-estimated on the resampled patients.

    Parameters
    ----------
    task
        ``"survival"`` or ``"response"``.
    y
        Outcome of the validation patients: survival target or 0/1 vector.
    prediction
        Predictions of the locked model, one row per patient in the order of ``y``
        (columns: see the module docstring).
    y_train
        Target whose censoring distribution gives the IPCW weights (default ``y``).
    horizon
        The time :math:`h` of ``survival_at_horizon``; required for survival.
    n_bootstrap
        Bootstrap resamples for the percentile CIs (0: no CI).
    random_state
        Seed of the bootstrap.
    survival_curves
        Optional ``(times, S)`` with ``S[i, k]`` :math:`= \\hat S(t_k \\mid x_i)`, for ``ibs``.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``metric``, ``value``, ``ci_low``, ``ci_high`` (95 % percentile
        bootstrap) and ``note`` (empty, or why a value or an interval is missing).

    Raises
    ------
    ConfigError
        Unknown task, missing prediction columns, lengths that differ, non-finite predictions.
    TargetError
        A malformed target, a response with a single class, a survival target without event.
    EvaluationTimeError
        A horizon outside the validation follow-up.
    """
    what = "external_validation"
    _check_task(task)
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    y, pred = _check_prediction(task, y, prediction, what)
    curves = None
    if task == "survival":
        horizon = _check_horizon(y, horizon, what)
        if y_train is not None:
            check_survival_target(y_train, allow_all_censored=True)
        curves = _check_curves(survival_curves, len(y), what)
    elif survival_curves is not None:
        raise ConfigError(
            f"{what}: survival_curves only apply to task='survival'",
            fix="drop survival_curves for a response model",
        )
    return _validate_arrays(
        task,
        y,
        pred,
        y_train=y_train,
        horizon=horizon,
        curves=curves,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )


# --------------------------------------------------------------------------- shift


def _numeric_frame(X, name: str) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise FeatureTableError(
            f"{name} must be a pandas DataFrame, got {type(X).__name__}",
            fix="pass the model's input table (one row per patient, one column per input)",
        )
    bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if bad:
        raise FeatureTableError(
            f"{name} has non-numeric column(s) {', '.join(map(str, bad[:5]))}",
            fix="pass the numeric design matrix the model sees (encode categories first)",
        )
    if X.shape[1] == 0 or X.shape[0] == 0:
        raise FeatureTableError(
            f"{name} is empty ({X.shape[0]} rows, {X.shape[1]} columns)",
            fix="pass the design matrix of at least one patient with its numeric model inputs",
        )
    return X.astype(float)


def _site_model(random_state: int):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000, random_state=random_state),
    )


def _oof_proba(X: pd.DataFrame, labels: np.ndarray, cv: int, random_state: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    return cross_val_predict(_site_model(random_state), X, labels, cv=folds, method="predict_proba")


def shift_diagnostics(X_dev: pd.DataFrame, X_val: pd.DataFrame, *, random_state: int = 0) -> dict:
    """How different is the validation case mix from the development one?

    Membership model: an L2-penalised logistic regression (:math:`C = 1`, median imputation,
    standardisation inside each fold) predicts whether a patient belongs to the validation
    cohort from the model inputs. Its out-of-fold predictions (stratified 5-fold CV, fewer
    folds when a cohort has fewer than 5 patients) give ``membership_auc``: 0.5 means the
    cohorts cannot be told apart, 1 that they do not overlap. Its 95 % CI is a percentile
    bootstrap (200 resamples of patients) of the out-of-fold AUC.

    Standardised mean difference per input, :math:`\\bar x` and :math:`s^2` computed
    ignoring missing values:

    .. math::
        \\mathrm{SMD} = \\frac{\\bar x_{val} - \\bar x_{dev}}
        {\\sqrt{(s^2_{dev} + s^2_{val}) / 2}}

    (0 when both cohorts are constant and equal, :math:`\\pm\\infty` when they are
    constant and differ, NaN only when a cohort has no value at all: ``missing_dev`` or
    ``missing_val`` is then 1). :math:`|\\mathrm{SMD}| > 0.1` is the usual flag of imbalance.
    The fractions of missing values, ``missing_dev`` and ``missing_val``, are reported too:
    a difference in missingness is a shift of its own.

    Parameters
    ----------
    X_dev, X_val
        Model inputs (numeric, same columns) of the development and validation patients.
    random_state
        Seed of the folds and the bootstrap.

    Returns
    -------
    dict
        ``membership_auc`` (float), ``membership_auc_ci`` (``(low, high)``), ``n_dev``,
        ``n_val`` and ``standardized_differences`` (DataFrame ``column``, ``mean_dev``,
        ``mean_val``, ``smd``, ``missing_dev``, ``missing_val``, sorted by
        :math:`|\\mathrm{SMD}|`, largest (and NaN) first).
    """
    X_dev = _numeric_frame(X_dev, "X_dev")
    X_val = _numeric_frame(X_val, "X_val")
    missing_val = [c for c in X_dev.columns if c not in X_val.columns]
    missing_dev = [c for c in X_val.columns if c not in X_dev.columns]
    if missing_val or missing_dev:
        raise FeatureTableError(
            "X_dev and X_val have different columns: "
            + "; ".join(
                part
                for part in (
                    missing_val and f"absent from X_val: {', '.join(map(str, missing_val[:5]))}",
                    missing_dev and f"absent from X_dev: {', '.join(map(str, missing_dev[:5]))}",
                )
                if part
            ),
            fix="pass the same model inputs for both cohorts",
        )
    X_val = X_val[X_dev.columns]
    n_dev, n_val = len(X_dev), len(X_val)
    cv = min(5, n_dev, n_val)
    if cv < 2:
        raise FeatureTableError(
            f"shift_diagnostics needs at least 2 patients per cohort (got {n_dev} and {n_val})",
            fix="pass larger cohorts",
        )
    X = pd.concat([X_dev, X_val], ignore_index=True)
    member = np.r_[np.zeros(n_dev, dtype=int), np.ones(n_val, dtype=int)]
    score = _oof_proba(X, member, cv, random_state)[:, 1]
    auc = M.roc_auc(member, score)
    rng = np.random.default_rng(random_state)
    reps = []
    for _ in range(200):
        idx = rng.integers(0, len(member), len(member))
        if 0 < member[idx].sum() < len(idx):
            reps.append(M.roc_auc(member[idx], score[idx]))
    lo, hi = np.percentile(reps, [2.5, 97.5])
    m_dev, m_val = X_dev.mean(), X_val.mean()
    pooled = np.sqrt((X_dev.var(ddof=1).fillna(0) + X_val.var(ddof=1).fillna(0)) / 2)
    diff = (m_val - m_dev).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled.to_numpy() > 0, diff / pooled.to_numpy(), np.sign(diff) * np.inf)
    both_constant = (pooled.to_numpy() == 0) & (diff == 0)
    table = pd.DataFrame(
        {
            "column": list(X_dev.columns),
            "mean_dev": m_dev.to_numpy(),
            "mean_val": m_val.to_numpy(),
            "smd": np.where(both_constant, 0.0, smd),
            "missing_dev": X_dev.isna().mean().to_numpy(),
            "missing_val": X_val.isna().mean().to_numpy(),
        }
    )
    order = np.argsort(-np.nan_to_num(np.abs(table["smd"].to_numpy()), nan=np.inf), kind="stable")
    table = table.iloc[order]
    return {
        "membership_auc": float(auc),
        "membership_auc_ci": (float(lo), float(hi)),
        "n_dev": n_dev,
        "n_val": n_val,
        "standardized_differences": table.reset_index(drop=True),
    }


# --------------------------------------------------------------------------- subgroups


def _age_levels(age: pd.Series, bands: Sequence[float]) -> pd.Series:
    bands = [float(b) for b in bands]
    if len(bands) < 2 or np.any(np.diff(bands) <= 0):
        raise ConfigError(
            f"age_bands must be at least two increasing numbers, got {bands!r}",
            fix="pass e.g. age_bands=(0, 50, 65, 75, 200)",
        )
    values = pd.to_numeric(age, errors="coerce")
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
    banded = pd.cut(values, bands, right=False, labels=labels).astype(object)
    outside = values.notna() & banded.isna()
    if outside.any():
        raise ConfigError(
            f"age {values[outside].iloc[0]:g} lies outside age_bands {bands!r}",
            fix="widen the first or last age band",
        )
    return banded


def _events(task: str, y) -> int:
    if task == "survival":
        return int(np.asarray(y)[np.asarray(y).dtype.names[0]].sum())
    return int(np.asarray(y).sum())


def subgroup_audit(
    task: str,
    y,
    prediction: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    horizon=None,
    n_bootstrap=200,
    min_events: int = 10,
    age_bands=(0, 50, 65, 75, 200),
    random_state=0,
) -> pd.DataFrame:
    """Every validation metric within each subgroup, with bootstrap CIs and warnings.

    Each column of ``groups`` (e.g. ``site``, ``batch``, ``sex``, ``age``, ``stage``) defines
    subgroups by its levels; a numeric ``age`` column is banded first with ``age_bands``
    (intervals closed on the left, ``[50, 65)`` is ``"50-65"``). A missing value is its own
    level, ``"missing"``. Within each subgroup the metrics of :func:`external_validation`
    are computed on its patients alone (IPCW from the subgroup's own censoring, ``ibs`` not
    computed). The first rows, subgroup ``"all"``, hold the whole cohort.

    ``events`` counts events (survival) or responders (response). A subgroup with fewer than
    ``min_events`` events (for a response: fewer responders or non-responders) gets a
    warning: its estimates are unstable; a metric that is undefined in a subgroup is NaN
    with the reason in ``warning``.

    Parameters
    ----------
    task, y, prediction, horizon, n_bootstrap, random_state
        As in :func:`external_validation`.
    groups
        One row per patient (same order as ``y``), one column per grouping variable.
    min_events
        Events below which a subgroup is flagged.
    age_bands
        Edges of the age bands.

    Returns
    -------
    pandas.DataFrame
        ``subgroup``, ``level``, ``n``, ``events``, ``metric``, ``value``, ``ci_low``,
        ``ci_high``, ``warning``.
    """
    what = "subgroup_audit"
    _check_task(task)
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    y, pred = _check_prediction(task, y, prediction, what)
    if task == "survival":
        horizon = _check_horizon(y, horizon, what)
    if not isinstance(groups, pd.DataFrame):
        raise ConfigError(
            f"{what}: groups must be a DataFrame, got {type(groups).__name__}",
            fix="pass e.g. cohort_table[['site', 'sex', 'age', 'stage']]",
        )
    if len(groups) != len(y):
        raise ConfigError(
            f"{what}: groups has {len(groups)} rows but y has {len(y)} patients",
            fix="pass one groups row per patient, in the order of y",
        )
    names = SURVIVAL_VALIDATION_METRICS if task == "survival" else RESPONSE_VALIDATION_METRICS
    names = tuple(n for n in names if n != "ibs")
    columns = ["subgroup", "level", "n", "events", "metric", "value", "ci_low", "ci_high"]
    rows: list[dict] = []

    def audit(subgroup: str, level: str, sel: np.ndarray) -> None:
        ys = y[sel]
        ps = {k: v[sel] for k, v in pred.items()}
        n, events = int(sel.sum()), _events(task, ys)
        warn = []
        if task == "survival" and events < min_events:
            warn.append(f"only {events} events (< {min_events}): estimates are unstable")
        if task == "response" and min(events, n - events) < min_events:
            warn.append(
                f"only {events} responders and {n - events} non-responders "
                f"(< {min_events} in a class): estimates are unstable"
            )
        try:
            if task == "survival":
                check_survival_target(ys)
            else:
                check_binary_target(ys)
            table = _validate_arrays(
                task,
                ys,
                ps,
                y_train=None,
                horizon=horizon,
                curves=None,
                n_bootstrap=n_bootstrap,
                random_state=random_state,
            )
            table = table[table["metric"].isin(names)]
        except RadiopredictError as exc:
            table = pd.DataFrame(
                {
                    "metric": list(names),
                    "value": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "note": f"undefined in this subgroup: {_why(exc)}",
                }
            )
        for rec in table.to_dict("records"):
            note = rec.pop("note")
            rows.append(
                {
                    "subgroup": subgroup,
                    "level": level,
                    "n": n,
                    "events": events,
                    **rec,
                    "warning": "; ".join([*warn, note] if note else warn),
                }
            )

    audit("all", "all", np.ones(len(y), dtype=bool))
    for col in groups.columns:
        values = groups[col].reset_index(drop=True)
        if str(col).lower() == "age":
            numeric = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & numeric.isna()
            if bad.any():
                names = _patient_names(prediction)
                raise ConfigError(
                    f"{what}: age {values[bad].iloc[0]!r} of patient "
                    f"{names[np.flatnonzero(bad.to_numpy())[0]]} is not a number",
                    fix="give ages in years (numbers), or leave unknown ages empty",
                )
            values = _age_levels(numeric, age_bands)
        levels = values.astype(object).where(values.notna(), "missing").astype(str)
        for level in sorted(levels.unique(), key=str):
            audit(str(col), level, (levels == level).to_numpy())
    return pd.DataFrame(rows, columns=[*columns, "warning"])


# --------------------------------------------------------------------------- sites


def _check_site(site, n: int, what: str) -> np.ndarray:
    site = np.asarray(site)
    if site.ndim != 1 or len(site) != n:
        raise ConfigError(
            f"{what}: site has {site.shape} values for {n} patients",
            fix="pass one site (batch) label per patient, in the order of X",
        )
    if pd.isna(pd.Series(site)).any():
        raise ConfigError(
            f"{what}: site is missing for {int(pd.isna(pd.Series(site)).sum())} patient(s)",
            fix="fill in the site (batch) of every patient",
        )
    site = site.astype(str)
    if len(np.unique(site)) < 2:
        raise ConfigError(
            f"{what}: all patients come from one site ({site[0]!r})",
            fix="a site audit needs patients from at least two sites",
        )
    return site


def site_leakage(X: pd.DataFrame, site, *, cv: int = 5, random_state: int = 0) -> float:
    """Cross-validated AUC of predicting the site (batch) from the features.

    An L2-penalised (multinomial) logistic regression (:math:`C = 1`, median imputation,
    standardisation inside each fold) predicts the site from ``X`` in stratified ``cv``-fold
    cross-validation; the out-of-fold probabilities are scored by the ROC AUC, macro-averaged
    one-vs-rest when there are more than two sites:

    .. math:: \\mathrm{AUC}_{macro} = \\frac1K \\sum_{k=1}^K \\mathrm{AUC}(\\mathbb 1[s_i = k],
        \\hat P(s_i = k \\mid x_i))

    About 0.5: the features carry no site signature (e.g. after harmonisation); near 1: a
    model can recognise the hospital, and may learn the site instead of the biology.

    Parameters
    ----------
    X
        Numeric features, one row per patient.
    site
        Site (batch) label per patient; every site needs at least ``cv`` patients.
    cv
        Number of folds.
    random_state
        Seed of the folds.
    """
    what = "site_leakage"
    X = _numeric_frame(X, "X")
    site = _check_site(site, len(X), what)
    if not isinstance(cv, int | np.integer) or cv < 2:
        raise ConfigError(f"{what}: cv must be an integer >= 2, got {cv!r}", fix="pass cv=5")
    levels, counts = np.unique(site, return_counts=True)
    small = levels[counts < cv]
    if len(small):
        raise ConfigError(
            f"{what}: site(s) {', '.join(small[:5])} have fewer than cv={cv} patients",
            fix="merge small sites, drop them, or lower cv",
        )
    codes = np.searchsorted(levels, site)
    proba = _oof_proba(X, codes, int(cv), random_state)
    if len(levels) == 2:
        return M.roc_auc(codes, proba[:, 1])
    return float(
        np.mean([M.roc_auc((codes == k).astype(int), proba[:, k]) for k in range(len(levels))])
    )


def leave_one_site_out(estimator, X, y, site, *, task, horizon=None) -> pd.DataFrame:
    """Fit on all sites but one, validate on the held-out site, for every site.

    For each site :math:`s` a clone of ``estimator`` is fitted on the patients of the other
    sites and scored on the patients of :math:`s` with the point estimates of
    :func:`external_validation` (no bootstrap, IPCW from the held-out site's censoring,
    no ``ibs``). Survival estimators must provide ``predict`` (risk) and
    ``predict_survival_function(X, times)``; response estimators ``predict_proba``.

    Parameters
    ----------
    estimator
        Unfitted scikit-learn estimator or pipeline.
    X
        Features (DataFrame or array), one row per patient.
    y
        Survival target or 0/1 response.
    site
        Site (batch) label per patient.
    task
        ``"survival"`` or ``"response"``.
    horizon
        Horizon of the survival predictions (required for survival).

    Returns
    -------
    pandas.DataFrame
        ``site``, ``n``, ``events``, ``metric``, ``value``, ``note`` (why a value is missing:
        the fit failed, the metric is undefined on that site).
    """
    from sklearn.base import clone

    from radiopredict.models.pipelines import predict_survival_function

    what = "leave_one_site_out"
    _check_task(task)
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if task == "survival":
        y = np.asarray(y)
        if y.dtype.names is None:
            raise TargetError(
                f"{what}: task='survival' needs a structured survival target",
                fix="build y with radiopredict.make_survival_target(event, time)",
            )
        check_survival_target(y)
        if horizon is None:
            raise ConfigError(
                f"{what}: task='survival' needs a horizon", fix="pass horizon=<the horizon>"
            )
        horizon = float(horizon)
    else:
        y = check_binary_target(y)
    if len(y) != n:
        raise ConfigError(f"{what}: X has {n} rows but y has {len(y)}", fix="align X and y")
    site = _check_site(site, n, what)
    names = SURVIVAL_VALIDATION_METRICS if task == "survival" else RESPONSE_VALIDATION_METRICS
    names = tuple(m for m in names if m != "ibs")

    def take(A, sel):
        return A.iloc[sel] if hasattr(A, "iloc") else np.asarray(A)[sel]

    rows = []
    for s in np.unique(site):
        test = np.flatnonzero(site == s)
        train = np.flatnonzero(site != s)
        ys = y[test]
        base = {"site": s, "n": len(test), "events": _events(task, ys)}
        try:
            model = clone(estimator).fit(take(X, train), y[train])
            Xt = take(X, test)
            if task == "survival":
                pred = pd.DataFrame(
                    {
                        "risk": np.asarray(model.predict(Xt), dtype=float).ravel(),
                        "survival_at_horizon": predict_survival_function(model, Xt, [horizon])[
                            :, 0
                        ],
                    }
                )
            else:
                pred = pd.DataFrame({"probability": model.predict_proba(Xt)[:, 1]})
        except (RadiopredictError, ValueError, np.linalg.LinAlgError) as exc:
            rows += [
                {**base, "metric": m, "value": np.nan, "note": f"fit failed: {exc}"} for m in names
            ]
            continue
        try:
            ys_checked, parr = _check_prediction(task, ys, pred, what)
            hz = _check_horizon(ys, horizon, what) if task == "survival" else None
            table = _validate_arrays(
                task,
                ys_checked,
                parr,
                y_train=None,
                horizon=hz,
                curves=None,
                n_bootstrap=0,
                random_state=0,
            )
            for rec in table[table["metric"].isin(names)].to_dict("records"):
                note = "" if rec["note"] == "no confidence interval: n_bootstrap=0" else rec["note"]
                rows.append({**base, "metric": rec["metric"], "value": rec["value"], "note": note})
        except RadiopredictError as exc:
            rows += [
                {
                    **base,
                    "metric": m,
                    "value": np.nan,
                    "note": f"undefined on this site: {_why(exc)}",
                }
                for m in names
            ]
    return pd.DataFrame(rows, columns=["site", "n", "events", "metric", "value", "note"])


def risk_cutpoints(risk, n_groups: int = 3) -> np.ndarray:
    """Cut points splitting development-cohort risk scores into ``n_groups`` equal groups.

    The :math:`k / n_{groups}` quantiles (:math:`k = 1, \\dots, n_{groups} - 1`) of ``risk``.
    Fixed on the development cohort, they define the risk groups of a validation cohort
    (:func:`radiopredict.report.plots.plot_km_by_cutpoints`): group :math:`g` holds the
    patients with ``cutpoints[g-1] <= risk < cutpoints[g]``.
    """
    risk = np.asarray(risk, dtype=float).ravel()
    if not isinstance(n_groups, int | np.integer) or n_groups < 2:
        raise ConfigError(f"n_groups must be an integer >= 2, got {n_groups!r}", fix="pass 3")
    if len(risk) < n_groups or not np.all(np.isfinite(risk)):
        raise ConfigError(
            f"risk_cutpoints needs at least {n_groups} finite risk scores",
            fix="pass the development cohort's risk scores",
        )
    return np.quantile(risk, np.arange(1, n_groups) / n_groups)
