"""enet + rf on radMLBench: probability average vs within-fold rank average, 10-fold x 3.

Usage::

    nice python benchmarks/bench_response_rankavg.py [--out benchmarks/results/response_rankavg.csv]

Runs ``enet`` (fixed ``C=0.1``) and ``rf`` of ``candidate_pipelines("response")`` with the
benchmark's outer splits (stratified 10-fold x 3, ``random_state=0``), then combines their
out-of-fold predictions: ``prob`` = mean probability (what ``enet_rf`` predicts); ``rank`` = mean
of the two models' ranks within each test fold, divided by the fold size. The rank average uses
the test fold's own score distribution (no labels), so it is an evaluation device, not a
prediction one can make for a single new patient. Reports the mean-of-folds and the pooled AUC
(see ``bench_response_radmlbench.py``) of each model and each average.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_response_radmlbench import AUTHORS_AUC, load_set
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from radiopredict.evaluate import cross_validate
from radiopredict.models import candidate_pipelines


def _fold_rank_mean(g: pd.DataFrame) -> pd.Series:
    r = (rankdata(g["prediction_e"]) + rankdata(g["prediction_r"])) / (2 * len(g))
    return pd.Series(r, index=g.index)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(AUTHORS_AUC))
    ap.add_argument("--out", default="benchmarks/results/response_rankavg.csv")
    args = ap.parse_args()
    rows = []
    for name in args.sets.split(","):
        X, y = load_set(name)
        t0 = time.perf_counter()
        pred = {
            c: cross_validate(
                candidate_pipelines("response")[c],
                X,
                y,
                n_splits=10,
                n_repeats=3,
                random_state=0,
                metrics=["auc"],
                n_jobs=1,
            ).predictions
            for c in ("enet", "rf")
        }
        m = pred["enet"].merge(pred["rf"], on=["repeat", "fold", "row"], suffixes=("_e", "_r"))
        m["prob"] = (m["prediction_e"] + m["prediction_r"]) / 2
        m["rank"] = pd.concat(_fold_rank_mean(g) for _, g in m.groupby(["repeat", "fold"]))
        m["y"] = y[m["row"].to_numpy()]
        row = {"dataset": name}
        for col in ("prediction_e", "prediction_r", "prob", "rank"):
            folds = [roc_auc_score(g["y"], g[col]) for _, g in m.groupby(["repeat", "fold"])]
            pooled = [roc_auc_score(g["y"], g[col]) for _, g in m.groupby("repeat")]
            row[col + "_meanfold"] = round(float(np.mean(folds)), 3)
            row[col + "_pooled"] = round(float(np.mean(pooled)), 3)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.mean(numeric_only=True).round(3).to_string())


if __name__ == "__main__":
    main()
