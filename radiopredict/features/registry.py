"""Registry of every feature the native engine computes.

Each family module declares its features as :class:`FeatureDef` objects and registers them with
:func:`register`. A definition carries the IBSI tag stem (``cm_joint_max``), the IBSI identifier
(``GYBY``), the family, the formula (LaTeX, rendered in the docs) and a short description. The
engine emits tags ``stem`` + aggregation suffix (``_3D_avg``, ``_2D``...), and the docs page is
generated from this registry, so nothing is found by reflection on method names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["FeatureDef", "register", "all_features", "get_feature", "features_table"]


@dataclass(frozen=True)
class FeatureDef:
    """One IBSI feature.

    Parameters
    ----------
    stem
        Tag without aggregation suffix, as in the IBSI reference tables (``"cm_joint_max"``).
    ibsi_code
        Four-letter IBSI identifier (``"GYBY"``); empty when IBSI defines none.
    family
        Family name (``"glcm"``, ``"morphology"``, ...).
    name
        Human-readable name (``"Joint maximum"``).
    formula
        LaTeX formula in IBSI notation.
    description
        One sentence on what the feature measures, plus any implementation note.
    """

    stem: str
    ibsi_code: str
    family: str
    name: str
    formula: str = ""
    description: str = ""


_REGISTRY: dict[str, FeatureDef] = {}
_LOADED = False


def _load_families() -> None:
    """Import every family once, so the registry is complete whoever asks first."""
    global _LOADED
    if not _LOADED:
        _LOADED = True  # before importing: a family that reads the registry must not recurse
        from radiopredict.features.families import load_all

        load_all()


def register(*defs: FeatureDef) -> None:
    """Add feature definitions to the registry; a stem may be registered only once."""
    for d in defs:
        if d.stem in _REGISTRY and _REGISTRY[d.stem] != d:
            raise ValueError(f"feature {d.stem!r} registered twice with different definitions")
        _REGISTRY[d.stem] = d


def all_features() -> list[FeatureDef]:
    """Every feature the engine computes, in registration order (all families are loaded)."""
    _load_families()
    return list(_REGISTRY.values())


def get_feature(stem: str) -> FeatureDef:
    """The definition of one tag stem (aggregation suffix allowed)."""
    _load_families()
    if stem in _REGISTRY:
        return _REGISTRY[stem]
    for suffix in (
        "_2_5D_avg",
        "_2_5D_comb",
        "_2D_avg",
        "_2D_comb",
        "_3D_avg",
        "_3D_comb",
        "_2_5D",
        "_2D",
        "_3D",
    ):
        if stem.endswith(suffix) and stem[: -len(suffix)] in _REGISTRY:
            return _REGISTRY[stem[: -len(suffix)]]
    raise KeyError(stem)


def features_table() -> pd.DataFrame:
    """The registry as a DataFrame (stem, ibsi_code, family, name, formula, description)."""
    return pd.DataFrame([d.__dict__ for d in all_features()])
