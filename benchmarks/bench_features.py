"""Benchmark: native IBSI engine vs pyradiomics on the five pyradiomics test cases.

Both engines run in the same process on the Original image with settings as close as possible to
pyradiomics' defaults: no resampling, no resegmentation, fixed bin size 25, 3D texture. The
native engine computes the full IBSI-1 3D set (morphology with Moran's I / Geary's C, local
intensity, statistics, histogram, IVH, GLCM/GLRLM averaged and merged, GLSZM, GLDZM, NGTDM,
NGLDM); pyradiomics its default ~107 features. Each case is timed ``--repeats`` times after one
warm-up run per engine; the table reports the median per case and the sum of the medians.

MIRP (GPL-licensed, so never a project dependency) can be timed too, from a separate
environment (``python -m venv /tmp/mirp-venv && /tmp/mirp-venv/bin/pip install mirp``), in a
subprocess with one run per case after a warm-up run: ``--mirp-python /tmp/mirp-venv/bin/python``.

Usage::

    nice .venv/bin/python benchmarks/bench_features.py [--repeats 5] [--out benchmarks/results]
        [--mirp-python /tmp/mirp-venv/bin/python]

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


_MIRP_SCRIPT = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from mirp import extract_features
data, masks, ranges = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = {}
for i, case in enumerate(["breast1"] + sys.argv[4:]):  # the first run is a warm-up
    t = time.perf_counter()
    extract_features(
        image=f"{data}/{case}_image.nrrd", mask=f"{masks}/{case}_mask.nrrd",
        base_feature_families="all", base_discretisation_method="fixed_bin_size",
        base_discretisation_bin_width=25.0, resegmentation_intensity_range=ranges[case],
        ivh_discretisation_method="none",
        glcm_spatial_method=["3d_average", "3d_volume_merge"],
        glrlm_spatial_method=["3d_average", "3d_volume_merge"],
    )
    if i:
        out[case] = time.perf_counter() - t
print("MIRP-TIMES " + json.dumps(out))
"""


def _time_mirp(python: Path, data: Path) -> dict[str, float]:
    """Time MIRP in a subprocess of a separate environment (MIRP is not a project dependency).

    MIRP's fixed bin size needs an intensity range; each case gets its ROI's [min, max], which
    resegments nothing and starts the bins at the ROI minimum, as the native engine does.
    """
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ranges = {}
        for case in CASES:
            label = sitk.ReadImage(str(data / f"{case}_label.nrrd"))
            mask = sitk.Cast(label == 1, sitk.sitkUInt8)
            sitk.WriteImage(mask, f"{tmp}/{case}_mask.nrrd")
            img = sitk.GetArrayViewFromImage(sitk.ReadImage(str(data / f"{case}_image.nrrd")))
            roi = img[sitk.GetArrayViewFromImage(mask) > 0]
            ranges[case] = [float(roi.min()), float(roi.max())]
        proc = subprocess.run(
            [str(python), "-c", _MIRP_SCRIPT, str(data), tmp, json.dumps(ranges), *CASES],
            capture_output=True,
            text=True,
            check=True,
        )
    line = [x for x in proc.stdout.splitlines() if x.startswith("MIRP-TIMES ")][-1]
    return json.loads(line.split(" ", 1)[1])


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
    ap.add_argument(
        "--mirp-python",
        type=Path,
        default=None,
        help="python of a separate environment with mirp installed: also time MIRP (one run per "
        "case after a warm-up run, in a subprocess)",
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
    if args.mirp_python is not None:
        mirp_times = _time_mirp(args.mirp_python, args.data)
        table["mirp_s"] = [mirp_times[c] for c in table.case]
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
        f"pyradiomics {pyrad_version}"
        + (f", MIRP via {args.mirp_python} (one run per case)" if args.mirp_python else ""),
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
