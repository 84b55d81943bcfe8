"""The native engine: radiopredict's IBSI features, optionally on IBSI-2 filter response maps.

:class:`NativeEngine` computes the features of several (mask, label) pairs of **one** image at a
time (see :mod:`radiopredict.features.engines`), so that reading and filtering the image happen
once: each filter runs once per group of nearby ROIs on an exactly padded crop
(:func:`~radiopredict.features.engines._crop.crop_groups`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radiopredict._version import __version__
from radiopredict.errors import EmptyMaskError

__all__ = ["NativeEngine"]


class NativeEngine:
    """radiopredict's IBSI engine, optionally on IBSI-2 filter response maps.

    Parameters
    ----------
    settings
        :class:`~radiopredict.features.FeatureSettings`, a preset name, a YAML path or None
        (defaults).
    filters
        Optional IBSI-2 filters (:class:`~radiopredict.features.filters.FilterSpec` or dicts).
        Each filter runs once per group of nearby ROIs of an image, on a crop padded by its
        support (:func:`~radiopredict.features.engines._crop.crop_groups`); features of
        the response map are prefixed with the filter's name (``log_s1.5__stat_mean``).
    original
        Also compute the features of the unfiltered image (default True).

    Notes
    -----
    A label-map file is read and scanned once for all its labels, and each ROI is cut out of
    the image with the margin its features need (the local-intensity-peak sphere), so a label
    costs its own features, not passes over the whole image. The results equal those of
    :func:`~radiopredict.features.compute_features` on the whole (filtered) image.
    """

    name = "native"

    def __init__(self, settings: Any = None, filters: Sequence[Any] = (), original: bool = True):
        from radiopredict.features import FeatureSettings  # core engine

        self.settings = FeatureSettings.coerce(settings)
        self.filters = []
        if filters:
            from radiopredict.features.filters import FilterSpec

            self.filters = [f if isinstance(f, FilterSpec) else FilterSpec(**f) for f in filters]
        self.original = original
        self.version = __version__

    def config(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "version": self.version,
            "settings": self.settings.to_dict(),
            "filters": [f.to_dict() for f in self.filters],
            "original": self.original,
        }

    def compute(self, image, items, *, not_computed: list[dict[str, str]] | None = None):
        """Features of each (mask, label) item of ``image`` (a dict, or the item's error);
        ``not_computed``: a list, filled with each item's ``{tag or family: reason}``."""
        import SimpleITK as sitk

        from radiopredict.features.engine import features_many_as_dicts
        from radiopredict.features.engines._crop import crop_groups
        from radiopredict.features.filters import filter_array, filter_radius
        from radiopredict.features.preprocess import LOCAL_PEAK_RADIUS_MM

        image = _read_image(image)
        size = np.array(image.GetSize())
        spacing = np.array(image.GetSpacing(), dtype=float)
        spacing_zyx = tuple(float(s) for s in spacing[::-1])
        # one numpy view of the image: ROIs and filter crops are views of it (no copies)
        pixels = sitk.GetArrayViewFromImage(image)
        # Without resampling or image-level diagnostics a feature depends only on the voxels of
        # the ROI's box plus the local-intensity-peak sphere around it (what compute_features
        # keeps itself): each ROI is cut out once, with that margin, and computed on its cut-out.
        cut = getattr(self.settings, "new_spacing", None) is None and not getattr(
            self.settings, "diagnostics", False
        )
        peak = np.ceil(LOCAL_PEAK_RADIUS_MM / spacing).astype(int) + 1 if cut else None
        rois = _read_rois(image, items, peak)
        results: list[Any] = [r if isinstance(r, Exception) else None for r in rois]
        good = [i for i, r in enumerate(rois) if not isinstance(r, Exception)]
        feats: dict[int, dict[str, float]] = {i: {} for i in good}
        undefined: dict[int, dict[str, str]] = {i: {} for i in good}

        # With cut-outs, every (ROI, image type) pair of the image goes into one batch, so the
        # texture families build and evaluate their matrices together; the cut-outs of a
        # filter response are copied out of it, so that only one response is held at a time.
        # Without (resampling, diagnostics), each ROI needs the whole response: one batch per
        # image type, on views of its response, so that memory does not grow with the ROIs.
        batch: list[tuple[Any, Any]] = []
        owner: list[tuple[int, str]] = []

        def flush() -> None:
            why: list[dict[str, str]] = []
            out = features_many_as_dicts(
                batch, self.settings, spacing=spacing_zyx, not_computed=why
            )
            for (i, prefix), vals, reasons in zip(owner, out, why, strict=True):
                if results[i] is not None:
                    continue
                if isinstance(vals, Exception):
                    results[i] = vals
                else:
                    feats[i].update({f"{prefix}{k}": v for k, v in vals.items()})
                    undefined[i].update({f"{prefix}{k}": r for k, r in reasons.items()})
            batch.clear()
            owner.clear()

        if self.original:
            for i in good:
                batch.append((pixels[_zyx(rois[i].lo, rois[i].hi)], rois[i].mask))
                owner.append((i, ""))
        groups: dict[tuple, list] = {}
        for spec in self.filters if good else ():
            if not cut:
                flush()
            # one crop per group of nearby ROIs, padded so that every voxel of each ROI's
            # cut-out has the response of the whole filtered image (filter radius + margin)
            pad = None
            if cut:
                pad = filter_radius(spec, spacing[::-1])[::-1] + peak
            # a crop that reaches the image border ends there, so the boundary condition is
            # applied where the whole image applies it; a periodic one wraps around to the
            # opposite border, so that crop keeps the whole axis
            periodic = spec.boundary == "periodic"
            key = (None if pad is None else tuple(int(p) for p in pad), periodic)
            if key not in groups:  # filters of the same support (wavelet sub-bands) share it
                groups[key] = crop_groups(
                    [rois[i].box for i in good], size, pad, full_axis_at_border=periodic
                )
            for members, lo, hi in groups[key]:
                response = filter_array(pixels[_zyx(lo, hi)], spec, spacing_zyx)
                for i in (good[m] for m in members):
                    cutout = response[_zyx(rois[i].lo - lo, rois[i].hi - lo)]
                    batch.append((cutout.copy() if cut else cutout, rois[i].mask))
                    owner.append((i, f"{spec.name}__"))
                del response
        flush()
        if not_computed is not None:
            not_computed.extend(undefined.get(i, {}) for i in range(len(items)))
        return [results[i] if results[i] is not None else feats[i] for i in range(len(items))]


class _Roi:
    """One ROI cut out of its image: mask array (z, y, x) of the cut-out, its index range
    ``lo:hi`` (x, y, z order, as SimpleITK sizes) and its box."""

    __slots__ = ("mask", "lo", "hi", "box")

    def __init__(self, mask, lo, hi, box):
        self.mask, self.lo, self.hi, self.box = mask, lo, hi, box


def _zyx(lo, hi) -> tuple[slice, ...]:
    """numpy slices ``(z, y, x)`` of the index range ``lo:hi`` given in x, y, z order."""
    return tuple(slice(int(a), int(b)) for a, b in zip(lo[::-1], hi[::-1], strict=True))


def _read_rois(image, items, peak) -> list:
    """Mask arrays of the ROIs cut out with ``peak`` voxels around their box (None: whole).

    A label-map file is read, checked against the image and scanned once for all its labels;
    DICOM-SEG / RTSTRUCT files and in-memory masks are read per label (in-memory masks are
    checked against the image grid here). Failures are returned in place (their stage is
    ``read``), so the other ROIs still complete.
    """
    import SimpleITK as sitk

    from radiopredict.features.engine import check_grid
    from radiopredict.features.engines._crop import crop_region

    size = np.array(image.GetSize())
    maps: dict[Any, Any] = {}
    out: list[Any] = []
    for mask, label in items:
        try:
            key = str(mask) if isinstance(mask, (str, os.PathLike)) else id(mask)
            if key not in maps:
                maps[key] = _LabelMap.read(mask, image)
            full = maps[key].select(mask, image, label)
            if isinstance(full, tuple):  # (label-map array, number, box) of a label map
                labels, number, box = full
            else:
                check_grid(image, full)
                labels, number, box = sitk.GetArrayFromImage(full), None, _bbox(full)
            lo, hi = crop_region([box], size, peak)
            cut = labels[_zyx(lo, hi)]
            out.append(_Roi(cut if number is None else cut == number, lo, hi, box))
        except Exception as exc:
            exc.radiopredict_stage = "read"  # reported as a read failure, not a feature one
            out.append(exc)
    return out


class _LabelMap:
    """A label-map mask file read once: its image, label names and the box of every label
    (the labels present and their boxes from one scan of the voxels)."""

    def __init__(self, img=None, path=None, error=None):
        self.img, self.path, self.error = img, path, error
        self._boxes = None
        self._array = None
        self._names = None

    @classmethod
    def read(cls, mask, image):
        import SimpleITK as sitk

        if isinstance(mask, sitk.Image):
            return cls()
        try:
            from radiopredict.imaging import dicom, read_mask
        except ImportError:  # imaging module not available: per-label reads
            return cls()
        path = Path(mask)
        if not path.is_file() or dicom.is_dicom_file(path):
            return cls()  # DICOM masks are read per label; missing files raise per item
        try:
            img = read_mask(path, image)
        except Exception as exc:
            return cls(error=exc)
        return cls(img, path)

    def select(self, mask, image, label):
        """``(label-map array, number, box)`` for a label of a label map, else a mask image."""
        if self.error is not None:
            raise self.error
        if self.img is None or label is None:
            return _read_mask(mask, image, label)
        from radiopredict.imaging.io import _resolve_label

        self._scan()
        number = _resolve_label(label, self._names, self.path)
        box = self._box(number)
        return self._array, number, box

    def _scan(self) -> None:
        """Find the labels present, their names and boxes (once)."""
        import SimpleITK as sitk
        from scipy import ndimage

        from radiopredict.imaging.io import _label_names_for

        if self._boxes is not None:
            return
        arr = self._array = np.asarray(sitk.GetArrayViewFromImage(self.img))
        present = None
        if arr.dtype.kind != "u":  # find_objects ignores 0; negative values are no label
            arr = np.clip(arr, 0, None)
        self._boxes = ndimage.find_objects(arr)
        if self._array.dtype.kind == "u":  # every label has a box: one scan for both
            present = [i + 1 for i, sl in enumerate(self._boxes) if sl is not None]
        self._names = _label_names_for(self.path, self.img, present)

    def _box(self, number):
        sl = self._boxes[number - 1] if 0 < number <= len(self._boxes) else None
        if sl is None:
            raise EmptyMaskError(
                f"label {number} has no voxel in the mask", path=self.path, fix="check the label"
            )
        out = []
        for axis in reversed(range(len(sl))):  # numpy z, y, x -> (L_x, U_x, L_y, U_y, ...)
            out += [int(sl[axis].start), int(sl[axis].stop) - 1]
        return np.array(out)


def _bbox(mask) -> np.ndarray:
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    nz = np.nonzero(arr)
    if len(nz[0]) == 0:
        raise EmptyMaskError("the mask is empty", fix="check the segmentation")
    # numpy order z, y, x -> pyradiomics layout (L_x, U_x, L_y, U_y, L_z, U_z)
    out = []
    for axis in reversed(range(arr.ndim)):
        out += [int(nz[axis].min()), int(nz[axis].max())]
    return np.array(out)


def _read_image(path):
    import SimpleITK as sitk

    if isinstance(path, sitk.Image):
        return path
    try:
        from radiopredict.imaging import read_image
    except ImportError:  # imaging module not available: plain SimpleITK
        from radiopredict.features.engines.pyradiomics import _read

        return _read(path, sitk)
    return read_image(path)


def _read_mask(path, reference, label):
    import SimpleITK as sitk

    try:
        from radiopredict.imaging import read_mask
    except ImportError:
        read_mask = None
    if read_mask is not None and not isinstance(path, sitk.Image):
        return read_mask(path, reference, label=label)
    from radiopredict.features.engines.pyradiomics import _read

    m = _read(path, sitk)
    arr = sitk.GetArrayFromImage(m)
    sel = arr != 0 if label is None else arr == int(label)
    if not sel.any():
        raise EmptyMaskError(
            f"label {label!r} has no voxel in the mask",
            path=None if isinstance(path, sitk.Image) else path,
            fix="check the label value in the manifest",
        )
    out = sitk.GetImageFromArray(sel.astype(np.uint8))
    out.CopyInformation(m)
    return out
