"""Survival estimators with the scikit-learn API.

Every estimator takes ``y`` as the structured survival array of
:func:`radiopredict.make_survival_target` and provides

* ``predict(X)``: a risk score, higher = worse prognosis (a log-hazard for Cox models);
* ``predict_survival_function(X, times)``: survival probabilities, shape ``(n, len(times))``;
* ``score(X, y)``: Harrell's concordance index of ``predict(X)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from radiopredict.errors import ConfigError
from radiopredict.models._baseline import BreslowBaseline
from radiopredict.targets import check_survival_target

__all__ = ["CoxPH", "XGBSurvival", "NullSurvival", "SurvivalMixin"]


def _check_rows_and_weights(X, time: np.ndarray, sample_weight) -> np.ndarray | None:
    """One target row per row of ``X``, and one finite, positive weight per patient (or None)."""
    if len(time) != X.shape[0]:
        raise ConfigError(
            f"X has {X.shape[0]} rows but y has {len(time)}",
            fix="pass one target row per row of X",
        )
    if sample_weight is None:
        return None
    sample_weight = np.asarray(sample_weight, dtype=float)
    if (
        sample_weight.shape != time.shape
        or not np.all(np.isfinite(sample_weight))
        or (sample_weight <= 0).any()
    ):
        raise ConfigError(
            "sample_weight must hold one finite, positive weight per patient",
            fix="check the propensity weights",
        )
    return sample_weight


class SurvivalMixin:
    """Shared ``score`` and Breslow-based ``predict_survival_function``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        return tags

    def score(self, X, y) -> float:
        """Harrell's concordance index of ``predict(X)`` against ``y``."""
        from radiopredict.metrics import harrell_c

        return harrell_c(y, self.predict(X))

    def predict_survival_function(self, X, times) -> np.ndarray:
        """Survival probabilities :math:`\\hat S(t \\mid x)` at ``times``.

        Cox-type models use the Breslow baseline fitted on the training data (see
        :class:`radiopredict.models._baseline.BreslowBaseline`); the estimate is flat after the
        last training time.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_samples, len(times))``.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.survival(self.predict(X), _check_times(times))


def _check_times(times) -> np.ndarray:
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ConfigError(
            "times must be a 1-D array of finite, non-negative numbers",
            fix="pass e.g. times=[12, 24, 36]",
        )
    return times


class CoxPH(SurvivalMixin, BaseEstimator):
    """Cox proportional-hazards model with an elastic-net penalty (lifelines backend).

    Maximises the Breslow partial log-likelihood minus the penalty

    .. math::
        \\ell(\\beta) - \\alpha \\left(\\rho \\lVert\\beta\\rVert_1
        + \\tfrac{1 - \\rho}{2} \\lVert\\beta\\rVert_2^2\\right)

    on standardised columns (lifelines' ``CoxPHFitter(penalizer=alpha, l1_ratio=rho)``; the
    L1 term is smoothed, so small coefficients are near zero rather than exactly zero).

    Parameters
    ----------
    alpha
        Penalty strength (``penalizer``); 0 gives the unpenalised Cox model.
    l1_ratio
        Share of L1 in the penalty, :math:`\\rho \\in [0, 1]`.
    max_steps
        Newton-Raphson iterations.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Log hazard ratios per unit of each column.
    baseline_ : BreslowBaseline
    """

    def __init__(self, alpha: float = 0.1, l1_ratio: float = 0.0, max_steps: int = 500) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.max_steps = max_steps

    def fit(self, X, y, sample_weight=None) -> CoxPH:
        """Fit the penalised Cox model.

        Parameters
        ----------
        X, y
            Features and survival target.
        sample_weight
            Optional positive weight per patient (e.g. inverse-propensity weights); the
            partial likelihood and the Breslow baseline are weighted.
        """
        from lifelines import CoxPHFitter
        from lifelines.exceptions import ConvergenceError

        X = validate_data(self, X, dtype=np.float64)
        event, time = check_survival_target(y)
        sample_weight = _check_rows_and_weights(X, time, sample_weight)
        if self.alpha < 0 or not 0 <= self.l1_ratio <= 1:
            raise ConfigError(
                f"alpha={self.alpha}, l1_ratio={self.l1_ratio} out of range",
                fix="use alpha >= 0 and 0 <= l1_ratio <= 1",
            )
        cols = [f"x{j}" for j in range(X.shape[1])]
        frame = pd.DataFrame(X, columns=cols)
        frame["_T"], frame["_E"] = time, event.astype(int)
        if sample_weight is not None:
            frame["_W"] = sample_weight
        const = frame[cols].std(ddof=0).to_numpy() == 0
        fitter = CoxPHFitter(penalizer=self.alpha, l1_ratio=self.l1_ratio)
        try:
            fitter.fit(
                frame.drop(columns=[c for c, k in zip(cols, const, strict=True) if k]),
                "_T",
                "_E",
                weights_col=None if sample_weight is None else "_W",
                robust=sample_weight is not None,
                fit_options={"max_steps": self.max_steps},
            )
        except ConvergenceError as exc:
            raise ConfigError(
                f"the Cox model did not converge ({str(exc).splitlines()[0]})",
                fix="increase alpha (the penalty), or remove collinear / near-constant columns",
            ) from exc
        coef = np.zeros(X.shape[1])
        coef[~const] = fitter.params_.to_numpy()
        self.coef_ = coef
        self.baseline_ = BreslowBaseline().fit(X @ coef, event, time, sample_weight)
        return self

    def predict(self, X) -> np.ndarray:
        """Linear predictor :math:`x^\\top \\beta` (log-hazard, higher = worse)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_


