"""Survival benchmark: repeated 5-fold C-index of our estimators next to scikit-survival's.

Usage::

    nice python benchmarks/bench_survival.py [--splits 5] [--repeats 2]
        [--out benchmarks/results/survival.csv]

Data sets shipped offline with the installed packages: GBSG2, WHAS500 and veterans (from
``sksurv.datasets``) and Rossi (``lifelines.datasets``). Categorical columns are one-hot encoded
(an unsupervised step, done once); scaling and filtering happen inside the folds. Every model
sees the same folds (stratified on the event). scikit-survival (GPL) is only a reference here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.evaluate import cross_validate
from radiopredict.models import candidate_pipelines
from radiopredict.targets import make_survival_target


def load_sets() -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    from lifelines.datasets import load_rossi
    from sksurv.datasets import load_gbsg2, load_veterans_lung_cancer, load_whas500

    out = {}
    for name, loader in [
        ("GBSG2", load_gbsg2),
        ("WHAS500", load_whas500),
        ("veterans", load_veterans_lung_cancer),
    ]:
        X, y = loader()
        ev, tm = y.dtype.names
        X = pd.get_dummies(X, drop_first=True).astype(float)
        out[name] = (X, make_survival_target(y[ev], y[tm]))
    rossi = load_rossi()
    out["rossi"] = (
        rossi.drop(columns=["arrest", "week"]).astype(float),
        make_survival_target(rossi["arrest"], rossi["week"]),
    )
    return out


def sksurv_models() -> dict:
    from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return {
        "sksurv_coxph": make_pipeline(StandardScaler(), CoxPHSurvivalAnalysis(alpha=1e-4)),
        "sksurv_rsf": RandomSurvivalForest(
            n_estimators=100, min_samples_leaf=15, random_state=0, n_jobs=1
        ),
        "sksurv_gb": GradientBoostingSurvivalAnalysis(n_estimators=100, random_state=0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/survival.csv")
    args = ap.parse_args()
    rows = []
    for name, (X, y) in load_sets().items():
        models = {**candidate_pipelines("survival"), **sksurv_models()}
        for model_name, model in models.items():
            t0, c0 = time.perf_counter(), time.process_time()
            res = cross_validate(
                model,
                X,
                y,
                n_splits=args.splits,
                n_repeats=args.repeats,
                random_state=0,
                metrics=["harrell_c", "uno_c"],
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            s = res.scores
            row = {
                "dataset": name,
                "n": len(y),
                "events": int(y["event"].sum()),
                "p": X.shape[1],
                "model": model_name,
                "harrell_c": round(float(s["harrell_c"].mean()), 3),
                "harrell_c_sd": round(float(s["harrell_c"].std(ddof=1)), 3),
                "uno_c": round(float(s["uno_c"].mean()), 3),
                "seconds": round(wall, 1),
                "cpu_seconds": round(cpu, 1),
            }
            rows.append(row)
            print(row, flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.pivot(index="dataset", columns="model", values="harrell_c").to_string())
    print(f"settings: {args.splits}-fold x {args.repeats} repeats, stratified on the event")


if __name__ == "__main__":
    main()
