"""Breslow estimate of the baseline cumulative hazard, shared by every risk-score model."""

from __future__ import annotations

import numpy as np

__all__ = ["BreslowBaseline"]


class BreslowBaseline:
    """Baseline cumulative hazard for a proportional-hazards risk score (Breslow 1972).

    For training log-hazards :math:`\\eta_i`, with :math:`d_j` events at the distinct event
    time :math:`t_j` and risk set :math:`R(t_j) = \\{k: T_k \\ge t_j\\}`:

    .. math::
        \\hat H_0(t) = \\sum_{t_j \\le t} \\frac{d_j}{\\sum_{k \\in R(t_j)} e^{\\eta_k}},
        \\qquad \\hat S(t \\mid x) = \\exp\\!\\left(-\\hat H_0(t)\\, e^{\\eta(x)}\\right).

    :math:`\\hat H_0` is a right-continuous step function: 0 before the first event time and
    constant after the last training time (no extrapolation beyond follow-up).
    The log-hazards are centred on their training mean for numerical stability; the centring
    cancels in :math:`\\hat S`.
    """

    def fit(
        self,
        log_hazard: np.ndarray,
        event: np.ndarray,
        time: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> BreslowBaseline:
        r"""Estimate :math:`\hat H_0`; with ``sample_weight`` :math:`w`, events and risk sets
        are weighted (:math:`d_j = \sum w_i` over events at :math:`t_j`, risk-set sums of
        :math:`w_k e^{\eta_k}`), as for inverse-probability weighting."""
        eta = np.asarray(log_hazard, dtype=float)
        w = np.ones_like(eta) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.offset_ = float(eta.mean())
        risk = w * np.exp(eta - self.offset_)
        order = np.argsort(time, kind="mergesort")
        t, e, r, w = time[order], event[order], risk[order], w[order]
        uniq, idx = np.unique(t, return_index=True)
        # sum of exp(eta) over the risk set {T >= t}: reverse cumulative sum
        rev = np.cumsum(r[::-1])[::-1]
        at_risk = rev[idx]
        deaths = np.add.reduceat(e.astype(float) * w, idx)
        keep = deaths > 0
        self.event_times_ = uniq[keep]
        self.cumulative_hazard_ = np.cumsum(deaths[keep] / at_risk[keep])
        self.max_time_ = float(t[-1])
        return self

    def baseline_cumulative_hazard(self, times) -> np.ndarray:
        """:math:`\\hat H_0(t)` at ``times`` (centred log-hazard scale)."""
        times = np.asarray(times, dtype=float)
        idx = np.searchsorted(self.event_times_, times, side="right") - 1
        return np.where(idx >= 0, self.cumulative_hazard_[np.clip(idx, 0, None)], 0.0)

    def survival(self, log_hazard: np.ndarray, times) -> np.ndarray:
        """Survival probabilities, shape ``(n, len(times))``."""
        h0 = self.baseline_cumulative_hazard(np.atleast_1d(times))
        rel = np.exp(np.asarray(log_hazard, dtype=float) - self.offset_)
        return np.exp(-np.outer(rel, h0))
