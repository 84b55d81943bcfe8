"""Federated Cox proportional-hazards model: Newton-Raphson on summed gradients and Hessians.

The server runs the Newton-Raphson iteration of lifelines' ``CoxPHFitter`` (the backend of
:class:`radiopredict.models.CoxPH`): the same step-size rule (``lifelines.utils.StepSizer``), the
same smoothed elastic-net penalty on standardised columns, the same stopping rules; one
federated round per iteration. Only the sums differ in where they are computed.

* **Site-stratified** (one baseline hazard per site): the Efron log-likelihood is a sum over
  strata, so each site returns its own log-likelihood, gradient and Hessian.
* **Unstratified**: the risk set of an event time spans every site, so each site returns, at each
  event time :math:`t_k` of the federation, the risk-set sums
  :math:`\\sum_{T_i \\ge t_k} w_i,\\ \\sum w_i z_i,\\ \\sum w_i z_i z_i^\\top`
  (:math:`w_i = e^{z_i^\\top\\beta}`) and the same sums over its events at :math:`t_k`; the server
  forms Efron's terms. The federation's distinct event times are shared (not who had them, nor
  their covariates): a disclosure the docs name.

Columns are standardised with the federated mean and standard deviation (ddof 1), as lifelines
does; coefficients are returned per unit of the original columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiopredict.federated._prep import Prep
from radiopredict.federated.protocol import (
    FederatedError,
    Request,
    ServerStep,
    SiteData,
    site_step,
    total,
)

__all__ = [
    "CoxFit",
    "fit_cox",
    "efron_terms",
    "combine_efron",
    "unpack_symmetric",
    "breslow_baseline",
]


def _survival(site: SiteData):
    if site.time is None or site.event is None:
        raise FederatedError(
            f"site {site.name!r} has no survival outcome", fix="add time and event columns"
        )
    return site.event.astype(bool), site.time.astype(float)


@site_step("cox.event_times")
def _event_times_site(site: SiteData, arrays: dict, config: dict) -> dict:
    event, time = _survival(site)
    return {"times": np.unique(time[event])}


def efron_terms(Z, event, time, beta, times=None):
    """Efron log-likelihood, gradient and Hessian of rows ``Z`` (one stratum), or, with
    ``times``, the per-event-time sums that add up over sites.

    Returns
    -------
    dict
        ``ll``, ``g``, ``h`` without ``times``; with ``times``: ``r0, r1, r2`` (risk-set sums at
        each time), ``d0, d1, d2`` (the same over the events at that time), ``d`` (number of
        events), ``zsum`` (sum of ``z`` over events) and ``eta`` (sum of the linear predictor
        over events).
    """
    eta = Z @ beta
    w = np.exp(eta)
    own_times = times is None
    if own_times:
        times = np.unique(time[event])
    p = Z.shape[1]
    order = np.argsort(-time, kind="mergesort")  # decreasing time: cumulative = risk set
    t_sorted = time[order]
    wz = w[:, None] * Z
    wzz = w[:, None, None] * (Z[:, :, None] * Z[:, None, :])
    c0 = np.cumsum(w[order])
    c1 = np.cumsum(wz[order], axis=0)
    c2 = np.cumsum(wzz[order], axis=0)
    # number of rows with T >= t_k in decreasing order
    k_at = np.searchsorted(-t_sorted, -times, side="right")
    has = k_at > 0
    ix = np.clip(k_at - 1, 0, None)
    r0 = np.where(has, c0[ix], 0.0)
    r1 = np.where(has[:, None], c1[ix], 0.0)
    r2 = np.where(has[:, None, None], c2[ix], 0.0)
    pos = np.searchsorted(times, time)
    ev = event & (pos < len(times))
    ev &= times[np.clip(pos, 0, len(times) - 1)] == time
    K = len(times)
    d = np.bincount(pos[ev], minlength=K).astype(float)
    d0 = np.bincount(pos[ev], weights=w[ev], minlength=K)
    d1 = np.zeros((K, p))
    np.add.at(d1, pos[ev], wz[ev])
    d2 = np.zeros((K, p, p))
    np.add.at(d2, pos[ev], wzz[ev])
    parts = {
        "r0": r0,
        "r1": r1,
        "r2": r2,
        "d0": d0,
        "d1": d1,
        "d2": d2,
        "d": d,
        "zsum": Z[event].sum(axis=0),
        "eta": np.array([eta[event].sum()]),
    }
    if not own_times:
        iu = np.triu_indices(p)  # the p x p sums are symmetric: send the upper triangle
        parts["r2"], parts["d2"] = r2[:, iu[0], iu[1]], d2[:, iu[0], iu[1]]
        return parts
    ll, g, h = combine_efron(parts)
    return {"ll": np.array([ll]), "g": g, "h": h}


def unpack_symmetric(tri: np.ndarray, p: int) -> np.ndarray:
    """``(K, p (p + 1) / 2)`` upper triangles back to ``(K, p, p)`` symmetric matrices."""
    iu = np.triu_indices(p)
    out = np.zeros((tri.shape[0], p, p))
    out[:, iu[0], iu[1]] = tri
    out[:, iu[1], iu[0]] = tri
    return out


def combine_efron(parts) -> tuple[float, np.ndarray, np.ndarray]:
    """Efron log-likelihood, gradient and Hessian from (summed) per-event-time sums."""
    r0, r1, r2 = parts["r0"], parts["r1"], parts["r2"]
    d0, d1, d2, d = parts["d0"], parts["d1"], parts["d2"], parts["d"]
    p = r1.shape[1]
    ll = float(parts["eta"][0])
    g = np.array(parts["zsum"], dtype=float)
    h = np.zeros((p, p))
    dmax = int(d.max()) if len(d) else 0
    for m in range(dmax):
        sel = d > m
        frac = m / d[sel]
        phi = r0[sel] - frac * d0[sel]
        num1 = r1[sel] - frac[:, None] * d1[sel]
        num2 = r2[sel] - frac[:, None, None] * d2[sel]
        ll -= np.log(phi).sum()
        g -= (num1 / phi[:, None]).sum(axis=0)
        h -= (num2 / phi[:, None, None]).sum(axis=0) - np.einsum(
            "k,ki,kj->ij", 1.0 / phi**2, num1, num1
        )
    return ll, g, h


@site_step("cox.efron")
def _efron_site(site: SiteData, arrays: dict, config: dict) -> dict:
    event, time = _survival(site)
    Z = Prep.from_request(arrays, config).apply(site)
    beta = arrays["beta"]
    if config.get("stratified", False):
        return efron_terms(Z, event, time, beta)
    return efron_terms(Z, event, time, beta, times=arrays["times"])


@dataclass(frozen=True)
class CoxFit:
    """A federated Cox fit.

    Attributes
    ----------
    coef
        Log hazard ratios per unit of the (preprocessed, unstandardised) columns.
    beta
        Coefficients on the standardised columns.
    n_rounds
        Newton-Raphson rounds (one federated message round each).
    converged
        Whether lifelines' stopping rule was met.
    log_likelihood
        Penalised log partial likelihood at the solution.
    mean, scale
        Standardisation used (federated mean and SD, ddof 1).
    times
        Distinct event times of the federation (unstratified fits; empty when stratified).
    """

    coef: np.ndarray
    beta: np.ndarray
    n_rounds: int
    converged: bool
    log_likelihood: float
    mean: np.ndarray
    scale: np.ndarray
    times: np.ndarray


def _penalty(beta, a, n, alpha, l1_ratio):
    """lifelines' smoothed elastic net: value, gradient, Hessian diagonal."""
    soft = (np.logaddexp(0, -a * beta) + np.logaddexp(0, a * beta)) / a
    th = np.tanh(a * beta / 2)
    value = n * alpha * (l1_ratio * soft + 0.5 * (1 - l1_ratio) * beta**2).sum()
    grad = n * alpha * (l1_ratio * th + (1 - l1_ratio) * beta)
    hess = n * alpha * (l1_ratio * (a / 2) * (1 - th**2) + (1 - l1_ratio))
    return value, grad, hess


