"""Post-hoc optimism on radMLBench: best-of-grid pooled 10-fold AUC vs nested CV, same split.

Usage::

    nice python benchmarks/bench_response_posthoc.py [--grid small|large] [--sets ...]
        [--out benchmarks/results/response_posthoc_small.csv]

The radMLBench authors report, per set, the best of ~600 configurations (4 feature selectors x
N in {1, 2, ..., 64} x LR / RBF-SVM / random forest / naive Bayes with their C or tree-count
grids), each scored by ONE AUC over the pooled out-of-fold predictions of a single 10-fold CV,
and the best chosen on that same CV. This script measures how much such a choice adds for one
cheap family: scaler, top-k univariate AUC ranking, L2 logistic regression with penalty ``C``.
``small`` (k in {1, 2, 4, ..., 64} x C in {0.01, 0.1, 1}: 21 settings) reports the best pooled
AUC over the grid (the authors' way), the best mean-of-folds AUC, the grid's median, and the
nested-CV AUC (inner 5-fold grid search over the same 21 settings, scored by AUC, on the same
outer 10-fold split). ``large`` (k in 1..16 and 20..64 step 4 x C in {0.001, ..., 100}: 168
settings) reports only the best-of-grid and median pooled AUC.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_response_radmlbench import AUTHORS_AUC, load_set, pooled_auc
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.evaluate import cross_validate, nested_cv

GRIDS = {
    "small": {"select__k": [1, 2, 4, 8, 16, 32, 64], "model__C": [0.01, 0.1, 1.0]},
    "large": {
        "select__k": list(range(1, 17)) + list(range(20, 65, 4)),
        "model__C": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0],
    },
}


class TopKAUC(TransformerMixin, BaseEstimator):
    """Keep the ``k`` features of largest |univariate AUC - 0.5| on the training rows."""

    def __init__(self, k: int = 8):
        self.k = k

    def fit(self, X, y):
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        r = rankdata(X, axis=0)
        n1 = (y == 1).sum()
        n0 = len(y) - n1
        auc = (r[y == 1].sum(0) - n1 * (n1 + 1) / 2) / (n1 * n0)
        score = np.abs(auc - 0.5)
        score[np.std(X, axis=0) < 1e-12] = -1  # constant in this training fold
        self.keep_ = np.argsort(-score, kind="stable")[: self.k]
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float)[:, self.keep_]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=sorted(GRIDS), default="small")
    ap.add_argument("--sets", default=",".join(AUTHORS_AUC))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    grid = GRIDS[args.grid]
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("select", TopKAUC(k=8)),
            ("model", LogisticRegression(C=1.0, max_iter=5000)),
        ]
    )
    common = dict(n_splits=10, n_repeats=1, random_state=0, metrics=["auc"], n_jobs=1)
    rows = []
    for name in args.sets.split(","):
        X, y = load_set(name)
        t0 = time.perf_counter()
        per = []
        for k, C in itertools.product(grid["select__k"], grid["model__C"]):
            r = cross_validate(pipe.set_params(select__k=k, model__C=C), X, y, **common)
            per.append((pooled_auc(r, y), float(r.scores["auc"].mean()), k, C))
        best = max(per)
        row = {
            "dataset": name,
            "n_settings": len(per),
            "posthoc_max_pooled": round(best[0], 3),
            "posthoc_best": f"k={best[2]},C={best[3]}",
            "posthoc_max_meanfold": round(max(p[1] for p in per), 3),
            "grid_median_pooled": round(float(np.median([p[0] for p in per])), 3),
            "authors_auc": AUTHORS_AUC.get(name),
            "seconds_grid": round(time.perf_counter() - t0, 1),
        }
        if args.grid == "small":
            t1 = time.perf_counter()
            nres = nested_cv(pipe, grid, X, y, inner_splits=5, scoring="roc_auc", **common)
            row["nested_pooled"] = round(pooled_auc(nres, y), 3)
            row["nested_meanfold"] = round(float(nres.scores["auc"].mean()), 3)
            row["seconds_nested"] = round(time.perf_counter() - t1, 1)
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out or f"benchmarks/results/response_posthoc_{args.grid}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.mean(numeric_only=True).round(3).to_string())


if __name__ == "__main__":
    main()
