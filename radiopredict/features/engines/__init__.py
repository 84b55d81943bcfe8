"""Feature engines used by cohort extraction.

An engine computes the features of several (mask, label) pairs of **one** image at a time, so
that everything that depends only on the image (reading it, filtering it) is done once:

* :class:`NativeEngine` wraps radiopredict's IBSI engine
  (:func:`radiopredict.features.compute_features`), optionally on IBSI-2 filter response maps
  computed once per image (per group of nearby ROIs) on an exactly padded crop
  (:mod:`radiopredict.features.filters`);
* :class:`~radiopredict.features.engines.pyradiomics.PyradiomicsEngine` runs pyradiomics with a
  parameter file used unchanged.

Every engine has ``name``, ``version``, ``config()`` (its effective, JSON-friendly
configuration: the cache key and provenance use it) and
``compute(image, items) -> list[dict[str, float] | Exception]``.
"""

from __future__ import annotations

from typing import Any

from radiopredict.errors import ConfigError
from radiopredict.features.engines._protocol import Engine
from radiopredict.features.engines.native import NativeEngine
from radiopredict.features.engines.pyradiomics import PyradiomicsBackend

__all__ = ["Engine", "NativeEngine", "PyradiomicsBackend", "get_engine"]


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
