"""The report of a locked model applied to new patients (``radiopredict predict``).

Sections: the scored patients (predictions, failures, imputed features), each reported
patient's largest contributions, and, when the cohort has outcomes, external validation
(metrics with bootstrap CIs, Kaplan-Meier by the development cohort's risk-group cut points,
calibration, case-mix / shift diagnostics, subgroups).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from radiopredict.report.html import Report

__all__ = ["prediction_report"]


def prediction_report(
    model,
    prediction,
    *,
    validation: dict[str, Any] | None = None,
    title: str = "radiopredict: new patients",
    n_patients: int = 3,
    synthetic: bool = False,
) -> Report:
    """Build the HTML report of :meth:`radiopredict.StudyModel.predict`.

    Parameters
    ----------
    model
        The :class:`radiopredict.StudyModel` that scored the patients.
    prediction
        Its :class:`~radiopredict.study.StudyPrediction`.
    validation
        :meth:`radiopredict.StudyModel.validate` output, when the cohort has outcomes.
    title
        Report title.
    n_patients
        Patients with an explanation figure (the first ones by risk).
    synthetic
        The cohort is synthetic: every imaging number is marked as such.
    """
    from radiopredict.explain import readable_name
    from radiopredict.report.plots import plot_patient_explanation

    report = Report(title)
    tag = " (synthetic data)" if synthetic else ""
    pred = prediction.predictions
    sec = report.section("Scored patients")
    sec.key_values(
        {
            "model task": model.task,
            "horizon": model.horizon_,
            "patients scored": len(pred),
            "patients not scored": prediction.failures["patient_id"].nunique(),
            "features imputed (patient, feature)": len(prediction.undefined),
        }
    )
    if synthetic:
        sec.text("All images are synthetic: every number below is on synthetic data.", note=True)
    sec.table(pred.reset_index().head(50), caption=f"predictions{tag} (first 50)")
    if len(prediction.failures):
        sec.table(prediction.failures, caption="patients that could not be scored, and the fix")
    if len(prediction.undefined):
        sec.table(
            prediction.undefined.head(50),
            caption="features that could not be computed, filled with the training median",
        )

    contrib = prediction.contributions
    if len(contrib):
        sec = report.section("Individual patients")
        key = "probability" if "probability" in pred.columns else "risk"
        order = pred[key].sort_values(ascending=False).index[:n_patients]
        for pid in order:
            rows = contrib[contrib["patient_id"] == str(pid)]
            values = pd.Series(rows["shap"].to_numpy(), index=rows["feature"].map(readable_name))
            data = pd.Series(rows["value"].to_numpy(), index=values.index)
            sec.heading(f"patient {pid}")
            sec.figure(
                plot_patient_explanation(values, _numeric(data), title=f"patient {pid}"),
                f"largest contributions to the {key}{tag}",
            )
    if validation is not None:
        _validation_sections(report, model, prediction, validation, tag)
    return report


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _validation_sections(report: Report, model, prediction, validation, tag: str) -> None:
    from radiopredict.report.plots import (
        plot_binary_calibration,
        plot_km_by_cutpoints,
        plot_survival_calibration,
    )

    pred = prediction.predictions
    y = validation["y"]
    sec = report.section("External validation")
    sec.text(
        "The locked model (no refitting) applied to an independent cohort; confidence "
        f"intervals from a bootstrap over the validation patients{tag}."
    )
    sec.table(validation["metrics"], caption=f"external validation metrics{tag}")
    dev = model.development_.get("cv")
    if dev:
        sec.table(pd.DataFrame(dev), caption="internal cross-validation of the development cohort")
    if model.task == "survival":
        fig, p = plot_km_by_cutpoints(
            pred["risk"].to_numpy(),
            y,
            model.risk_cutpoints_,
            title="risk groups by the development cohort's tertile cut points",
        )
        sec.figure(fig, f"Kaplan-Meier by development risk group (log-rank p = {p:.2g}){tag}")
        try:
            from radiopredict.metrics import survival_calibration

            cal = survival_calibration(
                y, pred["survival_at_horizon"].to_numpy(), model.horizon_, n_groups=4
            )
            sec.figure(
                plot_survival_calibration(cal.table, horizon=model.horizon_),
                f"calibration at t = {model.horizon_:g} (ICI {cal.ici:.3f}){tag}",
            )
        except Exception as exc:  # an undefined calibration is reported, not hidden
            sec.text(f"Calibration plot not computed: {exc}", note=True)
    else:
        sec.figure(
            plot_binary_calibration(pred["probability"].to_numpy(), np.asarray(y)),
            f"calibration{tag}",
        )
    shift = validation["shift"]
    sec = report.section("Case mix and shift")
    lo, hi = shift.get("membership_auc_ci", (np.nan, np.nan))
    sec.text(
        "AUC of a model telling development from validation patients from the model inputs "
        f"(0.5: same case mix): {shift['membership_auc']:.3f} ({lo:.3f}-{hi:.3f}){tag}."
    )
    sec.table(
        shift["standardized_differences"].head(15),
        caption="largest standardised differences of the model inputs (|SMD| > 0.1 is notable)",
    )
    subgroups = validation["subgroups"]
    if len(subgroups):
        report.section("Subgroups").table(
            subgroups, caption=f"metrics by site, sex, age band and stage{tag}"
        )
