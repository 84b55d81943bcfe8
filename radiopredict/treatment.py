"""Personalised treatment benefit from censored outcomes, and its validation.

:class:`TreatmentBenefit` wraps any survival estimator that follows the scikit-learn contract and
has ``predict_survival_function(X, times)``. As a T-learner it fits one model per arm; as an
S-learner it fits one model with the arm as a covariate (optionally with arm x feature
interactions). For a patient with covariates :math:`x` it predicts the survival curve under
every arm, :math:`\\hat S_a(t \\mid x)`, and the benefit of arm :math:`a` over the control arm
:math:`c` at a horizon :math:`\\tau`:

.. math::

    \\Delta S_a(x) = \\hat S_a(\\tau \\mid x) - \\hat S_c(\\tau \\mid x), \\qquad
    \\Delta \\mathrm{RMST}_a(x) = \\int_0^{\\tau} \\big(\\hat S_a(t \\mid x) - \\hat S_c(t \\mid x)\\big)\\,dt.

For non-randomised data, ``propensity="logistic"`` fits a propensity model and weights each
patient by the stabilised inverse probability of the arm received (weights are passed to the
survival estimator's ``sample_weight``). Bootstrap refits give per-patient confidence intervals.

Predicted benefit must be validated, not only predicted: :func:`cross_val_benefit` gives
out-of-fold benefit, and :func:`validate_benefit` checks it against what was observed (hazard
ratio by benefit group, treatment x benefit interaction, c-for-benefit, calibration-for-benefit,
recommended vs anti-recommended Kaplan-Meier).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from radiopredict.errors import ConfigError, TargetError
from radiopredict.metrics import km_at
from radiopredict.targets import check_survival_target

__all__ = [
    "TreatmentBenefit",
    "BenefitValidation",
    "cross_val_benefit",
    "validate_benefit",
    "c_for_benefit",
    "restricted_mean",
]


def restricted_mean(survival: np.ndarray, times: np.ndarray, horizon: float) -> np.ndarray:
    """Restricted mean survival time up to ``horizon`` from survival curves on a time grid.

    Parameters
    ----------
    survival
        Array (n, len(times)) of survival probabilities, each row a step function evaluated at
        ``times`` (right-continuous: the value holds until the next grid time).
    times
        Increasing grid of times, starting at or after 0 and ending at ``horizon``.
    horizon
        Upper limit :math:`\\tau` of the integral :math:`\\int_0^\\tau S(t)\\,dt`.

    Returns
    -------
    numpy.ndarray
        RMST per row.
    """
    times = np.asarray(times, dtype=float)
    grid = np.concatenate([[0.0], times[times <= horizon]])
    if grid[-1] < horizon:
        grid = np.append(grid, horizon)
    widths = np.diff(grid)
    # S = 1 on [0, first time); afterwards the value at the left grid point holds.
    surv = np.asarray(survival, dtype=float)[:, : len(grid) - 1]
    left = np.concatenate([np.ones((surv.shape[0], 1)), surv], axis=1)[:, : len(widths)]
    return left @ widths


def _arm_labels(treatment: pd.Series, control: Any) -> tuple[Any, list[Any]]:
    # numpy scalars become Python values so that messages and column names read "1", not
    # "np.int64(1)"
    values = [v.item() if isinstance(v, np.generic) else v for v in pd.unique(treatment.dropna())]
    arms = sorted(values, key=lambda v: (str(type(v)), v))
    if len(arms) < 2:
        raise ConfigError(
            f"treatment has a single arm {arms}",
            fix="treatment benefit needs patients in at least two arms",
        )
    if control is None:
        control = arms[0]
    if control not in arms:
        raise ConfigError(
            f"control arm {control!r} is not among the arms {arms}",
            fix="pass control= one of the observed arms",
        )
    return control, [a for a in arms if a != control]


def _sample_weight_key(estimator) -> str | None:
    """The fit keyword that carries sample weights to ``estimator`` (``"model__sample_weight"``
    for a pipeline whose last step is ``model``), or None when it takes none."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        inner = _sample_weight_key(last)
        return None if inner is None else f"{name}__{inner}"
    try:
        return (
            "sample_weight"
            if "sample_weight" in inspect.signature(estimator.fit).parameters
            else None
        )
    except (TypeError, ValueError):
        return None


