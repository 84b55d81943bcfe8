"""Intensity-based statistical features (IBSI-1 section 3.3).

Computed on the grey values :math:`X = \\{X_1, ..., X_{N_v}\\}` of the intensity mask (after
interpolation and resegmentation, before discretisation). :math:`\\mu` is the mean,
:math:`P_{k}` the k-th percentile (linear interpolation between order statistics).
"""

from __future__ import annotations

import numpy as np

from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "FEATURES", "first_order"]

F = "intensity_stats"
FEATURES = [
    FeatureDef("stat_mean", "Q4LE", F, "Mean", r"\mu = \frac{1}{N_v}\sum_k X_k"),
    FeatureDef("stat_var", "ECT3", F, "Variance", r"\frac{1}{N_v}\sum_k (X_k-\mu)^2"),
    FeatureDef(
        "stat_skew",
        "KE2A",
        F,
        "Skewness",
        r"\frac{\frac{1}{N_v}\sum_k (X_k-\mu)^3}{\left(\frac{1}{N_v}\sum_k (X_k-\mu)^2\right)^{3/2}}",
    ),
    FeatureDef(
        "stat_kurt",
        "IPH6",
        F,
        "(Excess) kurtosis",
        r"\frac{\frac{1}{N_v}\sum_k (X_k-\mu)^4}{\left(\frac{1}{N_v}\sum_k (X_k-\mu)^2\right)^{2}} - 3",
    ),
    FeatureDef("stat_median", "Y12H", F, "Median", r"P_{50}"),
    FeatureDef("stat_min", "1GSF", F, "Minimum", r"\min_k X_k"),
    FeatureDef("stat_p10", "QG58", F, "10th percentile", r"P_{10}"),
    FeatureDef("stat_p90", "8DWT", F, "90th percentile", r"P_{90}"),
    FeatureDef("stat_max", "84IY", F, "Maximum", r"\max_k X_k"),
    FeatureDef("stat_iqr", "SALO", F, "Interquartile range", r"P_{75} - P_{25}"),
    FeatureDef("stat_range", "2OJQ", F, "Range", r"\max_k X_k - \min_k X_k"),
    FeatureDef("stat_mad", "4FUA", F, "Mean absolute deviation", r"\frac{1}{N_v}\sum_k |X_k-\mu|"),
    FeatureDef(
        "stat_rmad",
        "1128",
        F,
        "Robust mean absolute deviation",
        r"\frac{1}{N_{10-90}}\sum_{k: P_{10}\le X_k \le P_{90}} |X_k-\mu_{10-90}|",
        "Mean absolute deviation of the voxels between the 10th and 90th percentiles.",
    ),
    FeatureDef(
        "stat_medad", "N72L", F, "Median absolute deviation", r"\frac{1}{N_v}\sum_k |X_k-P_{50}|"
    ),
    FeatureDef(
        "stat_cov",
        "7TET",
        F,
        "Coefficient of variation",
        r"\sigma / \mu",
        "Population standard deviation over the mean.",
    ),
    FeatureDef(
        "stat_qcod",
        "9S40",
        F,
        "Quartile coefficient of dispersion",
        r"\frac{P_{75}-P_{25}}{P_{75}+P_{25}}",
    ),
    FeatureDef("stat_energy", "N8CA", F, "Energy", r"\sum_k X_k^2"),
    FeatureDef("stat_rms", "5ZWQ", F, "Root mean square", r"\sqrt{\frac{1}{N_v}\sum_k X_k^2}"),
]
register(*FEATURES)


def first_order(x: np.ndarray, prefix: str) -> dict[str, float]:
    """The first-order statistics shared by ``stat_`` and ``ih_`` (``prefix`` selects tags)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    mu = x.mean()
    d = x - mu
    m2 = np.mean(d * d)
    p10, p25, p50, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    sel = x[(x >= p10) & (x <= p90)]
    out = {
        "mean": mu,
        "var": m2,
        "skew": np.mean(d**3) / m2**1.5 if m2 > 0 else 0.0,
        "kurt": np.mean(d**4) / m2**2 - 3.0 if m2 > 0 else 0.0,
        "median": p50,
        "min": x.min(),
        "p10": p10,
        "p90": p90,
        "max": x.max(),
        "iqr": p75 - p25,
        "range": x.max() - x.min(),
        "mad": np.mean(np.abs(d)),
        "rmad": np.mean(np.abs(sel - sel.mean())),
        "medad": np.mean(np.abs(x - p50)),
        "cov": np.sqrt(m2) / mu if mu != 0 else np.nan,
        "qcod": (p75 - p25) / (p75 + p25) if (p75 + p25) != 0 else np.nan,
    }
    del n
    return {f"{prefix}_{k}": float(v) for k, v in out.items()}


def compute(values: np.ndarray) -> dict[str, float]:
    """Intensity statistics of the ROI grey values (1-D array). See the module formulas.

    Skewness and kurtosis of a constant ROI are reported as 0; the coefficient of variation of
    a zero-mean ROI is not finite and is reported as not computed by the engine.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    out = first_order(x, "stat")
    out["stat_energy"] = float(np.dot(x, x))
    out["stat_rms"] = float(np.sqrt(np.dot(x, x) / x.size))
    return out
