"""Plots for reports and notebooks. Every function returns a matplotlib ``Figure``.

The functions take plain arrays and tables (risk scores, survival targets, SHAP values, the
output of :func:`radiopredict.treatment.validate_benefit`) so they work on any model's output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from radiopredict.targets import check_survival_target

__all__ = [
    "plot_km_by_risk_group",
    "plot_survival_calibration",
    "plot_binary_calibration",
    "plot_benefit_validation",
    "plot_benefit_vs_truth",
    "plot_shap_summary",
    "plot_group_shares",
    "plot_patient_explanation",
    "plot_arm_survival",
    "plot_km_by_cutpoints",
]


def _fig(width: float = 6.0, height: float = 4.0, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height))
    return fig, axes


def plot_km_by_risk_group(risk: np.ndarray, y: np.ndarray, *, n_groups: int = 3, title: str = ""):
    """Kaplan-Meier curves by predicted-risk group (quantiles), with the log-rank p-value.

    Returns
    -------
    fig : matplotlib.figure.Figure
    p_value : float
        Multivariate log-rank test across groups.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    event, time = check_survival_target(y)
    risk = np.asarray(risk, dtype=float)
    groups = pd.qcut(pd.Series(risk).rank(method="first"), n_groups, labels=False).to_numpy()
    names = {0: "low risk", n_groups - 1: "high risk"}
    fig, ax = _fig()
    for g in range(n_groups):
        sel = groups == g
        KaplanMeierFitter(label=f"{names.get(g, f'group {g + 1}')} (n={sel.sum()})").fit(
            time[sel], event[sel]
        ).plot_survival_function(ax=ax, ci_show=True)
    p = float(multivariate_logrank_test(time, groups, event).p_value)
    ax.set_xlabel("time")
    ax.set_ylabel("survival probability")
    ax.set_title((title + "\n" if title else "") + f"log-rank p = {p:.2g}")
    ax.set_ylim(0, 1.02)
    return fig, p


def plot_survival_calibration(predicted: pd.DataFrame, *, horizon: float, title: str = ""):
    """Predicted vs observed (Kaplan-Meier) survival at a horizon, by group.

    Parameters
    ----------
    predicted
        Table with columns ``predicted``, ``observed``, ``observed_lower``, ``observed_upper``
        (one row per group), e.g. from ``radiopredict.metrics`` calibration functions.
    """
    fig, ax = _fig(4.5, 4.5)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="ideal")
    yerr = None
    if {"observed_lower", "observed_upper"} <= set(predicted.columns):
        yerr = np.vstack(
            [
                predicted["observed"] - predicted["observed_lower"],
                predicted["observed_upper"] - predicted["observed"],
            ]
        ).clip(min=0)
    ax.errorbar(
        predicted["predicted"], predicted["observed"], yerr=yerr, fmt="o", capsize=3, label="groups"
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"predicted survival at t = {horizon:g}")
    ax.set_ylabel("observed (Kaplan-Meier)")
    ax.set_title(title or "calibration")
    ax.legend(loc="lower right")
    return fig


def plot_binary_calibration(
    probability: np.ndarray, y: np.ndarray, *, n_bins: int = 5, title: str = ""
):
    """Reliability diagram for a binary outcome (quantile bins)."""
    probability = np.asarray(probability, dtype=float)
    y = np.asarray(y, dtype=float)
    bins = pd.qcut(pd.Series(probability).rank(method="first"), n_bins, labels=False).to_numpy()
    pred = [probability[bins == b].mean() for b in range(n_bins)]
    obs = [y[bins == b].mean() for b in range(n_bins)]
    fig, ax = _fig(4.5, 4.5)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    ax.plot(pred, obs, "o-")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or "calibration")
    return fig


