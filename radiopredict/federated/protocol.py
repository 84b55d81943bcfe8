"""The federated protocol: requests, site data, site-step registry, checks, audit log, runners.

Every algorithm is written twice, as two pure functions:

* a **site step** ``f(site, arrays, config) -> dict of arrays``: reads the site's own rows and
  returns aggregates only (sums, counts, gradients, Hessians); it is registered under a *kind*
  with :func:`site_step`;
* a **server step**, a generator that ``yield``\\ s :class:`Request` objects and receives, for
  each, the replies of the sites (``{site name: {array name: ndarray}}``); it returns the
  fitted result.

A *runner* carries the requests to the sites and the replies back. :class:`LocalRunner` calls the
site steps in this process (unit tests, the pooled comparison); the Flower runner in
:mod:`radiopredict.federated.flower` carries the same requests as Flower ``Message``\\ s between a
``ServerApp`` and one ``ClientApp`` per site. Both go through :func:`check_reply` (NaN, shapes)
and write every message into an :class:`AuditLog` (kind, array names, shapes and byte sizes, never
values).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import ConfigError, RadiopredictError

__all__ = [
    "FederatedError",
    "SiteRefusedError",
    "SiteDroppedError",
    "Request",
    "SiteData",
    "site_step",
    "run_site_step",
    "check_reply",
    "AuditLog",
    "LocalRunner",
    "ServerStep",
    "total",
    "settings_hash",
]

#: A server step: yields requests, receives ``{site: {name: array}}``, returns its result.
ServerStep = Generator["Request", "dict[str, dict[str, np.ndarray]]", Any]


class FederatedError(RadiopredictError, ValueError):
    """A federated study cannot go on (bad settings, no site left, a step failed)."""


class SiteRefusedError(FederatedError):
    """A site is refused: other features, another settings hash, too few events, NaN sent.

    Attributes
    ----------
    site
        Name of the refused site.
    """

    def __init__(self, problem: str, *, site: str, fix: str | None = None, **kwargs) -> None:
        self.site = site
        super().__init__(f"site {site!r}: {problem}", fix=fix, **kwargs)

    def __reduce__(self):
        return (_rebuild_refused, (self.problem, self.site, self.fix))


def _rebuild_refused(problem, site, fix):
    err = SiteRefusedError.__new__(SiteRefusedError)
    FederatedError.__init__(err, problem, fix=fix)
    err.site = site
    return err


class SiteDroppedError(FederatedError):
    """A site did not answer (crashed, timed out, or was stopped) during a round."""

    def __init__(self, problem: str, *, sites: Sequence[str] = (), **kwargs) -> None:
        self.sites = list(sites)
        super().__init__(problem, **kwargs)


@dataclass(frozen=True)
class Request:
    """One message from the server to the sites.

    Attributes
    ----------
    kind
        The registered site step to run (e.g. ``"cox.gradient"``).
    arrays
        Numeric inputs of the step (coefficients, means...), never patient rows.
    config
        Scalars, strings and lists of strings (column names, settings).
    sites
        The sites to ask; None asks every site still in the study.
    """

    kind: str
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    sites: tuple[str, ...] | None = None


@dataclass
class SiteData:
    """One site's local data: never leaves the site.

    Attributes
    ----------
    name
        Site name (unique in the study).
    features
        Feature columns (one row per patient), numeric; NaN marks a missing value.
    event, time
        Survival outcome per row (optional when only a response model is fitted).
    response
        Binary response per row (optional).
    batch
        Scanner / protocol label per row for ComBat; defaults to the site name.
    settings_hash
        Hash of the feature settings the site computed its features with
        (:func:`settings_hash`); sites with another hash are refused.
    """

    name: str
    features: pd.DataFrame
    event: np.ndarray | None = None
    time: np.ndarray | None = None
    response: np.ndarray | None = None
    batch: np.ndarray | None = None
    settings_hash: str = ""

    def __post_init__(self) -> None:
        self.features = self.features.reset_index(drop=True)
        self.features.columns = [str(c) for c in self.features.columns]
        n = len(self.features)
        if self.batch is None:
            self.batch = np.full(n, self.name, dtype=object)
        self.batch = np.asarray(self.batch).astype(str)
        for name in ("event", "time", "response"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v)
                if v.shape != (n,):
                    raise ConfigError(
                        f"site {self.name!r}: {name} has {v.shape[0]} values for {n} rows",
                        fix="give one outcome per patient row",
                    )
                setattr(self, name, v.astype(bool if name == "event" else float))

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        settings: str | Path | None = None,
        id_col: str = "patient_id",
        time_col: str = "time",
        event_col: str = "event",
        response_col: str = "response",
        batch_col: str = "batch",
    ) -> SiteData:
        """Read a site's design matrix: ``patient_id``, outcome columns, ``batch`` and features.

        Every other column is a feature. ``settings`` (a feature-settings file) is hashed into
        ``settings_hash``; without it the hash of the empty settings is used.
        """
        from radiopredict.errors import InputFileNotFoundError

        path = Path(path)
        if not path.is_file():
            raise InputFileNotFoundError(
                "the site table does not exist", path=path, fix="pass the site's design-matrix CSV"
            )
        df = pd.read_csv(path)
        reserved = [id_col, time_col, event_col, response_col, batch_col]
        feats = df.drop(columns=[c for c in reserved if c in df.columns])
        bad = [c for c, dt in feats.dtypes.items() if not pd.api.types.is_numeric_dtype(dt)]
        if bad:
            raise ConfigError(
                f"non-numeric feature column(s) {bad[:10]}",
                path=path,
                fix="encode categorical variables as numbers before the federated study",
            )
        text = Path(settings).read_text() if settings is not None else ""
        return cls(
            name=name or path.stem,
            features=feats.astype(float),
            event=df[event_col].to_numpy() if event_col in df.columns else None,
            time=df[time_col].to_numpy() if time_col in df.columns else None,
            response=df[response_col].to_numpy() if response_col in df.columns else None,
            batch=df[batch_col].to_numpy() if batch_col in df.columns else None,
            settings_hash=settings_hash(text),
        )


def settings_hash(text: str | Mapping) -> str:
    """SHA-256 (first 16 hex digits) of feature settings (YAML text or a dict)."""
    if not isinstance(text, str):
        text = json.dumps(text, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- site steps

_SITE_STEPS: dict[str, Callable[[SiteData, dict, dict], dict]] = {}


def site_step(kind: str) -> Callable:
    """Register a site step under ``kind`` (decorator)."""

    def register(fn):
        _SITE_STEPS[kind] = fn
        return fn

    return register


def run_site_step(site: SiteData, request: Request) -> dict[str, np.ndarray]:
    """Run the site step named by ``request.kind`` on the site's data; returns aggregates."""
    # importing the algorithm modules registers their site steps
    from radiopredict.federated import combat, cox, logistic, stats, validation  # noqa: F401

    try:
        fn = _SITE_STEPS[request.kind]
    except KeyError:
        raise FederatedError(
            f"unknown federated step {request.kind!r} (known: {sorted(_SITE_STEPS)})",
            fix="use the same radiopredict version on the server and every site",
        ) from None
    out = fn(site, {k: np.asarray(v) for k, v in request.arrays.items()}, dict(request.config))
    return {k: np.ascontiguousarray(np.asarray(v, dtype=float)) for k, v in out.items()}


