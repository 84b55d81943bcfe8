"""Flower transport: a ``ServerApp`` that drives the study and a ``ClientApp`` per site.

Flower (``flwr``, Apache-2.0, the ``federated`` extra) carries every :class:`Request` as a
``Message`` (``query`` type): the arrays in an ``ArrayRecord``, the step's kind and config as JSON
in a ``ConfigRecord``. The reply carries the site step's aggregates back the same way. Nothing
else travels: the ServerApp never sees rows.

Deployment (Flower's own processes, see ``docs/federated.md``)::

    flower-superlink                      # coordinator: radiopredict federated server ...
    flower-supernode --node-config ...    # one per site: radiopredict federated site ...
    flwr run APP CONNECTION               # submits this module's apps to the SuperLink

:class:`Deployment` starts these processes on one machine (``radiopredict federated
simulate``, the tests) and stops them.

Site node config keys: ``site-csv`` (the site's design matrix), ``site-name``, ``settings`` (the
site's feature-settings file, hashed) and, for tests, ``drop-at-round`` (the site stops answering
from that round on).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radiopredict._optional import optional_import
from radiopredict.federated.protocol import (
    AuditLog,
    FederatedError,
    Request,
    SiteData,
    SiteDroppedError,
    SiteRefusedError,
    check_reply,
    drive,
    run_site_step,
)

__all__ = ["FlowerRunner", "Deployment", "server_app", "client_app", "encode", "decode"]

flwr_app = optional_import("flwr.app", extra="federated", purpose="federated studies")
flwr_server = optional_import("flwr.serverapp", extra="federated", purpose="federated studies")
flwr_client = optional_import("flwr.clientapp", extra="federated", purpose="federated studies")

MESSAGE_TYPE = "query"


def encode(arrays: dict[str, np.ndarray], config: dict[str, Any]):
    """A Flower ``RecordDict`` holding arrays and a JSON config."""
    return flwr_app.RecordDict(
        {
            "arrays": flwr_app.ArrayRecord(
                {k: flwr_app.Array(np.ascontiguousarray(v)) for k, v in arrays.items()}
            ),
            "config": flwr_app.ConfigRecord({"json": json.dumps(config)}),
        }
    )


def decode(content) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Inverse of :func:`encode`."""
    arrays = {k: v.numpy() for k, v in content["arrays"].items()}
    return arrays, json.loads(content["config"]["json"])


# --------------------------------------------------------------------------- server side


