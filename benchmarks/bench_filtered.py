"""Benchmark: engines side by side with filters (Original + LoG 1, 2, 3 mm + 8 coif1 wavelets).

The five pyradiomics test cases (``../shared/data/pyradiomics-cases``), label 1, no
resampling, fixed bin size 25, 3D texture. Per case the engines alternate, ``--repeats``
rounds after one warm-up run each, in one run of this script:

``native``
    radiopredict's :class:`~radiopredict.features.engines.NativeEngine` with the IBSI-1 3D
    set on the Original image and on each response map (LoG sigma 1, 2, 3 mm, mirror
    boundary; the 8 undecimated coif1 level-1 sub-bands, periodic boundary), exact filtering
    on crops.
``pyradiomics``
    ``RadiomicsFeatureExtractor.execute`` with Original + LoG (1, 2, 3) + Wavelet (coif1), all
    feature classes, binWidth 25.
``flash`` (``--flash-python``)
    flash-radiomics (BSD-3) from its own virtual environment (never a project dependency),
    CPU backend, ``num_threads=1``, the same pyradiomics parameter file, in a subprocess that
    times its own runs (``execute`` also writes its HDF5 record, part of its cost).

Everything runs on one thread (``OMP_NUM_THREADS=1`` and friends are set before numpy is
imported; SimpleITK limited to 1 thread). Usage::

    nice .venv/bin/python benchmarks/bench_filtered.py [--repeats 3] [--flash-python PY]
    nice .venv/bin/python benchmarks/bench_filtered.py --profile brain1   # cProfile, native

Writes ``filtered.md`` and ``filtered.csv`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RADIOPREDICT_SHARED_DATA", ROOT.parent / "shared" / "data"))
CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")
PARAMS = """imageType:
  Original: {}
  LoG:
    sigma: [1.0, 2.0, 3.0]
  Wavelet:
    wavelet: coif1
featureClass:
  shape:
  firstorder:
  glcm:
  glrlm:
  glszm:
  gldm:
  ngtdm:
setting:
  binWidth: 25
  label: 1
"""
SUBBANDS = ("LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL")

_FLASH = """
import json, sys, time, statistics, logging
logging.disable(logging.WARNING)
import SimpleITK as sitk
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
from {module} import RadiomicsFeatureExtractor
params, data, case, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ex = RadiomicsFeatureExtractor(params, backend="cpu", num_threads=1)
img, lab = f"{{data}}/{{case}}_image.nrrd", f"{{data}}/{{case}}_label.nrrd"
h5 = sys.argv[5]
res = ex.execute(img, lab, output_hdf5_path=h5)
times, cpu = [], []
for _ in range(repeats):
    t, c = time.perf_counter(), time.process_time()
    res = ex.execute(img, lab, output_hdf5_path=h5)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
