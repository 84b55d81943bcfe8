"""The one base of every settings object: frozen dataclasses, checked from their annotations.

A settings class is a frozen dataclass that inherits :class:`Settings`::

    @dataclass(frozen=True)
    class CropSettings(Settings):
        shape: tuple[int, int, int] = option((32, 32, 32), ge=1)
        intensity: str = option("zscore", choices=("zscore", "window"))

On construction every field is converted to its annotated type (a list becomes a tuple, ``2.0``
an ``int``, ``"1e-3"`` a ``float``) and checked against the constraints declared next to it with
:func:`option` (``choices``, bounds ``gt`` / ``ge`` / ``lt`` / ``le``, applied to every element
of a tuple). Cross-field rules go in :meth:`Settings.validate`. An unknown key, whether passed
to the constructor, :meth:`Settings.from_dict`, :meth:`Settings.replace` or found in a YAML file,
is a :class:`~radiopredict.errors.ConfigError` that names the nearest valid key by edit distance
(:func:`closest`), as MONAI's ``look_up_option`` does; a word far from every option gets no
suggestion.

Physical sizes (spacings, crop sizes in mm) are given in the ``(x, y, z)`` order of SimpleITK and
the IBSI manual; array shapes in voxels follow numpy's ``(z, y, x)`` unless a field's docstring
says otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from radiopredict.errors import ConfigError, InputFileNotFoundError

__all__ = [
    "Settings",
    "option",
    "closest",
    "edit_distance",
    "check_keys",
    "check_choice",
    "load_yaml_mapping",
]

S = TypeVar("S", bound="Settings")

_META_KEYS = ("choices", "gt", "ge", "lt", "le", "aliases", "single", "fix")


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, transpositions."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def closest(word: Any, options: Iterable[Any]) -> str | None:
    """The option nearest to ``word`` by edit distance, or None when none is near.

    A case-insensitive match wins, then an option the word begins (three letters or more);
    otherwise the nearest option counts when its distance is at most a third of the longer of
    the two (at least 1) and smaller than the word's length, so ``'bin_widht'`` finds
    ``'bin_width'``, ``'glcm_dist'`` finds ``'glcm_distance'`` and ``'zzzz'`` finds nothing.
    """
    word = str(word)
    opts = [str(o) for o in options]
    for o in opts:
        if o.lower() == word.lower():
            return o
    if not opts:
        return None
    if len(word) >= 3:
        starts = sorted(o for o in opts if o.startswith(word))
        if starts:
            return min(starts, key=len)
    best = min(opts, key=lambda o: (edit_distance(word, o), o))
    d = edit_distance(word, best)
    cutoff = max(1, max(len(word), len(best)) // 3)
    return best if d <= cutoff and d < len(word) else None


def _did_you_mean(word: Any, options: Iterable[Any]) -> str:
    guess = closest(word, options)
    return f"did you mean {guess!r}? " if guess is not None else ""


def check_keys(
    mapping: Iterable[str], allowed: Iterable[str], *, where: str, source: Any = None
) -> None:
    """Raise :class:`ConfigError` for the first key not in ``allowed``, naming the nearest."""
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} in {where}",
                path=source,
                fix=f"{_did_you_mean(key, allowed)}valid keys: {', '.join(sorted(allowed))}",
            )


def check_choice(value: Any, options: Iterable[Any], *, name: str, where: str = "") -> Any:
    """Return ``value`` when it is one of ``options``, else raise naming the nearest option."""
    options = tuple(options)
    if value in options:
        return value
    label = f"{where}.{name}" if where else name
    raise ConfigError(
        f"setting {label}={value!r} is not one of {list(options)}",
        fix=f"{_did_you_mean(value, options)}use one of {', '.join(map(repr, options))}",
    )


def option(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    choices: Iterable[Any] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    aliases: Mapping[str, str] | None = None,
    single: bool = False,
    fix: str | None = None,
) -> Any:
    """A settings field with its constraints declared next to it.

    Parameters
    ----------
    default, default_factory
        As :func:`dataclasses.field`.
    choices
        Allowed values (of every element, for a tuple field).
    gt, ge, lt, le
        Bounds of a number (of every element, for a tuple field).
    aliases
        Strings replaced before checking (``{"2.5D": "2_5D"}``).
    single
        For a tuple field: a lone value stands for a one-element tuple.
    fix
        What the error message tells the user to do, instead of the generated advice.
    """
    meta = {
        "choices": None if choices is None else tuple(choices),
        "gt": gt,
        "ge": ge,
        "lt": lt,
        "le": le,
        "aliases": dict(aliases or {}),
        "single": single,
        "fix": fix,
    }
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"radiopredict": meta}
    )


class _SettingsMeta(type):
    """Refuses unknown keyword arguments with a :class:`ConfigError` instead of a TypeError."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if dataclasses.is_dataclass(cls):
            check_keys(kwargs, cls.field_names(), where=cls.__name__)
        return super().__call__(*args, **kwargs)