def fit_cox(
    prep: Prep,
    mean: np.ndarray,
    scale: np.ndarray,
    n: int,
    *,
    alpha: float = 0.0,
    l1_ratio: float = 0.0,
    stratified: bool = False,
    max_steps: int = 500,
    sites=None,
) -> ServerStep:
    """Server step: fit the Cox model on the sites' ``prep`` output standardised by ``mean`` /
    ``scale`` (``n`` = total rows, used by the penalty as in lifelines).

    Returns
    -------
    CoxFit
    """
    from lifelines.utils import StepSizer
    from scipy.linalg import solve

    sel = None if sites is None else tuple(sites)
    std = Prep(prep.columns, prep.impute, prep.batches, prep.combat, mean=mean, scale=scale)
    arrays, config = std.to_request()
    config = {**config, "stratified": bool(stratified)}
    times = np.zeros(0)
    if not stratified:
        replies = yield Request("cox.event_times", sites=sel)
        times = np.unique(np.concatenate([r["times"] for r in replies.values()]))
        if len(times) == 0:
            raise FederatedError("no site has an event", fix="check the event column")
    p = len(prep.columns)
    beta = np.zeros(p)
    delta = np.zeros(p)
    sizer = StepSizer(0.95)
    step = sizer.next()
    previous_ll = 0.0
    i = 0
    converged = False
    ll = 0.0
    while True:
        beta = beta + step * delta
        i += 1
        req = {**arrays, "beta": beta}
        if not stratified:
            req["times"] = times
        replies = yield Request("cox.efron", req, config, sites=sel)
        if stratified:
            ll, g, h = float(total(replies, "ll")[0]), total(replies, "g"), total(replies, "h")
        else:
            parts = {k: total(replies, k) for k in ("r0", "r1", "r2", "d0", "d1", "d2", "d")}
            parts["r2"] = unpack_symmetric(parts["r2"], p)
            parts["d2"] = unpack_symmetric(parts["d2"], p)
            parts.update(zsum=total(replies, "zsum"), eta=total(replies, "eta"))
            ll, g, h = combine_efron(parts)
        if alpha > 0:
            pv, pg, ph = _penalty(beta, 1.3**i, n, alpha, l1_ratio)
            ll -= pv
            g = g - pg
            h = h.copy()
            h[np.diag_indices(p)] -= ph
        try:
            delta = solve(-h, g, assume_a="pos", check_finite=False)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise FederatedError(
                f"the federated Cox model did not converge ({exc})",
                fix="increase alpha (the penalty), or remove collinear / near-constant columns",
            ) from exc
        norm_delta = float(np.linalg.norm(delta)) if p else 0.0
        decrement = float(g @ delta) / 2
        if norm_delta < 1e-7:
            converged = True
            break
        if previous_ll != 0 and abs(ll - previous_ll) / (-previous_ll) < 1e-9:
            converged = True
            break
        if decrement < 1e-7:
            converged = True
            break
        if i >= max_steps or step <= 1e-5:
            break
        previous_ll = ll
        step = sizer.update(norm_delta).next()
    return CoxFit(
        coef=beta / scale,
        beta=beta,
        n_rounds=i,
        converged=converged,
        log_likelihood=ll,
        mean=mean,
        scale=scale,
        times=times,
    )


