"""Scoring new patients from files with a locked StudyModel (image + mask -> prediction and
explanation), 1 and 100 patients, no segmentation (issue #15: at most 1 s per patient).

Usage::

    python benchmarks/bench_predict.py [--out DIR] [--n-train 60] [--n-new 100] [--jobs 2]

Steps timed separately, in one process: fitting the StudyModel (elastic-net Cox, treatment
benefit with 10 bootstrap refits) on a synthetic development cohort (not part of the target), ``StudyModel.load`` of the bundle (integrity check, skops),
``predict`` of 1 patient and of ``--n-new`` patients (feature extraction from the NIfTI files,
design matrix, imputation, model, treatment benefit with bootstrap CIs, SHAP contributions).
Appends a Markdown row (date, machine, command, seconds) to ``benchmarks/results/predict.md``.
All data are synthetic.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench_demo import _cpu  # the machine description of every benchmark table


def run(out: Path, n_train: int, n_new: int, jobs: int) -> dict[str, float]:
    import radiopredict as rp
    from radiopredict.study import StudyModel

    develop = rp.make_synthetic_cohort(out / "develop", n_patients=n_train, seed=0)
    new = rp.Cohort.read(rp.make_synthetic_cohort(out / "new", n_patients=n_new, seed=1))
    one = new.subset(new.patient_ids[:1])
    another = new.subset(new.patient_ids[1:2])
    t = {}
    t0 = time.perf_counter()
    model = StudyModel(
        {
            "manifest": str(develop),
            "horizon": 24.0,
            "features": {"settings": "ct", "label": 1},
            "model": {"estimator": "coxph"},
            "treatment": {"n_bootstrap": 10},
        }
    ).fit(rp.Cohort.read(develop))
    t["fit (not in the target)"] = time.perf_counter() - t0
    model.save(out / "bundle", overwrite=True)
    t0 = time.perf_counter()
    model = StudyModel.load(out / "bundle")
    t["load bundle"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    p1 = model.predict(one, n_jobs=1)
    t["predict 1 patient (first call)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(another, n_jobs=1)
    t["predict 1 patient (next call)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pn = model.predict(new, n_jobs=jobs)
    t[f"predict {n_new} patients"] = time.perf_counter() - t0
    assert len(p1.predictions) == 1 and len(pn.predictions) == n_new, pn.failures
    t[f"per patient ({n_new})"] = t[f"predict {n_new} patients"] / n_new
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--n-train", type=int, default=60)
    parser.add_argument("--n-new", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.out is None:
        with tempfile.TemporaryDirectory() as tmp:
            t = run(Path(tmp), args.n_train, args.n_new, args.jobs)
    else:
        t = run(args.out, args.n_train, args.n_new, args.jobs)
    for k, v in t.items():
        print(f"{k:>28}: {v:8.2f} s")
    row = (
        f"| {datetime.now(timezone.utc):%Y-%m-%d} | {_cpu()}, {os.cpu_count()} cores | "
        f"`{' '.join(['python', *sys.argv])}` | "
        + " | ".join(f"{v:.2f}" for v in t.values())
        + " |\n"
    )
    results = Path(__file__).parent / "results" / "predict.md"
    if not results.exists():
        results.write_text(
            "| date | machine | command | " + " | ".join(t) + " |\n"
            "|---|---|---|" + "---|" * len(t) + "\n"
        )
    with results.open("a") as fh:
        fh.write(row)
    print(f"appended to {results}")


if __name__ == "__main__":
    main()