def plot_benefit_validation(validation: Any, *, title: str = ""):
    """Predicted vs observed benefit by group, and Kaplan-Meier by recommendation followed.

    Parameters
    ----------
    validation
        A :class:`radiopredict.treatment.BenefitValidation`.
    """
    fig, (ax1, ax2) = _fig(5.5, 4.2, ncols=2)
    g = validation.by_group
    x = np.arange(len(g))
    ax1.bar(x - 0.18, g["predicted_benefit_mean"], width=0.36, label="predicted (mean)")
    err = np.vstack(
        [
            g["observed_benefit"] - g["observed_benefit_lower"],
            g["observed_benefit_upper"] - g["observed_benefit"],
        ]
    )
    ax1.bar(x + 0.18, g["observed_benefit"], width=0.36, yerr=err, capsize=3, label="observed (KM)")
    ax1.axhline(0, color="black", lw=0.8)
    ax1.set_xticks(x, [f"group {i}" for i in g["group"]])
    ax1.set_ylabel(f"survival benefit at t = {validation.horizon:g}")
    ax1.set_title(
        f"benefit groups (interaction p = {validation.interaction['p']:.2g}, "
        f"c-for-benefit = {validation.c_for_benefit:.2f})",
        fontsize=9,
    )
    ax1.legend(fontsize=8)
    for name, curve in validation.km.items():
        ax2.step(curve.index, curve.iloc[:, 0], where="post", label=name)
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("time")
    ax2.set_ylabel("survival probability")
    ax2.set_title(
        f"recommendation followed (log-rank p = {validation.recommended['logrank_p']:.2g})",
        fontsize=9,
    )
    ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_benefit_vs_truth(predicted: np.ndarray, true: np.ndarray, *, title: str = ""):
    """Scatter of predicted vs true benefit (synthetic data), with Pearson r."""
    predicted = np.asarray(predicted, dtype=float)
    true = np.asarray(true, dtype=float)
    r = float(np.corrcoef(predicted, true)[0, 1])
    fig, ax = _fig(4.5, 4.5)
    ax.scatter(true, predicted, s=12, alpha=0.7)
    lo, hi = min(true.min(), predicted.min()), max(true.max(), predicted.max())
    ax.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=1)
    ax.set_xlabel("true benefit")
    ax.set_ylabel("predicted benefit (out of fold)")
    ax.set_title((title + "\n" if title else "") + f"Pearson r = {r:.2f}")
    return fig


