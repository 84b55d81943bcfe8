"""Feature engines used by cohort extraction.

An engine computes the features of several (mask, label) pairs of **one** image at a time, so
that everything that depends only on the image (reading it, filtering it) is done once:

* :class:`NativeEngine` wraps radiopredict's IBSI engine
  (:func:`radiopredict.features.compute_features`), optionally on IBSI-2 filter response maps
  computed once per image on an exactly padded crop (:mod:`radiopredict.features.filters`);
* :class:`~radiopredict.features.engines.pyradiomics.PyradiomicsEngine` runs pyradiomics with a
  parameter file used unchanged.

Every engine has ``name``, ``version``, ``config()`` (its effective, JSON-friendly
configuration: the cache key and provenance use it) and
``compute(image, items) -> list[dict[str, float] | Exception]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from radiopredict._version import __version__
from radiopredict.errors import ConfigError, EmptyMaskError, FeatureComputationError

__all__ = ["Engine", "NativeEngine", "PyradiomicsBackend", "get_engine"]


class Engine(Protocol):
    """What cohort extraction needs from an engine."""

    name: str
    version: str

    def config(self) -> dict[str, Any]: ...

    def compute(
        self, image: Any, items: Sequence[tuple[Any, int | str | None]]
    ) -> list[dict[str, float] | Exception]: ...


class PyradiomicsBackend:
    """Cohort-extraction adapter of :class:`PyradiomicsEngine`: numeric features only.

    Parameters
    ----------
    params
        pyradiomics parameter file (YAML/JSON, unchanged) or dict; None = pyradiomics defaults.
    """

    name = "pyradiomics"

    def __init__(self, params: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> None:
        from radiopredict.features.engines.pyradiomics import PyradiomicsEngine

        # the table keeps numeric features only: skip the per-label whole-image diagnostics
        self.engine = PyradiomicsEngine(params, diagnostics=False)
        self.version = self.engine.version

    def config(self) -> dict[str, Any]:
        return self.engine.config()

    def compute(self, image, items):
        from radiopredict.features.engines.pyradiomics import numeric_features

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


class NativeEngine:
    """radiopredict's IBSI engine, optionally on IBSI-2 filter response maps.

    Parameters
    ----------
    settings
        :class:`~radiopredict.features.FeatureSettings`, a preset name, a YAML path or None
        (defaults).
    filters
        Optional IBSI-2 filters (:class:`~radiopredict.features.filters.FilterSpec` or dicts).
        Each filter runs once per image on a crop padded by its support; features of the
        response map are prefixed with the filter's name (``log_s1.5__stat_mean``).
    original
        Also compute the features of the unfiltered image (default True).
    """

    name = "native"

    def __init__(self, settings: Any = None, filters: Sequence[Any] = (), original: bool = True):
        from radiopredict.features import FeatureSettings  # core engine

        if settings is None:
            settings = FeatureSettings()
        elif isinstance(settings, (str, os.PathLike)):
            path = Path(settings)
            settings = (
                FeatureSettings.from_yaml(path)
                if path.suffix.lower() in {".yaml", ".yml"} or path.is_file()
                else FeatureSettings.preset(str(settings))
            )
        elif isinstance(settings, Mapping):
            settings = FeatureSettings(**settings)
        self.settings = settings
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

    def compute(self, image, items):
        import SimpleITK as sitk

        from radiopredict.features import compute_features

        image = _read_image(image)
        masks, results = [], []
        for mask, label in items:
            try:
                masks.append(_read_mask(mask, image, label))
                results.append(None)
            except Exception as exc:
                exc.radiopredict_stage = "read"  # reported as a read failure, not a feature one
                masks.append(None)
                results.append(exc)
        good = [i for i, m in enumerate(masks) if m is not None]
        feats: dict[int, dict[str, float]] = {i: {} for i in good}
        if self.original:
            for i in good:
                try:
                    feats[i].update(_series(compute_features(image, masks[i], self.settings)))
                except Exception as exc:
                    results[i] = exc
        boxes = {i: _bbox(masks[i]) for i in good}
        for spec in self.filters:
            live = [i for i in good if results[i] is None]
            if not live:
                break
            from radiopredict.features.filters import filter_image_crop

            # resampling grids are centred on the image: crop only when there is none
            whole = getattr(self.settings, "new_spacing", None) is not None
            response, lo, hi = filter_image_crop(image, [boxes[i] for i in live], spec, whole=whole)
            for i in live:
                try:
                    m = sitk.RegionOfInterest(
                        masks[i], [int(v) for v in hi - lo], [int(v) for v in lo]
                    )
                    vals = _series(compute_features(response, m, self.settings))
                    feats[i].update({f"{spec.name}__{k}": v for k, v in vals.items()})
                except Exception as exc:
                    results[i] = exc
        return [results[i] if results[i] is not None else feats[i] for i in range(len(items))]


def _series(values) -> dict[str, float]:
    out = {}
    for key, value in dict(values).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise FeatureComputationError(f"feature {key!r} is not numeric: {value!r}") from exc
    return out


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


def get_engine(engine: str | Engine = "native", settings: Any = None) -> Engine:
    """Build an engine from its name and settings.

    Parameters
    ----------
    engine
        ``"native"``, ``"pyradiomics"`` or an engine object (returned as is).
    settings
        For ``"native"``: FeatureSettings, preset name or YAML path. For ``"pyradiomics"``: a
        pyradiomics parameter file or dict.
    """
    if not isinstance(engine, str):
        return engine
    if engine == "native":
        return NativeEngine(settings)
    if engine == "pyradiomics":
        return PyradiomicsBackend(settings)
    raise ConfigError(
        f"unknown engine {engine!r}", fix="use engine='native' or engine='pyradiomics'"
    )
