"""Command-line interface: ``radiopredict --help``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from radiopredict._version import __version__

app = typer.Typer(
    name="radiopredict",
    help="IBSI radiomics, embeddings and explainable survival / treatment-benefit models.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"radiopredict {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool | None = typer.Option(
        None,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """radiopredict command-line interface."""


def _problems_table(problems) -> Table:
    table = Table(title=f"{len(problems)} problem(s)", show_lines=False)
    for col in ("patient_id", "column", "problem", "fix"):
        table.add_column(col, overflow="fold")
    for row in problems.itertuples(index=False):
        table.add_row(*(str(v) if v is not None else "-" for v in row))
    return table


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Output folder for the synthetic cohort."),
    n: int = typer.Option(100, "--n", help="Number of patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Write a synthetic cohort with known ground truth (NIfTI images, masks, manifest)."""
    from radiopredict.datasets import make_synthetic_cohort

    t0 = time.perf_counter()
    manifest = make_synthetic_cohort(out, n_patients=n, seed=seed, progress=True)
    console.print(f"wrote {n} patients to {manifest} in {time.perf_counter() - t0:.1f} s")


@app.command()
def validate(
    manifest: Path = typer.Argument(..., help="Manifest CSV or Parquet file."),
    no_files: bool = typer.Option(
        False, "--no-files", help="Check the table only, do not read images."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the problem table to this CSV."),
) -> None:
    """Validate a manifest; prints every problem and exits with code 1 when there are any."""
    from radiopredict._outputs import check_output_file
    from radiopredict.cohort import Cohort
    from radiopredict.errors import RadiopredictError

    try:
        if out is not None:  # before reading every image, not after
            check_output_file(out, "problem table")
        cohort = Cohort.read(manifest)
        problems = cohort.validate(check_files=not no_files, progress=True)
    except RadiopredictError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    if out is not None:
        from radiopredict._outputs import write_or_keep

        def write(path: Path) -> Path:
            problems.to_csv(path, index=False)
            return path

        try:
            written, error = write_or_keep(write, out, "problem table")
        except RadiopredictError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=1) from None
        if error is not None:
            console.print(
                f"[red]error:[/red] cannot write {str(out)!r} ({error}); the problem table "
                f"was written to {str(written)!r}"
            )
    if len(problems):
        console.print(_problems_table(problems))
        raise typer.Exit(code=1)
    console.print(f"[green]OK[/green]: {cohort!r}, no problems found")


