"""IBSI-1 image processing: grid interpolation, resegmentation and discretisation.

Arrays are numpy ``(z, y, x)``; spacings inside this module are ``(z, y, x)`` in mm as well
(the :class:`~radiopredict.features.settings.FeatureSettings` fields use ``(x, y, z)`` like
SimpleITK and are reversed by the engine).

The IBSI interpolation grid keeps the centre of the image: along an axis with ``n_a`` voxels of
spacing ``s_a`` the new grid has ``n_b = ceil(n_a s_a / s_b)`` voxels of spacing ``s_b`` and voxel
``j`` lies at original index coordinate ``(n_a - 1)/2 + (j - (n_b - 1)/2) s_b / s_a``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radiopredict.errors import ConfigError, EmptyMaskError
from radiopredict.features.registry import FeatureDef, register
from radiopredict.features.settings import FeatureSettings

__all__ = [
    "Preprocessed",
    "ibsi_grid",
    "interpolate",
    "resegment",
    "discretise",
    "preprocess",
    "LOCAL_PEAK_RADIUS_MM",
]

#: Radius (mm) of the 1 cm^3 sphere used by the local intensity features.
LOCAL_PEAK_RADIUS_MM = 10.0 * (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)

_ORDER = {"nearest": 0, "linear": 1, "cubic": 3}

_STAGES = {"init": "original", "interp": "interpolated", "reseg": "resegmented"}


def _diagnostic_defs() -> list[FeatureDef]:
    defs = []
    for stage in ("init", "interp"):
        for ax in "xyz":
            defs.append(
                FeatureDef(
                    f"img_dim_{ax}_{stage}_img",
                    "",
                    "diagnostics",
                    f"Image size along {ax} ({_STAGES[stage]} image)",
                    "",
                    "Number of voxels of the whole image along the axis.",
                )
            )
            defs.append(
                FeatureDef(
                    f"vox_dim_{ax}_{stage}_img",
                    "",
                    "diagnostics",
                    f"Voxel spacing along {ax} ({_STAGES[stage]} image)",
                    "",
                    "In mm.",
                )
            )
        for stat in ("mean", "min", "max"):
            defs.append(
                FeatureDef(
                    f"{stat}_int_{stage}_img",
                    "",
                    "diagnostics",
                    f"{stat.capitalize()} grey value of the {_STAGES[stage]} image",
                    "",
                    "Over every voxel of the image.",
                )
            )
    for stage in ("init", "interp", "reseg"):
        for kind in ("int_mask", "morph_mask"):
            what = "intensity" if kind == "int_mask" else "morphological"
            for ax in "xyz":
                defs.append(
                    FeatureDef(
                        f"{kind}_dim_{ax}_{stage}_roi",
                        "",
                        "diagnostics",
                        f"Mask size along {ax} ({what} mask, {_STAGES[stage]})",
                        "",
                    )
                )
                defs.append(
                    FeatureDef(
                        f"{kind}_bb_dim_{ax}_{stage}_roi",
                        "",
                        "diagnostics",
                        f"ROI bounding box size along {ax} ({what} mask, {_STAGES[stage]})",
                        "",
                    )
                )
            defs.append(
                FeatureDef(
                    f"{kind}_vox_count_{stage}_roi",
                    "",
                    "diagnostics",
                    f"Voxel count ({what} mask, {_STAGES[stage]})",
                    "",
                )
            )
        for stat in ("mean", "min", "max"):
            defs.append(
                FeatureDef(
                    f"int_mask_{stat}_int_{stage}_roi",
                    "",
                    "diagnostics",
                    f"{stat.capitalize()} grey value in the intensity mask ({_STAGES[stage]})",
                    "",
                )
            )
    return defs


#: IBSI diagnostic values emitted with ``FeatureSettings(diagnostics=True)``.
DIAGNOSTICS = _diagnostic_defs()
register(*DIAGNOSTICS)


@dataclass
class Preprocessed:
    """Result of :func:`preprocess`, cropped around the ROI.

    Attributes
    ----------
    image
        Interpolated (and rounded) grey values, float64 ``(z, y, x)``.
    morph_mask
        Morphological mask (interpolated mask, before resegmentation).
    int_mask
        Intensity mask (morphological mask after resegmentation).
    spacing
        Voxel spacing ``(z, y, x)`` in mm.
    diagnostics
        IBSI diagnostic values (``img_dim_x_init_img`` ...).
    """

    image: np.ndarray
    morph_mask: np.ndarray
    int_mask: np.ndarray
    spacing: tuple[float, float, float]
    diagnostics: dict[str, float] = field(default_factory=dict)


def ibsi_grid(n: int, spacing: float, new_spacing: float) -> np.ndarray:
    """Positions (original voxel index units) of the IBSI interpolation grid along one axis.

    Parameters
    ----------
    n
        Number of voxels along the axis.
    spacing, new_spacing
        Original and target spacing (mm).

    Returns
    -------
    numpy.ndarray
        ``ceil(n * spacing / new_spacing)`` positions, centred on the original axis centre.
    """
    n_new = int(math.ceil(n * spacing / new_spacing - 1e-9))
    ratio = new_spacing / spacing
    return (n - 1) / 2.0 + (np.arange(n_new) - (n_new - 1) / 2.0) * ratio


def _target_spacing(spacing_zyx, settings: FeatureSettings) -> tuple[float, float, float]:
    ns = settings.new_spacing
    if settings.interpolation_dims == "2D":
        return (float(spacing_zyx[0]), float(ns[1]), float(ns[0]))
    return (float(ns[2]), float(ns[1]), float(ns[0]))


def interpolate(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    settings: FeatureSettings,
    *,
    margin_mm: float = LOCAL_PEAK_RADIUS_MM,
    crop: bool = True,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float], tuple[int, int, int]]:
    """Resample image and mask onto the IBSI grid (only around the ROI).

    Only grid points within the ROI bounding box plus ``margin_mm`` are evaluated, which gives
    exactly the values of the full grid there at a fraction of the cost.

    Parameters
    ----------
    image, mask
        ``(z, y, x)`` arrays on the original grid.
    spacing
        Original spacing ``(z, y, x)`` (mm).
    settings
        Interpolation settings (``new_spacing``, ``interpolation_dims``, ``interpolator``,
        ``round_intensities``, ``mask_interpolator``, ``mask_threshold``).
    margin_mm
        Margin kept around the ROI (the local intensity sphere needs its radius).
    crop
        ``False`` evaluates the whole grid.

    Returns
    -------
    image, mask, spacing, full_shape
        The interpolated crop, its bool mask, the new spacing ``(z, y, x)`` and the shape the
        full interpolated image would have.
    """
    new_sp = _target_spacing(spacing, settings)
    bb = _bbox(mask)
    axes_pos = []
    full_shape = []
    for ax in range(3):
        pos = ibsi_grid(image.shape[ax], spacing[ax], new_sp[ax])
        full_shape.append(pos.size)
        lo, hi = bb[ax]
        m = margin_mm / spacing[ax] + 2.0
        keep = (pos >= lo - m) & (pos <= hi + m) if crop else np.ones(pos.size, bool)
        axes_pos.append(pos[keep])
    # crop the source around the needed positions (plus a spline margin) to limit the work
    pad = 12 if settings.interpolator == "cubic" else 2
    starts = [max(0, int(math.floor(p.min())) - pad) for p in axes_pos]
    stops = [min(image.shape[a], int(math.ceil(axes_pos[a].max())) + pad + 1) for a in range(3)]
    src = tuple(slice(s, e) for s, e in zip(starts, stops, strict=True))
    img = np.asarray(image[src], dtype=np.float64)
    msk = np.asarray(mask[src], dtype=np.float64)
    rel = [axes_pos[a] - starts[a] for a in range(3)]
    order = _ORDER[settings.interpolator]
    morder = _ORDER[settings.mask_interpolator]
    if settings.interpolation_dims == "2D":
        # slices stay where they are: interpolate each slice in-plane
        zi = np.rint(rel[0]).astype(int)
        yy, xx = np.meshgrid(rel[1], rel[2], indexing="ij")
        coords = np.stack([yy.ravel(), xx.ravel()])
        shape2 = yy.shape
        out = np.empty((zi.size, *shape2))
        mout = np.empty((zi.size, *shape2))
        for k, z in enumerate(zi):
            out[k] = ndimage.map_coordinates(img[z], coords, order=order, mode="nearest").reshape(
                shape2
            )
            mout[k] = ndimage.map_coordinates(
                msk[z], coords, order=morder, mode="constant", cval=0.0
            ).reshape(shape2)
    else:
        grid = np.meshgrid(*rel, indexing="ij")
        coords = np.stack([g.ravel() for g in grid])
        shape3 = grid[0].shape
        out = ndimage.map_coordinates(img, coords, order=order, mode="nearest").reshape(shape3)
        mout = ndimage.map_coordinates(
            msk, coords, order=morder, mode="constant", cval=0.0
        ).reshape(shape3)
    if settings.round_intensities:
        out = np.rint(out)
    new_mask = mout >= settings.mask_threshold - 1e-12
    return out, new_mask, new_sp, tuple(full_shape)


def resegment(image: np.ndarray, mask: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Intensity mask: ``mask`` restricted to the resegmentation range, then outlier filter.

    The outlier filter keeps voxels within ``mean +- sigma * sd`` (population sd) of the grey
    values remaining after the range filter.
    """
    out = mask.copy()
    if settings.reseg_range is not None:
        lo, hi = settings.reseg_range
        if lo is not None:
            out &= image >= float(lo)
        if hi is not None:
            out &= image <= float(hi)
    if settings.reseg_outlier_sigma is not None and out.any():
        v = image[out]
        mu, sd = v.mean(), v.std()
        k = float(settings.reseg_outlier_sigma)
        out &= (image >= mu - k * sd) & (image <= mu + k * sd)
    return out


