"""Discrimination and calibration metrics for survival and binary outcomes.

Everything here is our own code (scikit-survival is GPL and only used in the tests, where every
survival metric is checked against it to 1e-6).

Notation: patient :math:`i` has observed time :math:`T_i`, event indicator :math:`\\delta_i`
and risk score :math:`r_i` (higher = worse). :math:`\\hat G` is the Kaplan-Meier estimate of the
*censoring* distribution fitted on the training target (censorings are the "events"; at a tied
time events are taken to happen before censorings), evaluated as a right-continuous step
function, :math:`\\hat G(T_i)`, as in scikit-survival.

Evaluation times rule
---------------------
A time-dependent metric at time :math:`t` compares predictions with what was observed up to
:math:`t`, so :math:`t` must lie inside the follow-up of the test set:
:math:`\\min_i T_i \\le t < \\max_i T_i` (test set). The inverse-probability-of-censoring
weights must also exist: an event time used by a metric may not lie beyond the last training
time while :math:`\\hat G` is still positive there, and :math:`\\hat G` must be positive at
every time it divides by. A time that breaks the rule raises
:class:`radiopredict.errors.EvaluationTimeError` naming the valid range; it is never clipped or
turned into NaN. :func:`valid_time_range` returns the range so callers can choose times in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiopredict.errors import ConfigError, EvaluationTimeError, TargetError
from radiopredict.targets import check_binary_target, check_survival_target

__all__ = [
    "harrell_c",
    "uno_c",
    "cumulative_dynamic_auc",
    "brier_score",
    "integrated_brier_score",
    "valid_time_range",
    "kaplan_meier",
    "km_at",
    "survival_calibration",
    "SurvivalCalibration",
    "roc_auc",
    "binary_brier",
    "binary_calibration",
    "BinaryCalibration",
]

_TIED_TOL = 1e-8


# --------------------------------------------------------------------------- Kaplan-Meier


def _counts(event: np.ndarray, time: np.ndarray):
    """Unique times, events, censorings and numbers at risk at each unique time."""
    uniq, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(float), minlength=len(uniq))
    total = np.bincount(inv, minlength=len(uniq)).astype(float)
    c = total - d
    at_risk = total[::-1].cumsum()[::-1]
    return uniq, d, c, at_risk


def kaplan_meier(event, time, *, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate at the unique observed times.

    .. math:: \\hat S(t) = \\prod_{u \\le t} \\left(1 - \\frac{d_u}{n_u}\\right)

    With ``reverse=True`` the censoring distribution :math:`\\hat G` is estimated instead:
    censorings are the events and the :math:`d_u` events at a tied time leave the risk set
    first, :math:`\\hat G(t) = \\prod_{u \\le t} (1 - c_u / (n_u - d_u))`.

    Returns
    -------
    times, probabilities : numpy.ndarray
    """
    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, dtype=float)
    uniq, d, c, n = _counts(event, time)
    if reverse:
        num, den = c, n - d
    else:
        num, den = d, n
    ratio = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return uniq, np.cumprod(1.0 - ratio)


class _StepFunction:
    """Right-continuous step function: value at the largest knot <= t, 1 before the first."""

    def __init__(self, knots: np.ndarray, values: np.ndarray, what: str) -> None:
        self.knots = knots
        self.values = values
        self.what = what

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        beyond = t > self.knots[-1]
        if beyond.any() and self.values[-1] > 0:
            raise EvaluationTimeError(
                f"{self.what} is needed at time {float(t[beyond].max()):g}, beyond the last "
                f"observed time {self.knots[-1]:g} where it is still undefined",
                fix="evaluate only at times inside the follow-up of the training data "
                "(see radiopredict.metrics.valid_time_range)",
            )
        idx = np.searchsorted(self.knots, t, side="right") - 1
        out = np.where(idx >= 0, self.values[np.clip(idx, 0, None)], 1.0)
        return np.where(beyond, 0.0, out)


def _censoring(y_train) -> _StepFunction:
    event, time = check_survival_target(y_train, allow_all_censored=True)
    if event.all():
        uniq = np.unique(time)
        return _StepFunction(uniq, np.ones(len(uniq)), "the censoring distribution")
    knots, g = kaplan_meier(event, time, reverse=True)
    return _StepFunction(knots, g, "the censoring distribution (Kaplan-Meier of censoring)")


