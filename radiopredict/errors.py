"""One error hierarchy for radiopredict.

Every error is a :class:`RadiopredictError` *and* the matching builtin, so callers can catch
either ``radiopredict.errors.ImageReadError`` or plain ``FileNotFoundError`` / ``ValueError``.

Messages follow one rule: name the patient (when known), the file (when there is one), what is
wrong, and what to do about it. Build them with :func:`format_message` so they read the same
everywhere.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "RadiopredictError",
    "ConfigError",
    "InputFileNotFoundError",
    "ImageReadError",
    "GeometryMismatchError",
    "EmptyMaskError",
    "LabelNotFoundError",
    "ManifestError",
    "TargetError",
    "FeatureComputationError",
    "FeatureTableError",
    "MissingDependencyError",
    "NotFittedError",
    "BundleIntegrityError",
    "EvaluationTimeError",
    "OutputPathError",
    "DicomWebError",
    "format_message",
]


def format_message(
    problem: str,
    *,
    patient: str | None = None,
    path: str | PathLike[str] | None = None,
    fix: str | None = None,
) -> str:
    """Build an error message that names the patient, the file, the problem and the fix.

    Parameters
    ----------
    problem
        What is wrong, as one sentence.
    patient
        Patient identifier, when the error concerns one patient.
    path
        File or folder the error concerns.
    fix
        What the user should do.

    Returns
    -------
    str
        ``"[patient P] [file F] problem. Fix: ..."`` with the parts that are known.
    """
    parts = []
    if patient is not None:
        parts.append(f"patient {patient!s}")
    if path is not None:
        parts.append(f"file {str(path)!r}")
    prefix = (", ".join(parts) + ": ") if parts else ""
    msg = prefix + problem.rstrip()
    if fix:
        if not msg.endswith("."):
            msg += "."
        msg += f" Fix: {fix.rstrip()}"
    return msg


class RadiopredictError(Exception):
    """Base class of every error raised by radiopredict.

    Parameters
    ----------
    problem
        What is wrong.
    patient, path, fix
        Optional context, see :func:`format_message`. They are kept as attributes so that
        cohort runs can record them in a failures table.
    """

    def __init__(
        self,
        problem: str,
        *,
        patient: str | None = None,
        path: str | PathLike[str] | None = None,
        fix: str | None = None,
    ) -> None:
        # the builtin's __init__ first: ImportError's would reset ``path`` to None afterwards
        super().__init__(format_message(problem, patient=patient, path=path, fix=fix))
        self.problem = problem
        self.patient = patient
        self.path = None if path is None else str(path)
        self.fix = fix

    def __reduce__(self):  # keep context when errors cross process boundaries (joblib, dask)
        # the third item restores every attribute, also a subclass's own (ManifestError.problems)
        return (
            _rebuild_error,
            (type(self), self.problem, self.patient, self.path, self.fix),
            dict(self.__dict__),
        )


def _rebuild_error(cls, problem, patient, path, fix):
    return cls(problem, patient=patient, path=path, fix=fix)


class ConfigError(RadiopredictError, ValueError):
    """Invalid settings: unknown key, bad value, inconsistent options."""


class InputFileNotFoundError(RadiopredictError, FileNotFoundError):
    """An input file or folder does not exist."""


class ImageReadError(RadiopredictError, OSError):
    """A file exists but cannot be read as an image or mask."""


class GeometryMismatchError(RadiopredictError, ValueError):
    """Image and mask do not share the same grid (size, spacing, origin, direction)."""


class EmptyMaskError(RadiopredictError, ValueError):
    """A mask (or region of interest after preprocessing) contains no voxel."""


class LabelNotFoundError(RadiopredictError, KeyError):
    """A requested label value, label name or ROI name is absent from the mask."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return Exception.__str__(self)


class ManifestError(RadiopredictError, ValueError):
    """A cohort manifest has problems. ``problems`` holds the full table."""

    def __init__(self, problem: str, *, problems=None, **kwargs) -> None:
        super().__init__(problem, **kwargs)
        self.problems = problems


class TargetError(RadiopredictError, ValueError):
    """A survival or binary target is malformed."""


class FeatureComputationError(RadiopredictError, ValueError):
    """A feature cannot be computed for a case."""


class FeatureTableError(RadiopredictError, ValueError):
    """A feature table or design matrix is malformed (NaN, misaligned patients, unknown batch)."""


class MissingDependencyError(RadiopredictError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class NotFittedError(RadiopredictError, AttributeError):
    """An estimator or transformer was used before ``fit``."""


class BundleIntegrityError(RadiopredictError, ValueError):
    """A saved model bundle was modified or is incomplete."""


class EvaluationTimeError(RadiopredictError, ValueError):
    """A time-dependent metric was asked for a time outside the follow-up of the data."""


class OutputPathError(RadiopredictError, OSError):
    """An output file or folder cannot be written (not writable, a folder where a file is due,
    a file where a folder is due, the disk full)."""


class DicomWebError(RadiopredictError, ConnectionError):
    """A DICOMweb server cannot be reached, refuses a request, or lacks the study asked for."""
