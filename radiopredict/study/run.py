"""Run a whole study: cohort -> (segment) -> features -> (embeddings) -> model -> evaluate ->
explain -> treat -> report, with every output in one folder.

This module only wires the stages together; each stage lives in its own module and takes and
returns plain data. :func:`run_study` runs a :class:`radiopredict.study.Study`;
:func:`run_demo` writes the synthetic cohort and runs the study on it.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import ManifestError
from radiopredict.study import stages
from radiopredict.study.settings import Study

__all__ = ["run_study", "run_demo", "summarise_cohort", "predict_and_report", "DEMO_BUDGET_S"]

#: Wall-clock budget of the demo on 2 CPU cores (issue #7: at most 10 minutes).
DEMO_BUDGET_S = 600


def summarise_cohort(cohort) -> pd.DataFrame:
    """One-row-per-statistic summary of a cohort (patients, cases, events, arms, sites).

    Parameters
    ----------
    cohort
        A :class:`radiopredict.Cohort`.

    Returns
    -------
    pandas.DataFrame
        Columns ``statistic`` and ``value`` (as text).
    """
    pts = cohort.patients
    rows: list[tuple[str, Any]] = [
        ("patients", len(cohort.patient_ids)),
        ("cases (image, mask, label)", len(cohort)),
    ]
    if {"time", "event"} <= set(pts.columns):
        y = cohort.survival_target()
        rows += [
            ("events", int(y["event"].sum())),
            ("censored fraction", round(1 - float(y["event"].mean()), 3)),
            ("median follow-up", round(float(np.median(y["time"])), 2)),
        ]
    if "response" in pts.columns:
        rows.append(("responders", int(pd.to_numeric(pts["response"]).sum())))
    if "treatment" in pts.columns:
        for arm, n in pts["treatment"].value_counts().sort_index().items():
            rows.append((f"treatment = {arm}", int(n)))
    if "batch" in pts.columns:
        rows.append(("sites (batch)", int(pts["batch"].nunique())))
    rows.append(("clinical variables", ", ".join(cohort.clinical_columns)))
    return pd.DataFrame([(k, str(v)) for k, v in rows], columns=["statistic", "value"])


def _print_table(console, df: pd.DataFrame, title: str, max_rows: int = 20) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col))
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


class _Log:
    """Stage timer and console output of a study run."""

    def __init__(self, console, out: Path) -> None:
        self.console = console
        self.out = out
        self.timings: dict[str, float] = {}
        self.outputs: dict[str, Path] = {}

    @contextmanager
    def stage(self, name: str):
        self.console.rule(name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 2)
        self.console.print(f"[dim]{name}: {self.timings[name]:.1f} s[/dim]")

    def save(self, name: str, obj, filename: str) -> Path:
        path = self.out / filename
        if isinstance(obj, pd.DataFrame):
            obj.to_csv(path, index=not isinstance(obj.index, pd.RangeIndex))
        else:
            path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=2, default=str))
        self.outputs[name] = path
        return path


def _ground_truth(manifest: Path) -> pd.DataFrame | None:
    """The synthetic cohort's ground truth, when the manifest comes from make_synthetic_cohort."""
    path = manifest.parent / "ground_truth.csv"
    if not path.exists():
        return None
    gt = pd.read_csv(path)
    return gt.set_index(gt["patient_id"].astype(str))


def _oof_survival(
    pipeline, X: pd.DataFrame, y: np.ndarray, horizon: float, seed: int, n_splits: int
) -> np.ndarray:
    """Out-of-fold predicted survival at the horizon (one repeat)."""
    from sklearn.base import clone

    from radiopredict.evaluate import SurvivalStratifiedKFold

    out = np.full(len(X), np.nan)
    for train, test in SurvivalStratifiedKFold(n_splits=n_splits, random_state=seed).split(X, y):
        model = clone(pipeline).fit(X.iloc[train], y[train])
        out[test] = np.asarray(model.predict_survival_function(X.iloc[test], np.array([horizon])))[
            :, 0
        ]
    return out