def _ipcw_at(g: _StepFunction, times: np.ndarray) -> np.ndarray:
    vals = g(times)
    if np.any(vals <= 0):
        bad = float(np.asarray(times)[vals <= 0].min())
        raise EvaluationTimeError(
            f"the censoring survival is zero at time {bad:g}, so the inverse-probability-of-"
            "censoring weights are infinite",
            fix="evaluate at earlier times (inside the follow-up of the training data)",
        )
    return vals


def valid_time_range(y_test) -> tuple[float, float]:
    """Range ``[low, high)`` of evaluation times allowed for a test target (see module doc)."""
    _, time = check_survival_target(y_test, allow_all_censored=True)
    return float(time.min()), float(time.max())


def _check_times(times, y_test, *, what: str) -> np.ndarray:
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise ConfigError(
            f"{what}: times must be a non-empty 1-D array of finite numbers",
            fix="pass e.g. times=[12, 24, 36]",
        )
    low, high = valid_time_range(y_test)
    bad = (times < low) | (times >= high)
    if bad.any():
        raise EvaluationTimeError(
            f"{what}: evaluation time(s) {', '.join(f'{t:g}' for t in times[bad][:5])} lie "
            f"outside the follow-up of the test data [{low:g}, {high:g}) (the metric needs "
            "patients still observed after t)",
            fix=f"choose times t with {low:g} <= t < {high:g}",
        )
    return times


def _check_estimate(estimate, n: int, what: str, n_times: int | None = None) -> np.ndarray:
    est = np.asarray(estimate, dtype=float)
    if est.ndim == 1 and n_times is not None:
        est = np.broadcast_to(est[:, None], (len(est), n_times))
    if est.shape[0] != n or (n_times is not None and est.shape != (n, n_times)):
        raise ConfigError(
            f"{what}: predictions have shape {est.shape}, expected {n} rows"
            + ("" if n_times is None else f" and {n_times} columns (one per time)"),
            fix="pass one prediction per test patient (and per time)",
        )
    if not np.all(np.isfinite(est)):
        raise ConfigError(
            f"{what}: predictions contain NaN or infinite values",
            fix="check the model's predictions before scoring them",
        )
    return est


# --------------------------------------------------------------------------- concordance


def _concordance(event, time, risk, weights, tied_tol) -> tuple[float, int]:
    order = np.argsort(time, kind="mergesort")
    t, e, r, w = time[order], event[order], risk[order], weights[order]
    numerator = denominator = 0.0
    n_pairs = 0
    # pairs (i, j): i has an event, j survives longer, or is censored at the same time
    for i in np.flatnonzero(e & (w > 0)):
        later = t > t[i]
        same_censored = (t == t[i]) & ~e
        mask = later | same_censored
        m = int(mask.sum())
        if m == 0:
            continue
        diff = r[i] - r[mask]
        ties = np.abs(diff) <= tied_tol
        concordant = (diff > 0) & ~ties
        numerator += w[i] * (concordant.sum() + 0.5 * ties.sum())
        denominator += w[i] * m
        n_pairs += m
    if denominator == 0:
        raise TargetError(
            "no comparable pair of patients: the concordance index is undefined",
            fix="evaluate on a test set with at least one event followed by a longer survivor",
        )
    return float(numerator / denominator), n_pairs


def harrell_c(y, risk, *, tied_tol: float = _TIED_TOL) -> float:
    """Harrell's concordance index.

    .. math::
        C = \\frac{\\sum_{i,j} \\delta_i\\, \\mathbb 1[T_i < T_j]\\,
        (\\mathbb 1[r_i > r_j] + \\tfrac12 \\mathbb 1[r_i = r_j])}
        {\\sum_{i,j} \\delta_i\\, \\mathbb 1[T_i < T_j]}

    A pair with tied times is comparable when :math:`i` has the event and :math:`j` is
    censored. Risk scores closer than ``tied_tol`` count as tied.

    Parameters
    ----------
    y
        Survival target (structured array ``event``, ``time``).
    risk
        Risk score per patient, higher = worse prognosis.
    """
    event, time = check_survival_target(y)
    risk = _check_estimate(risk, len(time), "harrell_c")
    return _concordance(event, time, risk.ravel(), np.ones(len(time)), tied_tol)[0]


