"""Benchmark: native IBSI engine vs pyradiomics on the five pyradiomics test cases.

Both engines run in the same process on the Original image with settings as close as possible to
pyradiomics' defaults: no resampling, no resegmentation, fixed bin size 25, 3D texture. The
native engine computes the full IBSI-1 3D set (morphology with Moran's I / Geary's C, local
intensity, statistics, histogram, IVH, GLCM/GLRLM averaged and merged, GLSZM, GLDZM, NGTDM,
NGLDM); pyradiomics its default ~107 features. Each case is timed ``--repeats`` times after one
warm-up run per engine; the table reports the median per case and the sum of the medians.

Usage::

    nice .venv/bin/python benchmarks/bench_features.py [--repeats 5] [--out benchmarks/results]

Writes ``features.csv`` and ``features.md`` to the output folder.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _time(fn, repeats: int) -> tuple[float, object]:
    result = fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.tolist()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "pyradiomics-cases"
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--skip-pyradiomics", action="store_true")
    ap.add_argument(
        "--sitk-threads",
        type=int,
        default=1,
        help="SimpleITK worker threads (pyradiomics' filters; 1 avoids oversubscription)",
    )
    args = ap.parse_args(argv)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.sitk_threads)

    from radiopredict.features import FeatureSettings, compute_features

    settings = FeatureSettings(
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="none",
        texture_dims=("3D",),
        texture_aggregations=("avg", "comb"),
    )
    extractor = None
    if not args.skip_pyradiomics:
        from radiomics import featureextractor

        logging.getLogger("radiomics").setLevel(logging.ERROR)
        extractor = featureextractor.RadiomicsFeatureExtractor()  # defaults: binWidth 25, 3D

    load_at_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = []
    for case in CASES:
        image = sitk.ReadImage(str(args.data / f"{case}_image.nrrd"))
        label = sitk.ReadImage(str(args.data / f"{case}_label.nrrd"))
        mask = sitk.Cast(label == 1, sitk.sitkUInt8)
        t_native, series = _time(
            functools.partial(compute_features, image, mask, settings), args.repeats
        )
        row = {
            "case": case,
            "roi_voxels": int(sitk.GetArrayViewFromImage(mask).sum()),
            "radiopredict_s": t_native,
            "radiopredict_features": len(series),
        }
        if extractor is not None:
            t_pyrad, res = _time(functools.partial(extractor.execute, image, label), args.repeats)
            row["pyradiomics_s"] = t_pyrad
            row["pyradiomics_features"] = sum(1 for k in res if k.startswith("original_"))
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    total = {"case": "total", "roi_voxels": int(table.roi_voxels.sum())}
    for col in table.columns[2:]:
        total[col] = table[col].sum() if col.endswith("_s") else table[col].iloc[0]
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)

    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "features.csv", index=False)
    import numpy as np
    import scipy

    try:
        import radiomics

        pyrad_version = radiomics.__version__
    except ImportError:
        pyrad_version = "not installed"
    header = [
        f"- machine: {platform.platform()}, CPU: {_cpu()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pyradiomics {pyrad_version}",
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        f"- median of {args.repeats} runs per case after one warm-up run, seconds; SimpleITK "
        f"threads: {args.sitk_threads}; load average at start: {load_at_start}",
        "",
    ]
    fmt = table.copy()
    for col in fmt.columns:
        if col.endswith("_s"):
            fmt[col] = fmt[col].map(lambda v: f"{v:.3f}")
    md = "\n".join(header) + "\n" + _markdown(fmt) + "\n"
    (args.out / "features.md").write_text(md)
    print(md)
    return table


if __name__ == "__main__":
    main()
