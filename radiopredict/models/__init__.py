"""Survival and response estimators with the scikit-learn API, and the default pipelines."""

from __future__ import annotations

from radiopredict.models.adaptive import AdaptiveResponse, AdaptiveSurvival
from radiopredict.models.pipelines import (
    SurvivalPipeline,
    adaptive_candidates,
    candidate_pipelines,
    default_param_grid,
    default_pipeline,
    predict_survival_function,
)
from radiopredict.models.response import (
    ElasticNetLogistic,
    RandomForestResponse,
    SoftVoteResponse,
    XGBResponse,
)
from radiopredict.models.survival import CoxPH, NullSurvival, XGBSurvival

__all__ = [
    "CoxPH",
    "XGBSurvival",
    "NullSurvival",
    "DeepSurv",
    "CNNClassifier",
    "CNNSurvival",
    "cohort_crops",
    "ElasticNetLogistic",
    "XGBResponse",
    "RandomForestResponse",
    "SoftVoteResponse",
    "AdaptiveResponse",
    "AdaptiveSurvival",
    "SurvivalPipeline",
    "predict_survival_function",
    "default_pipeline",
    "default_param_grid",
    "candidate_pipelines",
    "adaptive_candidates",
]


def __getattr__(name: str):
    if name == "DeepSurv":  # torch is an optional extra: import on first use
        from radiopredict.models.deepsurv import DeepSurv

        return DeepSurv
    if name in ("CNNClassifier", "CNNSurvival", "cohort_crops"):
        from radiopredict.models import cnn

        return getattr(cnn, name)
    raise AttributeError(f"module 'radiopredict.models' has no attribute {name!r}")