class Settings(metaclass=_SettingsMeta):
    """Base of every frozen, validated settings dataclass (see the module docstring)."""

    #: How the settings are named in error messages (default: the class name).
    _where: ClassVar[str | None] = None

    # ------------------------------------------------------------------ checking
    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            meta = f.metadata.get("radiopredict", {})
            tp = hints.get(f.name, Any)
            value = getattr(self, f.name)
            if meta.get("single") and isinstance(value, str | int | float):
                value = (value,)
            value = _convert(value, tp, self._label(f.name), meta.get("fix"))
            value = _constrain(value, meta, self._label(f.name))
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """Cross-field rules; override in subclasses (raise :class:`ConfigError`)."""

    @classmethod
    def _label(cls, name: str) -> str:
        return f"{cls._where or cls.__name__}.{name}"

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every setting."""
        return [f.name for f in dataclasses.fields(cls) if f.init]

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any] | None, *, source: Any = None) -> S:
        """Build settings from a mapping; an unknown key is a :class:`ConfigError`."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{cls._where or cls.__name__} must be a mapping, got {type(data).__name__}",
                path=source,
                fix="write the settings as 'key: value' lines",
            )
        check_keys(data, cls.field_names(), where=cls._where or cls.__name__, source=source)
        hints = _hints(cls)
        kwargs = {}
        for key, value in data.items():
            sub = _settings_type(hints.get(key))
            if sub is not None and isinstance(value, Mapping):
                value = sub.from_dict(value, source=source)
            kwargs[key] = value
        if source is None:
            return cls(**kwargs)
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(exc.problem, path=source, fix=exc.fix) from exc

    @classmethod
    def from_yaml(cls: type[S], path: str | PathLike[str]) -> S:
        """Read settings from a YAML file holding a mapping of the keys of :meth:`to_dict`."""
        return cls.from_dict(load_yaml_mapping(path), source=Path(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python mapping (lists, numbers, strings) that :meth:`from_dict` reads back."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.init}

    def to_yaml(self, path: str | PathLike[str] | None = None) -> str:
        """The settings as YAML text; also written to ``path`` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def replace(self: S, **changes: Any) -> S:
        """A copy with some fields changed (validated; an unknown name is a ConfigError)."""
        check_keys(changes, self.field_names(), where=self._where or type(self).__name__)
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------- conversion
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _settings_type(tp: Any) -> type[Settings] | None:
    for t in _union_args(tp) if tp is not None else ():
        if isinstance(t, type) and issubclass(t, Settings):
            return t
    return None


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


class _Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        self.expected = expected


def _convert(value: Any, tp: Any, label: str, fix: str | None = None) -> Any:
    try:
        return _to_type(value, tp)
    except _Mismatch as exc:
        raise ConfigError(
            f"setting {label} must be {exc.expected}, got {value!r}",
            fix=fix or f"give {label.rsplit('.', 1)[-1]} as {exc.expected}",
        ) from None


def _to_type(value: Any, tp: Any) -> Any:
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _to_union(value, tp)
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise _Mismatch(_describe(tp))
    if origin is tuple or tp is tuple:
        return _to_tuple(value, tp)
    if origin in (dict, Mapping) or tp is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise _Mismatch("a mapping")
    if tp in _SCALARS:
        return _SCALARS[tp](value)
    if isinstance(tp, type) and issubclass(tp, Settings):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return tp.from_dict(value)
        raise _Mismatch(f"a mapping of {tp.__name__} keys")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise _Mismatch(f"a {tp.__name__}")
    return value


def _to_union(value: Any, tp: Any) -> Any:
    args = typing.get_args(tp)
    if value is None:
        if type(None) in args:
            return None
        raise _Mismatch(_describe(tp))
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _to_type(value, arg)
        except _Mismatch:
            continue
    raise _Mismatch(_describe(tp))


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise _Mismatch("true or false")


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Mismatch("a string")


def _to_path(value: Any) -> Path:
    if isinstance(value, str | PathLike):
        return Path(value)
    raise _Mismatch("a path")


def _to_tuple(value: Any, tp: Any) -> tuple[Any, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _Mismatch(f"a list ({_describe(tp)})")
    items = tuple(value)
    args = typing.get_args(tp)
    if not args:
        return items
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_to_type(v, args[0]) for v in items)
    if len(items) != len(args):
        raise _Mismatch(f"a list of {len(args)} values ({_describe(tp)})")
    return tuple(_to_type(v, a) for v, a in zip(items, args, strict=True))


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Mismatch("an integer")
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu" and value.ndim == 0:
        return int(value)
    if isinstance(value, float) or hasattr(value, "__float__") and not isinstance(value, str):
        f = float(value)
        if math.isfinite(f) and f == int(f):
            return int(f)
    raise _Mismatch("an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Mismatch("a number")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise _Mismatch("a number") from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _Mismatch("a number") from None


_SCALARS = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    Path: _to_path,
}


def _describe(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_describe(args[0])}"
        return "[" + ", ".join(_describe(a) for a in args) + "]"
    names = {int: "integer", float: "number", str: "string", bool: "true/false", Path: "path"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


# ---------------------------------------------------------------------- constraints
def _constrain(value: Any, meta: Mapping[str, Any], label: str) -> Any:
    if not meta or value is None:
        return value
    if isinstance(value, tuple):
        return tuple(_constrain_one(v, meta, label) for v in value)
    return _constrain_one(value, meta, label)


def _constrain_one(value: Any, meta: Mapping[str, Any], label: str) -> Any:
    if value is None:
        return None
    aliases = meta.get("aliases") or {}
    if isinstance(value, str) and value in aliases:
        value = aliases[value]
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        hint = _did_you_mean(value, choices)
        raise ConfigError(
            f"setting {label}={value!r} is not one of {list(choices)}",
            fix=meta.get("fix") or f"{hint}use one of {', '.join(map(repr, choices))}",
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_bounds(value, meta, label)
    return value


def _check_bounds(value: float, meta: Mapping[str, Any], label: str) -> None:
    rules = (("gt", ">", lambda a, b: a > b), ("ge", ">=", lambda a, b: a >= b))
    rules += (("lt", "<", lambda a, b: a < b), ("le", "<=", lambda a, b: a <= b))
    for key, sign, ok in rules:
        bound = meta.get(key)
        if bound is None:
            continue
        if not (math.isfinite(float(value)) and ok(value, bound)):
            need = "a positive number" if (key, bound) == ("gt", 0) else f"{sign} {bound}"
            raise ConfigError(
                f"setting {label} must be {need}, got {value!r}",
                fix=meta.get("fix") or f"give {label.rsplit('.', 1)[-1]} a value {sign} {bound}",
            )


def _plain(value: Any) -> Any:
    if isinstance(value, Settings):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------- YAML
def load_yaml_mapping(path: str | PathLike[str]) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (errors name the file and the fix)."""
    import yaml

    path = Path(path)
    if not path.is_file():
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
