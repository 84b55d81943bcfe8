"""Provenance helpers shared by every stage: one file hasher, one library-version recorder.

Feature tables, embedding caches, segmentation checkpoints and model bundles record the same
things the same way: :func:`sha256_file` for inputs (a file's bytes, or a folder's sorted relative
names and bytes, e.g. a DICOM series) and :func:`library_versions` for the software.
"""

from __future__ import annotations

import hashlib
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from radiopredict._version import __version__

__all__ = ["LIBRARIES", "library_versions", "sha256_file"]

#: Distributions whose versions every table and bundle records (absent ones are skipped).
LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "SimpleITK",
    "PyWavelets",
    "pyradiomics-bhklab",
    "xgboost",
    "lifelines",
    "shap",
    "skops",
    "torch",
    "monai",
)

_CHUNK = 1 << 20


def library_versions() -> dict[str, str]:
    """Versions of radiopredict, Python and :data:`LIBRARIES` (the installed ones)."""
    out = {"radiopredict": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def sha256_file(path: str | os.PathLike[str], h: Any | None = None) -> Any:
    """SHA-256 of a file's bytes, or of a folder's files (sorted relative names and bytes).

    Parameters
    ----------
    path
        File, or folder such as a DICOM series.
    h
        A ``hashlib`` object to update (to combine several inputs in one key); when given it is
        returned, otherwise the hex digest of a new one.

    Returns
    -------
    str or hashlib object
        The hex digest, or ``h`` updated.
    """
    path = Path(path)
    digest = h if h is not None else hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        files = [path]
    for f in files:
        if path.is_dir():
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest if h is not None else digest.hexdigest()
