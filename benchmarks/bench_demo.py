"""Wall-clock time of `radiopredict demo` against its budget (issue #7: 10 minutes, 2 cores).

Usage::

    python benchmarks/bench_demo.py [--out DIR] [--n 100]

Prints and appends a Markdown row (date, machine, command, total and per-stage seconds) to
``benchmarks/results/demo.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from radiopredict.study import DEMO_BUDGET_S


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp()) / "demo"
    cmd = [sys.executable, "-m", "radiopredict.cli", "demo", "--out", str(out), "--n", str(args.n)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    total = time.perf_counter() - t0
    stages = json.loads((out / "provenance.json").read_text())["timings_s"]
    truth = out / "benefit_vs_truth.json"
    r = (
        json.loads(truth.read_text())["pearson_r_oof_vs_true_benefit"]
        if truth.exists()
        else float("nan")
    )
    row = (
        f"| {datetime.now(timezone.utc):%Y-%m-%d} | {_cpu()}, {os.cpu_count()} cores | "
        f"`radiopredict demo --n {args.n}` | {total:.0f} | {DEMO_BUDGET_S} | "
        + ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
        + f" | {r:.2f} |"
    )
    results = Path(__file__).with_name("results") / "demo.md"
    results.parent.mkdir(exist_ok=True)
    if not results.exists():
        results.write_text(
            "| date | machine | command | total s | budget s | stages (s) | r(benefit, truth) |\n"
            "|---|---|---|---|---|---|---|\n"
        )
    with results.open("a") as fh:
        fh.write(row + "\n")
    print(row)


if __name__ == "__main__":
    main()
