"""pyradiomics backend: pyradiomics' own names and numbers, filtering once per image.

The backend takes a pyradiomics parameter file (YAML or JSON) or dict unchanged and returns what
``RadiomicsFeatureExtractor.execute`` returns, key for key and bit for bit, for every (mask, label)
of one image. It is faster than calling ``execute`` once per label because

* every filter (LoG, wavelet, gradient) runs **once per image**, not once per label: once per
  group of nearby labels (:func:`crop_groups`; labels far apart get crops of their own rather
  than one crop that spans the image),
* it runs on a **crop padded by the filter's full support** instead of the whole image, and
* the whole-image passes that ``execute`` makes for every label (casting the mask, listing its
  labels, label statistics) are made once per mask; each label is then checked on a crop
  around its bounding box.

The crop is exact (results equal full-image filtering) because the padding covers the filter's
support: for the recursive-Gaussian LoG of SimpleITK the padding is :data:`LOG_SUPPORT_SIGMAS`
sigmas (from 18 sigmas on, results were bit-identical on the shared cases); for pyradiomics'
(undecimated, periodic) wavelet it is the filter length times the number of decomposition
steps, and an axis whose padded crop would reach the image border keeps its full extent so that
the periodic wrap-around sees the same voxels. Image types whose value depends on the whole image
(square, square root, logarithm, exponential: they rescale by the image maximum) or whose support
is not bounded here (LBP) are filtered on the full image. Settings that make pyradiomics crop per
label itself (``resampledPixelSpacing`` with an interpolator, ``preCrop``) or voxel-based
extraction fall back to one ``execute`` call per label, which is identical by construction.
"""

from __future__ import annotations

import collections
import copy
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radiopredict._optional import optional_import
from radiopredict.errors import ConfigError, FeatureComputationError, ImageReadError
from radiopredict.features.engines._crop import _crop, crop_groups, crop_region

__all__ = [
    "PyradiomicsEngine",
    "PyradiomicsBackend",
    "LOG_SUPPORT_SIGMAS",
    "crop_region",
    "crop_groups",
    "numeric_features",
]

#: Padding of the LoG crop, in units of sigma (SimpleITK's recursive Gaussian is an IIR filter
#: whose impulse response decays like ``exp(-1.7 d / sigma)``. Measured on the shared cases:
#: 14 sigmas gave relative differences up to 2.5e-9, 18 and more gave bit-identical features.
LOG_SUPPORT_SIGMAS = 24.0

_POINTWISE_GLOBAL = {"Square", "SquareRoot", "Logarithm", "Exponential"}


def _radiomics():
    radiomics = optional_import("radiomics", extra="pyradiomics", purpose="the pyradiomics engine")
    featureextractor = optional_import("radiomics.featureextractor", extra="pyradiomics")
    imageoperations = optional_import("radiomics.imageoperations", extra="pyradiomics")
    generalinfo = optional_import("radiomics.generalinfo", extra="pyradiomics")
    return radiomics, featureextractor, imageoperations, generalinfo


