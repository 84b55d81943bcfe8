"""Mask quality control: a table of per-case measures and threshold flags.

Works on any masks (ours, nnU-Net, TotalSegmentator...) with SimpleITK only, in physical units.

Measures per case:

* ``volume_mm3`` :math:`= N_{fg} \\prod_i s_i`;
* ``n_components`` (26-connectivity) and ``largest_fraction`` (largest component / total);
* ``touches_border``: a foreground voxel lies on a face of the image grid;
* with a reference mask: ``dice`` :math:`= 2|P \\cap R| / (|P| + |R|)`, ``hausdorff_mm``
  :math:`= \\max(\\max_{p \\in \\partial P} d(p, \\partial R), \\max_{r \\in \\partial R}
  d(r, \\partial P))` and ``hd95_mm`` (95th percentile of the pooled surface distances).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiopredict._settings import Settings, option
from radiopredict.cohort import Case, Cohort
from radiopredict.errors import ConfigError, RadiopredictError
from radiopredict.imaging.cases import as_cases, read_case_image, read_case_mask
from radiopredict.segment.postprocess import voxel_volume_mm3

__all__ = ["QCThresholds", "mask_qc", "qc_table", "surface_distances"]


@dataclass(frozen=True)
class QCThresholds(Settings):
    """Thresholds that raise QC flags (None disables a flag).

    Parameters
    ----------
    min_volume_mm3, max_volume_mm3
        Flag ``small`` / ``large`` outside this volume range.
    max_components
        Flag ``fragmented`` above this number of components.
    flag_border
        Flag ``border`` when the mask touches the image border (a truncated tumour).
    min_dice
        Flag ``low_dice`` below this Dice to the reference.
    max_hausdorff_mm
        Flag ``high_hd95`` when the 95th-percentile Hausdorff distance exceeds this.
    """

    min_volume_mm3: float | None = option(100.0, ge=0)
    max_volume_mm3: float | None = option(None, ge=0)
    max_components: int | None = option(1, ge=1)
    flag_border: bool = True
    min_dice: float | None = option(0.7, ge=0, le=1)
    max_hausdorff_mm: float | None = option(20.0, ge=0)


def surface_distances(a: sitk.Image, b: sitk.Image) -> np.ndarray:
    """Distances (mm) from the surface voxels of ``a`` to the surface of ``b``, and back.

    Surface voxels are foreground voxels with a background neighbour (full connectivity); the
    distance is read from the unsigned Maurer distance map of the other mask's surface.
    """
    out = []
    for src, dst in ((a, b), (b, a)):
        dist = sitk.Abs(
            sitk.SignedMaurerDistanceMap(
                _binary(dst), insideIsPositive=False, squaredDistance=False, useImageSpacing=True
            )
        )
        contour = sitk.GetArrayFromImage(sitk.LabelContour(_binary(src), True)) > 0
        out.append(sitk.GetArrayFromImage(dist)[contour])
    return np.concatenate(out)


def _binary(mask: sitk.Image) -> sitk.Image:
    return sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)


def mask_qc(
    mask: sitk.Image,
    reference: sitk.Image | None = None,
    thresholds: QCThresholds | None = None,
) -> dict[str, Any]:
    """QC measures and flags of one binary mask (see the module docstring).

    Returns
    -------
    dict
        ``volume_mm3, n_components, largest_fraction, touches_border, dice, hausdorff_mm,
        hd95_mm, flags`` (``;``-joined names, empty when fine) and ``ok``. ``dice`` and the
        distances are None without a reference (not NaN: nothing was compared); distances are
        None when either mask is empty.
    """
    th = thresholds or QCThresholds()
    m = _binary(mask)
    arr = sitk.GetArrayViewFromImage(m).astype(bool)
    n_fg = int(arr.sum())
    volume = n_fg * voxel_volume_mm3(m)
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(m, True), sortByObjectSize=True)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(cc)
    n_comp = int(stats.GetNumberOfLabels())
    largest = stats.GetNumberOfPixels(1) / n_fg if n_comp else 0.0
    border = bool(
        n_fg and any(np.take(arr, idx, axis=ax).any() for ax in range(arr.ndim) for idx in (0, -1))
    )
    row: dict[str, Any] = {
        "volume_mm3": float(volume),
        "n_components": n_comp,
        "largest_fraction": float(largest),
        "touches_border": border,
        "dice": None,
        "hausdorff_mm": None,
        "hd95_mm": None,
    }
    flags = []
    if n_fg == 0:
        flags.append("empty")
    if th.min_volume_mm3 is not None and n_fg and volume < th.min_volume_mm3:
        flags.append("small")
    if th.max_volume_mm3 is not None and volume > th.max_volume_mm3:
        flags.append("large")
    if th.max_components is not None and n_comp > th.max_components:
        flags.append("fragmented")
    if th.flag_border and border:
        flags.append("border")
    if reference is not None:
        r = _binary(reference)
        if r.GetSize() != m.GetSize():
            raise ConfigError(
                f"reference mask grid {r.GetSize()} differs from the mask grid {m.GetSize()}",
                fix="resample the reference onto the mask's image grid",
            )
        rarr = sitk.GetArrayViewFromImage(r).astype(bool)
        denom = n_fg + int(rarr.sum())
        row["dice"] = 1.0 if denom == 0 else float(2 * (arr & rarr).sum() / denom)
        if n_fg and rarr.any():
            r.CopyInformation(m)
            d = surface_distances(m, r)
            row["hausdorff_mm"] = float(d.max())
            row["hd95_mm"] = float(np.percentile(d, 95))
        if th.min_dice is not None and row["dice"] < th.min_dice:
            flags.append("low_dice")
        if (
            th.max_hausdorff_mm is not None
            and row["hd95_mm"] is not None
            and row["hd95_mm"] > th.max_hausdorff_mm
        ):
            flags.append("high_hd95")
    row["flags"] = ";".join(flags)
    row["ok"] = not flags
    return row


def _reference_lookup(reference: Any) -> Mapping[Any, Case]:
    if reference is None:
        return {}
    cases = as_cases(reference)
    lookup: dict[Any, Case] = {}
    for c in cases:
        lookup[c.key] = c
        lookup.setdefault((c.patient_id, c.modality, c.timepoint), c)
    return lookup


def qc_table(
    cases: Cohort | Iterable[Any],
    reference: Cohort | Iterable[Any] | None = None,
    thresholds: QCThresholds | None = None,
    *,
    on_error: str = "record",
) -> pd.DataFrame:
    """QC table of every case's mask, optionally compared with reference masks.

    Parameters
    ----------
    cases
        Cases whose masks are checked (e.g. the cohort returned by ``predict_masks``).
    reference
        Cases with reference masks, matched by case key (then by patient, modality, timepoint);
        for example the original cohort with manual contours.
    thresholds
        :class:`QCThresholds`.
    on_error
        ``"record"``: a case that cannot be read gets ``ok=False`` and its message in ``error``;
        ``"raise"``: stop at the first failure.

    Returns
    -------
    pandas.DataFrame
        One row per case, indexed by ``(patient_id, modality, timepoint, label)``.
    """
    if on_error not in ("record", "raise"):
        raise ConfigError(
            f"on_error must be 'record' or 'raise', got {on_error!r}",
            fix="use on_error='record' or on_error='raise'",
        )
    lookup = _reference_lookup(reference)
    rows, keys = [], []
    for case in as_cases(cases):
        keys.append(case.key)
        try:
            image = read_case_image(case)
            mask = read_case_mask(case, image)
            ref_case = lookup.get(case.key) or lookup.get(case.key[:3])
            ref = None
            if ref_case is not None and ref_case.mask is not None:
                ref = read_case_mask(ref_case, image)
            row = mask_qc(mask, ref, thresholds)
            row["error"] = ""
        except RadiopredictError as exc:
            if on_error == "raise":
                raise
            row = {"flags": "error", "ok": False, "error": str(exc)}
        rows.append(row)
    index = pd.MultiIndex.from_tuples(keys, names=["patient_id", "modality", "timepoint", "label"])
    cols = [
        "volume_mm3",
        "n_components",
        "largest_fraction",
        "touches_border",
        "dice",
        "hausdorff_mm",
        "hd95_mm",
        "flags",
        "ok",
        "error",
    ]
    table = pd.DataFrame(rows, index=index).reindex(columns=cols)
    table.attrs["thresholds"] = (thresholds or QCThresholds()).to_dict()
    return table
