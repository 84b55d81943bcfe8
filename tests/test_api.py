"""The public API: every name in ``radiopredict.__all__`` resolves, and import stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import radiopredict as rp


@pytest.mark.parametrize("name", [n for n in rp.__all__ if n != "__version__"])
def test_public_names_resolve_to_documented_radiopredict_objects(name: str) -> None:
    obj = getattr(rp, name)
    home = obj.__name__ if inspect.ismodule(obj) else obj.__module__
    assert home.startswith("radiopredict"), f"{name} resolves to {home}, not radiopredict"
    assert callable(obj) or inspect.ismodule(obj), f"{name} is neither callable nor a module"
    assert inspect.getdoc(obj), f"{name} has no docstring"
    assert name in dir(rp)


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    assert rp.__version__ == version("radiopredict")


def test_unknown_name_is_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute"):
        rp.not_a_thing  # noqa: B018


def test_import_does_not_load_torch_or_shap() -> None:
    code = "import sys, radiopredict; print('torch' in sys.modules, 'shap' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
