"""The wording and layout of the study report (:func:`radiopredict.study.run_study`).

One function per report section; each takes plain data (tables, arrays, fitted results) and
adds a section to a :class:`~radiopredict.report.Report`. The study runner only computes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.report.html import Report

__all__ = [
    "cohort_section",
    "segmentation_section",
    "performance_section",
    "audit_section",
    "ablation_section",
    "explanation_section",
    "benefit_section",
    "patients_section",
    "external_section",
    "provenance_section",
    "tripod_checklist",
]


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    return table.reset_index() if not isinstance(table.index, pd.RangeIndex) else table


def cohort_section(report: Report, summary: pd.DataFrame) -> None:
    """The cohort summary (:func:`radiopredict.study.summarise_cohort`)."""
    report.section("Cohort").table(summary)


def segmentation_section(report: Report, qc: pd.DataFrame) -> None:
    """U-Net training and mask QC (``qc`` with ``dice`` and ``used_for_training``)."""
    held = qc.loc[~qc["used_for_training"], "dice"].dropna() if "dice" in qc else pd.Series([])
    report.section("Segmentation and mask QC").text(
        f"A U-Net was trained on {int(qc['used_for_training'].sum())} patients' reference masks and "
        f"segmented every image; features below come from the predicted masks. Median Dice to the "
        f"reference on the {len(held)} patients not used for training: {held.median():.3f} "
        f"(min {held.min():.3f})."
    ).table(
        qc.reset_index().drop(columns=[c for c in ("error",) if c in qc.columns]).head(15),
        caption="first 15 cases",
    )


def performance_section(
    report: Report,
    table: pd.DataFrame,
    *,
    study,
    oof: np.ndarray,
    y: np.ndarray,
    calibration=None,
    calibration_error: str | None = None,
    horizon: float | None = None,
    inner_choice: pd.DataFrame | None = None,
) -> None:
    """Cross-validated performance, the model chosen in each outer fold, Kaplan-Meier by
    out-of-fold risk, calibration."""
    from radiopredict.report.plots import plot_km_by_risk_group, plot_survival_calibration

    sec = report.section("Cross-validated performance")
    sec.text(
        f"Repeated stratified {study.model.cv_splits}-fold cross-validation x {study.model.cv_repeats}; "
        "harmonisation, preprocessing, selection and model refitted in every training fold. "
        f"Confidence intervals: bootstrap ({study.model.n_bootstrap} resamples of the test folds)."
    ).table(_plain(table))
    if inner_choice is not None and len(inner_choice):
        sec.text(
            "The default model chooses among candidate pipelines by an inner cross-validation of "
            "each outer training fold only; the candidate chosen in each fold, its inner score "
            "and the fold's outer scores:"
        ).table(inner_choice, caption="inner choice per outer fold")
    if study.task != "survival":
        return
    fig, p_lr = plot_km_by_risk_group(oof, y, title="out-of-fold risk tertiles")
    sec.figure(fig, f"Kaplan-Meier by out-of-fold predicted risk (log-rank p = {p_lr:.2g})")
    if calibration is not None:
        sec.figure(
            plot_survival_calibration(calibration.table, horizon=horizon),
            f"calibration at t = {horizon:g} (ICI {calibration.ici:.3f})",
        )
    elif calibration_error:
        sec.text(
            f"Calibration at t = {horizon:g} could not be computed: {calibration_error}", note=True
        )


def audit_section(report: Report, audit: dict[str, Any]) -> None:
    """Subgroups, leave-one-site-out validation and site leakage."""
    sec = report.section("Site and subgroup audit")
    sec.text(
        "Out-of-fold performance by site, sex, age band and stage (bootstrap CIs; a warning "
        "below 10 events)."
    )
    if len(audit["subgroup_audit"]):
        sec.table(audit["subgroup_audit"], caption="out-of-fold metrics by subgroup")
    if "leave_one_site_out" in audit:
        sec.text(
            "Leave-one-site-out: the pipeline is fitted on the other sites and the held-out site "
            "is harmonised from its own patients (the rule for a new hospital); compare with the "
            "pooled cross-validation above."
        ).table(audit["leave_one_site_out"], caption="leave-one-site-out validation")
        sec.table(
            audit["site_leakage"],
            caption="site leakage: cross-validated AUC of predicting the site from the radiomic "
            "features (0.5: the site cannot be told apart)",
        )


def ablation_section(
    report: Report, table: pd.DataFrame, *, with_cnn: bool, synthetic: bool
) -> None:
    """Which inputs earn their place: every model on the same folds, with paired differences
    against radiomics + clinical."""
    tag = " (synthetic data)" if synthetic else ""
    sec = report.section("Ablation")
    sec.text(
        "Every model is cross-validated on the same outer folds"
        + (
            "; the CNN is trained on each outer training fold only, the late-fusion stacker on "
            "inner out-of-fold CNN scores, the intermediate model on a PCA of the CNN embedding"
            if with_cnn
            else ""
        )
        + ". AUC of the pooled out-of-fold predictions with DeLong and bootstrap CIs; the paired "
        f"difference against radiomics + clinical with a paired bootstrap CI and DeLong's test{tag}."
    )
    sec.table(table, caption=f"ablation{tag}")


def explanation_section(report: Report, ex, importance: pd.DataFrame, overall: pd.Series) -> None:
    """SHAP summary, largest mean |SHAP| and the share of each column group."""
    from radiopredict.explain import readable_name
    from radiopredict.report.plots import plot_group_shares, plot_shap_summary

    sec = report.section("Explanations")
    sec.text(
        f"SHAP values ({ex.method}) on the {ex.output} scale of the final model fitted on all patients."
    )
    sec.figure(
        plot_shap_summary(
            ex.values.rename(columns=readable_name), ex.data.rename(columns=readable_name)
        ),
        "SHAP summary (colour: feature value, low blue, high red)",
    )
    sec.table(importance.head(15), caption="largest mean |SHAP|")
    sec.figure(
        plot_group_shares(pd.DataFrame([overall.to_dict()], index=["all patients"])),
        "share of attribution by column group",
    )


def benefit_section(
    report: Report,
    *,
    learner: str,
    horizon: float,
    treated_arm: str,
    summary: pd.DataFrame,
    validation,
    truth: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Treatment-benefit validation (out of fold), and the planted benefit when known."""
    from radiopredict.report.plots import plot_benefit_validation, plot_benefit_vs_truth

    sec = report.section("Treatment benefit")
    sec.text(
        f"{'T' if learner == 't' else 'S'}-learner over the model pipeline; benefit = "
        f"difference in predicted survival at t = {horizon:g} ({treated_arm}). Validation uses out-of-fold "
        "predictions."
    )
    sec.table(summary).table(validation.by_group)
    sec.figure(
        plot_benefit_validation(validation),
        "predicted vs observed benefit by group; KM by recommendation followed",
    )
    if truth is not None:
        sec.figure(plot_benefit_vs_truth(*truth), "synthetic cohort: predicted vs planted benefit")


