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
import time
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


_KEY_CHARS = frozenset("0123456789abcdef")
#: A temporary file older than this (seconds) was left by an interrupted write: removed.
STALE_TEMP_SECONDS = 300.0


class FeatureCache:
    """A folder of feature vectors, one JSON file per cache key.

    Parameters
    ----------
    root
        Cache folder (created when missing). Safe to share between processes and runs.
        Temporary files of interrupted writes are never counted as entries; :meth:`clean`
        (which cohort extraction calls once per run) removes them.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    @staticmethod
    def _is_entry(path: Path) -> bool:
        key = path.name[: -len(".json")] if path.name.endswith(".json") else ""
        return len(key) == 64 and set(key) <= _KEY_CHARS and path.parent.name == key[:2]

    def entry(self, key: str) -> dict[str, Any] | None:
        """The cached ``{"features": ..., "undefined": ...}`` for ``key``, or None when absent
        (or unreadable, e.g. damaged: it is then recomputed)."""
        path = self._path(key)
        try:
            with open(path, encoding="utf-8") as fh:
                entry = json.load(fh)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("features"), dict):
            return None
        return {"features": entry["features"], "undefined": dict(entry.get("undefined") or {})}

    def get(self, key: str) -> dict[str, float] | None:
        """The cached features for ``key``, or None when absent (or unreadable)."""
        entry = self.entry(key)
        return None if entry is None else entry["features"]

    def put(
        self,
        key: str,
        features: Mapping[str, float],
        meta: Mapping[str, Any],
        undefined: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``features`` (and the ``{feature: reason}`` of those not computed) atomically:
        write a temporary file, then rename it."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        payload = {
            "features": dict(features),
            "undefined": dict(undefined or {}),
            "meta": dict(meta),
        }
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clean(self, older_than: float = STALE_TEMP_SECONDS) -> int:
        """Remove temporary files of interrupted writes older than ``older_than`` seconds (so
        that another process's write in progress is left alone); returns how many."""
        now = time.time()
        removed = 0
        for tmp in self.root.glob("*/.tmp-*"):
            try:
                if now - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    removed += 1
            except OSError:  # removed meanwhile by another process, or not ours to remove
                continue
        return removed

    def __len__(self) -> int:
        """Number of complete entries (temporary files of writes in progress not counted)."""
        return sum(1 for p in self.root.glob("*/*.json") if self._is_entry(p))
