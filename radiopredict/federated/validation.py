"""Federated validation from binned counts: Kaplan-Meier, C-index and calibration.

Each site returns, per (time bin, risk bin) cell, its number of events and of censorings, and
per risk bin the sum of predicted survival at the horizon. Before any count leaves a site, the
server coarsens the bins: a site answers ``val.small`` with a yes/no per cell (a non-zero number
of events, or of patients, below ``min_cell``; the censorings of a cell are the difference of the
two and are not checked on their own) and the server merges flagged time bins (then risk bins) with a neighbour until
no site has a small cell; ``val.hist`` itself refuses to send a table with a small cell.

On the final bins the results equal their pooled counterparts on binned data exactly
(:func:`radiopredict.metrics.kaplan_meier` and :func:`radiopredict.metrics.harrell_c` with every
time replaced by its bin and every risk score by its risk bin); the cost of binning against the
exact pooled values is reported by the study (``comparison.csv``).

Time bin :math:`j` is :math:`(e_{j-1}, e_j]` for the inner edges :math:`e`; risk bins likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from radiopredict.federated._prep import Prep
from radiopredict.federated.protocol import (
    FederatedError,
    Request,
    ServerStep,
    SiteData,
    SiteRefusedError,
    site_step,
    total,
)

__all__ = [
    "BinnedValidation",
    "validate_binned",
    "km_from_counts",
    "cindex_from_counts",
    "bin_index",
]


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``j`` for ``edges[j-1] < v <= edges[j]`` (inner edges)."""
    return np.searchsorted(np.asarray(edges, dtype=float), values, side="left")


def _tables(site: SiteData, arrays: dict, config: dict):
    X = Prep.from_request(arrays, config).apply(site)
    risk = X @ arrays["coef"]
    te, re_ = arrays["time_edges"], arrays["risk_edges"]
    T, R = len(te) + 1, len(re_) + 1
    ti = bin_index(site.time, te)
    ri = bin_index(risk, re_)
    ev = np.zeros((T, R))
    ce = np.zeros((T, R))
    np.add.at(ev, (ti[site.event], ri[site.event]), 1.0)
    np.add.at(ce, (ti[~site.event], ri[~site.event]), 1.0)
    return ev, ce, risk, ri, R


def _small(counts: np.ndarray, k: int) -> np.ndarray:
    return (counts > 0) & (counts < k)


@site_step("val.small")
def _small_site(site: SiteData, arrays: dict, config: dict) -> dict:
    ev, ce, *_ = _tables(site, arrays, config)
    k = int(config["min_cell"])
    return {"small": (_small(ev, k) | _small(ev + ce, k)).astype(float)}


@site_step("val.hist")
def _hist_site(site: SiteData, arrays: dict, config: dict) -> dict:
    ev, ce, risk, ri, R = _tables(site, arrays, config)
    k = int(config["min_cell"])
    if (_small(ev, k) | _small(ev + ce, k)).any():
        raise SiteRefusedError(
            f"refuses to send a count table with a cell below {k}",
            site=site.name,
            fix="let the server merge bins (val.small) before asking for counts",
        )
    surv = np.exp(-arrays["h0"][0] * np.exp(risk - arrays["offset"][0]))
    pred = np.bincount(ri, weights=surv, minlength=R)
    sigma = float(config.get("dp_sigma", 0.0))
    if sigma > 0:  # Gaussian mechanism, added at the site before anything leaves it
        import zlib

        seed = zlib.crc32(f"{site.name}:{config.get('dp_seed', 0)}".encode())
        rng = np.random.default_rng(seed)
        ev = ev + rng.normal(0.0, sigma, ev.shape)
        ce = ce + rng.normal(0.0, sigma, ce.shape)
    return {"events": ev, "censored": ce, "predicted_sum": pred}


