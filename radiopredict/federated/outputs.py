"""What a federated study writes: the model bundle, the audit log, the results as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.federated.protocol import AuditLog

__all__ = ["write_outputs", "save_federated_bundle", "result_summary"]


def _listify(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _listify(x) for k, x in v.items()}
    if isinstance(v, float | np.floating) and not np.isfinite(v):
        return str(v)
    return v


def result_summary(result) -> dict[str, Any]:
    """The fitted aggregates of a study as a JSON-serialisable dict (no patient row)."""
    val = result.validation
    strat = result.cox_stratified
    out = {
        "sites": result.sites,
        "dropped": result.dropped,
        "columns": result.columns,
        "kept": result.kept,
        "impute_mean": result.impute_mean,
        "variances": result.variances,
        "scale_mean": result.scale_mean,
        "scale_sd": result.scale_sd,
        "cox": {
            "coef": result.cox.coef,
            "rounds": result.cox.n_rounds,
            "converged": result.cox.converged,
            "log_likelihood": result.cox.log_likelihood,
        },
        "cox_stratified": None
        if strat is None
        else {"coef": strat.coef, "rounds": strat.n_rounds, "converged": strat.converged},
        "horizon": result.horizon,
        "validation": None
        if val is None
        else {
            "cindex_binned": val.cindex,
            "horizon": val.horizon,
            "time_edges": val.time_edges,
            "cindex_time_edges": val.cindex_time_edges,
            "risk_edges": val.risk_edges,
            "km": val.km.to_dict(orient="list"),
            "calibration": val.calibration.to_dict(orient="list"),
        },
        "loso": result.loso.to_dict(orient="list"),
        "settings": result.settings.to_dict(),
    }
    if result.logistic is not None:
        out["logistic"] = {
            "coef": result.logistic.coef,
            "intercept": result.logistic.intercept,
            "rounds": result.logistic.n_rounds,
            "converged": result.logistic.converged,
        }
    return _listify(out)


def save_federated_bundle(path: str | Path, result, *, feature_settings: dict | None = None):
    """Save the federated Cox model (``[ComBat ->] CoxPH``) with
    :func:`radiopredict.bundle.save_bundle`, with the metadata a study bundle carries."""
    from radiopredict.bundle import Bundle, save_bundle
    from radiopredict.federated.study import model_pipeline

    if feature_settings is None:
        from radiopredict.features import FeatureSettings

        feature_settings = FeatureSettings().to_dict()
    columns = list(result.kept) + (["batch"] if result.combat is not None else [])
    bundle = Bundle(
        model=model_pipeline(result),
        metadata={
            "task": "survival",
            "horizon": result.horizon,
            "columns": columns,
            "feature_settings": feature_settings,
            "feature_engine": "native",
            "label": None,
            "treatment_column": None,
            "federated": {
                "sites": result.sites,
                "dropped": result.dropped,
                "impute_mean": dict(zip(result.kept, map(float, result.impute_mean))),
                "settings": result.settings.to_dict(),
                "cindex_binned": None if result.validation is None else result.validation.cindex,
            },
        },
    )
    return save_bundle(path, bundle, overwrite=True)


def write_outputs(out: str | Path, result, audit: AuditLog) -> dict[str, Path]:
    """Write ``model_bundle/``, ``audit.csv``, ``bytes_per_round.csv``, ``result.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "bundle": save_federated_bundle(out / "model_bundle", result),
        "audit": out / "audit.csv",
        "bytes_per_round": out / "bytes_per_round.csv",
        "result": out / "result.json",
    }
    audit.to_frame().to_csv(paths["audit"], index=False)
    audit.bytes_per_round().to_csv(paths["bytes_per_round"], index=False)
    paths["result"].write_text(json.dumps(result_summary(result), indent=2))
    return paths


def load_summary(out: str | Path) -> dict[str, Any]:
    """Read ``result.json``."""
    return json.loads((Path(out) / "result.json").read_text())


def comparison_from_summary(summary: dict, sites, bundle_model) -> pd.DataFrame:
    """``comparison.csv`` from a study's written outputs and the sites' tables (simulation)."""
    from radiopredict.federated import cox as fcox
    from radiopredict.federated import logistic as flogistic
    from radiopredict.federated import validation as fval
    from radiopredict.federated.study import (
        FederatedResult,
        FederatedSettings,
        compare,
        pooled_reference,
    )

    steps = dict(bundle_model.steps)
    cox = steps["cox"]
    v = summary["validation"]

    def arr(x):
        return np.asarray(x, dtype=float)

    val = (
        None
        if v is None
        else fval.BinnedValidation(
            time_edges=arr(v["time_edges"]),
            cindex_time_edges=arr(v["cindex_time_edges"]),
            risk_edges=arr(v["risk_edges"]),
            km=pd.DataFrame(v["km"]),
            cindex=float(v["cindex_binned"]),
            calibration=pd.DataFrame(v["calibration"]),
            horizon=float(v["horizon"]),
        )
    )

    def coxfit(d):
        if d is None:
            return None
        return fcox.CoxFit(
            coef=arr(d["coef"]),
            beta=arr(d["coef"]),
            n_rounds=int(d["rounds"]),
            converged=bool(d["converged"]),
            log_likelihood=float(d.get("log_likelihood", 0.0)),
            mean=arr(summary["scale_mean"]),
            scale=arr(summary["scale_sd"]),
            times=np.zeros(0),
        )

    lg = summary.get("logistic")
    result = FederatedResult(
        sites=summary["sites"],
        columns=summary["columns"],
        kept=summary["kept"],
        impute_mean=arr(summary["impute_mean"]),
        variances=arr(summary["variances"]),
        combat=steps.get("combat"),
        scale_mean=arr(summary["scale_mean"]),
        scale_sd=arr(summary["scale_sd"]),
        cox=coxfit(summary["cox"]),
        cox_stratified=coxfit(summary["cox_stratified"]),
        baseline=cox.baseline_,
        validation=val,
        logistic=None
        if lg is None
        else flogistic.LogisticFit(
            coef=arr(lg["coef"]),
            intercept=float(lg["intercept"]),
            n_rounds=int(lg["rounds"]),
            converged=bool(lg["converged"]),
        ),
        loso=pd.DataFrame(summary["loso"]),
        settings=FederatedSettings(**summary["settings"]),
        dropped=summary["dropped"],
        horizon=float(summary["horizon"]),
    )
    return compare(result, pooled_reference(sites, result), sites)