def uno_c(y_train, y_test, risk, *, tau: float | None = None, tied_tol: float = _TIED_TOL) -> float:
    """Uno's IPCW concordance index truncated at ``tau``.

    .. math::
        C_\\tau = \\frac{\\sum_{i,j} \\delta_i \\hat G(T_i)^{-2}\\, \\mathbb 1[T_i < T_j,
        T_i < \\tau]\\,(\\mathbb 1[r_i > r_j] + \\tfrac12 \\mathbb 1[r_i = r_j])}
        {\\sum_{i,j} \\delta_i \\hat G(T_i)^{-2}\\, \\mathbb 1[T_i < T_j, T_i < \\tau]}

    Parameters
    ----------
    y_train
        Training target, used only to estimate the censoring distribution :math:`\\hat G`.
    y_test
        Test target.
    risk
        Risk scores of the test patients.
    tau
        Truncation time (default: no truncation). See the module's evaluation-time rule.
    """
    event, time = check_survival_target(y_test)
    risk = _check_estimate(risk, len(time), "uno_c").ravel()
    g = _censoring(y_train)
    used = event if tau is None else event & (time < tau)
    w = np.zeros(len(time))
    w[used] = 1.0 / np.square(_ipcw_at(g, time[used]))
    return _concordance(event, time, risk, w, tied_tol)[0]


# --------------------------------------------------------------------------- time-dependent


def cumulative_dynamic_auc(
    y_train, y_test, risk, times, *, tied_tol: float = _TIED_TOL
) -> tuple[np.ndarray, float]:
    """Cumulative/dynamic time-dependent AUC (Uno 2007, Hung & Chiang 2010).

    Cases at :math:`t` had the event by :math:`t`, controls are still event-free after it:

    .. math::
        \\mathrm{AUC}(t) = \\frac{\\sum_i \\sum_j \\delta_i\\,\\mathbb 1[T_i \\le t]\\,
        \\mathbb 1[T_j > t]\\,\\hat G(T_i)^{-1}\\,(\\mathbb 1[r_i > r_j]
        + \\tfrac12\\mathbb 1[r_i = r_j])}
        {\\sum_i \\delta_i\\,\\mathbb 1[T_i \\le t]\\,\\hat G(T_i)^{-1}\\;
        \\sum_j \\mathbb 1[T_j > t]}

    The mean AUC over ``times`` weights each time by the drop of the test set's Kaplan-Meier
    curve: :math:`\\sum_k \\mathrm{AUC}(t_k)(\\hat S(t_{k-1}) - \\hat S(t_k)) /
    (1 - \\hat S(t_K))` with :math:`\\hat S(t_0) = 1`.

    Parameters
    ----------
    risk
        Risk scores, shape ``(n,)`` or ``(n, len(times))`` (a time-specific risk, e.g.
        :math:`1 - \\hat S(t \\mid x)`).
    times
        Evaluation times (sorted and de-duplicated here), inside the test follow-up.

    Returns
    -------
    auc : numpy.ndarray
        AUC at each sorted time.
    mean_auc : float
    """
    event, time = check_survival_target(y_test)
    raw = np.atleast_1d(np.asarray(times, dtype=float))
    times = _check_times(raw, y_test, what="cumulative_dynamic_auc")
    order = np.argsort(times, kind="mergesort")
    times_sorted, first = np.unique(times[order], return_index=True)
    est = np.asarray(risk, dtype=float)
    if est.ndim == 2:
        est = _check_estimate(est, len(time), "cumulative_dynamic_auc", len(raw))
        est = est[:, order][:, first]
    else:
        est = _check_estimate(est, len(time), "cumulative_dynamic_auc", len(times_sorted))
    g = _censoring(y_train)
    auc = np.empty(len(times_sorted))
    for k, t in enumerate(times_sorted):
        cases = event & (time <= t)
        controls = time > t
        if not cases.any() or not controls.any():
            raise EvaluationTimeError(
                f"cumulative_dynamic_auc: no {'case' if not cases.any() else 'control'} at "
                f"time {t:g}",
                fix="choose times after the first event and before the last follow-up",
            )
        w = 1.0 / _ipcw_at(g, time[cases])
        rc, rk = est[cases, k], est[controls, k]
        diff = rc[:, None] - rk[None, :]
        ties = np.abs(diff) <= tied_tol
        score = ((diff > 0) & ~ties) + 0.5 * ties
        auc[k] = float((w[:, None] * score).sum() / (w.sum() * controls.sum()))
    if len(times_sorted) == 1:
        return auc, float(auc[0])
    knots, s = kaplan_meier(event, time)
    s_t = _StepFunction(knots, s, "the Kaplan-Meier estimate of the test data")(times_sorted)
    drop = -np.diff(np.r_[1.0, s_t])
    return auc, float((auc * drop).sum() / (1.0 - s_t[-1]))


