"""``radiopredict extract``: cohort feature extraction from the command line."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["app", "extract"]

app = typer.Typer(add_completion=False, help="Cohort feature extraction.")
console = Console(stderr=True)


@app.command("extract")
def extract(
    manifest: Path = typer.Argument(..., help="Cohort manifest (CSV or Parquet)."),
    settings: str = typer.Option(
        None,
        "--settings",
        "-s",
        help="Native: preset name or FeatureSettings YAML. pyradiomics: parameter YAML.",
    ),
    engine: str = typer.Option("native", "--engine", "-e", help="'native' or 'pyradiomics'."),
    out: Path = typer.Option(Path("features.parquet"), "--out", "-o", help="Output Parquet."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes (or Dask workers)."),
    executor: str = typer.Option(None, "--executor", help="'joblib' (default) or 'dask'."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache folder (resume, reuse)."),
    on_error: str = typer.Option("record", "--on-error", help="'record' or 'raise'."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Extract features for every case of MANIFEST and write them as Parquet."""
    from radiopredict._outputs import check_output_file, write_or_keep
    from radiopredict.cohort import Cohort
    from radiopredict.errors import ConfigError, RadiopredictError
    from radiopredict.features.extract import extract as run_extract

    t0 = time.perf_counter()
    try:
        check_output_file(out, "output file")  # before the work, not after an hour of it
        if out.suffix.lower() not in (".parquet", ".pq"):
            raise ConfigError(
                f"the output {out.name!r} does not end in .parquet: the feature table is "
                "written as Parquet (features, failures, undefined features and provenance)",
                path=out,
                fix=f"name it {out.with_suffix('.parquet').name!r}; read it with "
                "ExtractionResult.read_parquet(path), or pandas.read_parquet(path) and "
                "DataFrame.to_csv for a CSV copy",
            )
        cohort = Cohort.read(manifest)
        result = run_extract(
            cohort,
            settings,
            engine=engine,
            n_jobs=jobs,
            executor=executor,
            cache_dir=cache_dir,
            on_error=on_error,
            progress=progress,
        )
        path, write_error = write_or_keep(result.to_parquet, out, "feature table")
    except RadiopredictError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    if write_error is not None:
        kept = f"; every case is also in the cache {str(cache_dir)!r}" if cache_dir else ""
        console.print(
            f"[red]error:[/red] cannot write {str(out)!r} ({write_error}); the computed table "
            f"was kept in {str(path)!r}{kept}"
        )
    n_ok, n_bad = len(result.features), len(result.failures)
    n_undef = len(result.undefined)
    console.print(
        f"{n_ok} case(s) x {result.features.shape[1]} features written to {path} "
        f"({result.provenance['n_from_cache']} from cache, {n_bad} failed, "
        f"{n_undef} (case, feature) pair(s) not computed) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    if n_undef:
        _print_undefined(result.undefined)
    if n_bad:
        table = Table(title=f"{n_bad} failed case(s)")
        for col in ("patient_id", "label", "stage", "error", "fix"):
            table.add_column(col, overflow="fold")
        for row in result.failures.itertuples(index=False):
            table.add_row(row.patient_id, str(row.label), row.stage, row.error, row.fix)
        console.print(table)
    if write_error is not None:
        raise typer.Exit(code=3)
    if n_ok == 0 and n_bad:
        raise typer.Exit(code=1)


def _print_undefined(undefined, limit: int = 20) -> None:
    """One row per (feature, reason) with the patients it concerns (the full table is in the
    Parquet metadata: ExtractionResult.read_parquet(path).undefined)."""
    table = Table(title=f"{len(undefined)} (case, feature) pair(s) not computed")
    for col in ("feature", "reason", "cases", "patients"):
        table.add_column(col, overflow="fold")
    groups = undefined.groupby(["feature", "reason"], sort=False)["patient_id"]
    for i, ((feature, reason), pids) in enumerate(groups):
        if i == limit:
            table.add_row("...", f"{groups.ngroups - limit} more (feature, reason) pairs", "", "")
            break
        shown = ", ".join(dict.fromkeys(map(str, pids)))
        table.add_row(str(feature), str(reason), str(len(pids)), shown[:200])
    console.print(table)