def check_reply(site: str, kind: str, reply: Mapping[str, np.ndarray]) -> None:
    """Refuse a reply with NaN or infinite values, naming the site, the step and the arrays."""
    bad = [k for k, v in reply.items() if not np.all(np.isfinite(np.asarray(v, dtype=float)))]
    if bad:
        raise SiteRefusedError(
            f"sent NaN or infinite values in {bad} of step {kind!r}",
            site=site,
            fix="check the site's feature table for missing or infinite values (they must be "
            "imputed before the study) and recompute its features",
        )


def total(replies: Mapping[str, Mapping[str, np.ndarray]], name: str) -> np.ndarray:
    """Sum of one array over the sites' replies (the only aggregation the server needs)."""
    arrays = [np.asarray(r[name], dtype=float) for r in replies.values()]
    if not arrays:
        raise FederatedError("no site replied", fix="check that the sites are running")
    return np.sum(arrays, axis=0)


# --------------------------------------------------------------------------- audit


class AuditLog:
    """Every message of a study: round, direction, site, kind, array names, shapes, bytes.

    Values are never recorded. ``to_frame()`` gives one row per array per message.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.round = 0

    def record(
        self, direction: str, site: str, kind: str, arrays: Mapping[str, np.ndarray]
    ) -> None:
        """Add one message (``direction`` is ``"server->site"`` or ``"site->server"``)."""
        t = time.time()
        if not arrays:
            self.rows.append(
                {
                    "round": self.round,
                    "direction": direction,
                    "site": site,
                    "kind": kind,
                    "array": "",
                    "shape": "()",
                    "bytes": 0,
                    "unix_time": t,
                }
            )
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            self.rows.append(
                {
                    "round": self.round,
                    "direction": direction,
                    "site": site,
                    "kind": kind,
                    "array": name,
                    "shape": str(tuple(arr.shape)),
                    "bytes": int(arr.nbytes),
                    "unix_time": t,
                }
            )

    def to_frame(self) -> pd.DataFrame:
        """The log as a table (one row per array of each message)."""
        cols = ["round", "direction", "site", "kind", "array", "shape", "bytes", "unix_time"]
        return pd.DataFrame(self.rows, columns=cols)

    def bytes_per_round(self) -> pd.DataFrame:
        """Bytes sent and received per round."""
        df = self.to_frame()
        if df.empty:
            return pd.DataFrame(columns=["round", "kind", "server->site", "site->server"])
        out = df.pivot_table(
            index=["round", "kind"], columns="direction", values="bytes", aggfunc="sum"
        )
        return out.fillna(0).astype(int).reset_index()


class LocalRunner:
    """Carry requests to in-process sites (tests, pooled comparison, benchmarks of the maths).

    Parameters
    ----------
    sites
        The sites' data.
    audit
        Where to record messages (a new :class:`AuditLog` by default).
    """

    def __init__(self, sites: Sequence[SiteData], audit: AuditLog | None = None) -> None:
        names = [s.name for s in sites]
        if len(set(names)) != len(names):
            raise ConfigError(f"site names must be unique, got {names}", fix="rename the sites")
        self.sites = {s.name: s for s in sites}
        self.audit = audit or AuditLog()

    @property
    def site_names(self) -> list[str]:
        """Names of the sites still in the study."""
        return list(self.sites)

    def drop(self, names: Sequence[str]) -> None:
        """Remove sites from the study."""
        for n in names:
            self.sites.pop(n, None)

    def ask(self, request: Request) -> dict[str, dict[str, np.ndarray]]:
        """Send one request to its sites and return their checked replies."""
        self.audit.round += 1
        targets = request.sites if request.sites is not None else tuple(self.sites)
        replies = {}
        for name in targets:
            self.audit.record("server->site", name, request.kind, request.arrays)
            reply = run_site_step(self.sites[name], request)
            self.audit.record("site->server", name, request.kind, reply)
            check_reply(name, request.kind, reply)
            replies[name] = reply
        return replies

    def run(self, step: ServerStep) -> Any:
        """Drive a server step to its end and return its result."""
        return drive(step, self.ask)


def drive(step: ServerStep, ask: Callable[[Request], dict]) -> Any:
    """Run a server-step generator, answering each request with ``ask(request)``."""
    try:
        request = next(step)
        while True:
            request = step.send(ask(request))
    except StopIteration as stop:
        return stop.value


# --------------------------------------------------------------------------- lockstep


def parallel(*steps: ServerStep) -> ServerStep:
    """Run independent server steps in lockstep: each round carries one request of every step
    still running, in one message per site (kind ``"multi"``), so a deployment with a slow
    round trip needs as many rounds as the longest step, not their sum.

    Returns the steps' results in order.
    """
    results: list[Any] = [None] * len(steps)
    pending: dict[int, Request] = {}
    for i, st in enumerate(steps):
        try:
            pending[i] = next(st)
        except StopIteration as stop:
            results[i] = stop.value
    while pending:
        if len(pending) == 1:
            ((i, req),) = pending.items()
            split = {i: (yield req)}
        else:
            replies = yield _merge(pending)
            split = _split(pending, replies)
        new: dict[int, Request] = {}
        for i, rep in split.items():
            try:
                new[i] = steps[i].send(rep)
            except StopIteration as stop:
                results[i] = stop.value
        pending = new
    return results


def _merge(pending: dict[int, Request]) -> Request:
    arrays: dict[str, np.ndarray] = {}
    parts = []
    union: set[str] | None = set()
    for i, req in pending.items():
        for k, v in req.arrays.items():
            arrays[f"{i}|{k}"] = v
        parts.append(
            {
                "i": i,
                "kind": req.kind,
                "config": dict(req.config),
                "sites": None if req.sites is None else list(req.sites),
            }
        )
        if req.sites is None or union is None:
            union = None
        else:
            union |= set(req.sites)
    return Request(
        "multi", arrays, {"parts": parts}, None if union is None else tuple(sorted(union))
    )


def _split(pending: dict[int, Request], replies: dict) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for i, req in pending.items():
        targets = req.sites if req.sites is not None else tuple(replies)
        prefix = f"{i}|"
        out[i] = {
            s: {k[len(prefix) :]: v for k, v in replies[s].items() if k.startswith(prefix)}
            for s in targets
        }
    return out


@site_step("multi")
def _multi_site(site: SiteData, arrays: dict, config: dict) -> dict:
    out: dict[str, np.ndarray] = {}
    for part in config["parts"]:
        if part["sites"] is not None and site.name not in part["sites"]:
            continue
        i = part["i"]
        prefix = f"{i}|"
        sub = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        reply = run_site_step(site, Request(part["kind"], sub, part["config"]))
        out.update({f"{i}|{k}": v for k, v in reply.items()})
    return out
