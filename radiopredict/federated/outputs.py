"""What a federated study writes: the model bundle, the audit log, the results as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.federated.protocol import AuditLog

__all__ = ["write_outputs", "save_study_model", "synthetic_reference", "result_summary"]


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


def write_outputs(out: str | Path, result, audit: AuditLog) -> dict[str, Path]:
    """Write ``model_bundle/`` (a :class:`~radiopredict.StudyModel` bundle), ``audit.csv``,
    ``bytes_per_round.csv`` and ``result.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "bundle": save_study_model(out / "model_bundle", result),
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


def synthetic_reference(result, n: int = 200, seed: int = 0):
    """A SYNTHETIC reference design matrix and target drawn from the federated aggregates only.

    A :class:`~radiopredict.StudyModel` keeps a development reference (SHAP background,
    censoring distribution, shift checks). A federated study has no pooled rows, so the
    reference is simulated: harmonised features from independent normals with the federated
    means and SDs, mapped back to each batch's scale with the fitted ComBat parameters (batches
    drawn with equal probability); survival times from the fitted Cox model and Breslow baseline,
    censored at the largest follow-up time. No patient row is used.
    """
    from radiopredict.targets import make_survival_target

    rng = np.random.default_rng(seed)
    kept = list(result.kept)
    H = rng.normal(size=(n, len(kept))) * result.scale_sd + result.scale_mean
    X = pd.DataFrame(H, columns=kept, index=[f"reference-{i:04d}" for i in range(n)])
    cb = result.combat
    if cb is not None:
        b = rng.integers(0, len(cb.batches_), size=n)
        sd = np.sqrt(cb.var_pooled_)
        z = (H - cb.grand_mean_) / sd
        raw = (z * np.sqrt(cb.delta_star_[b]) + cb.gamma_star_[b]) * sd + cb.grand_mean_
        X = pd.DataFrame(raw, columns=kept, index=X.index)
        X["batch"] = cb.batches_[b]
    base = result.baseline
    risk = np.exp(H @ result.cox.coef - base.offset_)
    target = rng.exponential(size=n) / risk  # cumulative hazard reached at the event time
    idx = np.searchsorted(base.cumulative_hazard_, target)
    event = idx < len(base.event_times_)
    time = np.where(
        event, base.event_times_[np.clip(idx, 0, len(base.event_times_) - 1)], base.max_time_
    )
    return X, make_survival_target(event, time)


def save_study_model(
    path: str | Path,
    result,
    *,
    study: dict | None = None,
    feature_settings=None,
    seed: int = 0,
):
    """Save the federated model as a :class:`~radiopredict.StudyModel` bundle (what
    ``radiopredict predict`` loads), with a SYNTHETIC reference (:func:`synthetic_reference`)
    and the federated imputation means.

    ``feature_settings`` are the study's shared feature settings (a ``FeatureSettings``; the
    defaults when omitted), ``study`` extra study settings (e.g. ``{"features": ...}``)."""
    from radiopredict.features import FeatureSettings
    from radiopredict.federated.study import model_pipeline
    from radiopredict.study import StudyModel
    from radiopredict.study.settings import Study

    X, y = synthetic_reference(result, seed=seed)
    settings = Study.from_dict(
        {"manifest": "", "task": "survival", "horizon": float(result.horizon), **(study or {})}
    )
    model = StudyModel.from_parts(
        settings,
        pipeline=model_pipeline(result),
        X=X,
        y=y,
        horizon=float(result.horizon),
        feature_settings=feature_settings if feature_settings is not None else FeatureSettings(),
        with_batch=result.combat is not None,
        development={
            "federated": {
                "sites": list(result.sites),
                "dropped": list(result.dropped),
                "cox_rounds": int(result.cox.n_rounds),
            },
            "reference": "SYNTHETIC: drawn from the federated aggregates, no patient row",
        },
    )
    model.impute_ = pd.Series(result.impute_mean, index=list(result.kept), dtype=float)
    return model.save(path, overwrite=True)
