"""SHAP explanations: per feature, per column group and per patient.

:func:`explain` picks the exact method the model allows and says which scale it explains:

* xgboost models (Cox, AFT, logistic): exact TreeSHAP (:class:`shap.TreeExplainer`) on the
  margin: log-hazard (Cox), log-time (AFT) or log-odds (classification);
* linear models with ``coef_`` (Cox, logistic): exact linear SHAP with independent features,
  :math:`\\phi_j(x) = \\beta_j\\,(x_j - \\mathbb{E}[x_j])`, on the log-hazard or log-odds scale;
* anything else: model-agnostic permutation SHAP on the model's ``predict`` output (for a
  classifier, on the probability of the positive class);
* ``output="survival"``: model-agnostic SHAP of the predicted survival probability at a horizon,
  :math:`\\hat S(\\tau \\mid x)`, for any model with ``predict_survival_function``.

For a pipeline, the steps before the final estimator are applied first and the explanation is
in terms of the final estimator's input columns (after harmonisation and selection).
In every case the values of one patient add up to the model output minus the base value
(local accuracy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import ConfigError

__all__ = ["Explanation", "explain", "group_shares", "readable_name", "column_group"]

_GROUP_PREFIXES = {"rad": "radiomics", "emb": "embedding", "clin": "clinical"}


@dataclass
class Explanation:
    """SHAP values of a set of patients.

    Attributes
    ----------
    values
        DataFrame (patients x features) of contributions.
    base_value
        Expected model output over the background data.
    data
        Feature values the model saw (same shape as ``values``).
    output
        What is explained, with its scale (``"log-hazard"``, ``"log-time"``, ``"log-odds"``,
        ``"risk score"``, ``"survival probability at t=..."``).
    method
        ``"tree"``, ``"linear"`` or ``"permutation"``.
    groups
        Column group of every feature (``radiomics``, ``embedding``, ``clinical``...).
    """

    values: pd.DataFrame
    base_value: float
    data: pd.DataFrame
    output: str
    method: str
    groups: dict[str, str] = field(default_factory=dict)

    def patient(self, patient_id: Any, *, top: int = 10) -> pd.DataFrame:
        """One patient's largest contributions: feature, readable name, value, contribution."""
        if patient_id not in self.values.index:
            raise KeyError(f"patient {patient_id!r} is not among the explained patients")
        phi = self.values.loc[patient_id]
        order = phi.abs().sort_values(ascending=False).index[:top]
        return pd.DataFrame(
            {
                "feature": order,
                "name": [readable_name(c) for c in order],
                "group": [self.groups.get(c, "other") for c in order],
                "value": self.data.loc[patient_id, order].to_numpy(),
                "contribution": phi[order].to_numpy(),
            }
        )

    def global_importance(self) -> pd.DataFrame:
        """Mean absolute contribution per feature, largest first."""
        imp = self.values.abs().mean().sort_values(ascending=False)
        return pd.DataFrame(
            {
                "feature": imp.index,
                "name": [readable_name(c) for c in imp.index],
                "group": [self.groups.get(c, "other") for c in imp.index],
                "mean_abs_shap": imp.to_numpy(),
            }
        )


def column_group(name: str) -> str:
    """Column group of a design-matrix column from its prefix (``rad__``, ``emb__``, ``clin__``);
    ``"other"`` when it has none."""
    head = str(name).split("__", 1)[0]
    return _GROUP_PREFIXES.get(head, "other")


_AGG = {
    "2D_avg": "2D, averaged",
    "2D_comb": "2D, merged",
    "2_5D_avg": "2.5D, averaged",
    "2_5D_comb": "2.5D, merged",
    "3D_avg": "3D, averaged",
    "3D_comb": "3D, merged",
    "2D": "2D",
    "2_5D": "2.5D",
    "3D": "3D",
}


def readable_name(column: str) -> str:
    """A human-readable name for a feature column.

    IBSI tags are looked up in the feature registry (family, name, aggregation, IBSI code);
    pyradiomics names ``<filter>_<class>_<feature>`` are split into their parts; prefixes such
    as ``rad__tumour__`` are kept as context.
    """
    parts = str(column).split("__")
    tag = parts[-1]
    context = [p for p in parts[:-1] if p not in _GROUP_PREFIXES and p != "default"]
    text = tag
    try:
        from radiopredict.features import registry

        d = registry.get_feature(tag)
        suffix = tag[len(d.stem) + 1 :] if tag != d.stem else ""
        agg = f", {_AGG.get(suffix, suffix)}" if suffix else ""
        code = f" [{d.ibsi_code}]" if d.ibsi_code else ""
        text = f"{d.family}: {d.name}{agg}{code}"
    except (KeyError, ImportError):
        m = re.match(
            r"^([a-z0-9-]+)_(firstorder|shape|shape2D|glcm|glrlm|glszm|gldm|ngtdm)_([A-Za-z0-9]+)$",
            tag,
        )
        if m:
            text = f"{m.group(2)}: {m.group(3)} ({m.group(1)})"
    return " · ".join([*context, text]) if context else text


def _final_step(model):
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return model[:-1], model[-1]
    return None, model


def _transform(pre, X: pd.DataFrame) -> pd.DataFrame:
    if pre is None:
        return X
    Xt = pre.transform(X)
    if isinstance(Xt, pd.DataFrame):
        return Xt
    try:
        names = pre.get_feature_names_out()
    except Exception:
        names = [f"x{i}" for i in range(Xt.shape[1])]
    return pd.DataFrame(np.asarray(Xt), index=X.index, columns=names)


def _booster(est):
    import xgboost as xgb

    if hasattr(est, "get_booster"):
        try:
            return est.get_booster()
        except Exception:
            return None
    for attr in ("booster_", "model_"):
        b = getattr(est, attr, None)
        if isinstance(b, xgb.Booster):
            return b
    return None


