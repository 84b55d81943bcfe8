"""Response benchmark: nested-CV AUC of candidate pipelines on the 10 radMLBench sets.

Usage::

    nice python benchmarks/bench_response_radmlbench.py [--outer-splits 10] [--outer-repeats 3]
        [--inner-splits 5] [--candidates enet,xgb,xgb_or_enet] [--n-jobs 2]
        [--out benchmarks/results/response.csv]

Reads ``$RADIOPREDICT_SHARED_DATA/radmlbench/*.gz`` (default ``../shared/data``). For each set
and candidate (``radiopredict.models.candidate_pipelines("response")``): nested CV with the
candidate's ``default_param_grid`` in the inner loop (a candidate whose grid is skipped with
``--no-grid`` is plain repeated CV), outer repeated stratified K-fold (default 10-fold, as the radMLBench authors, x 3 repeats); reports
the mean outer-fold AUC, its bootstrap 95 % CI, the pooled AUC (per repeat, one AUC over that
repeat's pooled out-of-fold predictions, as the radMLBench authors compute it; averaged over
repeats), the wall time and the CPU time (this process and its worker processes), next to the
radMLBench authors' AUC. The authors' AUC is also the best of ~600 configurations chosen on the
same CV, so it is optimistic beyond the pooling; neither column here has that selection.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from radiopredict.evaluate import cross_validate, nested_cv
from radiopredict.models import candidate_pipelines, default_param_grid

AUTHORS_AUC = {
    "Ahn2021": 0.589,
    "Arita2018": 0.811,
    "C4KC-KiTS": 0.665,
    "Deng2023": 0.866,
    "HNSCC": 0.771,
    "Hosny2018A": 0.617,
    "LNDb": 0.846,
    "Song2020": 0.974,
    "WORC-Lipo": 0.873,
    "Wang2024": 0.758,
}


def load_set(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and 0/1 target of one radMLBench set from ``$RADIOPREDICT_SHARED_DATA``."""
    root = Path(
        os.environ.get("RADIOPREDICT_SHARED_DATA", Path(__file__).parents[2] / "shared/data")
    )
    data = pd.read_csv(root / "radmlbench" / f"{name}.gz")
    return data.drop(columns=["ID", "Target"]).astype(float), data["Target"].astype(int).to_numpy()


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its live child processes (the joblib
    workers of ``--n-jobs``; they are reused between data sets, so differences are per set)."""
    try:
        import psutil
    except ImportError:  # no psutil: this process only (exact with --n-jobs 1)
        return time.process_time()
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def pooled_auc(res, y) -> float:
    """Mean over repeats of ONE AUC on each repeat's pooled out-of-fold predictions.

    This is the radMLBench authors' metric (``roc_auc_score`` over all folds' predictions
    concatenated); unlike the mean of per-fold AUCs it also rewards (or penalises) the
    calibration of the scores between folds.
    """
    per_repeat = [
        roc_auc_score(y[g["row"].to_numpy()], g["prediction"].to_numpy())
        for _, g in res.predictions.groupby("repeat")
    ]
    return float(sum(per_repeat) / len(per_repeat))


def _short(params: dict) -> dict:
    """Chosen parameters, with an estimator (a model family chosen inner) by its class name."""
    return {k: type(v).__name__ if hasattr(v, "fit") else v for k, v in params.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outer-splits", type=int, default=10)
    ap.add_argument("--outer-repeats", type=int, default=3)
    ap.add_argument("--inner-splits", type=int, default=5)
    ap.add_argument("--candidates", default="enet,xgb,xgb_or_enet")
    ap.add_argument("--no-grid", default="xgb", help="candidates fitted without inner search")
    ap.add_argument("--sets", default=",".join(AUTHORS_AUC))
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/response_radmlbench.csv")
    args = ap.parse_args()

    no_grid = set(filter(None, args.no_grid.split(",")))
    rows = []
    for name in args.sets.split(","):
        X, y = load_set(name)
        for cand in args.candidates.split(","):
            pipe = candidate_pipelines("response")[cand]
            t0, c0 = time.perf_counter(), _cpu_seconds()
            common = dict(
                n_splits=args.outer_splits,
                n_repeats=args.outer_repeats,
                random_state=0,
                metrics=["auc"],
                n_jobs=args.n_jobs,
            )
            if cand in no_grid:
                res = cross_validate(pipe, X, y, **common)
            else:
                res = nested_cv(
                    pipe,
                    default_param_grid("response", cand),
                    X,
                    y,
                    inner_splits=args.inner_splits,
                    **common,
                )
            wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
            summ = res.summary(n_bootstrap=200).loc["auc"]
            row = {
                "dataset": name,
                "n": len(y),
                "p": X.shape[1],
                "candidate": cand,
                "auc": round(float(summ["mean"]), 3),
                "auc_sd": round(float(summ["sd"]), 3),
                "ci_low": round(float(summ["ci_low"]), 3),
                "ci_high": round(float(summ["ci_high"]), 3),
                "pooled_auc": round(pooled_auc(res, y), 3),
                "authors_auc": AUTHORS_AUC.get(name),
                "seconds": round(wall, 1),
                "cpu_seconds": round(cpu, 1),
                "best_params": ";".join(str(_short(b)) for b in res.best_params),
            }
            rows.append(row)
            print({k: v for k, v in row.items() if k != "best_params"}, flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    means = (
        table.groupby("candidate")[["auc", "pooled_auc", "authors_auc", "seconds", "cpu_seconds"]]
        .mean()
        .round(3)
    )
    print(means.to_string())
    print(
        f"settings: outer {args.outer_splits}-fold x {args.outer_repeats} repeat(s), inner "
        f"{args.inner_splits}-fold grid search (none for {sorted(no_grid)}), n_jobs={args.n_jobs}"
    )


if __name__ == "__main__":
    main()
