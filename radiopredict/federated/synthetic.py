"""Synthetic site cohorts for federated studies (SYNTHETIC data: no real patient)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["make_site_tables", "write_site_tables"]


def make_site_tables(
    n_sites: int = 3,
    n_per_site: int = 200,
    n_features: int = 6,
    *,
    missing_rate: float = 0.02,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Design matrices of ``n_sites`` synthetic hospitals.

    Each table has ``patient_id``, ``batch`` (the site's scanner), ``time``, ``event``,
    ``response`` and ``rad__f0..`` features. Features carry a site-specific shift and scale
    (the batch effect ComBat removes); survival follows a Cox model with Weibull baseline and
    uniform censoring, the response a logistic model, both on the unshifted features.
    """
    rng = np.random.default_rng(seed)
    beta = np.linspace(0.6, -0.4, n_features) * (np.arange(n_features) < 4)
    gamma = np.r_[0.8, -0.6, np.zeros(max(n_features - 2, 0))][:n_features]
    tables = {}
    for s in range(n_sites):
        n = n_per_site
        latent = rng.normal(size=(n, n_features))
        shift = rng.normal(0, 0.5, n_features)
        scale = np.exp(rng.normal(0, 0.2, n_features))
        X = latent * scale + shift + 3.0
        u = rng.uniform(size=n)
        t_event = (-np.log(u) / (0.05 * np.exp(latent @ beta))) ** (1 / 1.3)
        t_cens = rng.uniform(2, 40, n)
        time = np.minimum(t_event, t_cens)
        event = (t_event <= t_cens).astype(int)
        p = 1 / (1 + np.exp(-(latent @ gamma - 0.2)))
        response = (rng.uniform(size=n) < p).astype(int)
        df = pd.DataFrame(X, columns=[f"rad__f{j}" for j in range(n_features)])
        if missing_rate > 0:
            mask = rng.uniform(size=df.shape) < missing_rate
            df = df.mask(mask)
        df.insert(0, "response", response)
        df.insert(0, "event", event)
        df.insert(0, "time", np.round(time, 4))
        df.insert(0, "batch", f"scanner_{s + 1}")
        df.insert(0, "patient_id", [f"S{s + 1}-{i:04d}" for i in range(n)])
        tables[f"site{s + 1}"] = df
    return tables


def write_site_tables(out: str | Path, **kwargs) -> list[Path]:
    """Write :func:`make_site_tables` as ``site1.csv, site2.csv, ...`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in make_site_tables(**kwargs).items():
        path = out / f"{name}.csv"
        df.to_csv(path, index=False)
        paths.append(path)
    return paths
