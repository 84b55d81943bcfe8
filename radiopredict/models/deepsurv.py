"""DeepSurv-style neural Cox model (torch; ``pip install 'radiopredict[deep]'``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from radiopredict.errors import ConfigError
from radiopredict.models._baseline import BreslowBaseline
from radiopredict.models.survival import SurvivalMixin
from radiopredict.targets import check_survival_target

__all__ = ["DeepSurv"]


class DeepSurv(SurvivalMixin, BaseEstimator):
    """Multilayer perceptron trained on the Cox partial likelihood (Katzman et al. 2018).

    The network :math:`g_\\theta(x)` replaces the linear predictor of the Cox model; it is
    trained full-batch with Adam on the negative Breslow partial log-likelihood

    .. math::
        -\\frac{1}{\\sum_i \\delta_i} \\sum_{i: \\delta_i = 1} \\left[ g_\\theta(x_i)
        - \\log \\sum_{j: T_j \\ge T_i} e^{g_\\theta(x_j)} \\right]

    plus weight decay. ``predict`` returns :math:`g_\\theta(x)` (log-hazard) and survival
    comes from the Breslow baseline. Standardise the inputs first (e.g. in a Pipeline).

    Parameters
    ----------
    hidden
        Width of each hidden layer.
    dropout
        Dropout probability after each hidden layer.
    learning_rate, weight_decay, epochs
        Adam settings and number of full-batch epochs.
    random_state
        Seed of the weights and dropout (results are deterministic on CPU).
    num_threads
        torch CPU threads during fit/predict.

    Attributes
    ----------
    net_ : torch.nn.Module
    baseline_ : BreslowBaseline
    loss_curve_ : list of float
    """

    def __init__(
        self,
        hidden: Sequence[int] = (32, 32),
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 300,
        random_state: int | None = 0,
        num_threads: int | None = 1,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.random_state = random_state
        self.num_threads = num_threads

    def _build(self, torch, n_features: int):
        layers: list = []
        width = n_features
        for h in self.hidden:
            layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
            if self.dropout:
                layers.append(torch.nn.Dropout(self.dropout))
            width = int(h)
        layers.append(torch.nn.Linear(width, 1, bias=False))
        return torch.nn.Sequential(*layers).double()

    def fit(self, X, y) -> DeepSurv:
        from radiopredict._torch import require_torch, seeded, torch_threads

        torch = require_torch("the DeepSurv model")
        X = validate_data(self, X, dtype=np.float64)
        event, time = check_survival_target(y)
        if len(time) != X.shape[0]:
            raise ConfigError(
                f"X has {X.shape[0]} rows but y has {len(time)}",
                fix="pass one target row per row of X",
            )
        if not 0 <= self.dropout < 1 or self.epochs < 1:
            raise ConfigError(
                f"dropout={self.dropout}, epochs={self.epochs} out of range",
                fix="use 0 <= dropout < 1 and epochs >= 1",
            )
        order = np.argsort(-time, kind="mergesort")  # descending time: risk set = prefix
        xt = torch.from_numpy(np.ascontiguousarray(X[order]))
        ev = torch.from_numpy(event[order].astype(np.float64))
        tt = time[order]
        # with tied times, the risk set of i includes every j with T_j == T_i (Breslow):
        # use the cumulative sum up to the last index of each tie group
        last = np.searchsorted(-tt, -tt, side="right") - 1
        last_t = torch.from_numpy(last)
        with seeded(self.random_state), torch_threads(self.num_threads):
            net = self._build(torch, X.shape[1])
            opt = torch.optim.Adam(
                net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            n_events = float(ev.sum())
            curve = []
            net.train()
            for _ in range(self.epochs):
                opt.zero_grad()
                g = net(xt).squeeze(1)
                log_risk = torch.logcumsumexp(g, dim=0)[last_t]
                loss = -((g - log_risk) * ev).sum() / n_events
                loss.backward()
                opt.step()
                curve.append(float(loss.detach()))
            net.eval()
        if not np.isfinite(curve[-1]):
            raise ConfigError(
                "DeepSurv training diverged (loss is not finite)",
                fix="lower learning_rate, standardise the inputs, or increase weight_decay",
            )
        self.net_ = net
        self.loss_curve_ = curve
        self.baseline_ = BreslowBaseline().fit(self._forward(X), event, time)
        return self

    def _forward(self, X: np.ndarray) -> np.ndarray:
        from radiopredict._torch import require_torch, torch_threads

        torch = require_torch("the DeepSurv model")
        with torch.no_grad(), torch_threads(self.num_threads):
            return self.net_(torch.from_numpy(np.ascontiguousarray(X))).squeeze(1).numpy()

    def predict(self, X) -> np.ndarray:
        """Log-hazard :math:`g_\\theta(x)` (higher = worse)."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._forward(X).astype(float)
