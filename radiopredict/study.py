"""The end-to-end demo study on the embedded synthetic cohort.

:func:`run_demo` only wires the stages together (each stage lives in its own module): synthesise
a cohort with known ground truth, validate it, summarise it, and run the downstream stages that
are available. Every output lands in one folder.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run_demo", "summarise_cohort"]


def summarise_cohort(cohort) -> pd.DataFrame:
    """One-row-per-statistic summary of a cohort (patients, cases, events, arms, sites).

    Parameters
    ----------
    cohort
        A :class:`radiopredict.Cohort`.

    Returns
    -------
    pandas.DataFrame
        Columns ``statistic`` and ``value``.
    """
    pts = cohort.patients
    rows: list[tuple[str, Any]] = [
        ("patients", len(cohort.patient_ids)),
        ("cases (image, mask, label)", len(cohort)),
    ]
    if {"time", "event"} <= set(pts.columns):
        y = cohort.survival_target()
        rows += [
            ("events", int(y["event"].sum())),
            ("censored fraction", round(1 - float(y["event"].mean()), 3)),
            ("median follow-up", round(float(np.median(y["time"])), 2)),
        ]
    if "response" in pts.columns:
        rows.append(("responders", int(pd.to_numeric(pts["response"]).sum())))
    if "treatment" in pts.columns:
        for arm, n in pts["treatment"].value_counts().sort_index().items():
            rows.append((f"treatment = {arm}", int(n)))
    if "batch" in pts.columns:
        rows.append(("sites (batch)", int(pts["batch"].nunique())))
    rows.append(("clinical variables", ", ".join(cohort.clinical_columns)))
    return pd.DataFrame(rows, columns=["statistic", "value"])


def _print_table(console, df: pd.DataFrame, title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col))
    for row in df.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    n_patients: int = 100,
    seed: int = 0,
    console=None,
) -> dict[str, Path]:
    """Run the demo study end to end and return the paths it wrote.

    Parameters
    ----------
    out_dir
        Output folder (created).
    n_patients
        Number of synthetic patients.
    seed
        Random seed; the same seed gives the same files and numbers.
    console
        A ``rich.console.Console`` for progress and tables (a new one when None).

    Returns
    -------
    dict
        Name of each output -> its path.
    """
    from rich.console import Console

    from radiopredict.cohort import Cohort
    from radiopredict.datasets import make_synthetic_cohort

    console = console or Console()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {}
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    console.rule("1. synthetic cohort")
    manifest = make_synthetic_cohort(
        out / "cohort", n_patients=n_patients, seed=seed, progress=True
    )
    outputs["manifest"] = Path(manifest)
    timings["synthesise"] = time.perf_counter() - t0

    console.rule("2. validate")
    t0 = time.perf_counter()
    cohort = Cohort.read(manifest)
    problems = cohort.validate(progress=True)
    problems.to_csv(out / "problems.csv", index=False)
    outputs["problems"] = out / "problems.csv"
    timings["validate"] = time.perf_counter() - t0
    if len(problems):
        _print_table(console, problems, f"{len(problems)} manifest problem(s)")
        raise RuntimeError(
            f"the synthetic cohort has {len(problems)} problems: see {out / 'problems.csv'}"
        )
    console.print(f"[green]no manifest problem[/green] in {len(cohort)} cases")

    summary = summarise_cohort(cohort)
    summary.to_csv(out / "cohort_summary.csv", index=False)
    outputs["cohort_summary"] = out / "cohort_summary.csv"
    _print_table(console, summary, "cohort summary")

    (out / "timings.json").write_text(
        json.dumps({k: round(v, 3) for k, v in timings.items()}, indent=2)
    )
    outputs["timings"] = out / "timings.json"
    console.rule("done")
    for name, path in outputs.items():
        console.print(f"{name:>16}: {path}")
    return outputs
