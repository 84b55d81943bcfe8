"""A/B of the native engine: an earlier revision of radiopredict against this working tree.

Runs the native engine of ``bench_extract.py``'s labels part (lung1, Original + LoG 1, 2, 3 mm
+ 8 coif1 sub-bands, default ``FeatureSettings``) with 1, 3 and 10 labels in both layouts. The
old revision is exported with ``git archive`` into a temporary folder; the two sides run in
alternating child processes (``--rounds`` rounds, best of ``--repeats`` calls per case in each),
so machine drift hits both alike. Prints the best time of each side, the ratio of 10 (and 3)
labels to one label, and the largest relative difference between the two sides' features.

Usage::

    nice .venv/bin/python benchmarks/bench_native_ab.py --old-rev 2c92163 [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [(layout, n) for layout in ("subregions", "scattered") for n in (1, 3, 10)]


def child(out: Path, repeats: int) -> None:
    """Time every case with the radiopredict found on ``sys.path``; pickle times and features."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_extract as b

    work = Path(tempfile.mkdtemp())
    image = str(b.DATA / "pyradiomics-cases" / "lung1_image.nrrd")
    engine = b._native_engine()
    warm = str(b._multilabel(1, work, "scattered"))
    engine.compute(image, [(warm, 1)])  # imports and first-call costs, untimed
    times, feats = {}, {}
    for layout, n in CASES:
        mask = str(b._multilabel(n, work, layout))
        items = [(mask, lab) for lab in range(1, n + 1)]
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = engine.compute(image, items)
            best = min(best, time.perf_counter() - t0)
        assert not any(isinstance(r, Exception) for r in res), res
        times[f"{layout}/{n}"] = best
        feats[f"{layout}/{n}"] = res
    import radiopredict

    out.write_bytes(pickle.dumps({"times": times, "feats": feats, "path": radiopredict.__file__}))


def _max_rel(a: dict, b: dict) -> float:
    if set(a) != set(b):
        return float("inf")
    worst = 0.0
    for k, va in a.items():
        vb = b[k]
        if va != vb and max(abs(va), abs(vb)) > 1e-12:  # below: zero (e.g. 1e-32 vs 0)
            worst = max(worst, abs(va - vb) / max(abs(va), abs(vb)))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-rev", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child), args.repeats)
        return
    tmp = Path(tempfile.mkdtemp())
    archive = tmp / "old.tar"
    subprocess.run(
        ["git", "archive", "-o", str(archive), args.old_rev, "radiopredict"], cwd=ROOT, check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(tmp / "old", filter="data")
    sides = {"old": tmp / "old", "new": ROOT}
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
            out = tmp / f"{side}{r}.pkl"
            env = dict(os.environ, PYTHONPATH=str(sides[side]))
            cmd = [sys.executable, __file__, "--old-rev", args.old_rev, "--child", str(out)]
            subprocess.run(cmd + ["--repeats", str(args.repeats)], env=env, check=True)
            res = pickle.loads(out.read_bytes())
            assert Path(res["path"]).resolve().is_relative_to(sides[side].resolve()), res["path"]
            runs[side].append(res)
    best = {
        side: {c: min(run["times"][c] for run in runs[side]) for c in runs[side][0]["times"]}
        for side in runs
    }
    print(f"| layout | labels | {args.old_rev} (s) | this tree (s) | max rel diff |")
    print("|---|---|---|---|---|")
    for layout, n in CASES:
        case = f"{layout}/{n}"
        cells = []
        for side in ("old", "new"):
            t, one = best[side][case], best[side][f"{layout}/1"]
            cells.append(f"{t:.2f}" + ("" if n == 1 else f" ({t / one:.2f}x)"))
        diff = max(
            _max_rel(a, b)
            for a, b in zip(runs["old"][0]["feats"][case], runs["new"][0]["feats"][case])
        )
        print(f"| {layout} | {n} | {cells[0]} | {cells[1]} | {diff:.2g} |")
    print(json.dumps({"rounds": args.rounds, "repeats": args.repeats}))


if __name__ == "__main__":
    main()
