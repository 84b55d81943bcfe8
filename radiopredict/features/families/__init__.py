"""Feature families of the native IBSI engine.

Each family is a module with a ``compute`` function that returns ``{ibsi_tag: value}`` and
registers its :class:`~radiopredict.features.registry.FeatureDef` objects on import. Texture
families share one signature::

    compute(q, roi, n_levels, *, spacing, settings, morph_roi=None) -> dict[str, float]

with ``q`` the int32 discretised grey levels (``(z, y, x)``, 1..n_levels inside ``roi``),
``roi`` the intensity mask, ``spacing`` the ``(z, y, x)`` spacing in mm and ``morph_roi`` the
morphological mask. Families are imported lazily: :func:`load_family` returns ``None`` with a
reason when a module is not available.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["FIRST_ORDER_FAMILIES", "TEXTURE_FAMILIES", "load_family", "load_all"]

FIRST_ORDER_FAMILIES = (
    "morphology",
    "local_intensity",
    "intensity_stats",
    "intensity_histogram",
    "ivh",
)
TEXTURE_FAMILIES = ("glcm", "glrlm", "glszm", "gldzm", "ngtdm", "ngldm")


def load_family(name: str) -> tuple[ModuleType | None, str]:
    """Import one family module; returns ``(module, "")`` or ``(None, reason)``."""
    try:
        return importlib.import_module(f"{__name__}.{name}"), ""
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None, f"family module radiopredict.features.families.{name} is not installed"
        raise


def load_all() -> dict[str, ModuleType]:
    """Import every available family (registers all feature definitions)."""
    out = {}
    for name in FIRST_ORDER_FAMILIES + TEXTURE_FAMILIES:
        mod, _ = load_family(name)
        if mod is not None:
            out[name] = mod
    return out