n = sum(1 for k in res if not str(k).startswith("diagnostics_"))
out = {{"s": statistics.median(times), "cpu": statistics.median(cpu), "features": n}}
print("FLASH " + json.dumps(out))
"""


def _flash_module(python: str) -> str | None:
    """The import name of flash-radiomics' extractor in its environment, or None."""
    for module in ("flash_radiomics", "flash_radiomics.featureextractor"):
        probe = f"from {module} import RadiomicsFeatureExtractor"
        if subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
            return module
    return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--flash-python", default=None)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument(
        "--profile",
        metavar="CASE",
        default=None,
        help="only profile the native engine on CASE with cProfile (top 25 by cumulative time)",
    )
    args = ap.parse_args(argv)

    import numpy as np
    import SimpleITK as sitk
    from radiomics import featureextractor

    from radiopredict.features import FeatureSettings
    from radiopredict.features.engines import NativeEngine
    from radiopredict.features.filters import FilterSpec

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    src = DATA / "pyradiomics-cases"
    settings = FeatureSettings(
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="none",
        texture_dims=("3D",),
        texture_aggregations=("avg", "comb"),
    )
    filters = [FilterSpec(kind="log", sigma_mm=s, boundary="mirror") for s in (1.0, 2.0, 3.0)]
    filters += [
        FilterSpec(kind="wavelet", wavelet="coif1", response=r, boundary="periodic")
        for r in SUBBANDS
    ]
    native = NativeEngine(settings, filters=filters)
    if args.profile:
        import cProfile
        import pstats

        img = str(src / f"{args.profile}_image.nrrd")
        items = [(src / f"{args.profile}_label.nrrd", 1)]
        native.compute(img, items)  # warm-up
        prof = cProfile.Profile()
        prof.runcall(native.compute, img, items)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.yaml"
        params.write_text(PARAMS)
        pyrad = featureextractor.RadiomicsFeatureExtractor(str(params))
        flash_module = _flash_module(args.flash_python) if args.flash_python else None
        load_at_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
        rows = []
        for case in args.cases.split(","):
            img, lab = str(src / f"{case}_image.nrrd"), str(src / f"{case}_label.nrrd")
            runs = {
                "native": lambda img=img, lab=lab: native.compute(img, [(lab, 1)])[0],
                "pyradiomics": lambda img=img, lab=lab: pyrad.execute(img, lab),
            }
            times: dict[str, list[float]] = {k: [] for k in runs}
            cpu: dict[str, list[float]] = {k: [] for k in runs}
            counts = {}
            for name, fn in runs.items():  # warm-up
                res = fn()
                counts[name] = sum(1 for k in res if not str(k).startswith("diagnostics_"))
            for _ in range(args.repeats):  # the engines alternate
                for name, fn in runs.items():
                    t, c = time.perf_counter(), time.process_time()
                    fn()
                    times[name].append(time.perf_counter() - t)
                    cpu[name].append(time.process_time() - c)
            row = {
                "case": case,
                "roi_voxels": int((sitk.GetArrayViewFromImage(sitk.ReadImage(lab)) == 1).sum()),
            }
            for name in runs:
                row[f"{name}_s"] = statistics.median(times[name])
                row[f"{name}_cpu_s"] = statistics.median(cpu[name])
                row[f"{name}_features"] = counts[name]
            if flash_module is not None:
                proc = subprocess.run(
                    [
                        args.flash_python,
                        "-c",
                        _FLASH.format(module=flash_module),
                        str(params),
                        str(src),
                        case,
                        str(args.repeats),
                        str(Path(tmp) / f"{case}.h5"),
                    ],
                    capture_output=True,
                    text=True,
                    env={**os.environ},
                )
                line = [x for x in proc.stdout.splitlines() if x.startswith("FLASH ")]
                if line:
                    got = json.loads(line[-1].split(" ", 1)[1])
                    row["flash_s"], row["flash_cpu_s"] = got["s"], got["cpu"]
                    row["flash_features"] = got["features"]
                else:
                    print(proc.stderr[-2000:], file=sys.stderr)
            for clock in ("s", "cpu_s"):
                peers = [
                    row[f"{k}_{clock}"] for k in ("pyradiomics", "flash") if f"{k}_{clock}" in row
                ]
                row[f"peer_over_native_{clock}"] = min(peers) / row[f"native_{clock}"]
            rows.append(row)
            print(row, flush=True)

    import pandas as pd

    table = pd.DataFrame(rows)
    total = {"case": "total", "roi_voxels": int(table.roi_voxels.sum())}
    for col in table.columns[2:]:
        total[col] = table[col].sum() if col.endswith(("_s", "_features")) else np.nan
    for clock in ("s", "cpu_s"):
        secs = [f"{k}_{clock}" for k in ("pyradiomics", "flash") if f"{k}_{clock}" in table]
        total[f"peer_over_native_{clock}"] = min(total[c] for c in secs) / total[f"native_{clock}"]
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "filtered.csv", index=False)
    import radiomics
    import scipy

    header = [
        f"- machine: {platform.platform()}, {os.cpu_count()} cores, shared with other "
        f"engineers' jobs (load average at start: {load_at_start}); every engine on one thread",
        f"- Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pyradiomics {radiomics.__version__}"
        + (f", flash-radiomics via {args.flash_python}" if flash_module else ""),
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        f"- median of {args.repeats} alternating rounds per case after one warm-up run each, "
        "seconds: `_s` wall time, `_cpu_s` CPU time of the process (less sensitive to the other "
        "jobs on the machine); `peer_over_native_*` = the fastest peer's time / native time",
        "",
    ]
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c.startswith("peer_over_native"):
                cells.append(f"{v:.2f}x")
            elif c.endswith("_s"):
                cells.append(f"{v:.3f}")
            elif isinstance(v, float) and v == int(v):
                cells.append(str(int(v)))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    md = "\n".join(header + lines) + "\n"
    (args.out / "filtered.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
