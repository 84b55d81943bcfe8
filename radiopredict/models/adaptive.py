"""Models that choose their pipeline on inner cross-validation of the training data.

:class:`AdaptiveResponse` and :class:`AdaptiveSurvival` hold a list of candidate pipelines.
``fit(X, y)`` splits the data it is given into stratified inner folds, fits every candidate on
each inner training part, scores it on the inner held-out part (ROC AUC or Harrell's C), keeps
the candidate with the best mean inner score and refits it on all of ``X``. Nothing outside
the ``X`` passed to ``fit`` is seen, so inside :func:`radiopredict.evaluate.cross_validate` the
choice is made on the outer training fold only.

After ``fit``: ``chosen_`` (the name of the chosen candidate), ``inner_scores_`` (a DataFrame,
one row per candidate: the score on each inner fold, ``mean``, ``sd``, ``chosen``),
``estimator_`` (the chosen candidate refitted on all the data) and ``n_inner_splits_`` (the
inner folds used: ``n_splits``, or fewer when the smaller class, responders / non-responders or
events / censored patients, has fewer patients than that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from radiopredict.errors import ConfigError

__all__ = ["AdaptiveResponse", "AdaptiveSurvival"]


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]


def _chosen_has(attr: str):
    def check(self) -> bool:
        est = getattr(self, "estimator_", None)
        if est is not None:
            return hasattr(est, attr)
        return True  # unfitted: assume so (the candidates of this task all have it)

    return check


class _InnerChoice(BaseEstimator):
    """Shared fit: score the candidates on inner folds, refit the best one."""

    _task = ""

    def __init__(
        self,
        candidates: Sequence[tuple[str, Any]] | None = None,
        *,
        n_splits: int = 5,
        random_state: int | None = 0,
    ) -> None:
        self.candidates = candidates
        self.n_splits = n_splits
        self.random_state = random_state

    # ------------------------------------------------------------------ candidates
    def _candidates(self) -> list[tuple[str, Any]]:
        if self.candidates is None:
            from radiopredict.models.pipelines import adaptive_candidates

            rs = 0 if self.random_state is None else self.random_state
            return list(adaptive_candidates(self._task, random_state=rs).items())
        cands = list(self.candidates)
        names = [n for n, _ in cands]
        if not cands or len(set(names)) != len(names):
            raise ConfigError(
                f"candidates must be a non-empty list of (name, estimator) with unique names; "
                f"got {names}",
                fix="pass e.g. [('l2', pipeline_a), ('trees', pipeline_b)]",
            )
        return cands

    def _inner_score(self, model, X, y) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def _labels(self, y) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def _fit_choice(self, X, y, fit_params: dict) -> None:
        from sklearn.model_selection import StratifiedKFold

        if not isinstance(self.n_splits, int | np.integer) or self.n_splits < 2:
            raise ConfigError(
                f"n_splits={self.n_splits!r}: the inner cross-validation needs >= 2 folds",
                fix="use n_splits=5 (default) or 3 for very small data",
            )
        cands = self._candidates()
        labels = self._labels(y)
        n_min = int(np.bincount(labels, minlength=2).min())
        if n_min < 2:
            raise ConfigError(
                "the inner cross-validation needs at least 2 patients of each class (events "
                f"and censored patients for survival); the smallest class has {n_min}",
                fix="fit on more patients, or use a single fixed pipeline of "
                "candidate_pipelines(task)",
            )
        # small data (e.g. one treatment arm of a study): as many folds as the smaller class
        # allows, recorded in n_inner_splits_
        n_splits = min(int(self.n_splits), n_min)
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        folds = list(splitter.split(np.zeros((len(labels), 1)), labels))
        scores = np.full((len(cands), len(folds)), np.nan)
        for j, (train, test) in enumerate(folds):
            sub = {k: (np.asarray(v)[train]) for k, v in fit_params.items()}
            for i, (_, cand) in enumerate(cands):
                model = clone(cand).fit(_take(X, train), y[train], **sub)
                scores[i, j] = self._inner_score(model, _take(X, test), y[test])
        mean = np.nanmean(scores, axis=1)
        if np.all(np.isnan(mean)):
            raise ConfigError(
                "no candidate could be scored on the inner folds",
                fix="check the target: each inner fold needs both classes / some events",
            )
        best = int(np.nanargmax(mean))  # ties: the first candidate in the list
        # plain arrays (a fitted model is saved with skops, which cannot store a DataFrame);
        # inner_scores_ builds the table from them
        self.candidate_names_ = [str(n) for n, _ in cands]
        self.inner_fold_scores_ = scores
        self.chosen_ = cands[best][0]
        self.n_inner_splits_ = n_splits
        self.estimator_ = clone(cands[best][1]).fit(X, y, **fit_params)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = int(np.shape(X)[1])

    @property
    def inner_scores_(self) -> pd.DataFrame:
        """One row per candidate: the score on each inner fold, ``mean``, ``sd``, ``chosen``."""
        check_is_fitted(self, "inner_fold_scores_")
        scores = self.inner_fold_scores_
        table = pd.DataFrame(
            scores,
            index=pd.Index(self.candidate_names_, name="candidate"),
            columns=[f"fold_{j}" for j in range(scores.shape[1])],
        )
        table["mean"] = np.nanmean(scores, axis=1)
        table["sd"] = np.nanstd(scores, axis=1, ddof=1)
        table["chosen"] = table.index == self.chosen_
        return table

    def predict(self, X) -> np.ndarray:
        """The chosen candidate's ``predict``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)