def km_from_counts(events: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Kaplan-Meier survival at the end of each time bin from per-bin counts."""
    n = (events + censored)[::-1].cumsum()[::-1]
    ratio = np.divide(events, n, out=np.zeros_like(events, dtype=float), where=n > 0)
    return np.cumprod(1.0 - ratio)


def cindex_from_counts(events: np.ndarray, censored: np.ndarray) -> float:
    """Harrell's C from (time bin x risk bin) counts: pairs (event i, j later, or j censored in
    the same time bin), concordant when i's risk bin is higher, half when equal."""
    allc = events + censored
    # later[t, r] = patients in time bins > t with risk bin r
    later = allc[::-1].cumsum(axis=0)[::-1]
    later = np.vstack([later[1:], np.zeros((1, allc.shape[1]))])
    lower_later = np.cumsum(later, axis=1) - later  # risk bins < r
    lower_cens = np.cumsum(censored, axis=1) - censored
    num = events * (lower_later + 0.5 * later + lower_cens + 0.5 * censored)
    den = events * (later.sum(axis=1, keepdims=True) + censored.sum(axis=1, keepdims=True))
    if den.sum() == 0:
        raise FederatedError(
            "no comparable pair of patients: the C-index is undefined",
            fix="validate on sites with events followed by longer survivors",
        )
    return float(num.sum() / den.sum())


@dataclass(frozen=True)
class BinnedValidation:
    """Federated validation results.

    Attributes
    ----------
    time_edges
        Final inner time edges of the Kaplan-Meier table (after small cells were merged).
    cindex_time_edges, risk_edges
        Final inner edges of the (time x risk) table of the C-index and calibration.
    km
        Table ``time`` (bin end), ``survival``, ``n_events``, ``n_censored``.
    cindex
        Harrell's C from the binned counts.
    calibration
        Table per risk group: ``group``, ``n``, ``predicted`` (mean predicted survival at the
        horizon), ``observed`` (binned Kaplan-Meier at the horizon).
    horizon
        The calibration time.
    """

    time_edges: np.ndarray
    cindex_time_edges: np.ndarray
    risk_edges: np.ndarray
    km: pd.DataFrame
    cindex: float
    calibration: pd.DataFrame
    horizon: float


