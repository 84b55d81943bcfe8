"""Lazy imports of optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from radiopredict.errors import MissingDependencyError

__all__ = ["optional_import"]

_EXTRA_OF = {
    "torch": "deep",
    "monai": "deep",
    "radiomics": "pyradiomics",
    "dask": "dask",
    "distributed": "dask",
    "sksurv": "dev",
    "neuroCombat": "dev",
}


def optional_import(module: str, *, extra: str | None = None, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"torch"`` or ``"radiomics.featureextractor"``.
    extra
        The radiopredict extra that provides it; guessed from the top-level name when omitted.
    purpose
        What the module is needed for, shown in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = extra or _EXTRA_OF.get(top, "all")
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"the optional package {top!r} is needed{what} but cannot be imported ({exc})",
            fix=f"pip install 'radiopredict[{extra}]'",
        ) from exc
