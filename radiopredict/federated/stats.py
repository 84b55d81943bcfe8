"""Federated schema check and column statistics (imputation means, variance filter, scaling).

Site steps return counts and sums per column; the server divides. Two passes give the exact
variance (the second sums squared deviations from the federated mean), so the results equal
``SimpleImputer(strategy="mean")``, :class:`radiopredict.select.VarianceFilter` (variance after
imputation, ddof 0) and ``StandardScaler`` on the pooled rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radiopredict.federated._prep import Prep
from radiopredict.federated.protocol import (
    Request,
    ServerStep,
    SiteData,
    SiteRefusedError,
    site_step,
    total,
)

__all__ = ["Schema", "check_schema", "Moments", "moments", "text_array", "array_text"]


def text_array(text: str) -> np.ndarray:
    """Encode a string as a uint8 array (strings travel as arrays in replies)."""
    return np.frombuffer(text.encode(), dtype=np.uint8).copy()


def array_text(arr: np.ndarray) -> str:
    """Inverse of :func:`text_array`."""
    return np.asarray(arr).astype(np.uint8).tobytes().decode()


@site_step("schema")
def _schema_site(site: SiteData, arrays: dict, config: dict) -> dict:
    n_events = -1.0 if site.event is None else float(np.sum(site.event))
    n_pos = -1.0 if site.response is None else float(np.sum(site.response == 1))
    batches, counts = np.unique(site.batch, return_counts=True)
    meta = {
        "columns": list(site.features.columns),
        "settings_hash": site.settings_hash,
        "batches": [str(b) for b in batches],
    }
    return {
        "n": np.array([len(site.features)], dtype=float),
        "n_events": np.array([n_events]),
        "n_positive": np.array([n_pos]),
        "batch_counts": counts.astype(float),
        "meta": text_array(json.dumps(meta)),
    }


@dataclass(frozen=True)
class Schema:
    """What the sites share before any statistic: sizes, columns, batches.

    Attributes
    ----------
    columns
        The agreed feature columns.
    settings_hash
        The agreed feature-settings hash.
    n, n_events, n_positive
        Patients, events and responders per site (-1 when the site has no such outcome).
    batches
        Sorted batch labels of all sites, with ``batch_counts`` (total patients per batch).
    """

    columns: list[str]
    settings_hash: str
    n: dict[str, int]
    n_events: dict[str, int]
    n_positive: dict[str, int]
    batches: list[str]
    batch_counts: list[int]
    site_batches: dict[str, list[str]]


def check_schema(
    *,
    columns: Sequence[str] | None = None,
    settings_hash: str | None = None,
    min_events: int = 0,
    min_positive: int = 0,
    min_rows: int = 2,
) -> ServerStep:
    """Server step: every site must share the columns and the settings hash, and have enough
    events / responders; else :class:`SiteRefusedError` names the site.

    Without ``columns`` / ``settings_hash`` the first site's (in name order) are the reference.
    """
    replies = yield Request("schema")
    metas = {s: json.loads(array_text(r["meta"])) for s, r in sorted(replies.items())}
    first = next(iter(metas))
    ref_cols = list(columns) if columns is not None else metas[first]["columns"]
    ref_hash = settings_hash if settings_hash is not None else metas[first]["settings_hash"]
    for s, m in metas.items():
        if m["settings_hash"] != ref_hash:
            raise SiteRefusedError(
                f"computed its features with other settings (settings hash {m['settings_hash']} "
                f"instead of {ref_hash})",
                site=s,
                fix="recompute the site's features with the study's shared settings file",
            )
        missing = [c for c in ref_cols if c not in m["columns"]]
        extra = [c for c in m["columns"] if c not in ref_cols]
        if missing or (columns is None and extra):
            raise SiteRefusedError(
                f"has other features: missing {missing[:10]}, extra {extra[:10]}",
                site=s,
                fix="compute the same feature columns at every site (same settings, same "
                "clinical variables)",
            )
        n = int(replies[s]["n"][0])
        if n < min_rows:
            raise SiteRefusedError(
                f"has {n} patient(s); at least {min_rows} are needed",
                site=s,
                fix="leave the site out of the study",
            )
        ne = int(replies[s]["n_events"][0])
        if min_events and ne < min_events:
            raise SiteRefusedError(
                f"has too few events for the survival model ({max(ne, 0)} < {min_events})"
                if ne >= 0
                else "has no survival outcome (time, event)",
                site=s,
                fix="leave the site out, pool it with another site, or lower min_events",
            )
        npos = int(replies[s]["n_positive"][0])
        if min_positive and (npos < min_positive or n - npos < min_positive):
            raise SiteRefusedError(
                f"has too few responders or non-responders ({max(npos, 0)} of {n}; at least "
                f"{min_positive} of each are needed)",
                site=s,
                fix="leave the site out of the response model or lower min_positive",
            )
    counts: dict[str, int] = {}
    for s, m in metas.items():
        for b, c in zip(m["batches"], replies[s]["batch_counts"]):
            counts[b] = counts.get(b, 0) + int(c)
    batches = sorted(counts)
    return Schema(
        columns=ref_cols,
        settings_hash=ref_hash,
        n={s: int(r["n"][0]) for s, r in replies.items()},
        n_events={s: int(r["n_events"][0]) for s, r in replies.items()},
        n_positive={s: int(r["n_positive"][0]) for s, r in replies.items()},
        batches=batches,
        batch_counts=[counts[b] for b in batches],
        site_batches={s: m["batches"] for s, m in metas.items()},
    )


@site_step("stats.sums")
def _sums_site(site: SiteData, arrays: dict, config: dict) -> dict:
    X = Prep.from_request(arrays, config).apply(site, allow_missing=True)
    ok = ~np.isnan(X)
    return {
        "count": ok.sum(axis=0).astype(float),
        "sum": np.where(ok, X, 0.0).sum(axis=0),
        "n": np.array([X.shape[0]], dtype=float),
    }


@site_step("stats.squares")
def _squares_site(site: SiteData, arrays: dict, config: dict) -> dict:
    X = Prep.from_request(arrays, config).apply(site, allow_missing=True)
    d = X - arrays["mean"][None, :]
    return {"ss": np.where(np.isnan(d), 0.0, d**2).sum(axis=0)}


@dataclass(frozen=True)
class Moments:
    """Federated column moments.

    Attributes
    ----------
    n
        Total rows.
    count
        Non-missing values per column.
    mean
        Mean of the non-missing values (the mean-imputation statistic).
    ss
        Sum of squared deviations from ``mean``.
    """

    n: int
    count: np.ndarray
    mean: np.ndarray
    ss: np.ndarray

    def var(self, ddof: int = 0, *, imputed: bool = True) -> np.ndarray:
        """Variance; ``imputed`` counts the missing values as imputed with the mean."""
        n = self.n if imputed else self.count
        return self.ss / (n - ddof)


def moments(prep: Prep, sites: Sequence[str] | None = None) -> ServerStep:
    """Server step: federated count, mean and squared deviations of ``prep``'s output."""
    arrays, config = prep.to_request()
    sel = None if sites is None else tuple(sites)
    replies = yield Request("stats.sums", arrays, config, sites=sel)
    count, s, n = total(replies, "count"), total(replies, "sum"), int(total(replies, "n")[0])
    mean = np.divide(s, count, out=np.full_like(s, np.nan), where=count > 0)
    empty = [c for c, k in zip(prep.columns, count) if k == 0]
    if empty:
        from radiopredict.federated.protocol import FederatedError

        raise FederatedError(
            f"column(s) {empty[:10]} have no value at any site",
            fix="drop these features from the study",
        )
    replies = yield Request("stats.squares", {**arrays, "mean": mean}, config, sites=sel)
    return Moments(n=n, count=count, mean=mean, ss=total(replies, "ss"))
