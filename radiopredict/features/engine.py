"""The native IBSI-1 feature engine: :func:`compute_features` for one ROI,
:func:`compute_features_many` for several (the families' batched implementations).

The chain is the IBSI one: read image and mask -> interpolate onto the IBSI grid -> morphological
mask -> resegment into the intensity mask -> morphology, local intensity and intensity statistics
on the grey values -> discretise -> intensity histogram, IVH and texture families.

A feature that cannot be computed (a family module missing, a family undefined for the ROI, which
its module signals with :class:`~radiopredict.errors.FeatureComputationError`, or a value that is
not finite, such as the coefficient of variation of a zero-mean ROI or the principal axes of a
single voxel) is left out of the Series and reported in ``series.attrs["not_computed"]`` as
``{tag or family: reason}``; the Series never holds NaN.
An ROI that is empty (from the start, after interpolation or after resegmentation) raises
:class:`~radiopredict.errors.EmptyMaskError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import (
    ConfigError,
    EmptyMaskError,
    FeatureComputationError,
    GeometryMismatchError,
)
from radiopredict.features.families import load_family
from radiopredict.features.families._texture import TextureItem
from radiopredict.features.preprocess import _bbox, discretise, preprocess
from radiopredict.features.settings import FeatureSettings

__all__ = ["compute_features", "compute_features_many", "features_many_as_dicts", "as_arrays"]


def as_arrays(
    image: Any, mask: Any, spacing: tuple[float, float, float] | None = None, *, patient=None
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Image and mask as ``(z, y, x)`` arrays plus ``(z, y, x)`` spacing.

    SimpleITK images carry their spacing; for numpy arrays ``spacing`` is required and given in
    the array axis order ``(z, y, x)``. The mask must hold one ROI: its non-zero voxels, which
    must all carry the same value (a label map with several labels is a
    :class:`~radiopredict.errors.ConfigError`).
    """
    try:
        import SimpleITK as sitk
    except ImportError:  # pragma: no cover - SimpleITK is a core dependency
        sitk = None
    if sitk is not None and isinstance(image, sitk.Image):
        img_sp = tuple(float(s) for s in reversed(image.GetSpacing()))
        arr = sitk.GetArrayViewFromImage(image)
        if isinstance(mask, sitk.Image):
            check_grid(image, mask, patient=patient)
            marr = sitk.GetArrayViewFromImage(mask)
        else:
            marr = np.asarray(mask)
        sp = img_sp
    else:
        arr = np.asarray(image)
        if sitk is not None and isinstance(mask, sitk.Image):
            marr = sitk.GetArrayViewFromImage(mask)
        else:
            marr = np.asarray(mask)
        if spacing is None:
            raise ConfigError(
                "numpy image given without spacing",
                patient=patient,
                fix="pass spacing=(dz, dy, dx) in mm, or SimpleITK images",
            )
        sp = tuple(float(s) for s in spacing)
    if arr.ndim == 2:
        arr, marr = arr[None], marr[None] if marr.ndim == 2 else marr
        if len(sp) == 2:
            sp = (1.0, *sp)
    if arr.ndim != 3 or len(sp) != 3:
        raise ConfigError(
            f"image must be 3-D (got {arr.ndim}-D with spacing {sp})",
            patient=patient,
            fix="pass a 3-D image (z, y, x)",
        )
    if marr.shape != arr.shape:
        raise GeometryMismatchError(
            f"mask shape {marr.shape} differs from image shape {arr.shape}",
            patient=patient,
            fix="give a mask on the image grid",
        )
    if not all(math.isfinite(s) and s > 0 for s in sp):
        raise ConfigError(f"spacing must be positive, got {sp}", patient=patient, fix="fix it")
    labels = marr
    marr = marr != 0
    if marr.any() and labels.dtype != bool:
        crop = tuple(slice(lo, hi + 1) for lo, hi in _bbox(marr))
        values = labels[crop][marr[crop]]
        if values.min() != values.max():
            shown = np.unique(values)[:5].tolist()
            raise ConfigError(
                f"the mask holds several labels ({shown}...), not one ROI",
                patient=patient,
                fix="pass a binary mask of one label, e.g. radiopredict.read_mask(path, "
                "reference=image, label=1), or (mask == label)",
            )
    if not np.issubdtype(arr.dtype, np.number) or (
        np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr[marr]))
    ):
        raise ConfigError(
            "image has non-finite values inside the mask",
            patient=patient,
            fix="replace NaN/inf voxels before feature extraction",
        )
    return arr, marr, sp