def discretise(
    values: np.ndarray,
    method: str,
    *,
    bin_number: int = 32,
    bin_width: float = 25.0,
    lower_bound: float | None = None,
) -> tuple[np.ndarray, int]:
    """Discretise grey values into levels 1..N.

    Parameters
    ----------
    values
        Grey values of the ROI voxels (any shape).
    method
        ``"fbn"``: :math:`q = \\lfloor N_g (X - X_{min}) / (X_{max} - X_{min}) \\rfloor + 1`
        (the maximum maps to :math:`N_g`); ``"fbs"``:
        :math:`q = \\lfloor (X - X_{lb}) / w_b \\rfloor + 1`; ``"none"``: the values must already
        be positive integers.
    bin_number, bin_width
        :math:`N_g` and :math:`w_b`.
    lower_bound
        :math:`X_{lb}` for ``"fbs"``; defaults to the minimum value.

    Returns
    -------
    q, n_levels
        int32 levels of the same shape, and the number of levels (``bin_number`` for FBN, the
        highest level otherwise).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise EmptyMaskError(
            "nothing to discretise: the ROI is empty",
            fix="check the mask and the resegmentation range (reseg_range)",
        )
    if method == "fbn":
        vmin, vmax = values.min(), values.max()
        if vmax > vmin:
            q = np.floor(bin_number * (values - vmin) / (vmax - vmin)).astype(np.int64) + 1
            q = np.minimum(q, bin_number)
        else:
            q = np.ones(values.shape, dtype=np.int64)
        return q.astype(np.int32), int(bin_number)
    if method == "fbs":
        lb = float(values.min()) if lower_bound is None else float(lower_bound)
        # a tiny tolerance keeps values sitting on a bin edge in the upper bin despite rounding
        q = np.floor((values - lb) / bin_width + 1e-9).astype(np.int64) + 1
        if q.min() < 1:
            raise ConfigError(
                f"fixed bin size lower bound {lb} lies above the smallest ROI value {values.min()}",
                fix="lower bin_lower_bound or resegment the ROI to the range starting there",
            )
        return q.astype(np.int32), int(q.max())
    if method == "none":
        q = np.rint(values)
        if not np.allclose(q, values) or q.min() < 1:
            raise ConfigError(
                "discretisation 'none' needs positive integer grey values in the ROI "
                f"(found values in [{values.min()}, {values.max()}])",
                fix="use discretisation 'fbn' or 'fbs'",
            )
        return q.astype(np.int32), int(q.max())
    raise ConfigError(f"unknown discretisation {method!r}", fix="use 'fbn', 'fbs' or 'none'")


def _bbox(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` index of the mask along each axis (two passes, no nonzero)."""
    proj_yx = mask.any(axis=0)
    along = [mask.any(axis=(1, 2)), proj_yx.any(axis=1), proj_yx.any(axis=0)]
    out = []
    for a in along:
        idx = np.flatnonzero(a)
        out.append((int(idx[0]), int(idx[-1])))
    return out


