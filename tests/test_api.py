"""The public API: every name in ``radiopredict.__all__`` resolves, and import stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import radiopredict as rp


@pytest.mark.parametrize("name", rp.__all__)
def test_public_names_resolve(name: str) -> None:
    assert getattr(rp, name) is not None


def test_unknown_name_is_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute"):
        rp.not_a_thing  # noqa: B018


def test_import_does_not_load_torch_or_shap() -> None:
    code = "import sys, radiopredict; print('torch' in sys.modules, 'shap' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
