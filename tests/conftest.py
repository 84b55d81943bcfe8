"""Shared pytest fixtures.

Tests that need the reference data in ``../shared/data`` use the ``shared_data`` fixture, which
skips with a clear reason when the folder is absent (a user's own checkout has none).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RADIOPREDICT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"reference data folder {SHARED_DATA} is absent (it ships beside the project "
            "checkout for developers and CI only; set RADIOPREDICT_SHARED_DATA to point at it)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def pytest_collection_modifyitems(config, items):
    """Slow tests show warnings instead of failing on them.

    ``filterwarnings = error`` (pyproject.toml, with the accepted warnings listed there) was
    checked on the fast suite; the slow tests were not all run under it yet, so they keep
    Python's default warning display until they are.
    """
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.filterwarnings("default"))
