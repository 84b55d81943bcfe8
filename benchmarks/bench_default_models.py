"""The adaptive defaults next to plain baselines, same script, same folds (issue 21).

Usage::

    RADIOPREDICT_SHARED_DATA=/path/to/shared/data nice python benchmarks/bench_default_models.py \
        [--task response|survival|both] [--sets A,B] [--n-jobs 2]
        [--out-dir benchmarks/results]

Response: the ten radMLBench sets (``$RADIOPREDICT_SHARED_DATA/radmlbench``), one stratified
10-fold CV (``random_state=0``). Models: ``default`` (``default_pipeline("response")``: the
inner 5-fold choice among ``adaptive_candidates("response")`` on each outer training fold),
and the plain baselines, scikit-learn as is: ``l2_C0.1`` and ``l2_C1`` (``StandardScaler`` +
``LogisticRegression(C)``), ``rf`` (``RandomForestClassifier(500)``). Metric: the mean of the
per-fold ROC AUCs (and the AUC of the pooled out-of-fold predictions).

Survival: sets shipped offline by the installed packages (lifelines, scikit-survival, SurvSet),
stratified (on the event) 5-fold x ``--surv-repeats`` (default 2; ``random_state=0``). Categorical columns are
one-hot encoded and missing values replaced by the column median plus a missing-indicator
column, once per set (no outcome used); scaling and everything else happen inside the folds.
Models: ``default`` (``default_pipeline("survival")``) and scikit-survival's
``CoxPHSurvivalAnalysis`` (after scaling) and ``RandomSurvivalForest`` (scikit-survival is
GPL: used here as a reference only, never by the package). Metric: mean per-fold Harrell C.

Every model of a set runs on the same folds; the wall seconds are for the whole CV of that
model (``--n-jobs`` folds in parallel), the CPU seconds those of this process and its
worker processes (``psutil``). Writes ``default_models_{response,survival}.csv`` and
``default_models_choice_{response,survival}.csv`` (the inner choice per outer fold).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from radiopredict.evaluate import cross_validate
from radiopredict.models import default_pipeline
from radiopredict.targets import make_survival_target

RADMLBENCH = (
    "Ahn2021",
    "Arita2018",
    "C4KC-KiTS",
    "Deng2023",
    "HNSCC",
    "Hosny2018A",
    "LNDb",
    "Song2020",
    "WORC-Lipo",
    "Wang2024",
)


def response_baselines() -> dict:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "l2_C0.1": make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)),
        "l2_C1": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000)),
        "rf": RandomForestClassifier(n_estimators=500, random_state=0, n_jobs=1),
    }


def survival_baselines() -> dict:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return {
        "sksurv_coxph": make_pipeline(StandardScaler(), CoxPHSurvivalAnalysis(alpha=1e-4)),
        "sksurv_rsf": RandomSurvivalForest(
            n_estimators=100, min_samples_leaf=15, random_state=0, n_jobs=1
        ),
    }


def _tidy(X: pd.DataFrame) -> pd.DataFrame:
    """One-hot categorical columns; median + missing indicator for missing values."""
    X = pd.get_dummies(X, drop_first=True, dummy_na=False).astype(float)
    for col in [c for c in X.columns if X[c].isna().any()]:
        X[f"{col}_missing"] = X[col].isna().astype(float)
        X[col] = X[col].fillna(X[col].median())
    return X


def survival_sets(names: list[str] | None = None) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """Survival sets shipped offline: name -> (X, y)."""
    from lifelines.datasets import load_rossi
    from sksurv import datasets as sd
    from SurvSet.data import SurvLoader

    def sks(loader, drop=()):
        X, y = loader()
        ev, tm = y.dtype.names
        return _tidy(X.drop(columns=list(drop))), make_survival_target(y[ev], y[tm])

    def survset(name):
        df = SurvLoader().load_dataset(ds_name=name)["df"]
        X = df.drop(columns=["pid", "event", "time"])
        return _tidy(X), make_survival_target(df["event"].astype(bool), df["time"])

    def rossi():
        r = load_rossi()
        X = r.drop(columns=["arrest", "week"]).astype(float)
        return X, make_survival_target(r["arrest"].astype(bool), r["week"])

    loaders = {
        "veterans": lambda: sks(sd.load_veterans_lung_cancer),
        "breast_cancer": lambda: sks(sd.load_breast_cancer),
        "NCCTG_lung": lambda: survset("cancer"),
        "rossi": rossi,
        "WHAS500": lambda: sks(sd.load_whas500),
        "GBSG2": lambda: sks(sd.load_gbsg2),
        "colon": lambda: survset("colon"),
        "LeukSurv": lambda: survset("LeukSurv"),
        "ACTG320": lambda: sks(sd.load_aids, drop=("txgrp",)),
        # chapter is the cause of death: known only for those who died, a leak
        "flchain": lambda: sks(sd.load_flchain, drop=("chapter",)),
    }
    return {n: loaders[n]() for n in (names or loaders)}


def _run(task: str, name: str, X, y, models: dict, cv: dict) -> tuple[list[dict], pd.DataFrame]:
    from bench_response_radmlbench import _cpu_seconds
    from sklearn.metrics import roc_auc_score

    rows, choice = [], None
    metric = "auc" if task == "response" else "harrell_c"
    for model_name, model in models.items():
        t0, c0 = time.perf_counter(), _cpu_seconds()
        try:
            res = cross_validate(model, X, y, metrics=[metric], **cv)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            # a baseline that cannot be fitted on a set is reported, not hidden
            if model_name == "default":
                raise
            row = {"dataset": name, "n": len(y), "p": X.shape[1], "model": model_name}
            rows.append({**row, metric: np.nan, "failed": f"{type(exc).__name__}: {exc}"})
            print(rows[-1], flush=True)
            continue
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        row = {
            "dataset": name,
            "n": len(y),
            "p": X.shape[1],
            "model": model_name,
            metric: round(float(res.scores[metric].mean()), 4),
            f"{metric}_sd": round(float(res.scores[metric].std(ddof=1)), 4),
            "seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
        }
        if task == "response":
            pooled = [
                roc_auc_score(y[g["row"].to_numpy()], g["prediction"].to_numpy())
                for _, g in res.predictions.groupby("repeat")
            ]
            row["pooled_auc"] = round(float(np.mean(pooled)), 4)
        else:
            row["events"] = int(y["event"].sum())
        if model_name == "default":
            choice = res.inner_choice.assign(dataset=name)
            picked = res.inner_choice[res.inner_choice["chosen"].astype(bool)]
            row["chosen"] = ";".join(
                f"{k}:{v}" for k, v in picked["candidate"].value_counts().items()
            )
        rows.append(row)
        print(row, flush=True)
    return rows, choice


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="both", choices=["response", "survival", "both"])
    ap.add_argument("--sets", default="", help="comma-separated subset of the sets")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--surv-repeats", type=int, default=2, help="repeats of the survival 5-fold")
    ap.add_argument("--out-dir", default="benchmarks/results")
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subset = [s for s in args.sets.split(",") if s]
    tasks = ["response", "survival"] if args.task == "both" else [args.task]
    sys.path.insert(0, str(Path(__file__).parent))
    for task in tasks:
        rows, choices = [], []
        if task == "response":
            from bench_response_radmlbench import load_set

            names = [s for s in RADMLBENCH if not subset or s in subset]
            data = ((n, *load_set(n)) for n in names)
            models = {"default": default_pipeline("response"), **response_baselines()}
            cv = dict(n_splits=10, n_repeats=1, random_state=0, n_jobs=args.n_jobs)
        else:
            data = ((n, X, y) for n, (X, y) in survival_sets(subset or None).items())
            models = {"default": default_pipeline("survival"), **survival_baselines()}
            cv = dict(n_splits=5, n_repeats=args.surv_repeats, random_state=0, n_jobs=args.n_jobs)
        for name, X, y in data:
            r, c = _run(task, name, X, y, models, cv)
            rows += r
            choices.append(c)
            # write as we go: a long run keeps what it finished
            pd.DataFrame(rows).to_csv(out / f"default_models_{task}.csv", index=False)
            pd.concat(choices).to_csv(out / f"default_models_choice_{task}.csv", index=False)
        table = pd.DataFrame(rows)
        metric = "auc" if task == "response" else "harrell_c"
        wide = table.pivot(index="dataset", columns="model", values=metric)
        wide["best_baseline"] = wide.drop(columns="default").max(axis=1)
        wide.loc["mean"] = wide.mean()
        print(wide.round(3).to_string())
        print(f"settings: {cv}")


if __name__ == "__main__":
    main()