def brier_score(y_train, y_test, survival, times) -> tuple[np.ndarray, np.ndarray]:
    """IPCW Brier score at each time (Graf et al. 1999).

    .. math::
        \\mathrm{BS}(t) = \\frac1n \\sum_i \\left[
        \\frac{\\hat S(t\\mid x_i)^2\\, \\delta_i \\mathbb 1[T_i \\le t]}{\\hat G(T_i)}
        + \\frac{(1 - \\hat S(t\\mid x_i))^2\\, \\mathbb 1[T_i > t]}{\\hat G(t)} \\right]

    Parameters
    ----------
    survival
        Predicted survival probabilities, shape ``(n, len(times))``.
    times
        Evaluation times inside the test follow-up; sorted here together with the columns.

    Returns
    -------
    times, scores : numpy.ndarray
    """
    event, time = check_survival_target(y_test, allow_all_censored=True)
    raw = np.atleast_1d(np.asarray(times, dtype=float))
    times = _check_times(raw, y_test, what="brier_score")
    surv = _check_estimate(survival, len(time), "brier_score", len(raw))
    if surv.min() < 0 or surv.max() > 1:
        raise ConfigError(
            "brier_score: survival predictions must be probabilities in [0, 1]",
            fix="pass predict_survival_function(X, times), not risk scores",
        )
    order = np.argsort(times, kind="mergesort")
    times, surv = times[order], surv[:, order]
    g = _censoring(y_train)
    g_t = _ipcw_at(g, times)
    scores = np.empty(len(times))
    for k, t in enumerate(times):
        cases = event & (time <= t)
        controls = time > t
        part = np.zeros(len(time))
        if cases.any():
            part[cases] = surv[cases, k] ** 2 / _ipcw_at(g, time[cases])
        part[controls] = (1.0 - surv[controls, k]) ** 2 / g_t[k]
        scores[k] = part.mean()
    return times, scores


def integrated_brier_score(y_train, y_test, survival, times) -> float:
    """Integrated Brier score over ``[t_1, t_K]`` by the trapezoidal rule.

    .. math:: \\mathrm{IBS} = \\frac{1}{t_K - t_1} \\int_{t_1}^{t_K} \\mathrm{BS}(t)\\,dt

    Needs at least two distinct times; see :func:`brier_score`.
    """
    t, bs = brier_score(y_train, y_test, survival, times)
    if len(np.unique(t)) < 2:
        raise ConfigError(
            "integrated_brier_score needs at least two distinct times",
            fix="pass a grid of times, e.g. numpy.linspace(t_low, t_high, 20)",
        )
    return float(np.trapezoid(bs, t) / (t[-1] - t[0]))


# --------------------------------------------------------------------------- calibration