@site_step("cox.eta_sum")
def _eta_sum_site(site: SiteData, arrays: dict, config: dict) -> dict:
    X = Prep.from_request(arrays, config).apply(site)
    return {"sum": np.array([(X @ arrays["coef"]).sum()]), "n": np.array([float(len(X))])}


@site_step("cox.breslow")
def _breslow_site(site: SiteData, arrays: dict, config: dict) -> dict:
    event, time = _survival(site)
    X = Prep.from_request(arrays, config).apply(site)
    risk = np.exp(X @ arrays["coef"] - arrays["offset"][0])
    times = arrays["times"]
    order = np.argsort(-time, kind="mergesort")
    c = np.cumsum(risk[order])
    k_at = np.searchsorted(-time[order], -times, side="right")
    at_risk = np.where(k_at > 0, c[np.clip(k_at - 1, 0, None)], 0.0)
    pos = np.searchsorted(times, time[event])
    return {
        "at_risk": at_risk,
        "deaths": np.bincount(pos, minlength=len(times)).astype(float),
        "max_time": np.array([time.max()]),
    }


def breslow_baseline(prep: Prep, coef: np.ndarray, times: np.ndarray) -> ServerStep:
    """Server step: the Breslow baseline (a fitted
    :class:`radiopredict.models._baseline.BreslowBaseline`) from per-event-time counts of deaths
    and risk-set sums, equal to the pooled estimate."""
    from radiopredict.models._baseline import BreslowBaseline

    arrays, config = prep.to_request()
    replies = yield Request("cox.eta_sum", {**arrays, "coef": coef}, config)
    offset = float(total(replies, "sum")[0] / total(replies, "n")[0])
    replies = yield Request(
        "cox.breslow",
        {**arrays, "coef": coef, "offset": np.array([offset]), "times": times},
        config,
    )
    at_risk, deaths = total(replies, "at_risk"), total(replies, "deaths")
    base = BreslowBaseline()
    keep = deaths > 0
    base.offset_ = offset
    base.event_times_ = np.asarray(times)[keep]
    base.cumulative_hazard_ = np.cumsum(deaths[keep] / at_risk[keep])
    base.max_time_ = float(max(r["max_time"][0] for r in replies.values()))
    return base