class FlowerRunner:
    """Carry requests over a Flower ``Grid`` (inside the ServerApp).

    Parameters
    ----------
    grid
        The ServerApp's grid.
    n_sites
        Sites to wait for before the study starts.
    timeout
        Seconds to wait for the replies of one round; a site that does not answer in time has
        dropped out (:class:`SiteDroppedError`).
    wait
        Seconds to wait for ``n_sites`` sites to connect.
    """

    def __init__(self, grid, n_sites: int, *, timeout: float = 120.0, wait: float = 120.0):
        self.grid = grid
        self.timeout = timeout
        self.audit = AuditLog()
        deadline = time.monotonic() + wait
        nodes: list[int] = []
        while time.monotonic() < deadline:
            nodes = list(grid.get_node_ids())
            if len(nodes) >= n_sites:
                break
            time.sleep(0.5)
        if len(nodes) < n_sites:
            raise FederatedError(
                f"only {len(nodes)} of {n_sites} sites connected within {wait:.0f} s",
                fix="start every site (radiopredict federated site ...) and check the address",
            )
        # who is who: each node answers with its site name
        replies = self._send({n: ("whoami", {}, {}) for n in nodes})
        self.node_of: dict[str, int] = {}
        for node, (_arrays, config) in replies.items():
            name = config.get("site")
            if name in self.node_of:
                raise FederatedError(
                    f"two sites are named {name!r}", fix="give every site a unique site-name"
                )
            self.node_of[name] = node
        missing = [n for n in nodes if n not in replies]
        if missing:
            raise FederatedError(f"{len(missing)} site(s) did not say who they are")

    @property
    def site_names(self) -> list[str]:
        """Names of the sites still in the study."""
        return sorted(self.node_of)

    def drop(self, names: Sequence[str]) -> None:
        """Remove sites from the study."""
        for n in names:
            self.node_of.pop(n, None)

    def _send(self, jobs: dict[int, tuple[str, dict, dict]]) -> dict[int, tuple[dict, dict]]:
        messages = []
        for node, (kind, arrays, config) in jobs.items():
            content = encode(arrays, {**config, "kind": kind, "round": self.audit.round})
            messages.append(
                flwr_app.Message(
                    content, dst_node_id=node, message_type=MESSAGE_TYPE, group_id=str(kind)
                )
            )
        out = {}
        for reply in self.grid.send_and_receive(messages, timeout=self.timeout):
            if reply.has_error():
                continue  # a crashed site: treated as a dropout by the caller
            out[reply.metadata.src_node_id] = decode(reply.content)
        return out

    def ask(self, request: Request) -> dict[str, dict[str, np.ndarray]]:
        """Send one request to its sites and return their checked replies."""
        self.audit.round += 1
        targets = request.sites if request.sites is not None else tuple(self.site_names)
        unknown = [s for s in targets if s not in self.node_of]
        if unknown:
            raise SiteDroppedError(f"site(s) {unknown} are no longer in the study", sites=unknown)
        arrays = {k: np.asarray(v) for k, v in request.arrays.items()}
        for s in targets:
            self.audit.record("server->site", s, request.kind, arrays)
        raw = self._send(
            {self.node_of[s]: (request.kind, arrays, dict(request.config)) for s in targets}
        )
        name_of = {v: k for k, v in self.node_of.items()}
        replies: dict[str, dict[str, np.ndarray]] = {}
        for node, (rarr, rconf) in raw.items():
            site = name_of[node]
            if "refused" in rconf:
                raise SiteRefusedError(rconf["refused"], site=site, fix=rconf.get("fix"))
            if "error" in rconf:
                raise FederatedError(
                    f"site {site!r} failed step {request.kind!r}: {rconf['error']}"
                )
            self.audit.record("site->server", site, request.kind, rarr)
            check_reply(site, request.kind, rarr)
            replies[site] = rarr
        missing = [s for s in targets if s not in replies]
        if missing:
            raise SiteDroppedError(
                f"site(s) {missing} did not answer step {request.kind!r} (round "
                f"{self.audit.round}) within {self.timeout:g} s",
                sites=missing,
                fix="restart the site, or set on_dropout='continue' to finish without it",
            )
        return replies

    def run(self, step) -> Any:
        """Drive a server step to its end."""
        return drive(step, self.ask)


server_app = flwr_server.ServerApp()


@server_app.main()
def _server_main(grid, context) -> None:
    from radiopredict.federated.outputs import write_outputs
    from radiopredict.federated.study import FederatedSettings, run_study

    cfg = context.run_config
    out = Path(str(cfg["out"]))
    out.mkdir(parents=True, exist_ok=True)
    settings = FederatedSettings(**json.loads(_unb64(str(cfg["settings"]))))
    status = {"ok": False}
    runner = None
    try:
        runner = FlowerRunner(
            grid, int(cfg["n-sites"]), timeout=float(cfg["timeout"]), wait=float(cfg["wait"])
        )
        result = run_study(runner, settings)
        write_outputs(out, result, runner.audit)
        status = {"ok": True, "sites": result.sites, "dropped": result.dropped}
    except Exception as exc:  # recorded for the caller (the CLI), then re-raised
        status = {"ok": False, "error": str(exc), "type": type(exc).__name__}
        if isinstance(exc, SiteRefusedError):
            status["site"] = exc.site
        if isinstance(exc, SiteDroppedError):
            status["sites"] = exc.sites
        raise
    finally:
        if runner is not None:
            runner.audit.to_frame().to_csv(out / "audit.csv", index=False)
        (out / "status.json").write_text(json.dumps(status, indent=2))


