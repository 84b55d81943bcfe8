"""Binary response classifiers with the scikit-learn API.

``predict_proba(X)[:, 1]`` is the probability of the positive class (the larger label, e.g. 1 =
responder); ``decision_function`` is its log-odds; ``score`` is the ROC AUC.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.utils.validation import check_is_fitted, validate_data

from radiopredict.errors import ConfigError
from radiopredict.targets import binary_target

__all__ = ["ElasticNetLogistic", "XGBResponse", "RandomForestResponse", "SoftVoteResponse"]


def _encode_binary(y) -> tuple[np.ndarray, np.ndarray]:
    """``(classes_, y01)`` from :func:`radiopredict.targets.binary_target`, the one gate."""
    return binary_target(y)


class _BinaryBase(ClassifierMixin, BaseEstimator):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, 2)``; column 1 is ``classes_[1]``."""
        z = self.decision_function(X)
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """Most probable class label."""
        z = self.decision_function(X)
        return self.classes_[(z > 0).astype(int)]

    def score(self, X, y) -> float:
        """ROC AUC of ``predict_proba(X)[:, 1]``."""
        from radiopredict.metrics import roc_auc

        z = self.decision_function(X)
        return roc_auc((np.asarray(y) == self.classes_[1]).astype(int), z)


class ElasticNetLogistic(_BinaryBase):
    """Logistic regression with an elastic-net penalty (scikit-learn, ``saga`` or ``lbfgs``).

    Minimises

    .. math::
        \\frac{1 - \\rho}{2} \\lVert\\beta\\rVert_2^2 + \\rho \\lVert\\beta\\rVert_1
        - C \\sum_i \\left[y_i \\log p_i + (1 - y_i) \\log(1 - p_i)\\right],
        \\quad p_i = \\sigma(\\beta_0 + x_i^\\top \\beta)

    Put a scaler before it: the penalty assumes comparable column scales.

    Parameters
    ----------
    C
        Inverse penalty strength.
    l1_ratio
        :math:`\\rho`: 1 is the lasso, 0 ridge.
    class_weight
        ``None`` or ``"balanced"``.
    max_iter, tol
        Solver settings.
    solver
        ``"auto"`` (default): ``lbfgs`` for the pure ridge penalty (``l1_ratio=0``, same
        objective, much faster), ``saga`` otherwise; or ``"saga"`` / ``"lbfgs"``.
    random_state
        Seed of the solver's sample order.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    classes_ : ndarray of shape (2,)
    """

    def __init__(
        self,
        C: float = 1.0,
        l1_ratio: float = 0.5,
        class_weight: str | None = None,
        max_iter: int = 2000,
        tol: float = 1e-4,
        random_state: int | None = 0,
        solver: str = "auto",
    ) -> None:
        self.C = C
        self.l1_ratio = l1_ratio
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.solver = solver

    def fit(self, X, y) -> ElasticNetLogistic:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        X, y = validate_data(self, X, y, dtype=np.float64)
        self.classes_, yb = _encode_binary(y)
        if not 0 <= self.l1_ratio <= 1 or self.C <= 0:
            raise ConfigError(
                f"C={self.C}, l1_ratio={self.l1_ratio} out of range",
                fix="use C > 0 and 0 <= l1_ratio <= 1",
            )
        if self.solver not in ("auto", "saga", "lbfgs"):
            raise ConfigError(
                f"unknown solver {self.solver!r}", fix="use 'auto', 'saga' or 'lbfgs'"
            )
        if self.solver == "lbfgs" and self.l1_ratio != 0:
            raise ConfigError(
                f"solver='lbfgs' supports the ridge penalty only; got l1_ratio={self.l1_ratio}",
                fix="use solver='auto' or 'saga', or l1_ratio=0",
            )
        solver = self.solver
        if solver == "auto":
            solver = "lbfgs" if self.l1_ratio == 0 else "saga"
        model = LogisticRegression(
            C=self.C,
            l1_ratio=self.l1_ratio,
            solver=solver,
            class_weight=self.class_weight,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(X, yb)
        self.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        self.coef_ = model.coef_.ravel().copy()
        self.intercept_ = float(model.intercept_[0])
        self.n_iter_ = int(np.max(model.n_iter_))
        return self

    def decision_function(self, X) -> np.ndarray:
        """Log-odds :math:`\\beta_0 + x^\\top\\beta`."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_


class XGBResponse(_BinaryBase):
    """Gradient-boosted trees for a binary response (xgboost, logistic loss).

    Parameters
    ----------
    n_estimators, learning_rate, max_depth, min_child_weight, subsample, colsample_bytree,
    reg_lambda, reg_alpha
        xgboost tree parameters.
    scale_pos_weight
        Weight of positive cases (``"balanced"`` = negatives / positives, or a number).
    max_bin
        Histogram bins per feature (fewer = faster on wide tables).
    random_state
        Seed.
    n_jobs
        Threads used by xgboost.

    Attributes
    ----------
    booster_ : xgboost.Booster
    classes_ : ndarray of shape (2,)
    """

    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        scale_pos_weight: float | str = 1.0,
        random_state: int | None = 0,
        n_jobs: int = 1,
        max_bin: int = 256,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.scale_pos_weight = scale_pos_weight
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.max_bin = max_bin

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y) -> XGBResponse:
        import xgboost as xgb

        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        self.classes_, yb = _encode_binary(y)
        spw = self.scale_pos_weight
        if spw == "balanced":
            spw = (yb == 0).sum() / max((yb == 1).sum(), 1)
        params = {
            "objective": "binary:logistic",
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "alpha": self.reg_alpha,
            "scale_pos_weight": float(spw),
            "max_bin": int(self.max_bin),
            "seed": 0 if self.random_state is None else int(self.random_state),
            "nthread": self.n_jobs,
            "verbosity": 0,
        }
        self.booster_ = xgb.train(params, xgb.DMatrix(X, label=yb), self.n_estimators)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of the positive class."""
        import xgboost as xgb

        check_is_fitted(self, "booster_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self.booster_.predict(xgb.DMatrix(X), output_margin=True).astype(float)


class _ProbaAUCScore:
    """``score`` = ROC AUC of ``predict_proba(X)[:, 1]``, as the other response models.

    scikit-learn classifiers score by accuracy; an inner grid search that uses the estimator's
    ``score`` (:func:`radiopredict.evaluate.nested_cv` by default) must rank by AUC instead.
    """

    def score(self, X, y, sample_weight=None) -> float:
        """ROC AUC of ``predict_proba(X)[:, 1]`` (``sample_weight`` is not supported)."""
        if sample_weight is not None:
            raise ConfigError("score does not take sample_weight", fix="leave it None")
        return proba_auc(self, X, y)


def proba_auc(estimator, X, y) -> float:
    """ROC AUC of a fitted binary classifier's ``predict_proba(X)[:, 1]`` against ``y``
    (usable as a scikit-learn scorer)."""
    from radiopredict.metrics import roc_auc

    proba = np.asarray(estimator.predict_proba(X), dtype=float)[:, 1]
    return roc_auc((np.asarray(y) == estimator.classes_[1]).astype(int), proba)


class RandomForestResponse(_ProbaAUCScore, RandomForestClassifier):
    """Random forest for a binary response: scikit-learn's ``RandomForestClassifier`` (same
    parameters) whose ``score`` is the ROC AUC, not the accuracy."""


class SoftVoteResponse(_ProbaAUCScore, VotingClassifier):
    """Mean of the models' ``predict_proba`` (scikit-learn's soft ``VotingClassifier``, same
    parameters, ``voting="soft"`` by default) whose ``score`` is the ROC AUC, not the accuracy.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # its members are binary response models
        return tags

    def __init__(
        self,
        estimators,
        *,
        voting: str = "soft",
        weights=None,
        n_jobs=None,
        flatten_transform: bool = True,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            estimators,
            voting=voting,
            weights=weights,
            n_jobs=n_jobs,
            flatten_transform=flatten_transform,
            verbose=verbose,
        )