def _rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (Harrell): linear term plus ``len(knots) - 2`` terms."""
    k = knots
    norm = (k[-1] - k[0]) ** 2
    cols = [x]
    for j in range(len(k) - 2):
        term = (
            np.clip(x - k[j], 0, None) ** 3
            - np.clip(x - k[-2], 0, None) ** 3 * (k[-1] - k[j]) / (k[-1] - k[-2])
            + np.clip(x - k[-1], 0, None) ** 3 * (k[-2] - k[j]) / (k[-1] - k[-2])
        )
        cols.append(term / norm)
    return np.column_stack(cols)


def _knots(x: np.ndarray, n_knots: int) -> np.ndarray:
    q = {3: [10, 50, 90], 4: [5, 35, 65, 95], 5: [5, 27.5, 50, 72.5, 95]}[n_knots]
    return np.unique(np.percentile(x, q))


def _group_labels(pred: np.ndarray, n_groups: int) -> np.ndarray:
    if n_groups < 1 or n_groups > len(pred):
        raise ConfigError(
            f"n_groups={n_groups} must be between 1 and the number of patients ({len(pred)})",
            fix="use fewer calibration groups",
        )
    ranks = pd.Series(pred).rank(method="first").to_numpy()
    return np.minimum(((ranks - 1) * n_groups // len(pred)).astype(int), n_groups - 1)


def km_at(event, time, t: float, z: float = 1.959964) -> tuple[float, float, float, float]:
    r"""Kaplan-Meier survival at ``t`` with its Greenwood standard error and confidence interval.

    .. math::
        \hat S(t) = \prod_{u \le t} \left(1 - \frac{d_u}{n_u}\right), \qquad
        \widehat{\mathrm{Var}}\,\hat S(t) = \hat S(t)^2 \sum_{u \le t}
        \frac{d_u}{n_u (n_u - d_u)}

    The interval is the log(-log) one, :math:`\hat S^{\exp(\pm z\,\sigma)}` with
    :math:`\sigma = \sqrt{\sum d_u / (n_u(n_u - d_u))} / |\ln \hat S|`; it collapses to
    :math:`\hat S` when :math:`\hat S` is 0 or 1.

    Parameters
    ----------
    event, time
        Event indicators and times (the argument order of every survival helper here).
    t
        Time at which the curve is read.
    z
        Normal quantile of the interval (1.96: 95 %).

    Returns
    -------
    survival, se, lower, upper : float
    """
    uniq, d, _, n = _counts(np.asarray(event, dtype=bool), np.asarray(time, dtype=float))
    keep = (uniq <= t) & (n > d)
    s = float(np.prod(1.0 - d[uniq <= t] / n[uniq <= t]))
    var = float(np.sum(d[keep] / (n[keep] * (n[keep] - d[keep]))))
    se = s * np.sqrt(var)
    if s <= 0 or s >= 1:
        return s, float(se), s, s
    sigma = np.sqrt(var) / abs(np.log(s))
    lo, hi = s ** np.exp(z * sigma), s ** np.exp(-z * sigma)
    return s, float(se), float(lo), float(hi)


@dataclass(frozen=True)
class SurvivalCalibration:
    """Calibration of predicted survival at one time.

    Attributes
    ----------
    time
        The evaluation time.
    table
        One row per risk group: ``group``, ``n``, ``predicted`` (mean predicted survival),
        ``observed`` (Kaplan-Meier), ``observed_lower``, ``observed_upper`` (95 % log-log CI).
    ici
        Integrated calibration index: mean absolute difference between predicted and smoothed
        observed survival (Austin, Harrell & van Klaveren 2020).
    e90
        90th percentile of the same absolute differences.
    """

    time: float
    table: pd.DataFrame
    ici: float
    e90: float


def survival_calibration(
    y, survival_at_t, time: float, *, n_groups: int = 5
) -> SurvivalCalibration:
    """Predicted vs observed survival at ``time`` by risk group, and the ICI.

    Patients are split into ``n_groups`` quantile groups of predicted survival; each group's
    observed survival is its Kaplan-Meier estimate at ``time``. The smooth observed survival
    :math:`\\tilde S_i(t)` comes from a Cox model of the outcome on a restricted cubic spline
    (3 knots) of :math:`\\log(-\\log \\hat S(t \\mid x_i))`, and

    .. math:: \\mathrm{ICI} = \\frac1n \\sum_i |\\hat S(t\\mid x_i) - \\tilde S_i(t)|.

    ``time`` must satisfy the module's evaluation-time rule, and every group must still have
    patients followed at ``time``.
    """
    from lifelines import CoxPHFitter

    event, obs_time = check_survival_target(y)
    pred = _check_estimate(survival_at_t, len(obs_time), "survival_calibration").ravel()
    _check_times([time], y, what="survival_calibration")
    if pred.min() < 0 or pred.max() > 1:
        raise ConfigError(
            "survival_calibration: predictions must be survival probabilities in [0, 1]",
            fix="pass predict_survival_function(X, [time])[:, 0]",
        )
    groups = _group_labels(pred, n_groups)
    rows = []
    for gi in range(n_groups):
        sel = groups == gi
        if obs_time[sel].max() < time:
            raise EvaluationTimeError(
                f"survival_calibration: risk group {gi + 1} of {n_groups} has no patient "
                f"followed up to time {time:g}, so its Kaplan-Meier estimate is undefined",
                fix="use fewer groups or an earlier time",
            )
        s, _, lo, hi = km_at(event[sel], obs_time[sel], time)
        rows.append(
            {
                "group": gi + 1,
                "n": int(sel.sum()),
                "predicted": float(pred[sel].mean()),
                "observed": s,
                "observed_lower": lo,
                "observed_upper": hi,
            }
        )
    table = pd.DataFrame(rows)
    p = np.clip(pred, 1e-10, 1 - 1e-10)
    cll = np.log(-np.log(p))
    basis = _rcs_basis(cll, _knots(cll, 3)) if len(np.unique(cll)) > 3 else cll[:, None]
    frame = pd.DataFrame(basis, columns=[f"s{j}" for j in range(basis.shape[1])])
    frame["T"], frame["E"] = obs_time, event.astype(int)
    cph = CoxPHFitter(penalizer=1e-6).fit(frame, "T", "E")
    smooth = cph.predict_survival_function(frame, times=[time]).to_numpy()[0]
    diff = np.abs(pred - smooth)
    return SurvivalCalibration(
        time=float(time), table=table, ici=float(diff.mean()), e90=float(np.quantile(diff, 0.9))
    )


# --------------------------------------------------------------------------- binary


def _check_binary(y, p, what: str) -> tuple[np.ndarray, np.ndarray]:
    y = check_binary_target(y)
    p = _check_estimate(p, len(y), what).ravel()
    return y, p


def roc_auc(y, score) -> float:
    """Area under the ROC curve (Mann-Whitney form).

    .. math::
        \\mathrm{AUC} = \\frac{1}{n_1 n_0} \\sum_{i: y_i=1} \\sum_{j: y_j=0}
        \\left(\\mathbb 1[s_i > s_j] + \\tfrac12 \\mathbb 1[s_i = s_j]\\right)
    """
    y, s = _check_binary(y, score, "roc_auc")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    n1 = int(y.sum())
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def binary_brier(y, probability) -> float:
    """Brier score :math:`\\frac1n \\sum_i (p_i - y_i)^2`."""
    y, p = _check_binary(y, probability, "binary_brier")
    if p.min() < 0 or p.max() > 1:
        raise ConfigError(
            "binary_brier: predictions must be probabilities in [0, 1]",
            fix="pass predict_proba(X)[:, 1]",
        )
    return float(np.mean((p - y) ** 2))


def _logistic_fit(Z: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Unpenalised logistic regression by Newton-Raphson (Z includes the intercept column)."""
    beta = np.zeros(Z.shape[1])
    for _ in range(100):
        eta = Z @ beta + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = np.clip(mu * (1 - mu), 1e-12, None)
        grad = Z.T @ (y - mu)
        hess = Z.T @ (Z * w[:, None]) + 1e-10 * np.eye(Z.shape[1])
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