# --------------------------------------------------------------------------- site side

client_app = flwr_client.ClientApp()
_SITE_CACHE: dict[tuple, SiteData] = {}


def _site_from_node_config(cfg) -> SiteData:
    key = (str(cfg["site-csv"]), str(cfg.get("site-name", "")), str(cfg.get("settings", "")))
    if key not in _SITE_CACHE:
        _SITE_CACHE[key] = SiteData.from_csv(key[0], name=key[1] or None, settings=key[2] or None)
    return _SITE_CACHE[key]


@client_app.query()
def _site_query(msg, context):
    arrays, config = decode(msg.content)
    cfg = context.node_config
    kind = config.pop("kind")
    drop_at = int(cfg.get("drop-at-round", 0) or 0)
    if drop_at and int(config.get("round", 0)) >= drop_at:
        os._exit(3)  # simulate a site that goes away mid-study (tests)
    try:
        site = _site_from_node_config(cfg)
        if kind == "whoami":
            return flwr_app.Message(encode({}, {"site": site.name}), reply_to=msg)
        reply = run_site_step(site, Request(kind, arrays, config))
        return flwr_app.Message(encode(reply, {}), reply_to=msg)
    except SiteRefusedError as exc:
        body = {"refused": exc.problem.split(": ", 1)[-1], "fix": exc.fix}
        return flwr_app.Message(encode({}, body), reply_to=msg)
    except Exception as exc:
        return flwr_app.Message(encode({}, {"error": f"{type(exc).__name__}: {exc}"}), reply_to=msg)


# --------------------------------------------------------------------------- processes


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    import base64

    return base64.urlsafe_b64decode(text.encode()).decode() if text else "{}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise FederatedError(
            f"the Flower command {name!r} is not installed",
            fix="pip install 'radiopredict[federated]'",
        )
    return found


APP_PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "radiopredict-federated"
version = "1.0.0"
description = "radiopredict federated study"
license = "BSD-3-Clause"
dependencies = []

[tool.flwr.app]
publisher = "radiopredict"

[tool.flwr.app.components]
serverapp = "radiopredict.federated.flower:server_app"
clientapp = "radiopredict.federated.flower:client_app"