def check_grid(image: Any, mask: Any, *, patient: str | None = None) -> None:
    """Raise :class:`~radiopredict.errors.GeometryMismatchError` when two SimpleITK images do
    not share one grid: size, spacing, origin and direction, by the one rule of
    :func:`radiopredict.imaging.geometry_differences` (the rule :func:`~radiopredict.read_mask`
    applies)."""
    from radiopredict.imaging.geometry import geometry_differences

    problems = geometry_differences(mask, image)
    if problems:
        raise GeometryMismatchError(
            "image and mask grids differ: " + "; ".join(problems),
            patient=patient,
            fix="resample the mask onto the image (radiopredict.read_mask(..., "
            "reference=image, on_mismatch='resample'))",
        )


def compute_features(
    image: Any,
    mask: Any,
    settings: FeatureSettings | str | None = None,
    *,
    spacing: tuple[float, float, float] | None = None,
    patient: str | None = None,
) -> pd.Series:
    """Compute IBSI-1 features of one ROI.

    Parameters
    ----------
    image
        ``SimpleITK.Image`` or numpy array ``(z, y, x)``.
    mask
        ``SimpleITK.Image`` on the same grid, or numpy array of the same shape; non-zero voxels
        form the ROI.
    settings
        :class:`FeatureSettings` or a preset name; default ``FeatureSettings()``.
    spacing
        ``(z, y, x)`` spacing in mm, required for numpy input.
    patient
        Patient identifier used in error messages.

    Returns
    -------
    pandas.Series
        float values indexed by IBSI tag (``morph_volume``, ``cm_joint_max_3D_avg``, ...).
        ``attrs["not_computed"]`` maps tags or families that could not be computed to the
        reason, ``attrs["timings"]`` the seconds per stage, ``attrs["settings"]`` the settings.

    Raises
    ------
    EmptyMaskError
        The ROI is empty, or becomes empty after interpolation or resegmentation.
    GeometryMismatchError
        Image and mask grids differ.
    ConfigError
        Invalid input (no spacing for numpy input, non-finite grey values, bad settings).
    """
    out = compute_features_many([(image, mask)], settings, spacing=spacing, patient=patient)[0]
    if isinstance(out, Exception):
        raise out
    return out


def compute_features_many(
    items: Sequence[tuple[Any, Any]],
    settings: FeatureSettings | str | None = None,
    *,
    spacing: tuple[float, float, float] | None = None,
    patient: str | None = None,
) -> list[pd.Series | Exception]:
    """Compute the IBSI-1 features of several ROIs with one settings object.

    Each item is an ``(image, mask)`` pair as taken by :func:`compute_features` (typically the
    cut-outs of several labels of one image, or of one label in several filter responses). Each
    family runs once for all ROIs with the same spacing (its ``compute_many``): the texture
    families pack the ROIs side by side, build their matrices together and evaluate their
    features in shared vectorised calls, so a small ROI does not pay a whole family's fixed
    cost; the values are those of :func:`compute_features` on each item (equal to rounding,
    about 1e-12 relative). ``attrs["timings"]`` of a ROI gives each batched family's time
    divided by the ROIs it ran for.

    Returns
    -------
    list
        One entry per item: the Series :func:`compute_features` would return, or the exception
        it would raise (so the other ROIs still complete).
    """
    settings = FeatureSettings.coerce(settings)
    states = _compute_states(items, settings, spacing, patient)
    settings_dict = settings.to_dict()
    return [
        st if isinstance(st, Exception) else (st.error or st.series(settings_dict)) for st in states
    ]


