"""Federated logistic regression for a binary response: Newton-Raphson on summed gradients.

Minimises :math:`-\\sum_i [y_i \\log p_i + (1-y_i)\\log(1-p_i)] + \\frac{1}{2C}\\lVert\\beta\\rVert^2`
(intercept unpenalised; ``C=inf`` for no penalty), the objective of scikit-learn's
``LogisticRegression(C=C)`` (L2). Each site returns :math:`X^\\top(y-p)`, :math:`X^\\top W X` and
its log-likelihood; the server takes full Newton steps (halved while the objective does not
improve) until the largest step is below ``tol``.
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

__all__ = ["LogisticFit", "fit_logistic"]


@site_step("logistic.newton")
def _newton_site(site: SiteData, arrays: dict, config: dict) -> dict:
    if site.response is None:
        raise FederatedError(
            f"site {site.name!r} has no response column", fix="add a 0/1 response column"
        )
    X = Prep.from_request(arrays, config).apply(site)
    Xa = np.column_stack([np.ones(len(X)), X])
    y = (site.response == 1).astype(float)
    eta = Xa @ arrays["w"]
    mu = 1.0 / (1.0 + np.exp(-eta))
    ll = float(np.sum(y * eta - np.logaddexp(0, eta)))
    return {
        "g": Xa.T @ (y - mu),
        "h": Xa.T @ (Xa * (mu * (1 - mu))[:, None]),
        "ll": np.array([ll]),
    }


@dataclass(frozen=True)
class LogisticFit:
    """A federated logistic fit: ``coef`` (per unit of the unstandardised columns),
    ``intercept``, ``n_rounds``, ``converged``."""

    coef: np.ndarray
    intercept: float
    n_rounds: int
    converged: bool


def fit_logistic(
    prep: Prep,
    mean: np.ndarray,
    scale: np.ndarray,
    *,
    C: float = np.inf,
    tol: float = 1e-10,
    max_rounds: int = 50,
) -> ServerStep:
    """Server step: L2 logistic regression on the standardised ``prep`` output."""
    std = Prep(prep.columns, prep.impute, prep.batches, prep.combat, mean=mean, scale=scale)
    arrays, config = std.to_request()
    p = len(prep.columns)
    pen = np.r_[0.0, np.full(p, 0.0 if np.isinf(C) else 1.0 / C)]
    w = np.zeros(p + 1)
    objective = None
    converged = False
    rounds = 0
    step = np.zeros(p + 1)
    scale_step = 1.0
    while rounds < max_rounds:
        trial = w + scale_step * step
        replies = yield Request("logistic.newton", {**arrays, "w": trial}, config)
        rounds += 1
        ll = float(total(replies, "ll")[0])
        obj = -ll + 0.5 * float(pen @ trial**2)
        if objective is not None and obj > objective + 1e-12 * abs(objective):
            scale_step /= 2  # the full step overshot: halve it
            continue
        w, objective, scale_step = trial, obj, 1.0
        g = total(replies, "g") - pen * w
        h = total(replies, "h") + np.diag(pen)
        step = np.linalg.solve(h, g)
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    coef_std = w[1:]
    coef = coef_std / scale
    intercept = float(w[0] - coef @ mean)
    return LogisticFit(coef=coef, intercept=intercept, n_rounds=rounds, converged=converged)