def _merge_flagged(edges: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Remove the edge after the first flagged bin (or before it, for the last bin)."""
    j = int(np.flatnonzero(flagged)[0])
    drop = j if j < len(edges) else j - 1
    return np.delete(edges, drop)


def validate_binned(
    prep: Prep,
    coef: np.ndarray,
    offset: float,
    h0_at_horizon: float,
    horizon: float,
    max_time: float,
    risk_mean: float,
    risk_sd: float,
    *,
    n_time_bins: int = 10,
    n_risk_bins: int = 5,
    min_cell: int = 5,
    dp_sigma: float = 0.0,
    dp_seed: int = 0,
    sites=None,
) -> ServerStep:
    """Server step: KM, C-index and calibration at ``horizon`` from binned counts.

    With ``dp_sigma > 0`` every site adds Gaussian noise of that SD to each count it sends
    (the Gaussian mechanism; one patient changes one cell of each table by 1); the server clips
    the summed counts at 0.
    """
    sel = None if sites is None else tuple(sites)
    arrays, config = prep.to_request()
    config = {**config, "min_cell": int(min_cell)}
    hist_config = {**config, "dp_sigma": float(dp_sigma), "dp_seed": int(dp_seed)}
    te = np.linspace(0, max_time, n_time_bins + 1)[1:-1]
    te = np.unique(np.r_[te, horizon])
    q = np.linspace(0, 1, n_risk_bins + 1)[1:-1]
    re_ = risk_mean + risk_sd * stats.norm.ppf(q) if risk_sd > 0 else np.zeros(0)
    base = {**arrays, "coef": coef}

    def flags(te, re_):
        replies = yield Request(
            "val.small", {**base, "time_edges": te, "risk_edges": re_}, config, sites=sel
        )
        return total(replies, "small") > 0

    # time bins first (one risk bin: the Kaplan-Meier table); keep the horizon as an edge
    while True:
        small = (yield from flags(te, np.zeros(0)))[:, 0]
        if not small.any():
            break
        if len(te) == 0:
            raise FederatedError(
                f"a site has fewer than {min_cell} events or censorings in total",
                fix="lower min_cell or leave the small site out of the validation",
            )
        j = int(np.flatnonzero(small)[0])
        cand = j if j < len(te) else j - 1
        if np.isclose(te[cand], horizon) and len(te) > 1:
            cand = cand - 1 if cand > 0 else cand + 1
        te = np.delete(te, cand)
    # the KM table (one risk bin)
    hist_arrays = {"h0": np.array([h0_at_horizon]), "offset": np.array([offset])}
    replies = yield Request(
        "val.hist",
        {**base, "time_edges": te, "risk_edges": np.zeros(0), **hist_arrays},
        hist_config,
        sites=sel,
    )
    kev = np.clip(total(replies, "events")[:, 0], 0, None)
    kce = np.clip(total(replies, "censored")[:, 0], 0, None)
    km_table = pd.DataFrame(
        {
            "time": np.r_[te, np.inf],
            "survival": km_from_counts(kev, kce),
            "n_events": kev,
            "n_censored": kce,
        }
    )
    # the (time x risk) table of the C-index and calibration: merge the axis with more bins
    ct = te.copy()
    while True:
        small = yield from flags(ct, re_)
        if not small.any():
            break
        rows, cols = small.any(axis=1), small.any(axis=0)
        keep_h = [
            j for j in np.flatnonzero(rows) if not (j < len(ct) and np.isclose(ct[j], horizon))
        ]
        if len(ct) >= len(re_) and len(ct) > 1:
            j = int(keep_h[0]) if keep_h else int(np.flatnonzero(rows)[0])
            cand = j if j < len(ct) else j - 1
            if np.isclose(ct[cand], horizon):
                cand = cand - 1 if cand > 0 else cand + 1
            ct = np.delete(ct, cand)
        elif len(re_):
            re_ = _merge_flagged(re_, cols)
        elif len(ct):
            ct = _merge_flagged(ct, rows)
        else:
            break
    replies = yield Request(
        "val.hist",
        {**base, "time_edges": ct, "risk_edges": re_, **hist_arrays},
        hist_config,
        sites=sel,
    )
    ev = np.clip(total(replies, "events"), 0, None)
    ce = np.clip(total(replies, "censored"), 0, None)
    pred = total(replies, "predicted_sum")
    h_bin = int(np.searchsorted(ct, horizon, side="left"))
    n_group = (ev + ce).sum(axis=0)
    rows = []
    for r in range(ev.shape[1]):
        s = km_from_counts(ev[:, r], ce[:, r])
        rows.append(
            {
                "group": r + 1,
                "n": int(n_group[r]),
                "predicted": float(pred[r] / n_group[r]) if n_group[r] else np.nan,
                "observed": float(s[h_bin]),
            }
        )
    return BinnedValidation(
        time_edges=te,
        cindex_time_edges=ct,
        risk_edges=re_,
        km=km_table,
        cindex=cindex_from_counts(ev, ce),
        calibration=pd.DataFrame(rows),
        horizon=float(horizon),
    )


@site_step("val.risk_moments")
def _risk_moments_site(site: SiteData, arrays: dict, config: dict) -> dict:
    X = Prep.from_request(arrays, config).apply(site)
    r = X @ arrays["coef"]
    return {"n": np.array([float(len(r))]), "sum": np.array([r.sum()]), "ss": np.array([r @ r])}


def risk_moments(prep: Prep, coef: np.ndarray, sites=None) -> ServerStep:
    """Server step: federated mean and SD of the linear predictor (to place risk bins)."""
    arrays, config = prep.to_request()
    sel = None if sites is None else tuple(sites)
    replies = yield Request("val.risk_moments", {**arrays, "coef": coef}, config, sites=sel)
    n, s, ss = (float(total(replies, k)[0]) for k in ("n", "sum", "ss"))
    mean = s / n
    return mean, float(np.sqrt(max(ss / n - mean**2, 0.0)))


@site_step("val.cindex_local")
def _cindex_local_site(site: SiteData, arrays: dict, config: dict) -> dict:
    """Numerator and denominator of Harrell's C within the site (its own pairs)."""
    from radiopredict.metrics import _concordance

    X = Prep.from_request(arrays, config).apply(site)
    risk = X @ arrays["coef"]
    c, n_pairs = _concordance(site.event, site.time, risk, np.ones(len(risk)), 1e-8)
    return {"c": np.array([c]), "pairs": np.array([float(n_pairs)])}