def features_many_as_dicts(
    items: Sequence[tuple[Any, Any]],
    settings: FeatureSettings,
    *,
    spacing: tuple[float, float, float] | None = None,
    not_computed: list[dict[str, str]] | None = None,
) -> list[dict[str, float] | Exception]:
    """:func:`compute_features_many` as plain ``{tag: value}`` dicts (finite values only), for
    callers that build their own tables (the cohort engines): no Series per ROI.
    ``not_computed``: a list, filled with each ROI's ``{tag or family: reason}`` (what
    ``series.attrs["not_computed"]`` holds; empty for an ROI that failed)."""
    states = _compute_states(items, settings, spacing, None)
    out: list[dict[str, float] | Exception] = []
    for st in states:
        res = st if isinstance(st, Exception) else (st.error or st.features())
        out.append(res)
        if not_computed is not None:
            failed = isinstance(res, Exception)
            not_computed.append({} if failed else dict(st.not_computed))
    return out


def _compute_states(items, settings: FeatureSettings, spacing, patient) -> list:
    states: list[_State | Exception] = []
    for image, mask in items:
        try:
            states.append(_first_order(image, mask, settings, spacing, patient))
        except Exception as exc:
            states.append(exc)
    fams = settings.families
    ok = [st for st in states if isinstance(st, _State)]
    if "morphology" in fams:
        mg = {
            "moran_geary_on": settings.moran_geary,
            "moran_geary_max_voxels": settings.moran_geary_max_voxels,
        }
        _run_batched(
            "morphology",
            ok,
            lambda m, group: m.compute_many(
                [(st.image, st.morph, st.roi) for st in group], group[0].spacing, **mg
            ),
            lambda m, st: m.compute(st.image, st.morph, st.roi, st.spacing, **mg),
        )
    if "local_intensity" in fams:
        _run_batched(
            "local_intensity",
            ok,
            lambda m, group: m.compute_many([(st.image, st.roi) for st in group], group[0].spacing),
            lambda m, st: m.compute(st.image, st.roi, st.spacing),
        )
    if "intensity_stats" in fams:
        _run_batched(
            "intensity_stats",
            ok,
            lambda m, group: m.compute_many([st.values for st in group]),
            lambda m, st: m.compute(st.values),
        )
    if "intensity_histogram" in fams:
        _run_batched(
            "intensity_histogram",
            [st for st in ok if st.discretised is not None],
            lambda m, group: m.compute_many([st.discretised for st in group]),
            lambda m, st: m.compute(*st.discretised),
        )
    for name in settings.texture_families:
        _run_batched(
            name,
            [st for st in ok if st.texture is not None],
            lambda m, group: m.compute_many(
                [st.texture for st in group], spacing=group[0].spacing, settings=settings
            ),
            lambda m, st: m.compute(
                *st.texture[:3], spacing=st.spacing, settings=settings, morph_roi=st.texture[3]
            ),
        )
    return states


def _run_batched(name: str, states: list[_State], many, one) -> None:
    """Run family ``name`` for the ROIs ``states``: ``many(module, group)`` per group of ROIs
    with the same spacing when the module has ``compute_many`` (and there are several ROIs),
    else ``one(module, state)`` per ROI. A
    :class:`~radiopredict.errors.FeatureComputationError` marks the family as not computed for
    its ROI; any other error fails the ROI (a batch that fails as a whole is rerun ROI by ROI,
    so only the ROIs that fail on their own are lost)."""
    states = [st for st in states if st.error is None]
    if not states:
        return
    mod, why = load_family(name)
    if mod is None:
        for st in states:
            st.not_computed[name] = why
        return

    def each(group):
        out = []
        for st in group:
            try:
                out.append(one(mod, st))
            except Exception as exc:
                out.append(exc)
        return out

    groups: dict[tuple, list[_State]] = {}
    for st in states:
        groups.setdefault(st.spacing, []).append(st)
    for group in groups.values():
        t = time.perf_counter()
        if len(group) > 1 and hasattr(mod, "compute_many"):
            try:
                results = many(mod, group)
            except Exception:
                results = each(group)
        else:
            results = each(group)
        share = (time.perf_counter() - t) / len(group)
        for st, res in zip(group, results, strict=True):
            if isinstance(res, FeatureComputationError):  # undefined for this ROI
                st.not_computed[name] = str(res)
            elif isinstance(res, Exception):
                st.error = res
            else:
                st.parts[name] = res
            st.timings[name] = share


