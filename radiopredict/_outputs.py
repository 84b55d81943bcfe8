"""Output locations: checked before the work starts, and a fallback when the final write fails.

A long run (feature extraction, a study) must not compute for an hour and then lose everything
because ``-o`` names a folder or the cache folder is read-only: :func:`check_output_file` and
:func:`check_writable_folder` check that up front, and :func:`write_or_keep` writes a result
where it was asked for, else to a named partial file, and says where.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from radiopredict.errors import OutputPathError

__all__ = ["check_output_file", "check_writable_folder", "write_or_keep"]


def check_writable_folder(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Create ``path`` when missing and check that a file can be written in it.

    Raises
    ------
    OutputPathError
        ``path`` is a file, cannot be created, or is not writable (checked by writing a
        temporary file, which also works where permission bits do not tell, e.g. as root on a
        read-only mount).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(
            f"the {what} is a file, not a folder",
            path=path,
            fix=f"name a folder for the {what} (or move the file away)",
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(
            f"the {what} cannot be written ({exc.strerror or exc})",
            path=path,
            fix=f"choose a {what} you can write to (check its permissions and free space)",
        ) from exc
    return path


def check_output_file(path: str | os.PathLike[str], what: str = "output file") -> Path:
    """Check, before any work, that ``path`` can be written as a file (its folder is created).

    Raises
    ------
    OutputPathError
        ``path`` is an existing folder, or its folder cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(
            f"the {what} is an existing folder, and a file is due there",
            path=path,
            fix=f"name a file, e.g. {str(path / 'features.parquet')!r}",
        )
    check_writable_folder(path.parent if str(path.parent) else Path("."), f"folder of the {what}")
    return path


def write_or_keep(
    write: Callable[[Path], Path], path: str | os.PathLike[str], what: str
) -> tuple[Path, OSError | None]:
    """Write a computed result to ``path``; when that fails, to a partial file.

    The partial file is ``<name>.partial-<time><suffix>`` in the current folder, else in the
    system's temporary folder.

    Returns
    -------
    (pathlib.Path, OSError or None)
        Where the result is, and the error of the first write (None when it succeeded).

    Raises
    ------
    OutputPathError
        No location could be written; the message lists the errors.
    """
    path = Path(path)
    try:
        return write(path), None
    except OSError as exc:
        first = exc
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{path.stem}.partial-{stamp}{path.suffix or '.out'}"
    errors = [f"{path}: {first}"]
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            return write(folder / name), first
        except OSError as exc:
            errors.append(f"{folder / name}: {exc}")
    raise OutputPathError(
        f"the {what} could not be written anywhere: " + "; ".join(errors),
        path=path,
        fix="free disk space or choose a writable location, and run again",
    ) from first