def patients_section(
    report: Report,
    ex,
    patients: list,
    *,
    benefit_model=None,
    Xt: pd.DataFrame | None = None,
    benefit: pd.DataFrame | None = None,
    horizon: float | None = None,
) -> None:
    """Each reported patient's explanation, survival under each arm and benefit."""
    from radiopredict.report.plots import plot_arm_survival, plot_patient_explanation

    sec = report.section("Individual patients")
    for pid in patients:
        sec.heading(f"patient {pid}")
        sec.table(ex.patient(pid, top=8))
        sec.figure(
            plot_patient_explanation(
                ex.values.loc[pid],
                ex.data.loc[pid],
                base_value=ex.base_value,
                title=f"patient {pid}",
            ),
            f"contributions to the {ex.output}",
        )
        if benefit_model is not None:
            curves = benefit_model.predict_arm_survival(Xt.loc[[pid]], benefit_model.times_)
            sec.figure(
                plot_arm_survival(
                    benefit_model.times_, {a: c[0] for a, c in curves.items()}, horizon=horizon
                ),
                "predicted survival under each arm",
            )
            sec.table(
                benefit.loc[[pid]]
                .T.reset_index()
                .rename(columns={"index": "quantity", pid: "value"})
            )


def external_section(report: Report, source: str, metrics: pd.DataFrame | None) -> None:
    """The locked model on the study's ``external:`` cohort."""
    sec = report.section("External validation")
    sec.text(
        f"The locked model applied to {source} (nothing refitted); the full external report is "
        "external/report.html."
    )
    if metrics is not None:
        sec.table(metrics, caption="external validation")


def provenance_section(
    report: Report,
    *,
    versions: dict[str, str],
    horizon: float | None,
    timings: dict[str, float],
    feature_settings: dict[str, Any],
) -> None:
    """Versions, horizon, stage timings and feature settings."""
    sec = report.section("Settings and provenance")
    sec.key_values(
        {
            "radiopredict": versions["radiopredict"],
            "horizon": horizon,
            **{f"time: {k}": f"{v:.1f} s" for k, v in timings.items()},
        }
    )
    sec.table(
        pd.DataFrame(
            {
                "setting": list(feature_settings),
                "value": [str(v) for v in feature_settings.values()],
            }
        ),
        caption="feature settings",
    )
    sec.table(pd.DataFrame({"library": list(versions), "version": list(versions.values())}))


def tripod_checklist(
    report: Report, study, n: int, n_events: int, n_features: int, has_truth: bool
) -> pd.DataFrame:
    """The TRIPOD+AI-style reporting checklist section; returns the table."""
    items = [
        (
            "Source of data and participants",
            f"{n} patients from {Path(study.manifest).name}"
            + (" (synthetic)" if has_truth else ""),
        ),
        ("Outcome", f"{study.task}; horizon {study.horizon}"),
        ("Predictors", f"{n_features} candidate columns (radiomics, embeddings, clinical)"),
        ("Sample size", f"{n} patients, {n_events} events"),
        (
            "Missing data",
            "imputed inside folds (ClinicalPreprocessor); failed cases listed in failures.csv",
        ),
        (
            "Feature standardisation",
            "IBSI-1 engine, settings saved in study.yaml and feature provenance",
        ),
        (
            "Harmonisation and selection",
            "fitted inside each training fold only (whole pipeline refitted per fold)",
        ),
        ("Model development", "penalised / boosted models, default pipeline chosen by benchmarks"),
        (
            "Internal validation",
            f"repeated stratified {study.model.cv_splits}-fold CV x {study.model.cv_repeats}; bootstrap CIs",
        ),
        ("Performance measures", "discrimination (C-index, AUC), calibration, Brier / IBS"),
        ("Explainability", "SHAP per feature, column group and patient"),
        (
            "Treatment effect heterogeneity",
            "out-of-fold benefit validated: HR by group, interaction, c-for-benefit",
        ),
        (
            "External validation",
            f"locked model applied to {study.external}"
            if study.external
            else "not performed: report as a limitation",
        ),
        (
            "Code and settings availability",
            "radiopredict version, settings and library versions in provenance.json",
        ),
    ]
    table = pd.DataFrame(items, columns=["item", "what this study did"])
    report.section("Reporting checklist (TRIPOD+AI style)").table(table)
    return table
