"""Default pipelines, chosen by the benchmarks in ``benchmarks/`` (see docs/models.md).

Every pipeline starts from a DataFrame of features and refits everything (filters, scaler,
model) inside each training fold when used with :mod:`radiopredict.evaluate`.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.errors import ConfigError
from radiopredict.models._pipeline import SurvivalPipeline

__all__ = [
    "SurvivalPipeline",
    "predict_survival_function",
    "default_pipeline",
    "default_param_grid",
    "candidate_pipelines",
]


def predict_survival_function(model, X, times):
    """``model.predict_survival_function(X, times)`` for any fitted model.

    Works for estimators with the method, :class:`SurvivalPipeline`, plain scikit-learn
    pipelines (the transformers are applied first) and fitted searches (their
    ``best_estimator_``).
    """
    model = getattr(model, "best_estimator_", model)
    # a plain Pipeline is handled here even if it has the method: scikit-survival, once
    # imported, patches Pipeline with its own predict_survival_function(X) (no times)
    if isinstance(model, Pipeline) and not isinstance(model, SurvivalPipeline):
        Xt = X
        for _, _, step in model._iter(with_final=False):
            Xt = step.transform(Xt)
        return predict_survival_function(model.steps[-1][1], Xt, times)
    if hasattr(model, "predict_survival_function"):
        return model.predict_survival_function(X, times)
    raise ConfigError(
        f"{type(model).__name__} has no predict_survival_function",
        fix="use a survival estimator from radiopredict.models",
    )


# Chosen by benchmarks/bench_response_radmlbench.py and benchmarks/bench_survival.py; see
# benchmarks/README.md ("Models") for the numbers behind the choice.
_DEFAULT = {"response": "enet", "survival": "coxnet"}


def _filters(correlation: float | None) -> list[tuple[str, Any]]:
    """Scale, drop constant columns, optionally keep one feature per correlation cluster.

    Scaling first makes the variance rule scale-free: after standardisation a real feature has
    variance 1, a column that is constant in the training fold (up to floating-point
    round-off, which the scaler leaves as is) has a variance near 0 and is dropped.
    """
    from radiopredict.select import CorrelationClusterSelector, VarianceFilter

    steps: list[tuple[str, Any]] = [
        ("scale", StandardScaler().set_output(transform="pandas")),
        ("variance", VarianceFilter(threshold=1e-10, columns=None)),
    ]
    if correlation is not None:
        steps.append(
            ("correlation", CorrelationClusterSelector(threshold=correlation, columns=None))
        )
    return steps


def candidate_pipelines(task: str, *, random_state: int = 0) -> dict[str, Pipeline]:
    """The candidate pipelines compared by the benchmarks, by name.

    Response: ``"enet"`` (scaler, constant-column filter, Spearman correlation clusters at 0.9,
    elastic-net logistic), ``"xgb"`` (scaler, constant-column filter, gradient-boosted trees),
    ``"enet_xgb"`` (the mean of the two models' probabilities), ``"xgb_or_enet"`` (scaler,
    constant-column filter, univariate AUC ranking, then a model: fitted as is it is ``"xgb"``
    on every feature; its :func:`default_param_grid` lets the inner loop of nested CV choose
    between that and a strongly penalised elastic-net logistic on the 10 best-ranked features,
    which falls back to (nearly) the base rate when the trees do not beat it), ``"rf"`` (scaler,
    constant-column filter, random forest of 500 trees, ``max_features="sqrt"``), ``"enet_rf"``
    (the mean of ``"enet"``'s and ``"rf"``'s probabilities).
    Survival: ``"coxnet"`` (the same filters, elastic-net Cox), ``"xgb_cox"``, ``"xgb_aft"``.
    """
    from radiopredict.models.response import ElasticNetLogistic, SoftVoteResponse
    from radiopredict.models.survival import CoxPH, XGBSurvival
    from radiopredict.select import UnivariateSelector

    rs = random_state
    if task == "response":
        enet = Pipeline(
            [
                *_filters(0.9),
                ("model", ElasticNetLogistic(C=0.1, l1_ratio=0.5, random_state=rs)),
            ]
        )
        xgb = Pipeline([*_filters(None), ("model", _response_xgb(rs))])
        vote = VotingClassifier([("enet", clone(enet)), ("xgb", clone(xgb))], voting="soft")
        xgb_or_enet = Pipeline(
            [
                *_filters(None),
                ("select", UnivariateSelector(k="all", scoring="auc", columns=None)),
                ("model", _response_xgb(rs)),
            ]
        )
        rf = Pipeline([*_filters(None), ("model", _response_rf(rs))])
        enet_rf = SoftVoteResponse([("enet", clone(enet)), ("rf", clone(rf))])
        return {
            "enet": enet,
            "xgb": xgb,
            "enet_xgb": Pipeline([("model", vote)]),
            "xgb_or_enet": xgb_or_enet,
            "rf": rf,
            "enet_rf": Pipeline([("model", enet_rf)]),
        }
    if task == "survival":
        return {
            "coxnet": SurvivalPipeline(
                [
                    *_filters(0.9),
                    ("model", CoxPH(alpha=0.1, l1_ratio=0.5)),
                ]
            ),
            "xgb_cox": SurvivalPipeline(
                [*_filters(None), ("model", XGBSurvival(objective="cox", random_state=rs))]
            ),
            "xgb_aft": SurvivalPipeline(
                [*_filters(None), ("model", XGBSurvival(objective="aft", random_state=rs))]
            ),
        }
    raise ConfigError(f"unknown task {task!r}", fix="use task='survival' or task='response'")


def _response_xgb(random_state: int):
    from radiopredict.models.response import XGBResponse

    return XGBResponse(
        n_estimators=100,
        learning_rate=0.1,
        max_depth=2,
        colsample_bytree=0.5,
        random_state=random_state,
    )


def _response_rf(random_state: int):
    from radiopredict.models.response import RandomForestResponse

    return RandomForestResponse(
        n_estimators=500, max_features="sqrt", n_jobs=1, random_state=random_state
    )


def default_param_grid(
    task: str, name: str | None = None, *, random_state: int = 0
) -> dict[str, list] | list[dict[str, list]]:
    """Hyper-parameter grid for :func:`radiopredict.evaluate.nested_cv` of a candidate.

    A dict, or for ``"xgb_or_enet"`` a list of dicts: the inner loop then chooses between
    model families, each with its own settings (scikit-learn's ``GridSearchCV`` convention),
    using the training fold only.
    """
    from radiopredict.models.response import ElasticNetLogistic

    name = name or _DEFAULT.get(task)
    grids = {
        ("response", "xgb_or_enet"): [
            {"select__k": ["all"], "model": [_response_xgb(random_state)]},
            {
                "select__k": [10],
                "model": [ElasticNetLogistic(C=0.03, l1_ratio=0.5, random_state=random_state)],
            },
        ],
        ("response", "enet"): {"model__C": [0.03, 0.1, 0.3]},
        ("response", "enet_xgb"): {"model__enet__model__C": [0.03, 0.1, 0.3]},
        ("response", "rf"): {"model__min_samples_leaf": [1, 5]},
        ("response", "enet_rf"): {"model__enet__model__C": [0.03, 0.1, 0.3]},
        ("response", "xgb"): {"model__max_depth": [2, 4], "model__n_estimators": [100, 300]},
        ("survival", "coxnet"): {"model__alpha": [0.03, 0.1, 0.3]},
        ("survival", "xgb_cox"): {"model__max_depth": [2, 3], "model__n_estimators": [100, 300]},
        ("survival", "xgb_aft"): {"model__max_depth": [2, 3], "model__n_estimators": [100, 300]},
    }
    if (task, name) not in grids:
        raise ConfigError(
            f"no grid for task={task!r}, pipeline={name!r}",
            fix="task is 'survival' or 'response'; names are those of candidate_pipelines(task)",
        )
    return grids[(task, name)]


def default_pipeline(task: str = "survival", *, random_state: int = 0) -> Pipeline:
    """The default pipeline for ``task`` (``"survival"`` or ``"response"``).

    The choice is not a matter of taste: it is the candidate of :func:`candidate_pipelines`
    that did best in the benchmarks (radMLBench nested-CV AUC for ``"response"``; repeated
    5-fold C-index on public clinical survival sets for ``"survival"``). Tune it with
    :func:`radiopredict.evaluate.nested_cv` and :func:`default_param_grid`.
    """
    if task not in _DEFAULT:
        raise ConfigError(f"unknown task {task!r}", fix="use task='survival' or task='response'")
    return candidate_pipelines(task, random_state=random_state)[_DEFAULT[task]]
