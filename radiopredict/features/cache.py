"""Content-addressed cache of per-case feature vectors.

An entry's key is the SHA-256 of the image bytes, the mask bytes, the label, the engine's
effective configuration (settings, filters, feature classes) and the engine name and version,
so that a changed input or a changed setting can never reuse a stale entry. Entries are small
JSON files written atomically (temporary file in the same folder, then :func:`os.replace`), so a
run killed at any moment leaves either a complete entry or none, and rerunning recomputes only
the missing cases. JSON keeps every float exactly (``repr`` round-trips).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radiopredict._provenance import sha256_file
from radiopredict.errors import InputFileNotFoundError

__all__ = ["FeatureCache", "file_digest", "cache_key"]


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (sorted relative names and bytes).

    Parameters
    ----------
    path
        File, or folder such as a DICOM series.

    Returns
    -------
    str
        Hex digest.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(
            "the file does not exist", path=path, fix="check the path in the manifest"
        )
    return sha256_file(path)


def cache_key(
    *,
    image_sha256: str,
    mask_sha256: str | None,
    label: Any,
    config: Mapping[str, Any],
) -> str:
    """Key of one case: inputs' digests, label and the engine's configuration (with version)."""
    payload = json.dumps(
        {"image": image_sha256, "mask": mask_sha256, "label": repr(label), "config": config},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class FeatureCache:
    """A folder of feature vectors, one JSON file per cache key.

    Parameters
    ----------
    root
        Cache folder (created when missing). Safe to share between processes and runs.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, float] | None:
        """The cached features for ``key``, or None when absent (or unreadable)."""
        path = self._path(key)
        try:
            with open(path, encoding="utf-8") as fh:
                entry = json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return entry.get("features")

    def put(self, key: str, features: Mapping[str, float], meta: Mapping[str, Any]) -> None:
        """Store ``features`` atomically (write a temporary file, then rename it)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"features": dict(features), "meta": dict(meta)}, fh, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json"))