class TreatmentBenefit(BaseEstimator):
    """Per-patient survival under each treatment arm and the benefit of treatment.

    Parameters
    ----------
    estimator
        Unfitted survival estimator with ``fit(X, y)`` and ``predict_survival_function(X, times)``
        (any radiopredict survival model or pipeline ending in one).
    learner
        ``"t"``: one model per arm (T-learner). ``"s"``: one model with arm indicators as
        covariates (S-learner); with ``interactions=True`` arm x feature products are added so a
        linear model can express heterogeneous benefit.
    horizon
        Time :math:`\\tau` at which survival benefit is read and up to which RMST is integrated.
        Required.
    treatment_col
        Column of ``X`` holding the arm; it is removed before fitting the outcome models.
    control
        Value of the control arm; default the first arm in sorted order.
    interactions
        S-learner only: add arm x feature interaction columns.
    propensity
        None (randomised data), ``"logistic"`` (L2 logistic regression on the covariates) or an
        unfitted classifier with ``predict_proba``. Stabilised inverse-probability weights are
        passed to the survival estimator as ``sample_weight``.
    clip
        Propensities are clipped to ``[clip, 1 - clip]`` before weighting.
    n_bootstrap
        Number of bootstrap refits for per-patient confidence intervals (0: none).
    random_state
        Seed of the bootstrap.

    Attributes
    ----------
    arms_ : list
        ``[control, *treated arms]``.
    models_ : dict
        Fitted outcome model per arm (T-learner) or ``{"all": model}`` (S-learner).
    propensity_ : numpy.ndarray or None
        Training propensities of the arm received.
    overlap_ : pandas.DataFrame or None
        Overlap diagnostics per arm (propensity quantiles, fraction outside [0.05, 0.95]).
    """

    def __init__(
        self,
        estimator,
        *,
        learner: str = "t",
        horizon: float | None = None,
        treatment_col: str = "treatment",
        control: Any = None,
        interactions: bool = True,
        propensity: Any = None,
        clip: float = 0.01,
        n_bootstrap: int = 0,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.learner = learner
        self.horizon = horizon
        self.treatment_col = treatment_col
        self.control = control
        self.interactions = interactions
        self.propensity = propensity
        self.clip = clip
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _split(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        if not isinstance(X, pd.DataFrame):
            raise ConfigError(
                f"X must be a DataFrame with a {self.treatment_col!r} column, got {type(X).__name__}",
                fix="pass the design matrix as a pandas DataFrame including the treatment column",
            )
        if self.treatment_col not in X.columns:
            raise ConfigError(
                f"X has no treatment column {self.treatment_col!r}",
                fix=f"add the arm of each patient as column {self.treatment_col!r} or set treatment_col",
            )
        trt = X[self.treatment_col]
        if trt.isna().any():
            missing = list(X.index[trt.isna()][:5])
            raise ConfigError(
                f"treatment is missing for patient(s) {missing}",
                fix="fill in the arm of every patient or drop those patients",
            )
        return X.drop(columns=[self.treatment_col]), trt

    def _s_design(self, covariates: pd.DataFrame, trt: pd.Series) -> pd.DataFrame:
        cols = {}
        for arm in self.arms_[1:]:
            ind = (trt.to_numpy() == arm).astype(float)
            cols[f"arm[{arm}]"] = ind
            if self.interactions:
                # numeric covariates only; the product keeps the column-group prefix
                # (rad__, emb__, clin__) so group-aware transformers still see it
                for c in covariates.select_dtypes("number").columns:
                    head, sep, rest = str(c).partition("__")
                    name = f"{head}__arm[{arm}]*{rest}" if sep else f"arm[{arm}]*{c}"
                    cols[name] = ind * covariates[c].to_numpy(dtype=float)
        extra = pd.DataFrame(cols, index=covariates.index)
        return pd.concat([covariates, extra], axis=1)

    def _weights(self, covariates: pd.DataFrame, trt: pd.Series) -> np.ndarray | None:
        if self.propensity is None:
            self.propensity_ = None
            self.overlap_ = None
            return None
        if isinstance(self.propensity, str) and self.propensity != "logistic":
            raise ConfigError(
                f"unknown propensity {self.propensity!r}",
                fix="use None, 'logistic' or a classifier with predict_proba",
            )
        model = (
            LogisticRegression(max_iter=2000)
            if isinstance(self.propensity, str)
            else clone(self.propensity)
        )
        codes = trt.map({a: i for i, a in enumerate(self.arms_)}).to_numpy()
        model.fit(covariates.to_numpy(dtype=float), codes)
        proba = model.predict_proba(covariates.to_numpy(dtype=float))
        p_received = np.clip(proba[np.arange(len(codes)), codes], self.clip, 1 - self.clip)
        marginal = np.bincount(codes, minlength=len(self.arms_)) / len(codes)
        self.propensity_model_ = model
        self.propensity_ = p_received
        rows = []
        for i, arm in enumerate(self.arms_):
            p = proba[:, i]
            rows.append(
                {
                    "arm": arm,
                    "n": int((codes == i).sum()),
                    "propensity_min": float(p.min()),
                    "propensity_median": float(np.median(p)),
                    "propensity_max": float(p.max()),
                    "fraction_outside_0.05_0.95": float(np.mean((p < 0.05) | (p > 0.95))),
                }
            )
        self.overlap_ = pd.DataFrame(rows)
        return marginal[codes] / p_received

    def _fit_models(self, covariates, trt, y, weights) -> dict[str, Any]:
        key = _sample_weight_key(self.estimator)
        kwargs_of = (lambda w: {key: w}) if weights is not None else (lambda w: {})
        if weights is not None and key is None:
            raise ConfigError(
                f"{type(self.estimator).__name__}.fit takes no sample_weight, needed for "
                "propensity weighting",
                fix="use an estimator whose fit accepts sample_weight (e.g. radiopredict CoxPH) "
                "or propensity=None for randomised data",
            )
        models: dict[Any, Any] = {}
        if self.learner == "t":
            for arm in self.arms_:
                sel = (trt == arm).to_numpy()
                n_events = int(np.asarray(y[y.dtype.names[0]])[sel].sum())
                if sel.sum() < 5 or n_events == 0:
                    raise TargetError(
                        f"arm {arm!r} has {int(sel.sum())} patients and {n_events} events",
                        fix="a T-learner needs at least 5 patients and one event per arm; "
                        "use learner='s'",
                    )
                w = None if weights is None else weights[sel]
                models[arm] = clone(self.estimator).fit(covariates[sel], y[sel], **kwargs_of(w))
        else:
            design = self._s_design(covariates, trt)
            models["all"] = clone(self.estimator).fit(design, y, **kwargs_of(weights))
        return models

    # ------------------------------------------------------------------ API
    def fit(self, X: pd.DataFrame, y: np.ndarray) -> TreatmentBenefit:
        """Fit the outcome model(s) (and the propensity model when asked).

        Parameters
        ----------
        X
            Covariates plus the treatment column, one row per patient.
        y
            Survival target (structured array ``event``, ``time``).
        """
        if self.learner not in ("t", "s"):
            raise ConfigError(
                f"learner must be 't' or 's', got {self.learner!r}", fix="use 't' or 's'"
            )
        if self.horizon is None or not np.isfinite(self.horizon) or self.horizon <= 0:
            raise ConfigError(
                f"horizon must be a positive time, got {self.horizon!r}",
                fix="set horizon= the time at which benefit is read (e.g. 60 months)",
            )
        event, time = check_survival_target(y)
        if self.horizon > time.max():
            raise ConfigError(
                f"horizon {self.horizon} is beyond the longest follow-up {time.max():.3g}",
                fix="choose a horizon within follow-up",
            )
        covariates, trt = self._split(X)
        control, treated = _arm_labels(trt, self.control)
        self.arms_ = [control, *treated]
        self.feature_names_in_ = np.asarray(covariates.columns)
        weights = self._weights(covariates, trt)
        self.models_ = self._fit_models(covariates, trt, y, weights)
        self.times_ = np.linspace(0.0, float(self.horizon), 101)[1:]
        if self.n_bootstrap:
            rng = np.random.default_rng(self.random_state)
            self.bootstrap_models_ = []
            codes = trt.to_numpy()
            for _ in range(int(self.n_bootstrap)):
                idx = np.concatenate(
                    [
                        rng.choice(np.flatnonzero(codes == a), size=int((codes == a).sum()))
                        for a in self.arms_
                    ]
                )
                w = None if weights is None else weights[idx]
                self.bootstrap_models_.append(
                    self._fit_models(covariates.iloc[idx], trt.iloc[idx], y[idx], w)
                )
        return self

    def _curves(self, models, covariates: pd.DataFrame, times: np.ndarray) -> dict[Any, np.ndarray]:
        out = {}
        for arm in self.arms_:
            if self.learner == "t":
                out[arm] = np.asarray(models[arm].predict_survival_function(covariates, times))
            else:
                arm_col = pd.Series([arm] * len(covariates), index=covariates.index)
                design = self._s_design(covariates, arm_col)
                out[arm] = np.asarray(models["all"].predict_survival_function(design, times))
        return out

    def _covariates(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "models_")
        if not isinstance(X, pd.DataFrame):
            raise ConfigError(
                f"X must be a DataFrame with the columns seen in fit, got {type(X).__name__}",
                fix="pass the design matrix as a pandas DataFrame",
            )
        cov = X.drop(columns=[self.treatment_col]) if self.treatment_col in X.columns else X
        missing = [c for c in self.feature_names_in_ if c not in cov.columns]
        if missing:
            raise ConfigError(
                f"X lacks {len(missing)} column(s) seen in fit, e.g. {missing[:5]}",
                fix="build X with the same design-matrix code as the training data",
            )
        return cov[list(self.feature_names_in_)]

    def predict_arm_survival(self, X: pd.DataFrame, times) -> dict[Any, np.ndarray]:
        """Predicted survival curves under each arm: {arm: array (n, len(times))}."""
        return self._curves(self.models_, self._covariates(X), np.asarray(times, dtype=float))

    def _benefit_table(self, models, covariates) -> pd.DataFrame:
        curves = self._curves(models, covariates, self.times_)
        control = self.arms_[0]
        table = {}
        rmst = {arm: restricted_mean(c, self.times_, self.horizon) for arm, c in curves.items()}
        for arm in self.arms_:
            table[f"survival[{arm}]"] = curves[arm][:, -1]
            table[f"rmst[{arm}]"] = rmst[arm]
        for arm in self.arms_[1:]:
            table[f"benefit[{arm}]"] = curves[arm][:, -1] - curves[control][:, -1]
            table[f"benefit_rmst[{arm}]"] = rmst[arm] - rmst[control]
        return pd.DataFrame(table, index=covariates.index)

    def predict_benefit(self, X: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
        """Per-patient survival at the horizon and RMST under each arm, and the benefit.

        Columns ``survival[arm]``, ``rmst[arm]`` for every arm, and ``benefit[arm]``
        (survival difference at the horizon) and ``benefit_rmst[arm]`` for every treated arm;
        with bootstrap refits also ``..._lower`` and ``..._upper`` percentile limits.
        """
        covariates = self._covariates(X)
        table = self._benefit_table(self.models_, covariates)
        boots = getattr(self, "bootstrap_models_", None)
        if boots:
            stack = np.stack([self._benefit_table(m, covariates).to_numpy() for m in boots])
            lo = np.quantile(stack, alpha / 2, axis=0)
            hi = np.quantile(stack, 1 - alpha / 2, axis=0)
            for j, col in enumerate(list(table.columns)):
                if col.startswith("benefit"):
                    table[f"{col}_lower"] = lo[:, j]
                    table[f"{col}_upper"] = hi[:, j]
        return table

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Benefit (survival difference at the horizon) of the first treated arm."""
        return self.predict_benefit(X)[f"benefit[{self.arms_[1]}]"].to_numpy()

    def recommend(self, X: pd.DataFrame, *, margin: float = 0.0) -> pd.Series:
        """The arm with the largest predicted survival at the horizon (control unless a treated
        arm beats it by more than ``margin``)."""
        table = self.predict_benefit(X)
        benefits = table[[f"benefit[{a}]" for a in self.arms_[1:]]].to_numpy()
        best = benefits.argmax(axis=1)
        arm = np.where(benefits[np.arange(len(best)), best] > margin, best + 1, 0)
        return pd.Series([self.arms_[i] for i in arm], index=table.index, name="recommended")


def cross_val_benefit(
    model: TreatmentBenefit,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    n_splits: int = 5,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Out-of-fold benefit predictions: each patient's benefit comes from a model that never
    saw that patient. Folds are stratified on arm x event.

    Returns
    -------
    pandas.DataFrame
        :meth:`TreatmentBenefit.predict_benefit` columns plus ``fold``, in the order of ``X``.
    """
    event, _ = check_survival_target(y)
    model._split(X)  # a clear error for a missing treatment column or missing arms
    strata = X[model.treatment_col].astype(str).to_numpy() + "|" + event.astype(int).astype(str)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    parts = []
    for fold, (train, test) in enumerate(cv.split(X, strata)):
        fitted = clone(model).fit(X.iloc[train], y[train])
        part = fitted.predict_benefit(X.iloc[test])
        part["fold"] = fold
        parts.append(part)
    return pd.concat(parts).loc[X.index]


def c_for_benefit(
    benefit: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    *,
    horizon: float,
) -> float:
    """C-for-benefit (van Klaveren et al., 2018) adapted to a survival horizon.

    Treated and control patients are sorted by predicted benefit and matched rank to rank (the
    larger arm is subsampled evenly). A patient's observed outcome is 1 when the event happened
    by the horizon and 0 when they were event-free beyond it; pairs with a patient censored
    before the horizon are dropped. The observed pair benefit is
    :math:`o_c - o_t \\in \\{-1, 0, 1\\}` and the predicted pair benefit the mean of the two
    predictions. The statistic is the concordance between predicted and observed pair benefit
    over all pairs of pairs with unequal observed benefit (ties in prediction count 1/2).

    Returns
    -------
    float
        C-for-benefit; 0.5 means no discrimination of benefit.
    """
    event, time = check_survival_target(y)
    benefit = np.asarray(benefit, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    known = (time >= horizon) | event
    outcome = (event & (time <= horizon)).astype(float)
    t_idx = np.flatnonzero(treated)
    c_idx = np.flatnonzero(~treated)
    t_idx = t_idx[np.argsort(benefit[t_idx], kind="stable")]
    c_idx = c_idx[np.argsort(benefit[c_idx], kind="stable")]
    m = min(len(t_idx), len(c_idx))
    if m < 2:
        raise TargetError(
            "c-for-benefit needs at least two patients in each arm",
            fix="evaluate on a sample with patients in both arms",
        )
    t_idx = t_idx[np.round(np.linspace(0, len(t_idx) - 1, m)).astype(int)]
    c_idx = c_idx[np.round(np.linspace(0, len(c_idx) - 1, m)).astype(int)]
    keep = known[t_idx] & known[c_idx]
    t_idx, c_idx = t_idx[keep], c_idx[keep]
    obs = outcome[c_idx] - outcome[t_idx]
    pred = (benefit[t_idx] + benefit[c_idx]) / 2
    d_obs = obs[:, None] - obs[None, :]
    d_pred = pred[:, None] - pred[None, :]
    usable = d_obs > 0
    n = usable.sum()
    if n == 0:
        raise TargetError(
            "no pair of matched pairs differs in observed benefit",
            fix="use a horizon with more events, or more patients",
        )
    conc = (d_pred[usable] > 0).sum() + 0.5 * (d_pred[usable] == 0).sum()
    return float(conc / n)


@dataclass
class BenefitValidation:
    """Validation of predicted benefit against observed outcomes (see :func:`validate_benefit`)."""

    by_group: pd.DataFrame
    interaction: dict[str, float]
    c_for_benefit: float
    recommended: dict[str, float]
    horizon: float
    km: dict[str, pd.DataFrame] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Key numbers as a two-column table."""
        rows = [
            ("interaction coefficient (treatment x benefit)", self.interaction["coef"]),
            ("interaction p-value", self.interaction["p"]),
            ("c-for-benefit", self.c_for_benefit),
            ("calibration-for-benefit slope", self.interaction.get("calibration_slope", np.nan)),
            (
                "log-rank p, followed vs not followed recommendation (mixes in the average effect)",
                self.recommended["logrank_p"],
            ),
        ]
        return pd.DataFrame(rows, columns=["statistic", "value"])


def validate_benefit(
    benefit: np.ndarray | pd.Series,
    treatment: np.ndarray | pd.Series,
    y: np.ndarray,
    *,
    horizon: float,
    control: Any = None,
    n_groups: int = 3,
) -> BenefitValidation:
    """Check predicted benefit against observed outcomes (use out-of-fold predictions).

    Computes, for ``n_groups`` groups of predicted benefit (tertiles by default): the observed
    hazard ratio of treated vs control (Cox) with its 95 % CI, the observed Kaplan-Meier survival
    difference at the horizon with a Greenwood CI, and the mean predicted benefit
    (calibration-for-benefit); a Cox model with a treatment x benefit interaction (coefficient
    and Wald p-value); c-for-benefit; and Kaplan-Meier curves of patients who received the
    recommended arm (benefit > 0: treated) vs the others, with a log-rank test.

    Parameters
    ----------
    benefit
        Predicted benefit (survival difference at the horizon) per patient.
    treatment
        Arm received; two arms.
    y
        Survival target.
    horizon
        Horizon of the benefit.
    control
        Control arm value (default: first in sorted order).
    n_groups
        Number of benefit groups (quantiles).
    """
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test

    event, time = check_survival_target(y)
    benefit = np.asarray(benefit, dtype=float)
    trt = pd.Series(np.asarray(treatment))
    if not (len(benefit) == len(trt) == len(time)):
        raise ConfigError(
            f"benefit, treatment and y must have the same length, got {len(benefit)}, "
            f"{len(trt)} and {len(time)}",
            fix="pass one value per patient, in the same order",
        )
    if trt.isna().any():
        raise ConfigError(
            f"treatment is missing for {int(trt.isna().sum())} patient(s)",
            fix="fill in the arm of every patient or drop those patients",
        )
    if horizon is None or not np.isfinite(horizon) or horizon <= 0:
        raise ConfigError(
            f"horizon must be a positive time, got {horizon!r}",
            fix="use the horizon at which the benefit was predicted",
        )
    control, treated_arms = _arm_labels(trt, control)
    if len(treated_arms) != 1:
        raise ConfigError(
            f"validate_benefit compares two arms, got {[control, *treated_arms]}",
            fix="validate each treated arm against control separately",
        )
    treated = (trt == treated_arms[0]).to_numpy()
    if not np.all(np.isfinite(benefit)):
        raise ConfigError(
            "predicted benefit contains NaN or infinite values", fix="check the model"
        )
    groups = pd.qcut(pd.Series(benefit).rank(method="first"), n_groups, labels=False).to_numpy()
    rows = []
    for g in range(n_groups):
        sel = groups == g
        df = pd.DataFrame(
            {"time": time[sel], "event": event[sel], "treated": treated[sel].astype(float)}
        )
        hr = lo = hi = np.nan
        if df["event"].sum() >= 2 and 0 < df["treated"].mean() < 1:
            cph = CoxPHFitter().fit(df, "time", "event")
            hr = float(np.exp(cph.params_["treated"]))
            ci = np.exp(cph.confidence_intervals_.loc["treated"].to_numpy())
            lo, hi = float(ci[0]), float(ci[1])
        s_t, se_t, _, _ = km_at(event[sel & treated], time[sel & treated], horizon)
        s_c, se_c, _, _ = km_at(event[sel & ~treated], time[sel & ~treated], horizon)
        diff = s_t - s_c
        se = float(np.hypot(se_t, se_c))
        rows.append(
            {
                "group": g + 1,
                "n": int(sel.sum()),
                "predicted_benefit_mean": float(benefit[sel].mean()),
                "observed_benefit": diff,
                "observed_benefit_lower": diff - 1.96 * se,
                "observed_benefit_upper": diff + 1.96 * se,
                "hazard_ratio": hr,
                "hazard_ratio_lower": lo,
                "hazard_ratio_upper": hi,
            }
        )
    by_group = pd.DataFrame(rows)

    scale = benefit.std() or 1.0
    z = (benefit - benefit.mean()) / scale
    df = pd.DataFrame(
        {
            "time": time,
            "event": event,
            "treated": treated.astype(float),
            "benefit_z": z,
            "treated_x_benefit_z": treated * z,
        }
    )
    cph = CoxPHFitter().fit(df, "time", "event")
    interaction = {
        "coef": float(cph.params_["treated_x_benefit_z"]),
        "p": float(cph.summary.loc["treated_x_benefit_z", "p"]),
        "treated_coef": float(cph.params_["treated"]),
    }
    pb = by_group["predicted_benefit_mean"].to_numpy()
    ob = by_group["observed_benefit"].to_numpy()
    if np.ptp(pb) > 0:
        interaction["calibration_slope"] = float(np.polyfit(pb, ob, 1)[0])

    cfb = c_for_benefit(benefit, treated, y, horizon=horizon)

    followed = treated == (benefit > 0)
    km = {}
    for name, sel in (("followed recommendation", followed), ("did not follow", ~followed)):
        if sel.any():
            kmf = KaplanMeierFitter(label=name).fit(time[sel], event[sel])
            km[name] = kmf.survival_function_
    lr = (
        logrank_test(time[followed], time[~followed], event[followed], event[~followed])
        if (followed.any() and (~followed).any())
        else None
    )
    recommended = {
        "n_followed": int(followed.sum()),
        "n_not_followed": int((~followed).sum()),
        "logrank_p": float(lr.p_value) if lr is not None else float("nan"),
    }
    return BenefitValidation(
        by_group=by_group,
        interaction=interaction,
        c_for_benefit=cfb,
        recommended=recommended,
        horizon=float(horizon),
        km=km,
    )