def _margin_name(booster) -> str:
    import json

    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    return {
        "survival:cox": "log-hazard",
        "survival:aft": "log-time",
        "binary:logistic": "log-odds",
    }.get(objective, f"margin ({objective})")


def explain(
    model,
    X: pd.DataFrame,
    *,
    background: pd.DataFrame | None = None,
    output: str = "risk",
    horizon: float | None = None,
    groups: dict[str, str] | None = None,
    max_background: int = 100,
    random_state: int = 0,
) -> Explanation:
    """Explain a fitted model's predictions for the patients in ``X``.

    Parameters
    ----------
    model
        Fitted estimator or pipeline.
    X
        Patients to explain (DataFrame, one row per patient).
    background
        Reference data for expectations (default: ``X``); subsampled to ``max_background``.
    output
        ``"risk"`` (the model's natural margin or ``predict``) or ``"survival"`` (predicted
        survival probability at ``horizon``, model-agnostic).
    horizon
        Time for ``output="survival"``.
    groups
        Column group per feature; by default from the column prefixes (``rad__``...).
    max_background
        Largest background sample.
    random_state
        Seed for background subsampling and permutations.
    """
    import shap

    if not isinstance(X, pd.DataFrame):
        raise ConfigError(
            "X must be a DataFrame (column names name the features)",
            fix="wrap it in pandas.DataFrame",
        )
    background = X if background is None else background
    if len(background) > max_background:
        background = background.sample(max_background, random_state=random_state)

    if output == "survival":
        if horizon is None or not hasattr(model, "predict_survival_function"):
            raise ConfigError(
                "output='survival' needs a horizon and a model with predict_survival_function",
                fix="pass horizon= and a survival model",
            )

        def f(data):
            frame = pd.DataFrame(data, columns=X.columns)
            return np.asarray(model.predict_survival_function(frame, np.array([horizon])))[:, 0]

        values, base, data = _permutation(shap, f, X, background, random_state)
        return _result(
            values, base, data, f"survival probability at t={horizon:g}", "permutation", groups
        )
    if output != "risk":
        raise ConfigError(f"unknown output {output!r}", fix="use 'risk' or 'survival'")

    pre, est = _final_step(model)
    Xt = _transform(pre, X)
    Bt = _transform(pre, background)
    booster = _booster(est)
    if booster is not None:
        explainer = shap.TreeExplainer(booster)
        values = np.asarray(explainer.shap_values(Xt.to_numpy(dtype=float)))
        base = float(np.ravel(explainer.expected_value)[0])
        return _result(values, base, Xt, _margin_name(booster), "tree", groups)
    coef = getattr(est, "coef_", None)
    if coef is not None and np.ravel(coef).size == Xt.shape[1]:
        beta = np.ravel(np.asarray(coef, dtype=float))
        mean = Bt.to_numpy(dtype=float).mean(axis=0)
        values = (Xt.to_numpy(dtype=float) - mean) * beta
        scale = "log-odds" if hasattr(est, "predict_proba") else "log-hazard"
        intercept = float(np.ravel(getattr(est, "intercept_", [0.0]))[0])
        return _result(values, float(mean @ beta + intercept), Xt, scale, "linear", groups)

    from sklearn.base import is_classifier

    if is_classifier(est) and hasattr(est, "predict_proba"):  # explain the probability, not
        name = "probability of the outcome"  # the 0/1 class that predict returns

        def g(data):
            proba = est.predict_proba(pd.DataFrame(data, columns=Xt.columns))
            return np.asarray(proba, dtype=float)[:, -1]
    else:
        name = "risk score"

        def g(data):
            return np.asarray(est.predict(pd.DataFrame(data, columns=Xt.columns)), dtype=float)

    values, base, data = _permutation(shap, g, Xt, Bt, random_state)
    return _result(values, base, data, name, "permutation", groups)


def _permutation(shap, f, X: pd.DataFrame, background: pd.DataFrame, random_state: int):
    masker = shap.maskers.Independent(background.to_numpy(dtype=float), max_samples=len(background))
    explainer = shap.PermutationExplainer(f, masker, seed=random_state)
    res = explainer(X.to_numpy(dtype=float), max_evals=max(2 * X.shape[1] + 1, 500), silent=True)
    base = float(np.mean(np.ravel(res.base_values)))
    return np.asarray(res.values), base, X


def _result(values, base, data: pd.DataFrame, output: str, method: str, groups) -> Explanation:
    frame = pd.DataFrame(
        np.asarray(values, dtype=np.float64), index=data.index, columns=data.columns
    )
    groups = dict(groups) if groups else {c: column_group(c) for c in data.columns}
    return Explanation(
        values=frame, base_value=base, data=data, output=output, method=method, groups=groups
    )


def group_shares(explanation: Explanation) -> tuple[pd.DataFrame, pd.Series]:
    """Share of absolute attribution per column group, per patient and globally.

    The share of group :math:`G` for patient :math:`i` is
    :math:`\\sum_{j \\in G} |\\phi_{ij}| / \\sum_j |\\phi_{ij}|`; the global share uses the
    mean absolute values over patients.

    Returns
    -------
    per_patient : pandas.DataFrame
        Patients x groups, rows summing to 1.
    global_share : pandas.Series
        Group -> share, summing to 1.
    """
    absval = explanation.values.abs()
    by_group = absval.T.groupby(lambda c: explanation.groups.get(c, "other")).sum().T
    total = by_group.sum(axis=1).replace(0, np.nan)
    per_patient = by_group.div(total, axis=0).fillna(0.0)
    glob = absval.mean().groupby(lambda c: explanation.groups.get(c, "other")).sum()
    return per_patient, glob / glob.sum()