@dataclass(frozen=True)
class BinaryCalibration:
    """Calibration of predicted probabilities for a binary outcome.

    Attributes
    ----------
    table
        One row per quantile group: ``group``, ``n``, ``predicted``, ``observed``.
    slope
        :math:`b` in :math:`\\operatorname{logit} P(y=1) = a + b\\,\\operatorname{logit} p`
        (1 is ideal, < 1 means predictions too extreme).
    intercept
        Calibration-in-the-large :math:`a` in
        :math:`\\operatorname{logit} P(y=1) = a + \\operatorname{logit} p` (0 is ideal).
    ici
        Mean :math:`|p_i - \\tilde p_i|`, :math:`\\tilde p` from a logistic regression on a
        restricted cubic spline (3 knots) of :math:`\\operatorname{logit} p`.
    """

    table: pd.DataFrame
    slope: float
    intercept: float
    ici: float


def binary_calibration(y, probability, *, n_groups: int = 5) -> BinaryCalibration:
    """Calibration slope, intercept, ICI and a grouped table for binary predictions.

    Probabilities are clipped to :math:`[10^{-10}, 1 - 10^{-10}]` before the logit.
    """
    y, p = _check_binary(y, probability, "binary_calibration")
    if p.min() < 0 or p.max() > 1:
        raise ConfigError(
            "binary_calibration: predictions must be probabilities in [0, 1]",
            fix="pass predict_proba(X)[:, 1]",
        )
    lp = np.log(np.clip(p, 1e-10, 1 - 1e-10) / np.clip(1 - p, 1e-10, 1))
    ones = np.ones((len(y), 1))
    slope = _logistic_fit(np.column_stack([ones, lp]), y, np.zeros(len(y)))[1]
    intercept = _logistic_fit(ones, y, lp)[0]
    basis = _rcs_basis(lp, _knots(lp, 3)) if len(np.unique(lp)) > 3 else lp[:, None]
    Z = np.column_stack([ones, basis])
    smooth = 1.0 / (1.0 + np.exp(-(Z @ _logistic_fit(Z, y, np.zeros(len(y))))))
    groups = _group_labels(p, n_groups)
    table = pd.DataFrame(
        [
            {
                "group": g + 1,
                "n": int((groups == g).sum()),
                "predicted": float(p[groups == g].mean()),
                "observed": float(y[groups == g].mean()),
            }
            for g in range(n_groups)
        ]
    )
    return BinaryCalibration(
        table=table,
        slope=float(slope),
        intercept=float(intercept),
        ici=float(np.mean(np.abs(p - smooth))),
    )