class XGBSurvival(SurvivalMixin, BaseEstimator):
    """Gradient-boosted trees for survival (xgboost), Cox or accelerated-failure-time loss.

    * ``objective="cox"``: the trees model the log-hazard :math:`\\eta(x)` under the Cox
      partial likelihood; ``predict`` returns :math:`\\eta(x)`; survival comes from the Breslow
      baseline, :math:`\\hat S(t\\mid x) = \\exp(-\\hat H_0(t) e^{\\eta(x)})`.
    * ``objective="aft"``: :math:`\\log T = \\mu(x) + \\sigma \\varepsilon` with
      :math:`\\varepsilon` normal, logistic or extreme-value; ``predict`` returns
      :math:`-\\mu(x)` (shorter predicted time = higher risk) and the survival function is the
      model's own, :math:`\\hat S(t \\mid x) = 1 - F_\\varepsilon((\\log t - \\mu(x))/\\sigma)`,
      or the Breslow estimate on :math:`-\\mu(x)/\\sigma` with ``aft_survival="breslow"``.

    Parameters
    ----------
    objective
        ``"cox"`` or ``"aft"``.
    n_estimators, learning_rate, max_depth, min_child_weight, subsample, colsample_bytree,
    reg_lambda, reg_alpha
        xgboost tree parameters.
    num_parallel_tree, colsample_bynode
        Trees grown per boosting round and the share of columns drawn at each split: with
        ``n_estimators=1``, ``learning_rate=1``, ``subsample < 1`` and ``num_parallel_tree``
        in the hundreds the model is a random forest on the loss gradient (xgboost's random
        forest mode).
    aft_distribution, aft_sigma
        Error distribution (``"normal"``, ``"logistic"``, ``"extreme"``) and scale.
    aft_survival
        ``"parametric"`` or ``"breslow"``.
    random_state
        Seed.
    n_jobs
        Threads used by xgboost.

    Attributes
    ----------
    booster_ : xgboost.Booster
    baseline_ : BreslowBaseline
    """

    def __init__(
        self,
        objective: str = "cox",
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 2,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        num_parallel_tree: int = 1,
        colsample_bynode: float = 1.0,
        aft_distribution: str = "normal",
        aft_sigma: float = 1.0,
        aft_survival: str = "parametric",
        random_state: int | None = 0,
        n_jobs: int = 1,
    ) -> None:
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.num_parallel_tree = num_parallel_tree
        self.colsample_bynode = colsample_bynode
        self.aft_distribution = aft_distribution
        self.aft_sigma = aft_sigma
        self.aft_survival = aft_survival
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict:
        if self.objective not in ("cox", "aft"):
            raise ConfigError(f"unknown objective {self.objective!r}", fix="use 'cox' or 'aft'")
        params = {
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "alpha": self.reg_alpha,
            "num_parallel_tree": self.num_parallel_tree,
            "colsample_bynode": self.colsample_bynode,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "nthread": self.n_jobs,
            "verbosity": 0,
        }
        if self.objective == "cox":
            params.update(objective="survival:cox", eval_metric="cox-nloglik")
        else:
            if self.aft_distribution not in ("normal", "logistic", "extreme"):
                raise ConfigError(
                    f"unknown aft_distribution {self.aft_distribution!r}",
                    fix="use 'normal', 'logistic' or 'extreme'",
                )
            if self.aft_survival not in ("parametric", "breslow"):
                raise ConfigError(
                    f"unknown aft_survival {self.aft_survival!r}",
                    fix="use 'parametric' or 'breslow'",
                )
            params.update(
                objective="survival:aft",
                eval_metric="aft-nloglik",
                aft_loss_distribution=self.aft_distribution,
                aft_loss_distribution_scale=self.aft_sigma,
            )
        return params

    def fit(self, X, y, sample_weight=None) -> XGBSurvival:
        """Fit the trees; ``sample_weight`` (optional, one positive weight per patient, e.g.
        inverse-propensity weights) weights the loss and the Breslow baseline."""
        import xgboost as xgb

        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        event, time = check_survival_target(y)
        sample_weight = _check_rows_and_weights(X, time, sample_weight)
        params = self._params()
        if self.objective == "cox":
            # xgboost's Cox label: time, negative when censored; a zero time cannot carry a sign
            t = np.maximum(time, 1e-9)
            dtrain = xgb.DMatrix(X, label=np.where(event, t, -t), weight=sample_weight)
        else:
            t = np.maximum(time, 1e-9)
            dtrain = xgb.DMatrix(X, weight=sample_weight)
            dtrain.set_float_info("label_lower_bound", t)
            dtrain.set_float_info("label_upper_bound", np.where(event, t, np.inf))
        self.booster_ = xgb.train(params, dtrain, num_boost_round=self.n_estimators)
        if self.objective == "cox" or self.aft_survival == "breslow":
            margin = self.booster_.predict(xgb.DMatrix(X), output_margin=True).astype(float)
            eta = margin if self.objective == "cox" else -margin / self.aft_sigma
            self.baseline_ = BreslowBaseline().fit(eta, event, time, sample_weight)
        else:
            self.baseline_ = None
        return self

    def _margin(self, X) -> np.ndarray:
        import xgboost as xgb

        check_is_fitted(self, "booster_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self.booster_.predict(xgb.DMatrix(X), output_margin=True).astype(float)

    def predict(self, X) -> np.ndarray:
        """Risk score: log-hazard (Cox) or minus the predicted log-time (AFT)."""
        margin = self._margin(X)
        return margin if self.objective == "cox" else -margin

    def predict_survival_function(self, X, times) -> np.ndarray:
        """Survival probabilities at ``times``, shape ``(n_samples, len(times))``."""
        from scipy import stats

        check_is_fitted(self, "booster_")
        times = _check_times(times)
        if self.objective == "cox":
            return self.baseline_.survival(self.predict(X), times)
        if self.aft_survival == "breslow":
            return self.baseline_.survival(self.predict(X) / self.aft_sigma, times)
        mu = self._margin(X)
        with np.errstate(divide="ignore"):
            z = (np.log(times)[None, :] - mu[:, None]) / self.aft_sigma
        if self.aft_distribution == "normal":
            return stats.norm.sf(z)
        if self.aft_distribution == "logistic":
            return stats.logistic.sf(z)
        return np.exp(-np.exp(z))  # extreme (Gumbel minimum) for log T


class NullSurvival(SurvivalMixin, BaseEstimator):
    r"""The no-information model: the same risk (0) for every patient, the cohort's survival.

    ``predict`` is 0 for everyone (Harrell's C = 0.5: every comparable pair is tied);
    ``predict_survival_function`` is the Breslow estimate with all log-hazards 0, i.e. the
    Nelson-Aalen survival :math:`\exp(-\hat H(t))` of the training data. The adaptive default
    falls back to it when no candidate beats chance on the inner folds.

    Attributes
    ----------
    baseline_ : BreslowBaseline
    """

    def fit(self, X, y, sample_weight=None) -> NullSurvival:
        """Estimate the cohort's cumulative hazard (``sample_weight`` optional)."""
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        event, time = check_survival_target(y)
        w = _check_rows_and_weights(X, time, sample_weight)
        self.baseline_ = BreslowBaseline().fit(np.zeros(len(time)), event, time, w)
        return self

    def predict(self, X) -> np.ndarray:
        """0 for every patient."""
        check_is_fitted(self, "baseline_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.zeros(X.shape[0])