def _mask_diag(prefix: str, image, mask, stage: str, shape) -> dict[str, float]:
    d: dict[str, float] = {}
    for name, ax in (("x", 2), ("y", 1), ("z", 0)):
        d[f"{prefix}_dim_{name}_{stage}_roi"] = float(shape[ax])
    if mask.any():
        bb = _bbox(mask)
        for name, ax in (("x", 2), ("y", 1), ("z", 0)):
            d[f"{prefix}_bb_dim_{name}_{stage}_roi"] = float(bb[ax][1] - bb[ax][0] + 1)
    d[f"{prefix}_vox_count_{stage}_roi"] = float(mask.sum())
    if prefix == "int_mask" and mask.any():
        v = image[mask]
        d[f"int_mask_mean_int_{stage}_roi"] = float(v.mean())
        d[f"int_mask_min_int_{stage}_roi"] = float(v.min())
        d[f"int_mask_max_int_{stage}_roi"] = float(v.max())
    return d


def _diag_image(image, spacing, shape, stage: str) -> dict[str, float]:
    d: dict[str, float] = {}
    for name, ax in (("x", 2), ("y", 1), ("z", 0)):
        d[f"img_dim_{name}_{stage}_img"] = float(shape[ax])
        d[f"vox_dim_{name}_{stage}_img"] = float(spacing[ax])
    d[f"mean_int_{stage}_img"] = float(image.mean())
    d[f"min_int_{stage}_img"] = float(image.min())
    d[f"max_int_{stage}_img"] = float(image.max())
    return d


