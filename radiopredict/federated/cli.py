"""``radiopredict federated ...``: run a study's server, a site, or all of them on one machine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    help="Federated studies on Flower: only aggregates leave each site.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


def _settings(
    alpha: float, l1_ratio: float, min_events: int, min_cell: int, on_dropout: str, loso: bool
) -> dict:
    from radiopredict.federated.study import FederatedSettings

    st = FederatedSettings(
        alpha=alpha,
        l1_ratio=l1_ratio,
        min_events=min_events,
        min_cell=min_cell,
        on_dropout=on_dropout,
        loso=loso,
    )
    return st.to_dict()


_ALPHA = typer.Option(0.0, "--alpha", help="Cox penalty strength (lifelines' penalizer).")
_L1 = typer.Option(0.0, "--l1-ratio", help="Share of L1 in the Cox penalty.")
_MIN_EVENTS = typer.Option(10, "--min-events", help="Refuse a site with fewer events.")
_MIN_CELL = typer.Option(5, "--min-cell", help="Smallest count a site sends in a table.")
_DROPOUT = typer.Option(
    "stop", "--on-dropout", help="'stop' or 'continue' when a site stops answering."
)
_LOSO = typer.Option(True, "--loso/--no-loso", help="Leave-one-site-out validation.")
_TIMEOUT = typer.Option(120.0, "--timeout", help="Seconds a site may take to answer a round.")


@app.command()
def server(
    out: Path = typer.Option(..., "--out", help="Output folder (bundle, audit log, results)."),
    n_sites: int = typer.Option(..., "--sites", help="Number of sites to wait for."),
    port: int = typer.Option(9091, "--port", help="Port of the SuperLink."),
    alpha: float = _ALPHA,
    l1_ratio: float = _L1,
    min_events: int = _MIN_EVENTS,
    min_cell: int = _MIN_CELL,
    on_dropout: str = _DROPOUT,
    loso: bool = _LOSO,
    timeout: float = _TIMEOUT,
    wait: float = typer.Option(600.0, "--wait", help="Seconds to wait for the sites."),
) -> None:
    """Coordinator: start a Flower SuperLink, wait for the sites, run the study."""
    from radiopredict.federated.flower import Deployment

    settings = _settings(alpha, l1_ratio, min_events, min_cell, on_dropout, loso)
    with Deployment(out / "flower", port=port) as dep:
        dep.start_superlink()
        console.print(f"SuperLink on port {dep.port}; waiting for {n_sites} site(s)")
        status = dep.run_study(out, settings, n_sites, timeout=timeout, wait=wait)
    _report(status, out)


@app.command()
def site(
    csv: Path = typer.Option(..., "--csv", help="The site's design matrix (CSV)."),
    superlink: str = typer.Option(..., "--server", help="SuperLink address, HOST:PORT."),
    name: str = typer.Option(None, "--name", help="Site name (default: the CSV's stem)."),
    settings: Path = typer.Option(None, "--settings", help="The feature-settings file used."),
) -> None:
    """A site: start a Flower SuperNode that answers the study's requests from its own rows."""
    import subprocess

    from radiopredict.federated.flower import Deployment, _bin

    cfg = [f'site-csv="{csv.resolve()}"', f'site-name="{name or csv.stem}"']
    if settings:
        cfg.append(f'settings="{settings.resolve()}"')
    env = Deployment(Path.cwd())._env()
    console.print(f"site {name or csv.stem}: connecting to {superlink}")
    raise typer.Exit(
        subprocess.call(
            [
                _bin("flower-supernode"),
                "--insecure",
                "--superlink",
                superlink,
                "--node-config",
                " ".join(cfg),
            ],
            env=env,
        )
    )


@app.command(context_settings={"allow_extra_args": True})
def simulate(
    ctx: typer.Context,
    sites: list[Path] = typer.Option(
        ..., "--sites", help="One design-matrix CSV per site: --sites a.csv b.csv c.csv"
    ),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    alpha: float = _ALPHA,
    l1_ratio: float = _L1,
    min_events: int = _MIN_EVENTS,
    min_cell: int = _MIN_CELL,
    on_dropout: str = _DROPOUT,
    loso: bool = _LOSO,
    timeout: float = _TIMEOUT,
) -> None:
    """Run the study over Flower on this machine (a SuperLink and one SuperNode per CSV), then
    compare it with the pooled fit: writes comparison.csv next to the bundle and audit log."""
    from radiopredict.bundle import load_bundle
    from radiopredict.federated.flower import simulate as run
    from radiopredict.federated.outputs import comparison_from_summary, load_summary
    from radiopredict.federated.protocol import SiteData

    sites = [*sites, *(Path(a) for a in ctx.args)]  # --sites a.csv b.csv c.csv
    if len(sites) < 2:
        raise typer.BadParameter("a federated study needs at least two sites", param_hint="--sites")
    settings = _settings(alpha, l1_ratio, min_events, min_cell, on_dropout, loso)
    t0 = time.perf_counter()
    status = run(sites, out, settings, workdir=out / "flower", timeout=timeout)
    wall = time.perf_counter() - t0
    if not status.get("ok"):
        _report(status, out)
    summary = load_summary(out)
    site_data = [SiteData.from_csv(p) for p in sites]
    table = comparison_from_summary(summary, site_data, load_bundle(out / "model_bundle").model)
    table.to_csv(out / "comparison.csv", index=False)
    console.print(table.to_string(index=False))
    console.print(f"federated study over Flower: {wall:.1f} s; outputs in {out}")


def _report(status: dict, out: Path) -> None:
    if status.get("ok"):
        console.print(f"study finished: sites {status['sites']}, dropped {status['dropped']}")
        console.print(f"outputs in {out}")
        return
    console.print(f"[red]study failed[/red]: {status.get('error')}")
    (out / "error.json").write_text(json.dumps(status, indent=2))
    raise typer.Exit(1)
