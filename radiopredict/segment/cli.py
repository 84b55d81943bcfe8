"""``radiopredict segment train|predict|qc`` commands (a typer sub-app mounted by ``cli.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    name="segment",
    help="Train a U-Net on a cohort, segment a cohort, check masks.",
    no_args_is_help=True,
    add_completion=False,
)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"expected integers like 16,32,32, got {text!r}") from exc


@app.command()
def train(
    manifest: Path = typer.Argument(..., help="Cohort manifest (CSV/Parquet) with masks."),
    out: Path = typer.Argument(..., help="Model path stem: writes OUT.safetensors and OUT.json."),
    spatial_dims: int = typer.Option(3, "--dims", help="2 (slice-wise) or 3 (volumetric)."),
    patch_size: str = typer.Option("16,32,32", help="Patch (z,y,x) or (y,x) for 2D."),
    base_filters: int = typer.Option(16, help="Filters of the first U-Net stage."),
    depth: int = typer.Option(3, help="Number of pooling steps."),
    epochs: int = typer.Option(50, help="Maximum epochs."),
    steps_per_epoch: int = typer.Option(25, help="Optimiser steps per epoch."),
    batch_size: int = typer.Option(2, help="Patches per step."),
    patience: int = typer.Option(10, help="Early-stopping patience (validations)."),
    val_fraction: float = typer.Option(0.2, help="Fraction of patients for validation."),
    time_budget: float | None = typer.Option(None, help="Stop after this many seconds."),
    window: str | None = typer.Option(
        None, help="Intensity window lo,hi (e.g. -300,400); z-score when omitted."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, help="torch CPU threads."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a U-Net on the masks of a cohort and save it (safetensors + JSON)."""
    from radiopredict.cohort import Cohort
    from radiopredict.segment._data import Preprocessing
    from radiopredict.segment.train import TrainSettings, train_unet
    from radiopredict.segment.unet import UNetConfig

    prep = Preprocessing()
    if window:
        lo, hi = (float(v) for v in window.split(","))
        prep = Preprocessing(intensity="window", window=(lo, hi))
    model = train_unet(
        Cohort.read(manifest),
        UNetConfig(spatial_dims=spatial_dims, base_filters=base_filters, depth=depth),
        TrainSettings(
            patch_size=_ints(patch_size),
            batch_size=batch_size,
            max_epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            patience=patience,
            val_fraction=val_fraction,
            time_budget_s=time_budget,
            seed=seed,
            device=device,
            num_threads=threads,
        ),
        preprocessing=prep,
        progress=not quiet,
    )
    weights, config = model.save(out)
    typer.echo(json.dumps({"weights": str(weights), "config": str(config), **model.training}))


@app.command()
def predict(
    manifest: Path = typer.Argument(..., help="Cohort manifest (CSV/Parquet)."),
    model: Path = typer.Argument(..., help="Saved model (.safetensors or .json)."),
    out_dir: Path = typer.Argument(..., help="Folder for the predicted masks."),
    manifest_out: Path | None = typer.Option(
        None, help="Where to write the new manifest (default OUT_DIR/manifest.csv)."
    ),
    qc: bool = typer.Option(True, help="Write OUT_DIR/qc.csv (vs the manifest's masks if any)."),
    largest: bool = typer.Option(True, help="Keep the largest component only."),
    min_size: float | None = typer.Option(None, help="Drop components below this many mm^3."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, help="torch CPU threads."),
    overwrite: bool = typer.Option(False, help="Re-predict existing masks."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Segment every image of a cohort; write masks, a new manifest and a QC table."""
    from radiopredict.cohort import Cohort
    from radiopredict.segment.infer import predict_masks
    from radiopredict.segment.qc import qc_table

    cohort = Cohort.read(manifest)
    new = predict_masks(
        cohort,
        model,
        out_dir,
        postprocess={"largest": largest, "min_size_mm3": min_size},
        device=device,
        num_threads=threads,
        overwrite=overwrite,
        progress=not quiet,
    )
    target = manifest_out or Path(out_dir) / "manifest.csv"
    new.write(target)
    typer.echo(f"masks in {out_dir}, manifest {target}")
    if qc:
        has_ref = any(c.mask is not None for c in cohort.cases())
        table = qc_table(new, reference=cohort if has_ref else None)
        table.to_csv(Path(out_dir) / "qc.csv")
        n_bad = int((~table["ok"].astype(bool)).sum())
        typer.echo(f"QC: {len(table) - n_bad} ok, {n_bad} flagged -> {Path(out_dir) / 'qc.csv'}")
