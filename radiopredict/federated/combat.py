"""Federated ComBat (dComBat-style): the location / scale model from per-batch sums.

The batch-only design of :class:`radiopredict.harmonize.ComBat` needs, per batch and feature,
the count and sum (batch means :math:`\\hat B`), then the residual sum of squares
(:math:`\\hat\\sigma^2`), then the sums of the standardised values :math:`z` (:math:`\\hat\\gamma`)
and their squared deviations :math:`S_{ig} = \\sum_j (z_{ijg} - \\hat\\gamma_{ig})^2`
(:math:`\\hat\\delta^2`). The empirical-Bayes fixed point only needs
:math:`\\sum_j (z_{ijg} - \\gamma)^2 = S_{ig} + n_i(\\hat\\gamma_{ig} - \\gamma)^2`, so the server
runs it on these aggregates and the result is the pooled ``ComBat`` fit (tested to 1e-6). Batches
may span sites: every array is summed over sites.
"""

from __future__ import annotations

import numpy as np

from radiopredict.errors import FeatureTableError
from radiopredict.federated._prep import Prep
from radiopredict.federated.protocol import Request, ServerStep, SiteData, site_step, total
from radiopredict.harmonize import ComBat

__all__ = ["fit_combat"]


def _batch_index(site: SiteData, batches: list[str]) -> np.ndarray:
    return np.searchsorted(np.asarray(batches), site.batch)


def _onehot_sum(idx: np.ndarray, values: np.ndarray, nb: int) -> np.ndarray:
    out = np.zeros((nb, values.shape[1]))
    np.add.at(out, idx, values)
    return out


@site_step("combat.sums")
def _sums_site(site: SiteData, arrays: dict, config: dict) -> dict:
    prep = Prep.from_request(arrays, config)
    X = prep.apply(site)
    batches = list(config["batches"])
    idx = _batch_index(site, batches)
    return {
        "count": np.bincount(idx, minlength=len(batches)).astype(float),
        "sum": _onehot_sum(idx, X, len(batches)),
    }


@site_step("combat.residuals")
def _residuals_site(site: SiteData, arrays: dict, config: dict) -> dict:
    X = Prep.from_request(arrays, config).apply(site)
    idx = _batch_index(site, list(config["batches"]))
    return {"ss": ((X - arrays["batch_mean"][idx]) ** 2).sum(axis=0)}


def _z(site, arrays, config):
    X = Prep.from_request(arrays, config).apply(site)
    idx = _batch_index(site, list(config["batches"]))
    return (X - arrays["grand_mean"]) / np.sqrt(arrays["var_pooled"]), idx


@site_step("combat.z_sums")
def _z_sums_site(site: SiteData, arrays: dict, config: dict) -> dict:
    z, idx = _z(site, arrays, config)
    return {"sum": _onehot_sum(idx, z, len(config["batches"]))}


@site_step("combat.z_squares")
def _z_squares_site(site: SiteData, arrays: dict, config: dict) -> dict:
    z, idx = _z(site, arrays, config)
    return {"ss": _onehot_sum(idx, (z - arrays["gamma_hat"][idx]) ** 2, len(config["batches"]))}


def fit_combat(
    prep: Prep,
    batches: list[str],
    *,
    batch_col: str = "batch",
    parametric: bool = True,
    eb: bool = True,
    mean_only: bool = False,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> ServerStep:
    """Server step: fit ComBat on the sites' ``prep`` output; returns a fitted
    :class:`~radiopredict.harmonize.ComBat` (batch-only design) ready to ``transform``.

    The fitted object expects columns ``prep.columns + [batch_col]``.
    """
    arrays, config = prep.to_request()
    config = {**config, "batches": list(batches)}
    nb, p = len(batches), len(prep.columns)
    replies = yield Request("combat.sums", arrays, config)
    counts, sums = total(replies, "count"), total(replies, "sum")
    small = [b for b, c in zip(batches, counts) if c < 2]
    if small:
        raise FeatureTableError(
            f"federated ComBat: batch(es) {small} have fewer than 2 patients",
            fix="merge small batches",
        )
    n = counts.sum()
    batch_mean = sums / counts[:, None]
    grand_mean = (counts / n) @ batch_mean
    replies = yield Request("combat.residuals", {**arrays, "batch_mean": batch_mean}, config)
    var_pooled = total(replies, "ss") / n
    zero = var_pooled <= 0
    if zero.any():
        raise FeatureTableError(
            "federated ComBat: column(s) with zero residual variance: "
            f"{[c for c, z in zip(prep.columns, zero) if z][:10]}",
            fix="remove near-constant features first (the variance filter)",
        )
    zarr = {**arrays, "grand_mean": grand_mean, "var_pooled": var_pooled}
    replies = yield Request("combat.z_sums", zarr, config)
    gamma_hat = total(replies, "sum") / counts[:, None]
    if mean_only:
        delta_hat = np.ones((nb, p))
        ss = None
    else:
        replies = yield Request("combat.z_squares", {**zarr, "gamma_hat": gamma_hat}, config)
        ss = total(replies, "ss")
        delta_hat = ss / (counts[:, None] - 1)
        const = delta_hat <= 0
        if const.any():
            bi, fi = np.nonzero(const)
            pairs = [f"{prep.columns[f]} in batch {batches[b]!r}" for b, f in zip(bi, fi)][:10]
            raise FeatureTableError(
                f"federated ComBat: feature(s) constant within a batch: {pairs}",
                fix="remove these features (the variance filter) or merge the batch",
            )
    model = ComBat(
        batch_col=batch_col,
        columns=list(prep.columns),
        parametric=parametric,
        eb=eb,
        mean_only=mean_only,
        tol=tol,
        max_iter=max_iter,
    )
    model.n_iter_ = []
    if not eb:
        gamma_star, delta_star = gamma_hat.copy(), delta_hat.copy()
    elif parametric:
        gamma_star, delta_star = model._parametric(gamma_hat, delta_hat, ss, counts, batches)
    else:
        gamma_star, delta_star = _nonparametric(gamma_hat, delta_hat, ss, counts)
    names = [*prep.columns, batch_col]
    model.feature_names_in_ = np.asarray(names, dtype=object)
    model.n_features_in_ = len(names)
    model.covariate_levels_ = {}
    model.skipped_ = []
    model.batches_ = np.asarray(batches)
    model.columns_ = list(prep.columns)
    model.grand_mean_ = grand_mean
    model.var_pooled_ = var_pooled
    model.beta_ = np.zeros((0, p))
    model.gamma_hat_ = gamma_hat
    model.delta_hat_ = delta_hat
    model.gamma_star_ = gamma_star
    model.delta_star_ = delta_star
    return model


def _nonparametric(gamma_hat, delta_hat, ss, counts):
    """The non-parametric EB of ComBat from the per-batch sums of z and z**2."""
    nb, p = gamma_hat.shape
    gamma_star = np.empty_like(gamma_hat)
    delta_star = np.empty_like(delta_hat)
    for i in range(nb):
        n = counts[i]
        g, d = gamma_hat[i], delta_hat[i]
        sum_x = n * g
        sum_x2 = ss[i] + n * g**2
        sum2 = sum_x2[:, None] - 2 * sum_x[:, None] * g[None, :] + n * g[None, :] ** 2
        loglh = -0.5 * n * np.log(2 * np.pi * d)[None, :] - sum2 / (2 * d[None, :])
        np.fill_diagonal(loglh, -np.inf)
        w = np.exp(loglh - loglh.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        gamma_star[i] = w @ g
        delta_star[i] = w @ d
    return gamma_star, delta_star