def _load_params(params: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict | str | None:
    if params is None:
        return None
    if isinstance(params, Mapping):
        return copy.deepcopy(dict(params))
    path = Path(params)
    if not path.is_file():
        raise ConfigError(
            "the pyradiomics parameter file does not exist",
            path=path,
            fix="give the path of a pyradiomics YAML/JSON parameter file, or a dict",
        )
    return str(path)


class PyradiomicsEngine:
    """Compute pyradiomics features for all labels of one image, filtering once.

    Parameters
    ----------
    params
        A pyradiomics parameter file (YAML or JSON, used unchanged) or the same content as a
        dict; None means pyradiomics' defaults (Original image, all features).
    diagnostics
        Compute pyradiomics' ``diagnostics_*`` entries (image and mask hashes, statistics of
        the whole image, per label) when the parameters ask for them (``additionalInfo``, on by
        default). False skips this whole-image work; feature values are unchanged.

    Attributes
    ----------
    name : str
        ``"pyradiomics"``.
    version : str
        The pyradiomics version.

    Examples
    --------
    >>> engine = PyradiomicsEngine("params.yaml")                         # doctest: +SKIP
    >>> out = engine.execute("ct.nrrd", [("labels.nrrd", 1), ("labels.nrrd", 2)])  # doctest: +SKIP
    >>> out[0]["original_firstorder_Mean"]                                 # doctest: +SKIP
    """

    name = "pyradiomics"

    def __init__(
        self,
        params: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        diagnostics: bool = True,
    ) -> None:
        radiomics, featureextractor, _, _ = _radiomics()
        self._params = _load_params(params)
        self.diagnostics = diagnostics
        radiomics.setVerbosity(40)  # errors only: do not flood cohort runs with INFO lines
        try:
            self.extractor = featureextractor.RadiomicsFeatureExtractor(self._params)
        except Exception as exc:  # pykwalify/schema errors: report them as configuration errors
            raise ConfigError(
                f"pyradiomics rejected the parameters: {exc}",
                path=self._params if isinstance(self._params, str) else None,
                fix="check the file against pyradiomics' parameter schema",
            ) from exc
        self.version = str(radiomics.__version__)

    # -- identity ---------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The effective configuration (settings, image types, features), JSON-friendly."""
        ext = self.extractor
        return {
            "engine": self.name,
            "version": self.version,
            "setting": _jsonable(ext.settings),
            "imageType": _jsonable(ext.enabledImagetypes),
            "featureClass": _jsonable(ext.enabledFeatures),
        }

    def __getstate__(self):  # the extractor holds loggers; rebuild it in worker processes
        return {"params": self._params, "diagnostics": self.diagnostics}

    def __setstate__(self, state):
        self.__init__(state["params"], diagnostics=state["diagnostics"])

    # -- computation ------------------------------------------------------------------------
    def _needs_per_label(self) -> bool:
        s = self.extractor.settings
        resample = s.get("interpolator") is not None and s.get("resampledPixelSpacing") is not None
        return bool(resample or s.get("preCrop", False))

    def _units(self, settings):
        """(image type, kwargs) in execute's order; LoG split per sigma (each its own crop)."""
        for image_type, custom in self.extractor.enabledImagetypes.items():
            args = dict(settings)
            args.update(custom)
            if image_type == "LoG" and len(args.get("sigma", [])) > 1:
                for sigma in args["sigma"]:
                    yield image_type, {**args, "sigma": [sigma]}
            else:
                yield image_type, args

    def _pad(self, image_type: str, kwargs: Mapping[str, Any], spacing: np.ndarray):
        """Padding in voxels per axis (x, y, z) for one image type; None = whole image."""
        if image_type == "Original":
            return np.zeros(len(spacing), dtype=int), False
        if image_type == "LoG":
            sigmas = [float(s) for s in kwargs.get("sigma", []) if float(s) > 0]
            if not sigmas:
                return np.zeros(len(spacing), dtype=int), False
            pad = np.ceil(LOG_SUPPORT_SIGMAS * max(sigmas) / spacing).astype(int) + 1
            return pad, False
        if image_type == "Wavelet":
            pywt = optional_import("pywt", purpose="wavelet filters")
            wavelet = kwargs.get("wavelet", "coif1")
            length = pywt.Wavelet(wavelet).dec_len if isinstance(wavelet, str) else wavelet.dec_len
            steps = int(kwargs.get("start_level", 0)) + int(kwargs.get("level", 1))
            pad = np.full(len(spacing), length * steps + 1, dtype=int)
            return pad, True
        if image_type == "Gradient":
            return np.full(len(spacing), 2, dtype=int), False
        return None, False  # global rescaling or unbounded support: whole image

    def execute(
        self,
        image: Any,
        items: Sequence[tuple[Any, int | None]],
    ) -> list[collections.OrderedDict | Exception]:
        """Features of several (mask, label) pairs of one image, as ``execute`` returns them.

        Parameters
        ----------
        image
            Image path or ``SimpleITK.Image``.
        items
            ``(mask, label)`` pairs; ``mask`` is a path or ``SimpleITK.Image``, ``label`` an int
            (None: the ``label`` setting of the parameters, 1 by default).

        Returns
        -------
        list
            One entry per item: the ordered feature dict of ``RadiomicsFeatureExtractor.execute``
            or the exception that stopped that item (the other items still complete).
        """
        sitk = optional_import("SimpleITK")
        _, _, imageoperations, generalinfo = _radiomics()
        ext = self.extractor
        image = _read(image, sitk)
        masks: dict[int, Any] = {}
        resolved = []
        for mask, label in items:
            mask_img = masks.get(id(mask))
            if mask_img is None:
                mask_img = _read(mask, sitk)
                masks[id(mask)] = mask_img
            resolved.append((mask_img, label))

        if self._needs_per_label() or ext.settings.get("voxelBased", False):
            out: list[collections.OrderedDict | Exception] = []
            for mask_img, label in resolved:
                try:
                    out.append(ext.execute(image, mask_img, label=label))
                except Exception as exc:  # recorded per item by the caller
                    out.append(exc)
            return out

        # 1. per item: everything execute does before filtering (exactly its steps and order)
        prepared = self._prepare_items(image, resolved, imageoperations, generalinfo, sitk)
        good = [p for p in prepared if not isinstance(p, Exception)]
        if not good:
            return prepared
        loaded_image = good[0]["image"]

        # 2. filter once per image type and group of nearby ROIs, on a crop padded by the
        #    filter's support (one crop per group; see crop_groups)
        size = np.array(loaded_image.GetSize())
        spacing = np.array(loaded_image.GetSpacing(), dtype=float)
        boxes = [p["bbox"] for p in good]
        for image_type, args in self._units(good[0]["settings"]):
            pad, periodic = self._pad(image_type, args, spacing)
            groups = crop_groups(boxes, size, pad, full_axis_at_border=periodic)
            if image_type == "LoG" and not all(
                _log_crop_ok(lo, hi, size, spacing, args) for _, lo, hi in groups
            ):
                groups = [(list(range(len(good))), np.zeros_like(size), size.copy())]
            for members, lo, hi in groups:
                self._filter_group(
                    [good[i] for i in members], image_type, args, loaded_image, lo, hi, sitk
                )
        return [p if isinstance(p, Exception) else p.get("error", p["features"]) for p in prepared]

    def _filter_group(self, items, image_type, args, loaded_image, lo, hi, sitk) -> None:
        """Filter the crop ``lo:hi`` once and compute the features of ``items`` on it."""
        _, _, imageoperations, _ = _radiomics()
        ext = self.extractor
        size = np.array(loaded_image.GetSize())
        whole = bool(np.all(lo == 0) and np.all(hi == size))
        src = loaded_image if whole else _crop(loaded_image, lo, hi, sitk)
        src_mask = items[0]["mask"] if whole else _crop(items[0]["mask"], lo, hi, sitk)
        generator = getattr(imageoperations, f"get{image_type}Image")(src, src_mask, **args)
        cropped: dict[int, Any] = {id(items[0]["mask"]): src_mask}  # masks are shared by labels
        for filtered, type_name, kwargs in generator:
            for p in items:
                if "error" in p:
                    continue
                try:
                    key = id(p["mask"])
                    if key not in cropped:
                        cropped[key] = p["mask"] if whole else _crop(p["mask"], lo, hi, sitk)
                    bbox = p["bbox"].copy()
                    bbox[0::2] -= lo
                    bbox[1::2] -= lo
                    img_c, msk_c = imageoperations.cropToTumorMask(filtered, cropped[key], bbox)
                    kw = dict(kwargs)
                    kw["label"] = p["settings"]["label"]
                    p["features"].update(ext.computeFeatures(img_c, msk_c, type_name, **kw))
                except Exception as exc:
                    p["error"] = exc

    def _prepare_items(self, image, resolved, imageoperations, generalinfo, sitk) -> list:
        """:meth:`_prepare` for every item, sharing the whole-image passes between labels.

        ``execute`` reads and checks the mask once per label: it casts the whole mask, lists
        its labels and computes label statistics over the whole image each time. Here that is
        done once per mask: ``loadImage`` (the cast mask does not depend on the label), one
        ``LabelStatisticsImageFilter`` pass for the bounding boxes of all labels, then
        ``checkMask`` per label on a crop around its box (its checks only use the box and the
        voxel count, so it returns the same box, offset, and raises the same errors). Labels
        that are absent, masks whose geometry does not match and runs with diagnostics take
        ``execute``'s own per-label path, so their errors and values stay exactly pyradiomics'.
        """
        settings_of = [self._settings(label) for _, label in resolved]
        if self.diagnostics and self.extractor.settings.get("additionalInfo", False):
            return [
                self._try(self._prepare, image, m, label, imageoperations, generalinfo)
                for m, label in resolved
            ]
        out: list[Any] = [None] * len(resolved)
        by_mask: dict[int, list[int]] = collections.defaultdict(list)
        for i, (mask_img, _) in enumerate(resolved):
            by_mask[id(mask_img)].append(i)
        for idxs in by_mask.values():
            mask_img = resolved[idxs[0]][0]
            loaded = None
            for i in idxs:  # the first label that loads gives the image and the cast mask
                try:
                    loaded = self.extractor.loadImage(image, mask_img, None, **settings_of[i])
                    break
                except Exception as exc:  # that label's own error, as execute raises it
                    out[i] = exc
            if loaded is None:
                continue
            img, msk = loaded
            lsif = sitk.LabelStatisticsImageFilter()
            try:
                lsif.Execute(img, msk)
                present = set(lsif.GetLabels())
            except RuntimeError:  # geometry or type mismatch: execute's path gives its error
                present = set()
            for i in idxs:
                if out[i] is not None:
                    continue
                label = settings_of[i]["label"]
                if label not in present:
                    out[i] = self._try(
                        self._prepare, image, mask_img, label, imageoperations, generalinfo
                    )
                    continue
                out[i] = self._try(
                    self._prepare_loaded,
                    img,
                    msk,
                    lsif.GetBoundingBox(label),
                    settings_of[i],
                    imageoperations,
                    sitk,
                )
        return out

    @staticmethod
    def _try(func, *args):
        try:
            return func(*args)
        except Exception as exc:  # recorded per item by the caller
            return exc

    def _settings(self, label) -> dict:
        settings = self.extractor.settings.copy()
        if label is not None:
            settings["label"] = int(label)
        settings.setdefault("label", 1)
        return settings

    def _prepare_loaded(self, img, msk, box, settings, imageoperations, sitk) -> dict:
        """:meth:`_prepare` after ``loadImage``, with ``checkMask`` on a crop around ``box``."""
        size = np.array(img.GetSize())
        box = np.asarray(box, dtype=int)
        lo = np.maximum(box[0::2] - 1, 0)
        hi = np.minimum(box[1::2] + 2, size)
        bbox, corrected = imageoperations.checkMask(
            _crop(img, lo, hi, sitk), _crop(msk, lo, hi, sitk), **settings
        )
        if corrected is not None:  # cannot happen once the whole-image statistics ran
            raise FeatureComputationError(
                "pyradiomics corrected a mask that matched the image",
                fix="report this case: the mask and image grids should need no correction",
            )
        bbox = np.asarray(bbox).copy()
        bbox[0::2] += lo
        bbox[1::2] += lo
        return self._finish_prepare(img, msk, bbox, settings, None, imageoperations)

    def _prepare(self, image, mask, label, imageoperations, generalinfo) -> dict:
        """Steps 1-5 of ``RadiomicsFeatureExtractor.execute`` for one label (no filtering)."""
        ext = self.extractor
        settings = ext.settings.copy()
        if label is not None:
            settings["label"] = int(label)
        else:
            label = settings.get("label", 1)
        info = None
        if settings.get("additionalInfo", False) and self.diagnostics:
            info = generalinfo.GeneralInfo()
            info.addGeneralSettings(settings)
            info.addEnabledImageTypes(ext.enabledImagetypes)
        img, msk = ext.loadImage(image, mask, info, **settings)
        bbox, corrected = imageoperations.checkMask(img, msk, **settings)
        if corrected is not None:
            if info is not None:
                info.addMaskElements(img, corrected, label, "corrected")
            msk = corrected
        return self._finish_prepare(img, msk, bbox, settings, info, imageoperations)

    def _finish_prepare(self, img, msk, bbox, settings, info, imageoperations) -> dict:
        """Steps 3-5 of ``execute`` (resegmentation, shape) once the mask is checked."""
        ext = self.extractor
        label = settings.get("label", 1)
        features = collections.OrderedDict()
        reseg = None
        if settings.get("resegmentRange", None) is not None:
            reseg = imageoperations.resegmentMask(img, msk, **settings)
            bbox, _ = imageoperations.checkMask(img, reseg, **settings)
            if info is not None:
                info.addMaskElements(img, reseg, label, "resegmented")
        if info is not None:
            features.update(info.getGeneralInfo())
        reseg_shape = settings.get("resegmentShape", False)
        if reseg_shape and reseg is not None:
            msk = reseg
        features.update(ext.computeShape(img, msk, bbox, **settings))
        if not reseg_shape and reseg is not None:
            msk = reseg
        return {
            "image": img,
            "mask": msk,
            "bbox": np.asarray(bbox),
            "settings": settings,
            "features": features,
        }


def _log_crop_ok(lo, hi, size, spacing, args) -> bool:
    """pyradiomics skips a LoG sigma for small images; the crop must make the same decisions."""
    crop = hi - lo
    if (np.min(size) < 4) != (np.min(crop) < 4):
        return False
    for sigma in args.get("sigma", []):
        need = np.ceil(float(sigma) / spacing) + 1
        if bool(np.all(size >= need)) != bool(np.all(crop >= need)):
            return False
    return True


def _read(obj, sitk):
    if isinstance(obj, sitk.Image):
        return obj
    path = Path(obj)
    if not path.exists():
        raise ImageReadError("the file does not exist", path=path, fix="check the manifest path")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageReadError(
            f"SimpleITK cannot read it ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="convert it to NIfTI/NRRD or check that the file is complete",
        ) from exc


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        if isinstance(obj, float) and not math.isfinite(obj):
            return str(obj)
        return obj
    return str(obj)


def numeric_features(result: Mapping[str, Any]) -> dict[str, float]:
    """The feature values of an ``execute`` result (``diagnostics_*`` entries dropped)."""
    out = {}
    for key, value in result.items():
        if key.startswith("diagnostics_"):
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError) as exc:
            raise FeatureComputationError(
                f"pyradiomics returned a non-numeric value for {key!r}: {value!r}",
                fix="drop this feature class from the parameter file or report the case",
            ) from exc
    return out


class PyradiomicsBackend:
    """Cohort-extraction adapter of :class:`PyradiomicsEngine`: numeric features only.

    Parameters
    ----------
    params
        pyradiomics parameter file (YAML/JSON, unchanged) or dict; None = pyradiomics defaults.
    """

    name = "pyradiomics"

    def __init__(self, params: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> None:
        # the table keeps numeric features only: skip the per-label whole-image diagnostics
        self.engine = PyradiomicsEngine(params, diagnostics=False)
        self.version = self.engine.version

    def config(self) -> dict[str, Any]:
        return self.engine.config()

    def compute(self, image, items):
        labels = []
        for _, label in items:
            if isinstance(label, str):
                labels.append(
                    ConfigError(
                        f"the pyradiomics engine needs an integer label value, got {label!r}",
                        fix="give the label's integer value in the manifest's label column",
                    )
                )
            else:
                labels.append(label)
        todo = [i for i, lab in enumerate(labels) if not isinstance(lab, Exception)]
        results: list[Any] = list(labels)
        if todo:
            raw = self.engine.execute(image, [(items[i][0], labels[i]) for i in todo])
            for i, res in zip(todo, raw):
                results[i] = res if isinstance(res, Exception) else numeric_features(res)
        return results
