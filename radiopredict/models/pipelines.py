"""Default pipelines (see docs/models.md and the benchmarks in ``benchmarks/``).

The default of each task adapts to the data: it chooses among :func:`adaptive_candidates` by an
inner cross-validation of the data it is fitted on (:mod:`radiopredict.models.adaptive`).
Every pipeline starts from a DataFrame of features and refits everything (filters, scaler,
model, and the default's choice) inside each training fold when used with
:mod:`radiopredict.evaluate`.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import clone
from sklearn.dummy import DummyClassifier
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
    "adaptive_candidates",
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
    using the training fold only. ``name`` is required: :func:`default_pipeline` chooses its
    settings inside ``fit`` and needs no grid (cross-validate it with
    :func:`radiopredict.evaluate.cross_validate`).
    """
    from radiopredict.models.response import ElasticNetLogistic

    if name is None:
        raise ConfigError(
            f"default_param_grid({task!r}) needs a candidate name: the default pipeline chooses "
            "its candidate and settings by inner cross-validation inside fit",
            fix="cross_validate(default_pipeline(task), X, y) (no grid), or name a candidate of "
            "candidate_pipelines(task), e.g. default_param_grid('response', 'enet')",
        )
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


def adaptive_candidates(task: str, *, random_state: int = 0) -> dict[str, Pipeline]:
    """The pipelines the default of ``task`` chooses among, by name.

    They span the regimes met in radiomics and clinical tables: many correlated features and
    few patients (strong penalties, correlation clusters), many patients and few features
    (weak penalties, every feature kept), and non-linear signal (tree ensembles). Every one
    starts with standardisation and the constant-column filter.

    Response: ``"l2_C0.01"``, ``"l2_C0.1"``, ``"l2_C1"`` (ridge logistic regression on every
    feature, inverse penalty ``C``), ``"enet_clustered"`` (Spearman correlation clusters at
    0.9, elastic-net logistic ``C=0.1``, ``l1_ratio=0.5``: the default before the adaptive
    one), ``"rf"`` (random forest, 200 trees, ``max_features="sqrt"``), ``"xgb"`` (xgboost,
    100 trees of depth 2, 64 histogram bins), ``"base_rate"`` (the training fold's share of
    responders for everyone: AUC 0.5).

    Survival: ``"coxnet_clustered"`` (correlation clusters at 0.9, ``CoxPH(alpha=0.1,
    l1_ratio=0.5)``: the default before), ``"cox_l2"`` (``CoxPH(alpha=0.01)``, ridge, every
    feature), ``"xgb_cox"``, ``"xgb_aft"`` (xgboost, 200 trees of depth 2), ``"xgb_cox_forest"``
    (xgboost's random-forest mode on the Cox loss: 300 trees of depth 6 grown in one round on
    63 % subsamples, a third of the columns at each split), ``"null"`` (the same risk for
    everyone, the cohort's Nelson-Aalen survival: C = 0.5).

    The last candidate of each task predicts without the features. Ties go to the earlier
    candidate, so it is chosen only when every model scores below chance on the inner folds
    (no usable signal): the default then says so (``chosen_``) instead of fitting noise.
    """
    from radiopredict.models.response import ElasticNetLogistic
    from radiopredict.models.survival import CoxPH, NullSurvival, XGBSurvival

    rs = random_state
    if task == "response":
        out: dict[str, Pipeline] = {
            f"l2_C{c:g}": Pipeline(
                [
                    *_filters(None),
                    ("model", ElasticNetLogistic(C=c, l1_ratio=0.0, random_state=rs)),
                ]
            )
            for c in (0.01, 0.1, 1.0)
        }
        cands = candidate_pipelines("response", random_state=rs)
        out["enet_clustered"] = cands["enet"]
        out["rf"] = Pipeline(
            [*_filters(None), ("model", clone(_response_rf(rs)).set_params(n_estimators=200))]
        )
        out["xgb"] = Pipeline(
            [*_filters(None), ("model", clone(_response_xgb(rs)).set_params(max_bin=64))]
        )
        out["base_rate"] = Pipeline([("model", DummyClassifier(strategy="prior"))])
        return out
    if task == "survival":
        cands = candidate_pipelines("survival", random_state=rs)
        forest = XGBSurvival(
            objective="cox",
            n_estimators=1,
            learning_rate=1.0,
            num_parallel_tree=300,
            max_depth=6,
            subsample=0.63,
            colsample_bytree=1.0,
            colsample_bynode=0.33,
            min_child_weight=0.0,
            random_state=rs,
        )
        return {
            "coxnet_clustered": cands["coxnet"],
            "cox_l2": SurvivalPipeline(
                [*_filters(None), ("model", CoxPH(alpha=0.01, l1_ratio=0.0))]
            ),
            "xgb_cox": cands["xgb_cox"],
            "xgb_aft": cands["xgb_aft"],
            "xgb_cox_forest": SurvivalPipeline([*_filters(None), ("model", forest)]),
            "null": SurvivalPipeline([("model", NullSurvival())]),
        }
    raise ConfigError(f"unknown task {task!r}", fix="use task='survival' or task='response'")


def default_pipeline(task: str = "survival", *, random_state: int = 0) -> Pipeline:
    """The default pipeline for ``task`` (``"survival"`` or ``"response"``): one that adapts.

    A pipeline with a single step ``"model"``: :class:`~radiopredict.models.AdaptiveSurvival`
    or :class:`~radiopredict.models.AdaptiveResponse`. Its ``fit`` runs a stratified 5-fold
    cross-validation **of the data it is given** over the pipelines of
    :func:`adaptive_candidates`, keeps the one with the best mean inner score (Harrell's C, or
    the ROC AUC) and refits it on all of that data. Inside
    :func:`radiopredict.evaluate.cross_validate` the choice is therefore made on each outer
    training fold only; the fitted step tells which candidate it chose (``chosen_``) and why
    (``inner_scores_``), and the CV result tabulates both per outer fold
    (``CVResult.inner_choice``).
    """
    from radiopredict.models.adaptive import AdaptiveResponse, AdaptiveSurvival

    if task == "response":
        return Pipeline([("model", AdaptiveResponse(random_state=random_state))])
    if task == "survival":
        return SurvivalPipeline([("model", AdaptiveSurvival(random_state=random_state))])
    raise ConfigError(f"unknown task {task!r}", fix="use task='survival' or task='response'")
