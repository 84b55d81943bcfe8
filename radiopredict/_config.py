"""Helpers for frozen, validated settings objects loaded from mappings or YAML."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from radiopredict.errors import ConfigError

__all__ = ["check_keys", "closest", "dataclass_from_mapping", "load_yaml_mapping"]


def closest(name: str, options: Iterable[str]) -> str | None:
    """The option closest to ``name`` (difflib), or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.5)
    return matches[0] if matches else None


def check_keys(
    mapping: Mapping[str, Any], allowed: Iterable[str], *, where: str, source: str | None = None
) -> None:
    """Raise :class:`ConfigError` for the first unknown key, naming the closest valid key."""
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            guess = closest(key, allowed)
            hint = f"did you mean {guess!r}? " if guess else ""
            raise ConfigError(
                f"unknown key {key!r} in {where}",
                path=source,
                fix=f"{hint}valid keys: {', '.join(sorted(allowed))}",
            )


def dataclass_from_mapping(
    cls, mapping: Mapping[str, Any] | None, *, where: str, source: str | None = None
):
    """Build a (possibly nested) dataclass from a mapping, rejecting unknown keys.

    Fields whose default is itself a dataclass instance are built recursively from sub-mappings.
    """
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
        raise ConfigError(f"invalid {where}: {exc}", path=source) from exc


def load_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping."""
    import yaml

    from radiopredict.errors import InputFileNotFoundError

    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(
            "settings file does not exist", path=path, fix="check the path"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML ({exc})", path=path, fix="fix the YAML syntax") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"the file must hold a mapping of settings, got {type(data).__name__}",
            path=path,
            fix="write key: value pairs at the top level",
        )
    return dict(data)