[tool.flwr.app.config]
out = "out"
settings = ""
n-sites = 3
timeout = 120.0
wait = 120.0
"""


class Deployment:
    """Flower's deployment processes on this machine: a SuperLink, SuperNodes, ``flwr run``.

    Use as a context manager; every process it started is stopped on exit (SIGTERM, then
    SIGKILL after ``grace`` seconds). Logs go to ``workdir/logs``.

    Parameters
    ----------
    workdir
        Folder for the app, Flower's home and the logs.
    port
        SuperLink port (a free one by default).
    """

    def __init__(self, workdir: str | Path, *, port: int | None = None, grace: float = 10.0):
        self.workdir = Path(workdir).resolve()
        self.port = port or _free_port()
        self.grace = grace
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.logs = self.workdir / "logs"
        self.home = self.workdir / "flwr_home"
        self.app = self.workdir / "app"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["FLWR_HOME"] = str(self.home)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
        env["PYTHONUNBUFFERED"] = "1"
        # Flower starts its own helpers (flower-superexec, flwr-serverapp) from PATH
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def __enter__(self) -> Deployment:
        for d in (self.logs, self.home, self.app):
            d.mkdir(parents=True, exist_ok=True)
        (self.app / "pyproject.toml").write_text(APP_PYPROJECT)
        # stop the processes also when this process is terminated (SIGTERM, e.g. a timeout)
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        (self.home / "config.toml").write_text(
            '[superlink]\ndefault = "study"\n\n[superlink.study]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        old = getattr(self, "_old_sigterm", None)
        if old is not None:
            signal.signal(signal.SIGTERM, old)

    def _on_sigterm(self, signum, frame) -> None:
        self.stop()
        raise SystemExit(128 + signum)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env(),
            cwd=self.workdir,
            start_new_session=True,
        )
        self.procs.append((name, proc))
        return proc

    def start_superlink(self) -> None:
        """Start the SuperLink and wait until it accepts connections."""
        self._start(
            "superlink",
            [
                _bin("flower-superlink"),
                "--insecure",
                "--port",
                str(self.port),
                "--disable-runtime-dependency-installation",
            ],
        )
        self._wait_port(self.port, 60)

    def start_site(
        self,
        csv: str | Path,
        *,
        name: str,
        settings: str | Path | None = None,
        drop_at_round: int = 0,
    ) -> None:
        """Start one site's SuperNode over its design matrix."""
        cfg = [f'site-csv="{Path(csv).resolve()}"', f'site-name="{name}"']
        if settings:
            cfg.append(f'settings="{Path(settings).resolve()}"')
        if drop_at_round:
            cfg.append(f"drop-at-round={int(drop_at_round)}")
        self._start(
            f"site-{name}",
            [
                _bin("flower-supernode"),
                "--insecure",
                "--superlink",
                f"127.0.0.1:{self.port}",
                "--port",
                str(_free_port()),
                "--node-config",
                " ".join(cfg),
            ],
        )

    def run_study(
        self,
        out: str | Path,
        settings: dict,
        n_sites: int,
        *,
        timeout: float = 120.0,
        wait: float = 120.0,
        limit: float = 900.0,
    ) -> dict:
        """Submit the study (``flwr run --stream``), wait for it, return ``status.json``."""
        out = Path(out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        status = out / "status.json"
        if status.exists():
            status.unlink()
        overrides = " ".join(
            [
                f'out="{out}"',
                f'settings="{_b64(json.dumps(settings))}"',
                f"n-sites={int(n_sites)}",
                f"timeout={float(timeout)}",
                f"wait={float(wait)}",
            ]
        )
        with open(self.logs / "flwr-run.log", "w") as log:
            proc = subprocess.run(
                [
                    _bin("flwr"),
                    "run",
                    str(self.app),
                    "study",
                    "--stream",
                    "--run-config",
                    overrides,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.workdir,
                timeout=limit,
            )
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not status.exists():
            tail = (self.logs / "flwr-run.log").read_text()[-2000:]
            raise FederatedError(
                f"the Flower run ended (exit {proc.returncode}) without a status file; log:\n"
                f"{tail}",
                fix=f"see the logs in {self.logs}",
            )
        return json.loads(status.read_text())

    @staticmethod
    def _wait_port(port: int, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise FederatedError(f"the SuperLink did not open port {port} within {limit:g} s")

    def stop(self) -> None:
        """Stop every process this deployment started."""
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.grace
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        self.procs.clear()


def simulate(
    csvs: Sequence[str | Path],
    out: str | Path,
    settings: dict | None = None,
    *,
    names: Sequence[str] | None = None,
    workdir: str | Path | None = None,
    timeout: float = 120.0,
    drop_at_round: dict[str, int] | None = None,
) -> dict:
    """Run a study over Flower on this machine: one SuperLink, one SuperNode per CSV."""
    names = list(names) if names else [Path(c).stem for c in csvs]
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="radiopredict-flower-")
        workdir = tmp
    try:
        with Deployment(workdir) as dep:
            dep.start_superlink()
            for csv, name in zip(csvs, names):
                dep.start_site(csv, name=name, drop_at_round=(drop_at_round or {}).get(name, 0))
            return dep.run_study(out, settings or {}, len(csvs), timeout=timeout)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