# --------------------------------------------------------------------------- runner
def run_study(study: Study, *, console=None, progress: bool = True) -> dict[str, Path]:
    """Run every stage of a study and write its outputs to ``study.output``.

    Numerical warnings of the model fits (lifelines convergence notes, ill-conditioned Hessians
    in small folds) are not printed; fits that fail raise, and weak fits show in the
    cross-validated metrics.

    Returns
    -------
    dict
        Output name -> path; ``"report"`` is the self-contained HTML report.
    """
    from scipy.linalg import LinAlgWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=LinAlgWarning)
        warnings.filterwarnings("ignore", module="lifelines")
        warnings.filterwarnings("ignore", message=".*constant within a batch pass through.*")
        return _run_study(study, console=console, progress=progress)


def _run_study(study: Study, *, console=None, progress: bool = True) -> dict[str, Path]:
    import yaml
    from rich.console import Console
    from sklearn.base import clone

    from radiopredict.bundle import library_versions
    from radiopredict.cohort import Cohort
    from radiopredict.evaluate import compare_models
    from radiopredict.explain import explain, group_shares
    from radiopredict.fuse import column_groups
    from radiopredict.report import Report
    from radiopredict.report import study as rs
    from radiopredict.study.model import StudyModel

    console = console or Console()
    out = Path(study.output)
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(console, out)
    log.save("settings", yaml.safe_dump(study.to_dict(), sort_keys=False), "study.yaml")
    t_start = time.perf_counter()
    manifest = Path(study.manifest)
    truth = _ground_truth(manifest)
    report = Report(study.report.title)

    with log.stage("cohort"):
        cohort = Cohort.read(manifest)
        problems = cohort.validate(progress=progress)
        log.save("problems", problems, "problems.csv")
        if len(problems):
            _print_table(console, problems, f"{len(problems)} manifest problem(s)")
            raise ManifestError(
                f"the manifest has {len(problems)} problem(s); see {out / 'problems.csv'}",
                path=manifest,
                problems=problems,
                fix="correct the manifest (radiopredict validate prints the table)",
            )
        summary = summarise_cohort(cohort)
        log.save("cohort_summary", summary, "cohort_summary.csv")
        _print_table(console, summary, "cohort")
        cohort = stages.select_label(cohort, study.features.label)
    rs.cohort_section(report, summary)

    qc = None
    seg_model = None
    if study.segmentation.enabled:
        with log.stage("segmentation"):
            from radiopredict.segment import qc_table

            seg_model, train_ids = stages.train_segmentation(
                cohort, study.segmentation, seed=study.seed, progress=progress
            )
            seg_model.save(out / "segmentation" / "unet")
            reference = cohort
            cohort = stages.segment(
                cohort,
                seg_model,
                out / "segmentation" / "masks",
                progress=progress,
                inference_patch=study.segmentation.inference_patch_size,
            )
            qc = qc_table(cohort, reference=reference)
            qc["used_for_training"] = [k[0] in set(train_ids) for k in qc.index]
            log.save("mask_qc", qc.reset_index(), "mask_qc.csv")
            log.save("segmentation_history", seg_model.history, "segmentation_history.json")
            dice = qc["dice"].dropna() if "dice" in qc else pd.Series(dtype=float)
            held = qc.loc[~qc["used_for_training"], "dice"].dropna() if "dice" in qc else dice
            console.print(
                f"U-Net Dice vs reference masks: median {held.median():.3f} on {len(held)} held-out cases"
            )
        rs.segmentation_section(report, qc)

    with log.stage("features"):
        settings = stages.feature_settings(study.features.settings, manifest.parent)
        cache = out / "cache" / "features" if study.features.cache else None
        result = stages.extract_features(
            cohort,
            settings,
            study.features.engine,
            n_jobs=study.n_jobs,
            cache_dir=cache,
            progress=progress,
        )
        result.to_parquet(out / "features.parquet")
        log.outputs["features"] = out / "features.parquet"
        log.save("failures", result.failures, "failures.csv")
        if len(result.failures):
            _print_table(console, result.failures, f"{len(result.failures)} case(s) failed")
        if result.features.empty:
            raise ManifestError(
                "no case produced features; see failures.csv",
                path=manifest,
                fix="correct the cases listed in failures.csv (each row names the fix)",
            )
        console.print(f"{result.features.shape[1]} features for {len(result.features)} cases")

    embeddings = encoder = crop = None
    if study.embeddings.enabled:
        with log.stage("embeddings"):
            encoder, crop = stages.train_encoder(
                cohort, study.embeddings, seed=study.seed, segmentation_model=seg_model
            )
            embeddings = stages.embed(cohort, encoder, crop, cache_dir=out / "cache" / "embeddings")
            log.save("embeddings", embeddings.reset_index(), "embeddings.csv")

    with log.stage("design matrix"):
        has_batch = "batch" in cohort.patients.columns and cohort.patients["batch"].nunique() > 1
        who = stages.undefined_features(result.features)
        if who:
            log.save("undefined_features", who, "undefined_features.json")
            console.print(
                f"[yellow]{len(who)} feature(s) undefined for some patients are left out of "
                f"the model:[/yellow] {', '.join(f'{c} ({len(p)} patients)' for c, p in who.items())}"
            )
        X, caught = stages.design(result.features, embeddings, cohort, with_batch=has_batch)
        for message in caught:
            console.print(f"[yellow]warning:[/yellow] {message}")
        ids = list(X.index)
        target = cohort.survival_target() if study.task == "survival" else cohort.binary_target()
        position = {pid: i for i, pid in enumerate(cohort.patient_ids)}
        y = target[[position[pid] for pid in ids]]
        groups = column_groups(X)
        console.print(
            f"design matrix: {X.shape[0]} patients x {X.shape[1]} columns "
            + ", ".join(f"{g}: {len(c)}" for g, c in groups.items() if c)
        )

    horizon = study.horizon
    if study.task == "survival" and horizon is None:
        horizon = float(np.quantile(y["time"], 0.5))
        console.print(f"horizon not set: using the median follow-up time {horizon:.3g}")

    pipeline = stages.build_pipeline(study, X, with_batch=has_batch)
    with log.stage("evaluate"):
        cv_kwargs = dict(
            n_splits=study.model.cv_splits,
            n_repeats=study.model.cv_repeats,
            random_state=study.seed,
            n_jobs=study.n_jobs,
            progress=progress,
        )
        candidates = {"full model": pipeline}
        clin_cols = [c for c in X.columns if c.startswith("clin__")]
        if clin_cols:
            candidates["clinical only"] = _on_columns(
                stages.build_pipeline(study, X[clin_cols], with_batch=False), clin_cols
            )
        comparison = compare_models(
            candidates, X, y, n_bootstrap=study.model.n_bootstrap, **cv_kwargs
        )
        table = comparison.table
        log.save("performance", table, "performance.csv")
        _print_table(
            console,
            table.reset_index() if not isinstance(table.index, pd.RangeIndex) else table,
            "cross-validated performance",
        )
        full = comparison.results["full model"]
        development = {
            "n_patients": len(X),
            "cv": json.loads(
                (
                    table.reset_index() if not isinstance(table.index, pd.RangeIndex) else table
                ).to_json(orient="records")
            ),
        }
        oof = full.predictions.groupby("row")["prediction"].mean().sort_index().to_numpy()
        inner_choice = full.chosen()
        if len(inner_choice):
            log.save("inner_choice", inner_choice, "inner_choice.csv")
            counts = inner_choice["candidate"].value_counts()
            console.print(
                "model chosen inside the outer training folds: "
                + ", ".join(f"{c} ({n}x)" for c, n in counts.items())
            )
    s_oof = cal = cal_error = None
    if study.task == "survival":
        with log.stage("calibration"):
            from radiopredict.metrics import survival_calibration

            s_oof = _oof_survival(pipeline, X, y, horizon, study.seed, study.model.cv_splits)
            try:
                cal = survival_calibration(y, s_oof, horizon, n_groups=4)
                log.save("calibration", cal.table, "calibration.csv")
            except Exception as exc:  # an undefined calibration is reported, not hidden
                cal_error = str(exc)
    rs.performance_section(
        report,
        table,
        study=study,
        oof=oof,
        y=y,
        calibration=cal,
        calibration_error=cal_error,
        horizon=horizon,
        inner_choice=inner_choice,
    )

    if study.task == "response" and (study.cnn.enabled or study.embeddings.enabled):
        with log.stage("ablation"):
            abl = stages.ablation(study, cohort, X, y, with_cnn=study.cnn.enabled)
            log.save("ablation", abl.table, "ablation.csv")
            _print_table(console, abl.table[["model", "auc", "diff_vs_reference"]], "ablation")
        rs.ablation_section(
            report, abl.table, with_cnn=study.cnn.enabled, synthetic=truth is not None
        )

    with log.stage("site and subgroup audit"):
        audit = _audit(study, cohort, pipeline, X, y, ids, oof, horizon, has_batch, s_oof)
        for name, table in audit.items():
            if isinstance(table, pd.DataFrame):
                log.save(name, table, f"{name}.csv")
    rs.audit_section(report, audit)

    with log.stage("explain"):
        final = clone(pipeline).fit(X, y)
        ex = explain(final, X)
        per_patient, overall = group_shares(ex)
        importance = ex.global_importance()
        log.save("shap_importance", importance, "shap_importance.csv")
        log.save("shap_values", ex.values, "shap_values.csv")
    rs.explanation_section(report, ex, importance, overall)

    benefit_model = None
    if (
        study.task == "survival"
        and study.treatment.enabled
        and "treatment" in cohort.patients.columns
    ):
        from radiopredict.treatment import cross_val_benefit, validate_benefit

        with log.stage("treatment benefit"):
            trt = cohort.treatment().loc[ids]
            Xt = X.assign(treatment=trt.to_numpy())
            tb = stages.benefit_estimator(study, pipeline, horizon)
            oof_b = cross_val_benefit(
                clone(tb).set_params(n_bootstrap=0),
                Xt,
                y,
                n_splits=study.treatment.cv_splits,
                random_state=study.seed,
            )
            treated_arm = [
                c for c in oof_b.columns if c.startswith("benefit[") and c.endswith("]")
            ][0]
            validation = validate_benefit(oof_b[treated_arm], trt, y, horizon=horizon)
            benefit_model = clone(tb).fit(Xt, y)
            full_b = benefit_model.predict_benefit(Xt)
            log.save("benefit_oof", oof_b, "benefit_out_of_fold.csv")
            log.save("benefit", full_b, "benefit.csv")
            log.save("benefit_by_group", validation.by_group, "benefit_validation.csv")
            vsum = validation.summary()
            _print_table(console, vsum, "treatment-benefit validation (out of fold)")
        truth_pair = None
        if truth is not None and "benefit" in truth.columns:
            true_b = truth.loc[ids, "benefit"].to_numpy()
            r = float(np.corrcoef(oof_b[treated_arm].to_numpy(), true_b)[0, 1])
            log.save("benefit_truth", {"pearson_r_oof_vs_true_benefit": r}, "benefit_vs_truth.json")
            console.print(f"out-of-fold predicted vs true benefit: Pearson r = {r:.3f}")
            truth_pair = (oof_b[treated_arm].to_numpy(), true_b)
        rs.benefit_section(
            report,
            learner=study.treatment.learner,
            horizon=horizon,
            treated_arm=treated_arm,
            summary=vsum,
            validation=validation,
            truth=truth_pair,
        )

    with log.stage("patients and bundle"):
        pick = list(
            pd.Series(oof, index=ids)
            .sort_values()
            .index[:: max(1, len(ids) // max(1, study.report.n_patients))][
                : study.report.n_patients
            ]
        )
        rs.patients_section(
            report,
            ex,
            pick,
            benefit_model=benefit_model,
            Xt=Xt if benefit_model is not None else None,
            benefit=full_b if benefit_model is not None else None,
            horizon=horizon,
        )
        locked = StudyModel.from_parts(
            study,
            pipeline=final,
            X=X,
            y=y,
            horizon=horizon,
            feature_settings=settings,
            with_batch=has_batch,
            segmentation_model=seg_model,
            encoder=encoder,
            crop=crop,
            benefit_model=benefit_model,
            development=development,
        )
        locked.save(out / "model_bundle", overwrite=True)
        log.outputs["bundle"] = out / "model_bundle"

    if study.external is not None:
        with log.stage("external validation"):
            from radiopredict.cohort import Cohort

            ext = predict_and_report(
                locked,
                Cohort.read(study.external),
                out / "external",
                n_jobs=study.n_jobs,
                n_bootstrap=study.model.n_bootstrap,
                progress=progress,
                console=console,
                title=f"{study.report.title}: external validation",
            )
            log.outputs.update({f"external_{k}": v for k, v in ext.items()})
        rs.external_section(
            report,
            study.external,
            pd.read_csv(ext["external_validation"]) if "external_validation" in ext else None,
        )

    provenance = {
        "versions": library_versions(),
        "study": study.to_dict(),
        "feature_provenance": result.provenance,
        "timings_s": log.timings,
    }
    log.save("provenance", provenance, "provenance.json")
    rs.provenance_section(
        report,
        versions=provenance["versions"],
        horizon=horizon,
        timings=log.timings,
        feature_settings=settings.to_dict(),
    )
    n_events = int(y["event"].sum()) if study.task == "survival" else int(np.sum(y))
    rs.tripod_checklist(report, study, len(ids), n_events, X.shape[1], truth is not None)
    report_path = report.save(out / "report.html")
    log.outputs["report"] = report_path
    console.rule("done")
    console.print(f"total {time.perf_counter() - t_start:.0f} s; report: {report_path}")
    return dict(log.outputs)


def _on_columns(pipeline, columns: list[str]):
    """``pipeline`` preceded by a step that keeps only ``columns`` (for model comparison)."""
    from sklearn.compose import ColumnTransformer

    from radiopredict.models._pipeline import SurvivalPipeline

    keep = ColumnTransformer(
        [("keep", "passthrough", columns)], remainder="drop", verbose_feature_names_out=False
    )
    return SurvivalPipeline([("columns", keep.set_output(transform="pandas")), *pipeline.steps])


def _audit(study, cohort, pipeline, X, y, ids, oof, horizon, has_batch, s_oof) -> dict[str, Any]:
    """Subgroup audit of the out-of-fold predictions; with sites, leave-one-site-out
    validation and site leakage before and after harmonisation."""
    from sklearn.base import clone

    from radiopredict.study.model import NewSiteAdaptive, _audit_groups
    from radiopredict.validation import leave_one_site_out, site_leakage, subgroup_audit

    if study.task == "survival":
        table = pd.DataFrame({"risk": oof, "survival_at_horizon": s_oof})
    else:
        table = pd.DataFrame({"probability": oof})
    groups = _audit_groups(cohort, ids)
    out: dict[str, Any] = {
        "subgroup_audit": subgroup_audit(
            study.task,
            y,
            table,
            groups.reset_index(drop=True),
            horizon=horizon,
            n_bootstrap=min(200, study.model.n_bootstrap),
            random_state=study.seed,
        )
        if not groups.empty
        else pd.DataFrame()
    }
    if has_batch:
        site = X["batch"].astype(str).to_numpy()
        out["leave_one_site_out"] = leave_one_site_out(
            NewSiteAdaptive(pipeline, min_samples=2), X, y, site, task=study.task, horizon=horizon
        )
        rad = [c for c in X.columns if c.startswith("rad__")]
        harmoniser = clone(pipeline)
        harmoniser.steps = [(n, s) for n, s in harmoniser.steps if n in ("constant", "combat")]
        harmonised = harmoniser.fit_transform(X, y)
        kept = [c for c in rad if c in harmonised.columns]
        out["site_leakage"] = pd.DataFrame(
            {
                "features": ["before harmonisation", "after ComBat (fitted on all patients)"],
                "site_auc": [
                    site_leakage(X[rad], site, random_state=study.seed),
                    site_leakage(harmonised[kept], site, random_state=study.seed),
                ],
            }
        )
    return out


def _has_outcomes(cohort, task: str) -> bool:
    cols = set(cohort.patients.columns)
    needed = {"time", "event"} if task == "survival" else {"response"}
    if not needed <= cols:
        return False
    return bool(cohort.patients[list(needed)].notna().all(axis=None))


def predict_and_report(
    model,
    cohort,
    out_dir: str | os.PathLike[str],
    *,
    n_jobs: int = 1,
    n_bootstrap: int = 200,
    impute_clinical: bool = False,
    progress: bool = True,
    console=None,
    title: str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Score ``cohort`` with a locked :class:`~radiopredict.StudyModel` and write the results.

    Writes ``predictions.csv``, ``failures.csv``, ``undefined_features.csv``,
    ``contributions.csv`` and ``report.html`` into ``out_dir``; when the cohort has outcomes
    also ``external_validation.csv`` (``metric, value, ci_low, ci_high, note``),
    ``subgroups.csv`` and ``shift.csv``.

    ``work_dir`` keeps the intermediate files (predicted masks) instead of a temporary folder.

    Returns
    -------
    dict
        Output name -> path; ``"report"`` is the HTML report.
    """
    from rich.console import Console

    from radiopredict.report.prediction import prediction_report

    console = console or Console()
    from radiopredict._outputs import check_writable_folder

    out = check_writable_folder(out_dir)
    t0 = time.perf_counter()
    prediction = model.predict(
        cohort,
        work_dir=work_dir,
        n_jobs=n_jobs,
        impute_clinical=impute_clinical,
        progress=progress,
    )
    outputs = prediction.write(out)
    console.print(
        f"scored {len(prediction.predictions)} patient(s), "
        f"{prediction.failures['patient_id'].nunique()} not scored (failures.csv), "
        f"{len(prediction.undefined)} feature value(s) imputed (undefined_features.csv) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    validation = None
    if len(prediction.predictions) and _has_outcomes(cohort, model.task):
        validation = model.validate(prediction, cohort, n_bootstrap=n_bootstrap)
        for name, table in (
            ("external_validation", validation["metrics"]),
            ("subgroups", validation["subgroups"]),
            ("shift", validation["shift"]["standardized_differences"]),
        ):
            path = out / f"{name}.csv"
            table.to_csv(path, index=False)
            outputs[name] = path
        _print_table(console, validation["metrics"], "external validation")
    synthetic = _ground_truth(Path(cohort.source)) is not None if cohort.source else False
    report = prediction_report(
        model,
        prediction,
        validation=validation,
        title=title or "radiopredict: new patients",
        synthetic=synthetic,
    )
    outputs["report"] = report.save(out / "report.html")
    return outputs


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    n_patients: int = 200,
    seed: int = 0,
    segmentation: bool = True,
    embeddings: bool = True,
    console=None,
) -> dict[str, Path]:
    """Write the synthetic cohort and run the whole study on it.

    Parameters
    ----------
    out_dir
        Output folder: ``cohort/`` holds the synthetic data, everything else the study outputs.
    n_patients
        Number of synthetic patients.
    seed
        Random seed; the same seed gives the same files and numbers.
    segmentation, embeddings
        Include the U-Net segmentation and the CNN embeddings (need the ``deep`` extra).
    console
        A ``rich.console.Console``.
    """
    from rich.console import Console

    from radiopredict.datasets import make_synthetic_cohort

    console = console or Console()
    out = Path(out_dir)
    console.rule("synthetic cohort")
    t0 = time.perf_counter()
    manifest = make_synthetic_cohort(
        out / "cohort", n_patients=n_patients, seed=seed, progress=True
    )
    console.print(f"{n_patients} patients written in {time.perf_counter() - t0:.1f} s: {manifest}")
    info = json.loads((Path(manifest).parent / "synthetic_info.json").read_text())
    study = Study.from_dict(
        {
            "manifest": str(manifest),
            "output": str(out),
            "task": "survival",
            "horizon": float(info["horizon"]),
            "seed": seed,
            "n_jobs": 1,
            "segmentation": {
                "enabled": segmentation,
                # an epoch budget keeps the demo deterministic; the time cap only binds on
                # machines much slower than 2 CPU cores
                "epochs": 6,
                "time_budget_s": 300,
                "inference_patch_size": [48, 64, 64],  # one window covers a synthetic volume
                "window": [-300, 400],
            },
            # the whole tumour (viable rim, label 1, and necrotic core, label 2) is the ROI
            "features": {"engine": "native", "settings": "ct", "label": "all"},
            "embeddings": {"enabled": embeddings, "epochs": 5},
            # the elastic-net Cox model: the adaptive default chooses among six pipelines by
            # inner cross-validation in every fit, which would take the demo past its budget
            "model": {"estimator": "coxph", "cv_splits": 5, "cv_repeats": 2, "n_bootstrap": 200},
            "treatment": {"enabled": True, "learner": "t", "n_bootstrap": 10},
            "report": {"n_patients": 3, "title": "radiopredict demo (synthetic cohort)"},
        }
    )
    return run_study(study, console=console)
