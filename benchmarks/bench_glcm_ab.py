"""A/B of the native engine's GLCM features: an earlier revision's ``glcm_features`` vs this one.

Runs the native engine of ``bench_extract.py``'s labels part (lung1, Original + LoG 1, 2, 3 mm
+ 8 coif1 sub-bands, default ``FeatureSettings``) with 1 and 10 labels in both layouts,
alternating the two implementations in one process (best of ``--repeats`` each), and prints the
times and the largest relative difference between their feature values.

Usage::

    nice .venv/bin/python benchmarks/bench_glcm_ab.py --old-rev 1b644c4 [--repeats 5]

``--old-rev`` is a git revision whose ``radiopredict/features/families/glcm.py`` is the "old"
implementation (1b644c4: before the one-pass GLCM features).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-rev", default="1b644c4")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import bench_extract as b

    import radiopredict.features.families.glcm as glcm

    work = Path(tempfile.mkdtemp())
    src = subprocess.run(
        ["git", "show", f"{args.old_rev}:radiopredict/features/families/glcm.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (work / "glcm_old.py").write_text(src)
    spec = importlib.util.spec_from_file_location("glcm_old", work / "glcm_old.py")
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    impl = {"old": old.glcm_features, "new": glcm.glcm_features}
    image = str(b.DATA / "pyradiomics-cases" / "lung1_image.nrrd")
    engine = b._native_engine()
    print(f"| layout | labels | {args.old_rev} (s) | this revision (s) | max rel diff |")
    print("|---|---|---|---|---|")
    for layout in ("subregions", "scattered"):
        for n in (1, 10):
            mask = str(b._multilabel(n, work, layout))
            items = [(mask, lab) for lab in range(1, n + 1)]
            best = {"old": float("inf"), "new": float("inf")}
            out = {}
            for _ in range(args.repeats):
                for key in ("old", "new"):
                    glcm.glcm_features = impl[key]
                    t0 = time.perf_counter()
                    out[key] = engine.compute(image, items)
                    best[key] = min(best[key], time.perf_counter() - t0)
            worst = max(
                abs(a[f] - c[f]) / max(abs(c[f]), 1e-12)
                for a, c in zip(out["new"], out["old"], strict=True)
                for f in c
            )
            print(
                f"| {layout} | {n} | {best['old']:.2f} | {best['new']:.2f} | {worst:.2g} |",
                flush=True,
            )
    glcm.glcm_features = impl["new"]


if __name__ == "__main__":
    main()