class AdaptiveResponse(ClassifierMixin, _InnerChoice):
    """Binary response model that picks its pipeline by inner cross-validated ROC AUC.

    Parameters
    ----------
    candidates
        ``[(name, unfitted estimator), ...]``; default (``None``):
        :func:`radiopredict.models.pipelines.adaptive_candidates` ``("response")`` seeded with
        ``random_state`` (L2 logistic at three penalties, the clustered elastic net, a random
        forest, xgboost).
    n_splits
        Inner stratified folds.
    random_state
        Seed of the inner folds and of the default candidates.

    Attributes
    ----------
    chosen_ : str
        Name of the chosen candidate.
    inner_scores_ : pandas.DataFrame
        One row per candidate: AUC on each inner fold, ``mean``, ``sd``, ``chosen``.
    estimator_ : estimator
        The chosen candidate refitted on all the data given to ``fit``.
    classes_ : ndarray of shape (2,)
    """

    _task = "response"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = False
        return tags

    def _labels(self, y) -> np.ndarray:
        return (np.asarray(y) == self.classes_[1]).astype(int)

    def _inner_score(self, model, X, y) -> float:
        from radiopredict.models.response import proba_auc

        yb = (np.asarray(y) == self.classes_[1]).astype(int)
        if len(np.unique(yb)) < 2:
            return np.nan
        return proba_auc(model, X, y)

    def fit(self, X, y, sample_weight=None) -> AdaptiveResponse:
        """Choose the candidate on inner folds of ``(X, y)`` and refit it on all of them.

        ``sample_weight`` (optional) is passed to every candidate's final step as
        ``model__sample_weight``; the inner scores are unweighted.
        """
        from radiopredict.models.response import _encode_binary

        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        self.classes_, _ = _encode_binary(y)
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        self._fit_choice(X, y, fit_params)
        return self

    @available_if(_chosen_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """The chosen candidate's class probabilities, shape ``(n_samples, 2)``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def score(self, X, y, sample_weight=None) -> float:
        """ROC AUC of ``predict_proba(X)[:, 1]``."""
        from radiopredict.models.response import proba_auc

        if sample_weight is not None:
            raise ConfigError("score does not take sample_weight", fix="leave it None")
        return proba_auc(self, X, y)


class AdaptiveSurvival(_InnerChoice):
    """Survival model that picks its pipeline by inner cross-validated Harrell's C.

    Parameters
    ----------
    candidates
        ``[(name, unfitted survival estimator), ...]``; default (``None``):
        :func:`radiopredict.models.pipelines.adaptive_candidates` ``("survival")`` seeded with
        ``random_state`` (the clustered elastic-net Cox, a weakly penalised Cox model on every
        feature, xgboost Cox and AFT, a random forest of Cox-gradient trees).
    n_splits
        Inner folds, stratified on the event indicator.
    random_state
        Seed of the inner folds and of the default candidates.

    Attributes
    ----------
    chosen_ : str
    inner_scores_ : pandas.DataFrame
        One row per candidate: Harrell's C on each inner fold, ``mean``, ``sd``, ``chosen``.
    estimator_ : estimator
        The chosen candidate refitted on all the data given to ``fit``.
    """

    _task = "survival"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        return tags

    def _labels(self, y) -> np.ndarray:
        from radiopredict.targets import check_survival_target

        return check_survival_target(y)[0].astype(int)

    def _inner_score(self, model, X, y) -> float:
        from radiopredict.metrics import harrell_c
        from radiopredict.targets import check_survival_target

        if not check_survival_target(y, allow_all_censored=True)[0].any():
            return np.nan
        return harrell_c(y, np.asarray(model.predict(X), dtype=float))

    def fit(self, X, y, sample_weight=None) -> AdaptiveSurvival:
        """Choose the candidate on inner folds of ``(X, y)`` and refit it on all of them.

        ``sample_weight`` (optional, e.g. inverse-propensity weights) is passed to every
        candidate's final step as ``model__sample_weight``; the inner scores are unweighted.
        """
        from radiopredict.targets import check_survival_target

        check_survival_target(y)
        y = np.asarray(y)
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        self._fit_choice(X, y, fit_params)
        return self

    def score(self, X, y) -> float:
        """Harrell's concordance index of ``predict(X)``."""
        from radiopredict.metrics import harrell_c

        return harrell_c(y, self.predict(X))

    @available_if(_chosen_has("predict_survival_function"))
    def predict_survival_function(self, X, times) -> np.ndarray:
        """The chosen candidate's survival probabilities, shape ``(n_samples, len(times))``."""
        from radiopredict.models.pipelines import predict_survival_function

        check_is_fitted(self, "estimator_")
        return predict_survival_function(self.estimator_, X, times)
