"""Intensity histogram features (IBSI-1 section 3.4).

Computed on the discretised grey levels :math:`X_{d}` of the intensity mask, levels
:math:`i = 1..N_g`, with histogram :math:`n_i` and probabilities :math:`p_i = n_i / N_v`.
The gradient of the histogram is :math:`H'_1 = n_2 - n_1`, :math:`H'_{N_g} = n_{N_g} - n_{N_g-1}`
and :math:`H'_i = (n_{i+1} - n_{i-1})/2` otherwise.
"""

from __future__ import annotations

import numpy as np

from radiopredict.features.families.intensity_stats import first_order_many
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "FEATURES"]

F = "intensity_histogram"
_SAME = [
    ("mean", "X6K6", "Mean discretised intensity", r"\mu = \frac{1}{N_v}\sum_k X_{d,k}"),
    ("var", "CH89", "Discretised intensity variance", r"\frac{1}{N_v}\sum_k (X_{d,k}-\mu)^2"),
    ("skew", "88K1", "Discretised intensity skewness", r"m_3 / m_2^{3/2}"),
    ("kurt", "C3I7", "Discretised intensity kurtosis", r"m_4 / m_2^{2} - 3"),
    ("median", "WIFQ", "Median discretised intensity", r"P_{50}"),
    ("min", "1PR8", "Minimum discretised intensity", r"\min_k X_{d,k}"),
    ("p10", "GPMT", "10th discretised intensity percentile", r"P_{10}"),
    ("p90", "OZ0C", "90th discretised intensity percentile", r"P_{90}"),
    ("max", "3NCY", "Maximum discretised intensity", r"\max_k X_{d,k}"),
    ("iqr", "WR0O", "Discretised intensity interquartile range", r"P_{75}-P_{25}"),
    ("range", "5Z3W", "Discretised intensity range", r"\max_k X_{d,k} - \min_k X_{d,k}"),
    (
        "mad",
        "D2ZX",
        "Discretised intensity mean absolute deviation",
        r"\frac{1}{N_v}\sum_k|X_{d,k}-\mu|",
    ),
    (
        "rmad",
        "WRZB",
        "Discretised intensity robust mean absolute deviation",
        r"\frac{1}{N_{10-90}}\sum_{P_{10}\le X_{d,k}\le P_{90}}|X_{d,k}-\mu_{10-90}|",
    ),
    (
        "medad",
        "4RNL",
        "Discretised intensity median absolute deviation",
        r"\frac{1}{N_v}\sum_k|X_{d,k}-P_{50}|",
    ),
    ("cov", "CWYJ", "Discretised intensity coefficient of variation", r"\sigma/\mu"),
    (
        "qcod",
        "SLWD",
        "Discretised intensity quartile coefficient of dispersion",
        r"\frac{P_{75}-P_{25}}{P_{75}+P_{25}}",
    ),
]
FEATURES = [FeatureDef(f"ih_{k}", c, F, n, f) for k, c, n, f in _SAME] + [
    FeatureDef(
        "ih_mode",
        "AMMC",
        F,
        "Intensity histogram mode",
        r"\arg\max_i n_i",
        "The lowest level among tied maxima.",
    ),
    FeatureDef("ih_entropy", "TLU2", F, "Discretised intensity entropy", r"-\sum_i p_i \log_2 p_i"),
    FeatureDef("ih_uniformity", "BJ5W", F, "Discretised intensity uniformity", r"\sum_i p_i^2"),
    FeatureDef("ih_max_grad", "12CE", F, "Maximum histogram gradient", r"\max_i H'_i"),
    FeatureDef(
        "ih_max_grad_g", "8E6O", F, "Maximum histogram gradient grey level", r"\arg\max_i H'_i"
    ),
    FeatureDef("ih_min_grad", "VQB3", F, "Minimum histogram gradient", r"\min_i H'_i"),
    FeatureDef(
        "ih_min_grad_g", "RHQZ", F, "Minimum histogram gradient grey level", r"\arg\min_i H'_i"
    ),
]
register(*FEATURES)


def compute(q: np.ndarray, n_levels: int) -> dict[str, float]:
    """Intensity histogram features of the discretised ROI levels ``q`` (1-D, values 1..n_levels)."""
    return compute_many([(q, n_levels)])[0]


def compute_many(items: list[tuple[np.ndarray, int]]) -> list[dict[str, float]]:
    """:func:`compute` for several ``(q, n_levels)`` ROIs (first-order part vectorised)."""
    qs = [np.asarray(q).ravel() for q, _ in items]
    out = first_order_many(qs, "ih")
    for q, (_, n_levels), feats in zip(qs, items, out, strict=True):
        feats.update(_histogram(q, n_levels))
    return out


def _histogram(q: np.ndarray, n_levels: int) -> dict[str, float]:
    n = np.bincount(q, minlength=n_levels + 1)[1:].astype(np.float64)
    p = n / q.size
    nz = p[p > 0]
    out = {}
    out["ih_mode"] = float(np.argmax(n) + 1)
    out["ih_entropy"] = float(-np.sum(nz * np.log2(nz)))
    out["ih_uniformity"] = float(np.sum(p * p))
    if n.size == 1:
        grad = np.zeros(1)
    else:
        grad = np.gradient(n)  # one-sided at the ends, central (n_{i+1}-n_{i-1})/2 inside
    out["ih_max_grad"] = float(grad.max())
    out["ih_max_grad_g"] = float(np.argmax(grad) + 1)
    out["ih_min_grad"] = float(grad.min())
    out["ih_min_grad_g"] = float(np.argmin(grad) + 1)
    return out