class _State:
    """One ROI on its way through :func:`compute_features_many`."""

    #: The order of the families' features in the output.
    ORDER = (
        "diagnostics",
        "morphology",
        "local_intensity",
        "intensity_stats",
        "ivh",
        "intensity_histogram",
    )

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.parts: dict[str, dict[str, float]] = {}
        self.not_computed: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self.spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
        self.image: np.ndarray | None = None  # preprocessed grey values
        self.roi: np.ndarray | None = None  # intensity mask
        self.morph: np.ndarray | None = None  # morphological mask
        self.values: np.ndarray | None = None  # grey values of the ROI
        self.discretised: tuple[np.ndarray, int] | None = None  # ROI levels and N_g
        self.texture: tuple | None = None  # (q, roi, n_levels, morph) cropped for the textures
        self.error: Exception | None = None

    def features(self) -> dict[str, float]:
        """The finite values, in the families' order; the others go to ``not_computed``."""
        out: dict[str, float] = {}
        for name in self.ORDER:
            out.update(self.parts.get(name, {}))
        for name, part in self.parts.items():  # texture families, in the order they ran
            if name not in self.ORDER:
                out.update(part)
        bad = [tag for tag, value in out.items() if not math.isfinite(value)]
        for tag in bad:
            self.not_computed[tag] = "value is not finite for this ROI (e.g. division by zero)"
            del out[tag]
        return out

    def series(self, settings: dict[str, Any]) -> pd.Series:
        series = pd.Series(self.features(), dtype=np.float64)
        # the ROI's own stages; a family run for a batch of ROIs counts its share of the batch
        self.timings["total"] = sum(self.timings.values())
        series.attrs["not_computed"] = self.not_computed
        series.attrs["timings"] = self.timings
        series.attrs["settings"] = dict(settings)
        return series


def _first_order(image, mask, settings: FeatureSettings, spacing, patient) -> _State:
    """Read and preprocess one ROI, compute its IVH and discretise it; the families batched
    over ROIs run later, from what the state keeps."""
    st = _State(time.perf_counter())
    timings, not_computed = st.timings, st.not_computed
    arr, marr, sp = as_arrays(image, mask, spacing, patient=patient)
    if not marr.any():
        raise EmptyMaskError(
            "the mask contains no voxel", patient=patient, fix="check the mask and its label"
        )
    pre = preprocess(arr, marr, sp, settings, patient=patient)
    timings["preprocess"] = time.perf_counter() - st.t0
    img, morph, roi, sp = pre.image, pre.morph_mask, pre.int_mask, pre.spacing
    st.spacing, st.image, st.roi, st.morph = sp, img, roi, morph
    values = st.values = img[roi]
    st.parts["diagnostics"] = dict(pre.diagnostics)
    fams = settings.families

    def run(name: str, fn) -> None:
        t = time.perf_counter()
        mod, why = load_family(name)
        if mod is None:
            not_computed[name] = why
            return
        try:
            st.parts[name] = fn(mod)
        except FeatureComputationError as exc:  # the family is undefined for this ROI
            not_computed[name] = str(exc)
        timings[name] = time.perf_counter() - t

    if "ivh" in fams:
        run("ivh", lambda m: m.compute(values, settings))
    need_q = any(f in fams for f in ("intensity_histogram", *settings.texture_families))
    if need_q:
        t = time.perf_counter()
        lb = settings.bin_lower_bound
        if lb is None and settings.reseg_range is not None:
            lb = settings.reseg_range[0]
        qv, n_levels = discretise(
            values,
            settings.discretisation,
            bin_number=settings.bin_number,
            bin_width=settings.bin_width,
            lower_bound=lb,
        )
        timings["discretise"] = time.perf_counter() - t
        st.discretised = (qv, n_levels)
        if settings.texture_families:
            # crop to the morphological mask with one voxel of background around it
            sl = tuple(
                slice(max(0, lo - 1), min(n, hi + 2))
                for (lo, hi), n in zip(_bbox(morph), morph.shape, strict=True)
            )
            q = np.zeros(morph.shape, dtype=np.int32)
            q[roi] = qv
            st.texture = TextureItem(q[sl], roi[sl], n_levels, morph[sl])
    return st
