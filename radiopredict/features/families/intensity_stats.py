"""Intensity-based statistical features (IBSI-1 section 3.3).

Computed on the grey values :math:`X = \\{X_1, ..., X_{N_v}\\}` of the intensity mask (after
interpolation and resegmentation, before discretisation). :math:`\\mu` is the mean,
:math:`P_{k}` the k-th percentile (linear interpolation between order statistics).
"""

from __future__ import annotations

import numpy as np

from radiopredict.errors import FeatureComputationError
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "FEATURES", "first_order", "first_order_many"]

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
    return first_order_many([x], prefix)[0]


_PERCENTILES = (10.0, 25.0, 50.0, 75.0, 90.0)


def first_order_many(xs: list[np.ndarray], prefix: str) -> list[dict[str, float]]:
    """:func:`first_order` of several non-empty samples in shared vectorised calls.

    The samples are sorted together (by sample, then value); percentiles interpolate linearly
    between order statistics as :func:`numpy.percentile` does; sums run over each sample's
    segment. A constant sample has variance, skewness and kurtosis exactly 0 (its mean is its
    value, not a rounded sum).
    """
    sizes = np.array([np.size(x) for x in xs], dtype=np.int64)
    if len(xs) == 0:
        return []
    if sizes.min() == 0:
        raise FeatureComputationError(
            f"sample {int(np.argmin(sizes))} of {len(xs)} is empty: first-order statistics "
            "need at least one grey value",
            fix="leave empty ROIs out (compute_features raises EmptyMaskError for them)",
        )
    n = sizes.astype(np.float64)
    item = np.repeat(np.arange(len(xs)), sizes)
    x = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in xs])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    srt = x[np.lexsort((x, item))]
    lo, hi = srt[starts], srt[starts + sizes - 1]

    def seg(v):  # per-sample sums
        return np.add.reduceat(v, starts)

    mu = np.where(lo == hi, lo, seg(x) / n)
    d = x - mu[item]
    d2 = d * d
    m2 = seg(d2) / n
    m3 = seg(d2 * d) / n
    m4 = seg(d2 * d2) / n
    pct = {}
    for q in _PERCENTILES:
        pos = (sizes - 1) * (q / 100.0)
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, sizes - 1)
        g = pos - below
        a, b = srt[starts + below], srt[starts + above]
        diff = b - a
        pct[q] = np.where(g >= 0.5, b - diff * (1.0 - g), a + diff * g)  # numpy's _lerp
    p10, p25, p50, p75, p90 = (pct[q] for q in _PERCENTILES)
    sel = (x >= p10[item]) & (x <= p90[item])
    n_sel = np.bincount(item[sel], minlength=len(xs)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # no value in [P10, P90]: NaN
        mean_sel = np.bincount(item[sel], weights=x[sel], minlength=len(xs)) / n_sel
        dev = np.abs(x[sel] - mean_sel[item[sel]])
        rmad = np.bincount(item[sel], weights=dev, minlength=len(xs)) / n_sel
        pos_var = m2 > 0
        skew = np.where(pos_var, m3 / np.where(pos_var, m2, 1.0) ** 1.5, 0.0)
        kurt = np.where(pos_var, m4 / np.where(pos_var, m2, 1.0) ** 2 - 3.0, 0.0)
        cov = np.where(mu != 0, np.sqrt(m2) / np.where(mu != 0, mu, 1.0), np.nan)
        qsum = p75 + p25
        qcod = np.where(qsum != 0, (p75 - p25) / np.where(qsum != 0, qsum, 1.0), np.nan)
    table = {
        "mean": mu,
        "var": m2,
        "skew": skew,
        "kurt": kurt,
        "median": p50,
        "min": lo,
        "p10": p10,
        "p90": p90,
        "max": hi,
        "iqr": p75 - p25,
        "range": hi - lo,
        "mad": seg(np.abs(d)) / n,
        "rmad": rmad,
        "medad": seg(np.abs(x - p50[item])) / n,
        "cov": cov,
        "qcod": qcod,
    }
    keys = [f"{prefix}_{k}" for k in table]
    columns = [v.tolist() for v in table.values()]
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


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


def compute_many(values: list[np.ndarray]) -> list[dict[str, float]]:
    """:func:`compute` for the grey values of several ROIs, in shared vectorised calls."""
    xs = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    out = first_order_many(xs, "stat")
    for x, feats in zip(xs, out, strict=True):
        energy = float(np.dot(x, x))
        feats["stat_energy"] = energy
        feats["stat_rms"] = float(np.sqrt(energy / x.size))
    return out
