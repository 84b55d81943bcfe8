"""A scikit-learn Pipeline that also forwards ``predict_survival_function``."""

from __future__ import annotations

from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if

__all__ = ["SurvivalPipeline"]


def _final_has(attr: str):
    def check(self) -> bool:
        return hasattr(self._final_estimator, attr)

    return check


class SurvivalPipeline(Pipeline):
    """:class:`sklearn.pipeline.Pipeline` with ``predict_survival_function(X, times)``.

    The transforms are applied to ``X`` and the final estimator's
    ``predict_survival_function`` is called on the result; everything else is Pipeline's.
    """

    @available_if(_final_has("predict_survival_function"))
    def predict_survival_function(self, X, times):
        """Survival probabilities ``(n_samples, len(times))`` of the final estimator."""
        Xt = X
        for _, _, transform in self._iter(with_final=False):
            Xt = transform.transform(Xt)
        return self._final_estimator.predict_survival_function(Xt, times)