def preprocess(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    settings: FeatureSettings,
    *,
    patient: str | None = None,
) -> Preprocessed:
    """Run the IBSI chain: interpolate, derive morphological and intensity masks, crop.

    Parameters
    ----------
    image, mask
        ``(z, y, x)`` arrays of the same shape; ``mask`` is read as bool.
    spacing
        ``(z, y, x)`` voxel spacing (mm).
    settings
        Feature settings.
    patient
        Patient identifier for error messages.

    Raises
    ------
    EmptyMaskError
        When the mask is empty, or the ROI is empty after interpolation or resegmentation.
    """
    mask = np.asarray(mask).astype(bool)
    image = np.asarray(image)
    if not mask.any():
        raise EmptyMaskError(
            "the mask contains no voxel", patient=patient, fix="check the mask and its label"
        )
    diag: dict[str, float] = {}
    if settings.diagnostics:
        diag.update(_diag_image(image.astype(np.float64), spacing, image.shape, "init"))
        for prefix in ("int_mask", "morph_mask"):
            diag.update(_mask_diag(prefix, image, mask, "init", mask.shape))
    if settings.new_spacing is not None:
        img, morph, sp, full_shape = interpolate(image, mask, spacing, settings)
        if not morph.any():
            raise EmptyMaskError(
                "the ROI vanished after interpolation (partial-volume threshold "
                f"{settings.mask_threshold})",
                patient=patient,
                fix="use a finer new_spacing or a lower mask_threshold",
            )
        n_bad = int(np.count_nonzero(~np.isfinite(img[morph])))
        if n_bad:  # NaN / inf voxels next to the ROI, pulled in by interpolation
            raise ConfigError(
                f"{n_bad} voxel(s) of the ROI are NaN or infinite after interpolation onto the "
                f"{settings.new_spacing} mm grid: the image has non-finite voxels next to the ROI",
                patient=patient,
                fix="replace NaN/inf voxels of the image (e.g. by the background value) before "
                "feature extraction",
            )
    else:
        pad = [int(math.ceil(LOCAL_PEAK_RADIUS_MM / s)) + 1 for s in spacing]
        bb = _bbox(mask)
        sl = tuple(
            slice(max(0, lo - p), min(n, hi + p + 1))
            for (lo, hi), p, n in zip(bb, pad, image.shape, strict=True)
        )
        img = image[sl].astype(np.float64)
        morph = mask[sl]
        sp = tuple(float(s) for s in spacing)
        full_shape = image.shape
    if settings.diagnostics:
        if settings.new_spacing is not None:
            # image-level diagnostics cover the whole interpolated grid
            full_img = interpolate(image, mask, spacing, settings, crop=False)[0]
            diag.update(_diag_image(full_img, sp, full_shape, "interp"))
            del full_img
        else:
            diag.update(
                {
                    k.replace("_init_", "_interp_"): v
                    for k, v in diag.items()
                    if k.endswith("_init_img")
                }
            )
        for prefix in ("int_mask", "morph_mask"):
            diag.update(_mask_diag(prefix, img, morph, "interp", full_shape))
    int_mask = resegment(img, morph, settings)
    if not int_mask.any():
        raise EmptyMaskError(
            f"the ROI is empty after resegmentation (range {settings.reseg_range}, outlier "
            f"sigma {settings.reseg_outlier_sigma})",
            patient=patient,
            fix="check the image intensities and units, or widen reseg_range",
        )
    if settings.diagnostics:
        diag.update(_mask_diag("int_mask", img, int_mask, "reseg", full_shape))
        diag.update(_mask_diag("morph_mask", img, morph, "reseg", full_shape))
    return Preprocessed(img, morph, int_mask, tuple(float(s) for s in sp), diag)
