"""Mapping and YAML helpers of the study settings, delegating to :mod:`radiopredict._settings`.

The study's sections are plain dataclasses until they move onto :class:`~radiopredict._settings.
Settings`; :func:`dataclass_from_mapping` builds them (and any ``Settings`` class) with the same
unknown-key rule and nearest-key suggestion as every other settings object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from radiopredict._settings import Settings, check_keys, closest, load_yaml_mapping
from radiopredict.errors import ConfigError

__all__ = ["check_keys", "closest", "dataclass_from_mapping", "load_yaml_mapping"]


def dataclass_from_mapping(
    cls, mapping: Mapping[str, Any] | None, *, where: str, source: str | None = None
):
    """Build a (possibly nested) dataclass from a mapping, rejecting unknown keys.

    Fields whose default is itself a dataclass instance are built recursively from sub-mappings.
    """
    if isinstance(cls, type) and issubclass(cls, Settings):
        return cls.from_dict(mapping, source=source)
    mapping = dict(mapping or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(mapping, fields, where=where, source=source)
    kwargs: dict[str, Any] = {}
    for name, value in mapping.items():
        f = fields[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            value = dataclass_from_mapping(
                type(default), value, where=f"{where}.{name}", source=source
            )
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"invalid {where}: {exc}", path=source, fix=f"check the keys and values of {where}"
        ) from exc