def plot_shap_summary(
    shap_values: pd.DataFrame, features: pd.DataFrame, *, top: int = 15, title: str = ""
):
    """Beeswarm-style summary: one row per feature (largest mean |SHAP| on top), points coloured
    by the feature value (low = blue, high = red)."""
    order = shap_values.abs().mean().sort_values(ascending=False).index[:top][::-1]
    fig, ax = _fig(7.0, 0.35 * len(order) + 1.5)
    rng = np.random.default_rng(0)
    for i, col in enumerate(order):
        v = shap_values[col].to_numpy(dtype=float)
        f = (
            pd.to_numeric(features[col], errors="coerce").to_numpy(dtype=float)
            if col in features
            else np.zeros_like(v)
        )
        span = np.nanmax(f) - np.nanmin(f)
        c = (f - np.nanmin(f)) / span if span > 0 else np.full_like(f, 0.5)
        ax.scatter(
            v, i + rng.uniform(-0.25, 0.25, len(v)), c=c, cmap="coolwarm", s=9, vmin=0, vmax=1
        )
    ax.set_yticks(range(len(order)), order, fontsize=8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("SHAP value (contribution to the model output)")
    ax.set_title(title or "feature contributions")
    return fig


def plot_group_shares(shares: pd.DataFrame, *, title: str = ""):
    """Stacked bars of the share of |SHAP| attributed to each column group.

    Parameters
    ----------
    shares
        Rows = patients or one row ``"global"``, columns = groups, values summing to 1 per row.
    """
    fig, ax = _fig(6.0, 0.3 * len(shares) + 1.5)
    left = np.zeros(len(shares))
    for col in shares.columns:
        ax.barh(range(len(shares)), shares[col], left=left, label=str(col))
        left += shares[col].to_numpy(dtype=float)
    ax.set_yticks(range(len(shares)), [str(i) for i in shares.index], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of attribution")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "attribution by column group")
    return fig


def plot_patient_explanation(
    contributions: pd.Series,
    values: pd.Series | None = None,
    *,
    top: int = 10,
    base_value: float | None = None,
    title: str = "",
):
    """Horizontal bars of one patient's largest contributions (red raises the output)."""
    top_idx = contributions.abs().sort_values(ascending=False).index[:top][::-1]
    vals = contributions[top_idx]
    labels = [
        f"{c} = {values[c]:.3g}"
        if values is not None and c in values and np.isreal(values[c])
        else str(c)
        for c in top_idx
    ]
    fig, ax = _fig(7.0, 0.35 * len(top_idx) + 1.5)
    ax.barh(range(len(vals)), vals, color=["#c0392b" if v > 0 else "#2471a3" for v in vals])
    ax.set_yticks(range(len(vals)), labels, fontsize=8)
    ax.axvline(0, color="grey", lw=0.8)
    extra = f" (baseline {base_value:.3g})" if base_value is not None else ""
    ax.set_xlabel("contribution" + extra)
    ax.set_title(title or "patient explanation")
    return fig


def plot_arm_survival(
    times: np.ndarray,
    curves: dict[Any, np.ndarray],
    *,
    horizon: float | None = None,
    title: str = "",
):
    """One patient's predicted survival curve under each arm (curves: {arm: array(len(times))})."""
    fig, ax = _fig(5.0, 3.8)
    for arm, s in curves.items():
        ax.step(times, np.asarray(s).ravel(), where="post", label=f"arm {arm}")
    if horizon is not None:
        ax.axvline(horizon, color="grey", ls="--", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time")
    ax.set_ylabel("predicted survival")
    ax.set_title(title or "predicted survival under each arm")
    ax.legend(fontsize=8)
    return fig


def plot_km_by_cutpoints(risk: np.ndarray, y: np.ndarray, cutpoints, *, title: str = ""):
    """Kaplan-Meier curves by risk group defined by fixed cut points, with the log-rank p.

    Group :math:`g` (:math:`g = 1, \\dots, K + 1` for :math:`K` cut points :math:`c_1 <
    \\dots < c_K`) holds the patients with :math:`c_{g-1} \\le r_i < c_g`
    (:math:`c_0 = -\\infty`, :math:`c_{K+1} = +\\infty`). Cut points come from the
    development cohort (:func:`radiopredict.validation.risk_cutpoints`), so a validation
    cohort is split the way the model would split new patients; groups may be unequal or
    empty, and empty ones are left out of the plot and the test.

    Returns
    -------
    fig : matplotlib.figure.Figure
    p_value : float
        Multivariate log-rank test across the non-empty groups; NaN, said in the title, when
        all patients fall into one group.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    from radiopredict.errors import ConfigError

    event, time = check_survival_target(y)
    risk = np.asarray(risk, dtype=float).ravel()
    cuts = np.atleast_1d(np.asarray(cutpoints, dtype=float))
    if len(risk) != len(time) or not np.all(np.isfinite(risk)):
        raise ConfigError(
            f"plot_km_by_cutpoints: {len(risk)} risk scores (all finite?) for {len(time)} patients",
            fix="pass one finite risk score per patient",
        )
    if cuts.ndim != 1 or not np.all(np.isfinite(cuts)) or np.any(np.diff(cuts) <= 0):
        raise ConfigError(
            f"plot_km_by_cutpoints: cut points must be strictly increasing numbers, got {cuts}",
            fix="pass radiopredict.validation.risk_cutpoints(development_risk)",
        )
    groups = np.searchsorted(cuts, risk, side="right")
    k = len(cuts) + 1
    names = {0: "low risk", k - 1: "high risk"}
    fig, ax = _fig()
    present = np.unique(groups)
    for g in present:
        sel = groups == g
        KaplanMeierFitter(label=f"{names.get(g, f'group {g + 1}')} (n={sel.sum()})").fit(
            time[sel], event[sel]
        ).plot_survival_function(ax=ax, ci_show=True)
    if len(present) > 1:
        p = float(multivariate_logrank_test(time, groups, event).p_value)
        note = f"log-rank p = {p:.2g}"
    else:
        p = float("nan")
        note = "log-rank test undefined: every patient is in one risk group"
    ax.set_xlabel("time")
    ax.set_ylabel("survival probability")
    ax.set_title((title + "\n" if title else "") + note)
    ax.set_ylim(0, 1.02)
    return fig, p
