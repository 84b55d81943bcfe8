"""Treatment benefit on real randomised trials that ship offline.

For every trial, T-learner and S-learner benefit models (radiopredict ``CoxPH`` and
``XGBSurvival(objective="cox")``) give 5-fold out-of-fold predicted benefit (survival
difference at a stated horizon), repeated over three fold splits; :func:`validate_benefit`
then checks it against the observed outcomes: treatment x benefit interaction (Cox, Wald p),
c-for-benefit, observed hazard ratio of treatment by tertile of predicted benefit, and the
log-rank test of patients who did vs did not receive the recommended arm.

Trials (all read from files installed with the packages; nothing is downloaded at run time):

* ``colon`` (SurvSet; R ``survival::colon``, death records): stage III colon cancer,
  levamisole + 5-FU vs observation (the levamisole-alone arm is left out); time in days,
  horizon 5 years (1826 days).
* ``e1684`` (SurvSet; ECOG E1684): high-risk melanoma, high-dose interferon alfa-2b vs
  observation; relapse-free survival in years, horizon 5 years.
* ``veteran`` (SurvSet; R ``survival::veteran``, VA lung cancer trial): test vs standard
  chemotherapy; time in days, horizon 90 days (close to the median survival of 80 days).
* ``actg320`` (SurvSet ``actg``; ACTG 320): HIV, indinavir + ZDV + 3TC vs ZDV + 3TC; AIDS or
  death, time in days, horizon 300 days (follow-up ends at 364 days).

SurvSet is GPL-3 licensed: this script uses it as a data source only; radiopredict does not
import it. Install with ``pip install SurvSet``.

Usage::

    nice python benchmarks/bench_treatment_rct.py [--out results.md] [--repeats 3] [--no-xgb]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiopredict.models.survival import CoxPH, XGBSurvival
from radiopredict.targets import make_survival_target
from radiopredict.treatment import TreatmentBenefit, cross_val_benefit, validate_benefit


@dataclass
class Trial:
    name: str
    description: str
    X: pd.DataFrame  # covariates + "treatment" (1 = experimental, 0 = control)
    y: np.ndarray
    horizon: float
    unit: str


def _survset(name: str) -> pd.DataFrame:
    try:
        from SurvSet.data import SurvLoader
    except ImportError:  # pragma: no cover - benchmark dependency
        sys.exit("this benchmark needs SurvSet: pip install SurvSet")
    return SurvLoader().load_dataset(name)["df"]


def _finish(name, description, df, covariates, treatment, horizon, unit) -> Trial:
    X = covariates.astype(float).copy()
    X["treatment"] = np.asarray(treatment, dtype=int)
    X.index = [f"{name}-{i}" for i in range(len(X))]
    y = make_survival_target(df["event"].to_numpy().astype(bool), df["time"].to_numpy(float))
    return Trial(name, description, X, y, horizon, unit)


def load_colon() -> Trial:
    df = _survset("colon")
    df = df[df["fac_rx"].isin(["Lev+5FU", "Obs"])].reset_index(drop=True)
    cov = pd.DataFrame(
        {
            "age": df["num_age"],
            # 18 patients lack the node count: median imputation plus an indicator
            "nodes": df["num_nodes"].fillna(df["num_nodes"].median()),
            "nodes_missing": df["num_nodes"].isna(),
            "node4": df["fac_node4"],
            "female": df["fac_sex"] == 0,
            "obstruct": df["fac_obstruct"],
            "perfor": df["fac_perfor"],
            "adhere": df["fac_adhere"],
            "differ_well": df["fac_differ"] == "1",
            "differ_poor": df["fac_differ"] == "3",
            "differ_missing": df["fac_differ"] == "missing",
        }
    )
    return _finish(
        "colon",
        "stage III colon cancer, Lev+5FU vs observation, overall survival",
        df,
        cov,
        df["fac_rx"] == "Lev+5FU",
        1826.0,
        "days",
    )


def load_e1684() -> Trial:
    df = _survset("e1684")
    cov = pd.DataFrame({"age": df["num_age"], "female": df["fac_sex"]})
    return _finish(
        "e1684",
        "melanoma, interferon alfa-2b vs observation, relapse-free survival",
        df,
        cov,
        df["fac_trt"] == 1,
        5.0,
        "years",
    )


def load_veteran() -> Trial:
    df = _survset("veteran")
    cov = pd.DataFrame(
        {
            "karno": df["num_karno"],
            "diagtime": df["num_diagtime"],
            "age": df["num_age"],
            "prior_therapy": df["fac_prior"] == 10,
            "smallcell": df["fac_celltype"] == "smallcell",
            "adeno": df["fac_celltype"] == "adeno",
            "large": df["fac_celltype"] == "large",
        }
    )
    return _finish(
        "veteran",
        "advanced lung cancer, test vs standard chemotherapy, overall survival",
        df,
        cov,
        df["fac_trt"] == 2,
        90.0,
        "days",
    )


def load_actg320() -> Trial:
    df = _survset("actg")
    cov = pd.DataFrame(
        {
            "cd4_stratum_high": df["fac_strat2"],
            "female": df["fac_sex"],
            "ivdrug": df["fac_ivdrug"] != 1,
            "hemophilia": df["fac_hemophil"],
            "karnofsky": df["num_karnof"],
            "cd4": df["num_cd4"],
            "prior_zdv_months": df["num_priorzdv"],
            "age": df["num_age"],
            "race_white": df["fac_raceth"] == 1,
            "race_black": df["fac_raceth"] == 2,
        }
    )
    return _finish(
        "actg320",
        "HIV, indinavir + ZDV + 3TC vs ZDV + 3TC, AIDS or death",
        df,
        cov,
        df["fac_tx"] == 1,
        300.0,
        "days",
    )


TRIALS = {
    "colon": load_colon,
    "e1684": load_e1684,
    "veteran": load_veteran,
    "actg320": load_actg320,
}


def estimators(use_xgb: bool) -> dict[str, tuple[object, dict]]:
    out = {"CoxPH(alpha=0.1)": (CoxPH(alpha=0.1), {"interactions": True})}
    if use_xgb:
        xgb = XGBSurvival(objective="cox", n_estimators=100, learning_rate=0.05, max_depth=2)
        # trees split on the arm themselves: no arm x feature columns for the S-learner
        out["XGBSurvival(cox)"] = (xgb, {"interactions": False})
    return out


def observed_hr(trial: Trial) -> tuple[float, float, float]:
    from lifelines import CoxPHFitter

    df = pd.DataFrame(
        {"time": trial.y["time"], "event": trial.y["event"], "treated": trial.X["treatment"]}
    )
    cph = CoxPHFitter().fit(df, "time", "event")
    ci = np.exp(cph.confidence_intervals_.loc["treated"].to_numpy())
    return float(np.exp(cph.params_["treated"])), float(ci[0]), float(ci[1])


def run_trial(trial: Trial, repeats: int, use_xgb: bool) -> list[dict]:
    rows = []
    for est_name, (est, opts) in estimators(use_xgb).items():
        for learner in ("t", "s"):
            model = TreatmentBenefit(
                est,
                learner=learner,
                horizon=trial.horizon,
                interactions=opts["interactions"],
            )
            start = time.perf_counter()
            checks, benefits = [], []
            for seed in range(repeats):
                oof = cross_val_benefit(model, trial.X, trial.y, n_splits=5, random_state=seed)
                b = oof["benefit[1]"].to_numpy()
                benefits.append(b)
                checks.append(
                    validate_benefit(b, trial.X["treatment"], trial.y, horizon=trial.horizon)
                )
            p = np.array([c.interaction["p"] for c in checks])
            coef = np.array([c.interaction["coef"] for c in checks])
            cfb = np.array([c.c_for_benefit for c in checks])
            hr = np.array([c.by_group["hazard_ratio"].to_numpy() for c in checks])
            lr = np.array([c.recommended["logrank_p"] for c in checks])
            b0 = benefits[0]
            first = checks[0].by_group
            rows.append(
                {
                    "trial": trial.name,
                    "model": est_name,
                    "learner": learner.upper(),
                    "benefit_min": float(b0.min()),
                    "benefit_p5": float(np.percentile(b0, 5)),
                    "benefit_median": float(np.median(b0)),
                    "benefit_p95": float(np.percentile(b0, 95)),
                    "benefit_max": float(b0.max()),
                    "interaction_coef": float(np.median(coef)),
                    "interaction_p_median": float(np.median(p)),
                    "interaction_p_min": float(p.min()),
                    "interaction_p_max": float(p.max()),
                    "c_for_benefit_median": float(np.median(cfb)),
                    "c_for_benefit_min": float(cfb.min()),
                    "c_for_benefit_max": float(cfb.max()),
                    "hr_low": float(np.median(hr[:, 0])),
                    "hr_mid": float(np.median(hr[:, 1])),
                    "hr_high": float(np.median(hr[:, 2])),
                    "obs_benefit_low": float(first["observed_benefit"].iloc[0]),
                    "obs_benefit_high": float(first["observed_benefit"].iloc[-1]),
                    "pred_benefit_low": float(first["predicted_benefit_mean"].iloc[0]),
                    "pred_benefit_high": float(first["predicted_benefit_mean"].iloc[-1]),
                    "logrank_followed_p_median": float(np.median(lr)),
                    "seconds": time.perf_counter() - start,
                }
            )
            print(
                f"  {trial.name:8s} {est_name:18s} {learner.upper()}: benefit "
                f"[{b0.min():+.3f}, {b0.max():+.3f}], interaction p median {np.median(p):.2g} "
                f"[{p.min():.2g}-{p.max():.2g}], c-for-benefit {np.median(cfb):.3f}, "
                f"HR by tertile {np.round(np.median(hr, axis=0), 2)} "
                f"({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    return rows


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.platform()}, {cpu}, {os.cpu_count()} logical CPUs "
        f"(load average {load:.1f} at the start), Python {platform.python_version()}"
    )


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}"


def markdown(trials: dict[str, Trial], rows: list[dict], repeats: int, header: dict) -> str:
    lines = [
        f"Date: {header['date']}. Machine: {header['machine']}.",
        f"Command: `{header['command']}` ({header['seconds']:.0f} s wall, "
        f"{header['cpu_seconds']:.0f} s CPU).",
        f"Versions: {header['versions']}.",
        "",
        "| trial | n (treated / control) | horizon | observed HR treated vs control (95 % CI) |",
        "|---|---|---|---|",
    ]
    for t in trials.values():
        hr, lo, hi = observed_hr(t)
        n1 = int(t.X["treatment"].sum())
        lines.append(
            f"| {t.name}: {t.description} | {n1} / {len(t.X) - n1} | "
            f"{t.horizon:g} {t.unit} | {hr:.2f} ({lo:.2f}-{hi:.2f}) |"
        )
    lines += [
        "",
        f"Out-of-fold predicted benefit (5-fold CV; survival difference at the horizon, "
        f"percentage points) and its validation; p, c-for-benefit and hazard ratios are the "
        f"median over {repeats} fold splits (seeds 0-{repeats - 1}), with the range for p and "
        f"c-for-benefit. A benefit score that works has a negative interaction coefficient with "
        f"a small p, c-for-benefit above 0.5 and hazard ratios falling from the low- to the "
        f"high-benefit tertile.",
        "",
        "| trial | model | learner | predicted benefit: min / 5 % / median / 95 % / max "
        "| interaction coef, p (range) | c-for-benefit (range) | HR by tertile low / mid / high "
        "| observed KM benefit low / high tertile (predicted) | log-rank p, followed vs not |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['trial']} | {r['model']} | {r['learner']} | "
            f"{_pct(r['benefit_min'])} / {_pct(r['benefit_p5'])} / {_pct(r['benefit_median'])}"
            f" / {_pct(r['benefit_p95'])} / {_pct(r['benefit_max'])} | "
            f"{r['interaction_coef']:+.2f}, {r['interaction_p_median']:.2g} "
            f"({r['interaction_p_min']:.2g}-{r['interaction_p_max']:.2g}) | "
            f"{r['c_for_benefit_median']:.3f} ({r['c_for_benefit_min']:.3f}-"
            f"{r['c_for_benefit_max']:.3f}) | "
            f"{r['hr_low']:.2f} / {r['hr_mid']:.2f} / {r['hr_high']:.2f} | "
            f"{_pct(r['obs_benefit_low'])} / {_pct(r['obs_benefit_high'])} "
            f"({_pct(r['pred_benefit_low'])} / {_pct(r['pred_benefit_high'])}) | "
            f"{r['logrank_followed_p_median']:.2g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the Markdown tables to this file")
    parser.add_argument("--repeats", type=int, default=3, help="fold splits per model")
    parser.add_argument("--no-xgb", action="store_true", help="CoxPH only")
    parser.add_argument("--trials", nargs="*", default=list(TRIALS), choices=list(TRIALS))
    args = parser.parse_args(argv)

    import lifelines
    import sklearn
    import SurvSet
    import xgboost

    import radiopredict

    warnings.simplefilter("ignore")  # lifelines convergence chatter in small tertiles
    start, cpu_start = time.perf_counter(), time.process_time()
    header_machine = machine()
    trials = {name: TRIALS[name]() for name in args.trials}
    rows = []
    for trial in trials.values():
        print(f"{trial.name}: n = {len(trial.X)}, horizon {trial.horizon:g} {trial.unit}")
        rows += run_trial(trial, args.repeats, not args.no_xgb)
    from importlib.metadata import version

    header = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": header_machine,
        "command": "nice python " + " ".join(["benchmarks/bench_treatment_rct.py", *sys.argv[1:]]),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "versions": (
            f"radiopredict {radiopredict.__version__}, SurvSet {version('SurvSet')}, "
            f"lifelines {lifelines.__version__}, xgboost {xgboost.__version__}, "
            f"scikit-learn {sklearn.__version__}"
        ),
    }
    del SurvSet
    text = markdown(trials, rows, args.repeats, header)
    print()
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
