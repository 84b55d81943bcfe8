"""Intensity-volume histogram features (IBSI-1 section 3.5).

The ROI grey values are discretised for the IVH (``ivh_discretisation``): ``"none"`` keeps the
(integer) grey values, ``"fbs"`` maps each voxel to the centre of its bin
:math:`X_{lb} + (q - 1/2) w_b`, ``"fbn"`` uses the bin numbers :math:`1..N_g`. On the lattice
of possible values :math:`i` between :math:`X_{min}` and :math:`X_{max}` (the resegmentation range
when it is bounded, otherwise the ROI range; :math:`1..N_g` for FBN) the volume fraction is
:math:`\\nu_i = 1 - \\frac{1}{N_v}\\sum_k [X_k < i]` and the intensity fraction
:math:`\\gamma_i = (i - X_{min}) / (X_{max} - X_{min})`.
"""

from __future__ import annotations

import numpy as np

from radiopredict.errors import FeatureComputationError
from radiopredict.features.preprocess import discretise
from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "FEATURES"]

F = "ivh"
FEATURES = [
    FeatureDef(
        "ivh_v10",
        "BC2M",
        F,
        "Volume at 10% intensity",
        r"V_{10} = \nu_{i^*},\ i^* = \min\{i: \gamma_i \ge 0.10\}",
    ),
    FeatureDef(
        "ivh_v90",
        "BC2M",
        F,
        "Volume at 90% intensity",
        r"V_{90} = \nu_{i^*},\ i^* = \min\{i: \gamma_i \ge 0.90\}",
    ),
    FeatureDef(
        "ivh_i10", "GBPN", F, "Intensity at 10% volume", r"I_{10} = \min\{i: \nu_i \le 0.10\}"
    ),
    FeatureDef(
        "ivh_i90", "GBPN", F, "Intensity at 90% volume", r"I_{90} = \min\{i: \nu_i \le 0.90\}"
    ),
    FeatureDef("ivh_diff_v10_v90", "DDTU", F, "Volume fraction difference", r"V_{10} - V_{90}"),
    FeatureDef("ivh_diff_i10_i90", "CNV2", F, "Intensity difference", r"I_{10} - I_{90}"),
    FeatureDef(
        "ivh_auc",
        "9CMM",
        F,
        "Area under the IVH curve",
        r"\int_0^1 \nu(\gamma)\,d\gamma",
        "Trapezoidal rule over the lattice of values.",
    ),
]
register(*FEATURES)


def _lattice_values(values: np.ndarray, settings) -> tuple[np.ndarray, float, float, float]:
    """Discretised values, lattice step and the (X_min, X_max) of the intensity fraction."""
    method = settings.ivh_discretisation
    rr = settings.reseg_range
    lo = None if rr is None or rr[0] is None else float(rr[0])
    hi = None if rr is None or rr[1] is None else float(rr[1])
    if method == "fbn":
        q, ng = discretise(values, "fbn", bin_number=settings.ivh_bin_number)
        return q.astype(np.float64), 1.0, 1.0, float(ng)
    if method == "fbs":
        w = float(settings.ivh_bin_width)
        lb = lo if lo is not None else float(values.min())
        q, _ = discretise(values, "fbs", bin_width=w, lower_bound=lb)
        x = lb + (q - 0.5) * w
        xmin = lb + 0.5 * w if lo is not None else float(x.min())
        xmax = hi if hi is not None else float(x.max())
        return x, w, xmin, xmax
    x = np.rint(values)
    if not np.abs(x - values).max() <= 1e-6:  # NaN fails too
        raise FeatureComputationError(
            "the intensity-volume histogram without discretisation needs integer grey values "
            f"(found e.g. {values[np.argmax(np.abs(x - values))]!r})",
            fix="set ivh_discretisation to 'fbs' (with ivh_bin_width) or 'fbn' "
            "(with ivh_bin_number), or round_intensities=True for integer modalities",
        )
    xmin = lo if lo is not None else float(x.min())
    xmax = hi if hi is not None else float(x.max())
    return x, 1.0, xmin, xmax


def compute(values: np.ndarray, settings) -> dict[str, float]:
    """IVH features of the ROI grey values (1-D array) under ``settings``' IVH discretisation.

    Raises
    ------
    FeatureComputationError
        ``ivh_discretisation="none"`` with non-integer grey values (the engine reports the
        family as not computed).
    """
    x, step, xmin, xmax = _lattice_values(np.asarray(values, dtype=np.float64).ravel(), settings)
    n = x.size
    uniq, counts = np.unique(x, return_counts=True)
    # nu at each present value: fraction of voxels with value >= it
    nu_present = np.cumsum(counts[::-1])[::-1] / n
    span = xmax - xmin

    def frac_ge(i: float) -> float:
        return float(np.count_nonzero(x >= i - 1e-9 * step) / n)

    out: dict[str, float] = {}
    for pct in (10, 90):
        f = pct / 100.0
        # smallest lattice value with intensity fraction >= f
        k = np.ceil(f * span / step - 1e-9) if span > 0 else 0.0
        out[f"ivh_v{pct}"] = frac_ge(xmin + k * step)
        # smallest lattice value with volume fraction <= f
        j = int(np.argmax(nu_present <= f + 1e-12)) if np.any(nu_present <= f + 1e-12) else None
        if j is None:
            i_x = uniq[-1] + step
        elif j == 0:
            i_x = min(uniq[0], xmin) if uniq[0] > xmin else uniq[0]
        else:
            i_x = uniq[j - 1] + step
        out[f"ivh_i{pct}"] = float(i_x)
    out["ivh_diff_v10_v90"] = out["ivh_v10"] - out["ivh_v90"]
    out["ivh_diff_i10_i90"] = out["ivh_i10"] - out["ivh_i90"]
    if span > 0:
        lattice = np.arange(xmin, xmax + 0.5 * step, step)
        order = np.sort(x)
        nu = 1.0 - np.searchsorted(order, lattice - 1e-9 * step, side="left") / n
        gamma = (lattice - xmin) / span
        out["ivh_auc"] = float(np.trapezoid(nu, gamma))
    else:
        out["ivh_auc"] = 1.0
    return out
