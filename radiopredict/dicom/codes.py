"""Codes of the DICOM objects radiopredict writes: IBSI features, units, model outputs.

Radiomic features are coded with the IBSI coding scheme (designator ``IBSI``, DICOM PS3.16
Table 8-1): the concept name of a feature is its IBSI identifier (``GYBY`` for the GLCM joint
maximum). The table ``data/ibsi_codes.csv`` ships with the package; its header names its sources.
Features without an IBSI identifier and the model's outputs use the private coding scheme
``99RADPRED`` (PS3.16 reserves designators starting with ``99`` for local codes), whose code value
is the column name of radiopredict's tables, so a report reads back into the same table.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = [
    "IBSI_SCHEME",
    "PRIVATE_SCHEME",
    "FeatureCode",
    "ibsi_code_table",
    "feature_code",
    "feature_unit",
    "aggregation",
    "output_meaning",
    "intensity_unit",
]

IBSI_SCHEME = "IBSI"
PRIVATE_SCHEME = "99RADPRED"
PRIVATE_SCHEME_NAME = "radiopredict local codes (column names of radiopredict tables)"

# aggregation suffixes of IBSI tags, longest first (a tag ends in at most one)
_SUFFIXES = {
    "_2_5D_avg": "2.5D, averaged",
    "_2_5D_comb": "2.5D, merged",
    "_2D_avg": "2D, averaged",
    "_2D_comb": "2D, merged",
    "_3D_avg": "3D, averaged",
    "_3D_comb": "3D, merged",
    "_2_5D": "2.5D",
    "_2D": "2D",
    "_3D": "3D",
}


@dataclass(frozen=True)
class FeatureCode:
    """How one feature column is coded in a measurement report.

    Attributes
    ----------
    tag
        The column name (``cm_joint_max_3D_avg``).
    value, scheme, meaning
        Concept name code: the IBSI identifier when the feature has one, else the tag itself in
        the private scheme. The aggregation (``_3D_avg``) and the IVH parameter are not part
        of the IBSI code; the report carries the whole tag as the measurement method.
    unit_kind
        ``1``, ``mm``, ``mm2``, ``mm3``, ``/mm``, ``I`` (image intensity), ``I2`` or ``I.mm3``;
        see :func:`feature_unit`.
    """

    tag: str
    value: str
    scheme: str
    meaning: str
    unit_kind: str


@lru_cache(maxsize=1)
def ibsi_code_table() -> pd.DataFrame:
    """The shipped IBSI feature -> code table.

    Returns
    -------
    pandas.DataFrame
        Columns ``stem`` (IBSI tag without aggregation suffix), ``ibsi_code``, ``family``,
        ``code_meaning``, ``dicom_cid`` (the PS3.16 context groups that list the code, empty when
        PS3.16 does not) and ``unit_kind``.
    """
    text = resources.files("radiopredict.dicom").joinpath("data/ibsi_codes.csv").read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    rows = list(csv.DictReader(lines))
    return pd.DataFrame(rows).fillna("")


@lru_cache(maxsize=1)
def _by_stem() -> dict[str, dict[str, str]]:
    return {r["stem"]: r for r in ibsi_code_table().to_dict("records")}


def _split_tag(tag: str) -> tuple[str, str]:
    """``(stem, aggregation suffix)`` of a tag; the suffix is empty when there is none."""
    for suffix in _SUFFIXES:
        if tag.endswith(suffix):
            return tag[: -len(suffix)], suffix
    return tag, ""


def feature_code(tag: str) -> FeatureCode:
    """The concept name code of one feature column.

    A tag whose stem (the tag without its aggregation suffix ``_3D_avg``, ``_2D``...) is in the
    IBSI table gets its IBSI code; any other column (a diagnostic, a pyradiomics name, an
    embedding) gets a private code equal to the tag, with unit ``1``.
    """
    stem, suffix = _split_tag(tag)
    row = _by_stem().get(stem)
    if row is None:
        return FeatureCode(tag, tag, PRIVATE_SCHEME, tag, "1")
    return FeatureCode(tag, row["ibsi_code"], IBSI_SCHEME, row["code_meaning"], row["unit_kind"])


def intensity_unit(modality: str) -> tuple[str, str]:
    """UCUM code and meaning of the grey values of an image of ``modality``.

    CT is in Hounsfield units; for any other modality the grey values have no physical unit
    that radiopredict can vouch for, so they are written as arbitrary units.
    """
    if str(modality).upper() == "CT":
        return "[hnsf'U]", "Hounsfield unit"
    return "[arb'U]", "arbitrary unit"


def feature_unit(unit_kind: str, modality: str) -> tuple[str, str]:
    """UCUM ``(code, meaning)`` of a unit kind of :class:`FeatureCode` for an image modality."""
    fixed = {
        "1": ("1", "no units"),
        "mm": ("mm", "millimeter"),
        "mm2": ("mm2", "square millimeter"),
        "mm3": ("mm3", "cubic millimeter"),
        "/mm": ("/mm", "per millimeter"),
    }
    if unit_kind in fixed:
        return fixed[unit_kind]
    code, meaning = intensity_unit(modality)
    if unit_kind == "I":
        return code, meaning
    if unit_kind == "I2":
        return f"{code}2", f"square {meaning}"
    if unit_kind == "I.mm3":
        return f"{code}.mm3", f"{meaning} times cubic millimeter"
    raise ValueError(f"unknown unit kind {unit_kind!r}")


_ARM = re.compile(r"^(?P<what>[a-z_]+)\[(?P<arm>.+)\](?P<bound>_lower|_upper)?$")


def aggregation(tag: str) -> str:
    """The aggregation of a tag in words (``"3D, averaged"``), empty when it has none."""
    return _SUFFIXES.get(_split_tag(tag)[1], "")


def output_meaning(column: str) -> str:
    """Human-readable meaning of a prediction column (the code meaning shown by viewers), at
    most 64 characters (the length DICOM allows for a code meaning).

    Knows the columns of radiopredict's predictions (``risk``, ``survival_at_<h>``,
    ``survival[arm]``, ``rmst[arm]``, ``benefit[arm]``, ``benefit_rmst[arm]`` and their
    ``_lower`` / ``_upper`` confidence limits); any other column is described by its name.
    """
    text = f"Model output {column}"
    if column == "risk":
        text = "Risk score"
    elif m := re.fullmatch(r"survival_at_(.+)", column):
        text = f"Survival probability at time {m.group(1)}"
    elif m := _ARM.match(column):
        what = {
            "survival": "Survival at horizon",
            "rmst": "Restricted mean survival time",
            "benefit": "Benefit (survival difference)",
            "benefit_rmst": "Benefit (RMST difference)",
        }.get(m.group("what"), m.group("what"))
        bound = {"_lower": ", lower CI limit", "_upper": ", upper CI limit"}.get(
            m.group("bound") or "", ""
        )
        arm = m.group("arm")
        room = 64 - len(what) - len(bound) - len(", arm ")
        text = f"{what}, arm {arm if len(arm) <= room else arm[: room - 3] + '...'}{bound}"
    return text[:64]