@app.command()
def demo(
    out: Path = typer.Option(Path("radiopredict-demo"), "--out", help="Output folder."),
    n: int = typer.Option(200, "--n", help="Number of synthetic patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    segmentation: bool = typer.Option(True, help="Train and apply the U-Net (deep extra)."),
    embeddings: bool = typer.Option(True, help="Learn CNN embeddings (deep extra)."),
) -> None:
    """Run the whole study on the embedded synthetic cohort; prints the report's path."""
    from radiopredict.errors import RadiopredictError
    from radiopredict.study import run_demo

    try:
        outputs = run_demo(
            out,
            n_patients=n,
            seed=seed,
            segmentation=segmentation,
            embeddings=embeddings,
            console=console,
        )
    except RadiopredictError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    print(outputs["report"])


@app.command()
def run(
    study: Path = typer.Argument(..., help="Study YAML (see the docs for its keys)."),
) -> None:
    """Run a study described by a YAML file; prints the report's path."""
    from radiopredict.errors import RadiopredictError
    from radiopredict.study import Study

    try:
        outputs = Study.from_yaml(study).run(console=console)
    except RadiopredictError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    print(outputs["report"])


@app.command()
def predict(
    bundle: Path = typer.Argument(..., help="Model bundle folder written by `radiopredict run`."),
    manifest: Path | None = typer.Argument(
        None, help="Manifest (CSV/Parquet) of the new patients (not with --dicomweb)."
    ),
    out: Path = typer.Option(Path("radiopredict-predictions"), "--out", help="Output folder."),
    dicomweb: str | None = typer.Option(
        None, "--dicomweb", help="DICOMweb root of a PACS, e.g. http://pacs:8042/dicom-web."
    ),
    study: str | None = typer.Option(
        None, "--study", help="Study Instance UID to fetch and score (with --dicomweb)."
    ),
    store: bool = typer.Option(
        False, "--store", help="Send the DICOM-SEG and the TID 1500 SR back (STOW-RS)."
    ),
    deidentify: bool = typer.Option(
        False, "--deidentify", help="Pseudonymise the study first (key file in --out)."
    ),
    clinical: Path | None = typer.Option(
        None, "--clinical", help="CSV of the clinical columns, keyed by the DICOM Patient ID."
    ),
    series: str | None = typer.Option(None, "--series", help="Image series UID to score."),
    mask_series: str | None = typer.Option(
        None, "--mask-series", help="RTSTRUCT / SEG series UID to use."
    ),
    label: str | None = typer.Option(None, "--label", help="ROI name or number to score."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Feature-extraction workers."),
    n_bootstrap: int = typer.Option(
        200, "--n-bootstrap", min=0, help="Bootstrap resamples of the external validation."
    ),
    impute_clinical: bool = typer.Option(
        False, help="Fill missing clinical values with the training imputation."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Score new patients with a locked model; with outcomes, validate it externally.

    Writes predictions.csv, failures.csv, undefined_features.csv, contributions.csv and
    report.html (and external_validation.csv, subgroups.csv, shift.csv when the manifest has
    outcomes); prints the report's path. With --dicomweb URL --study UID it fetches the study
    from the PACS instead, writes the tables, dicom/seg.dcm and dicom/sr.dcm (TID 1500), with
    --store sends both into the study, and prints the SR's path.
    """
    from radiopredict.cohort import Cohort
    from radiopredict.errors import RadiopredictError
    from radiopredict.study import StudyModel, predict_and_report

    if dicomweb is not None or study is not None:
        _predict_dicomweb(
            bundle, dicomweb, study, out, store=store, deidentify=deidentify,
            clinical=clinical, series=series, mask_series=mask_series, label=label,
            jobs=jobs, impute_clinical=impute_clinical, quiet=quiet,
        )  # fmt: skip
        return
    if manifest is None:
        console.print("[red]error:[/red] give a MANIFEST, or --dicomweb URL --study UID")
        raise typer.Exit(code=2)
    try:
        model = StudyModel.load(bundle)
        outputs = predict_and_report(
            model,
            Cohort.read(manifest),
            out,
            n_jobs=jobs,
            n_bootstrap=n_bootstrap,
            impute_clinical=impute_clinical,
            progress=not quiet,
            console=console,
        )
    except RadiopredictError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    print(outputs["report"])


def _predict_dicomweb(bundle, url, study, out, **kw) -> None:
    """``predict --dicomweb``: see :func:`radiopredict.dicom.predict_dicomweb`."""
    from radiopredict.dicom.predict import predict_dicomweb
    from radiopredict.errors import RadiopredictError
    from radiopredict.study import StudyModel

    if not url or not study:
        console.print("[red]error:[/red] --dicomweb URL and --study UID go together")
        raise typer.Exit(code=2)
    try:
        paths = predict_dicomweb(
            StudyModel.load(bundle), url, study, out, store=kw["store"],
            deidentify=kw["deidentify"], clinical=kw["clinical"], label=kw["label"],
            series_uid=kw["series"], mask_series_uid=kw["mask_series"],
            impute_clinical=kw["impute_clinical"], n_jobs=kw["jobs"],
            progress=not kw["quiet"], model_name=Path(bundle).name,
        )  # fmt: skip
    except RadiopredictError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    if "stored" in paths:
        console.print(f"stored {len(paths['stored'])} instances in study {study}")
    print(paths["sr"])


def _mount() -> None:
    from radiopredict.features.cli import extract as _extract
    from radiopredict.segment.cli import app as _segment_app

    app.command("extract")(_extract)
    app.add_typer(_segment_app, name="segment", help="Train a U-Net, predict masks, mask QC.")
    from radiopredict.federated.cli import app as _federated_app  # flwr is imported on use

    app.add_typer(_federated_app, name="federated", help="Federated studies on Flower.")


_mount()


if __name__ == "__main__":  # pragma: no cover
    app()
