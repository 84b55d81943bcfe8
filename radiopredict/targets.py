"""Outcome targets: the survival structured array and binary response vectors.

Survival targets follow the scikit-survival convention without depending on it: a numpy
structured array with fields ``event`` (bool) and ``time`` (float64). :func:`make_survival_target`
builds one; :func:`check_survival_target` is the single gate every estimator and metric calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from radiopredict.errors import TargetError

__all__ = [
    "SURVIVAL_DTYPE",
    "make_survival_target",
    "check_survival_target",
    "check_binary_target",
    "binary_target",
    "is_survival",
]

SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])


def is_survival(y) -> bool:
    """Whether ``y`` is a survival target (a structured array with named fields)."""
    return getattr(np.asarray(y), "dtype", np.dtype(float)).names is not None


def _as_1d(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise TargetError(
            f"{name} must be one-dimensional, got shape {arr.shape}",
            fix=f"pass one {name} value per patient",
        )
    return arr


def make_survival_target(
    event: Sequence | np.ndarray | pd.Series,
    time: Sequence | np.ndarray | pd.Series,
    *,
    ids: Sequence | None = None,
) -> np.ndarray:
    """Build a survival target from event indicators and times.

    Parameters
    ----------
    event
        1 / True when the event (e.g. death, progression) was observed, 0 / False when censored.
    time
        Time to event or censoring; finite and non-negative.
    ids
        Optional patient identifiers, used only to name patients in error messages.

    Returns
    -------
    numpy.ndarray
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    Raises
    ------
    TargetError
        Lengths differ, events are not 0/1, or times are missing, infinite or negative.
    """
    ev = _as_1d(event, "event")
    tm = _as_1d(time, "time")
    if len(ev) != len(tm):
        raise TargetError(
            f"event has {len(ev)} values but time has {len(tm)}",
            fix="pass one event and one time per patient",
        )
    names = list(ids) if ids is not None else [str(i) for i in range(len(ev))]
    ev_num = pd.to_numeric(pd.Series(ev), errors="coerce").to_numpy(dtype=float)
    bad_ev = ~np.isin(ev_num, [0.0, 1.0])
    if bad_ev.any():
        who = ", ".join(str(names[i]) for i in np.flatnonzero(bad_ev)[:5])
        raise TargetError(
            f"event must be 0/1 (or False/True); bad values for patient(s) {who}",
            fix="code events as 1 = event observed, 0 = censored",
        )
    tm_num = pd.to_numeric(pd.Series(tm), errors="coerce").to_numpy(dtype=float)
    bad_t = ~np.isfinite(tm_num) | (tm_num < 0)
    if bad_t.any():
        who = ", ".join(str(names[i]) for i in np.flatnonzero(bad_t)[:5])
        raise TargetError(
            f"time must be finite and >= 0; bad values for patient(s) {who}",
            fix="fill in follow-up times (time to event or last contact) for these patients",
        )
    out = np.empty(len(ev), dtype=SURVIVAL_DTYPE)
    out["event"] = ev_num.astype(bool)
    out["time"] = tm_num
    return out


def check_survival_target(y, *, allow_all_censored: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a survival target and return ``(event, time)`` as plain arrays.

    Accepts the structured array from :func:`make_survival_target` (or scikit-survival's, whose
    field names may differ but whose first field is the event and second the time).

    Parameters
    ----------
    y
        Structured array with a boolean event field and a float time field.
    allow_all_censored
        When False (the default) a target without any event is an error, since no survival
        model or concordance can be computed from it.

    Returns
    -------
    event : numpy.ndarray of bool
    time : numpy.ndarray of float64
    """
    arr = np.asarray(y)
    if arr.dtype.names is None or len(arr.dtype.names) != 2:
        raise TargetError(
            "a survival target must be a structured array with fields (event, time), "
            f"got dtype {arr.dtype}",
            fix="build it with radiopredict.make_survival_target(event, time)",
        )
    if arr.ndim != 1:
        raise TargetError(
            f"survival target must be 1-D, got shape {arr.shape}",
            fix="pass one (event, time) record per patient",
        )
    ev_name, t_name = arr.dtype.names
    if arr.dtype[ev_name] != np.bool_:
        raise TargetError(
            f"the first field {ev_name!r} must be boolean, got {arr.dtype[ev_name]}",
            fix="build the target with radiopredict.make_survival_target(event, time)",
        )
    time = np.asarray(arr[t_name], dtype=float)
    event = np.asarray(arr[ev_name], dtype=bool)
    if not np.all(np.isfinite(time)) or np.any(time < 0):
        raise TargetError(
            "survival times must be finite and >= 0", fix="remove or correct those patients"
        )
    if not allow_all_censored and len(event) and not event.any():
        raise TargetError(
            "all survival times are censored: no event to learn from",
            fix="check the event column coding (1 = event observed)",
        )
    return event, time


def binary_target(y) -> tuple[np.ndarray, np.ndarray]:
    """The one binary-target gate: validate ``y`` and return ``(classes, y01)``.

    Any two distinct labels are accepted (``0``/``1``, ``False``/``True``, ``"non"``/
    ``"responder"``...); ``classes`` holds them sorted, as scikit-learn's ``classes_``, and
    ``y01`` is 1 where ``y`` equals ``classes[1]`` (the positive class: 1, True, the later
    string). A column vector ``(n, 1)`` is accepted.

    Raises
    ------
    TargetError
        Missing values, a continuous or multi-class target, or a single class.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    arr = _as_1d(arr, "response")
    if arr.dtype.names is not None:
        raise TargetError(
            "a binary response was expected, got a survival target (event, time)",
            fix="use a survival model or pass the 0/1 response",
        )
    missing = pd.isna(pd.Series(arr, dtype=object)).to_numpy()
    if missing.any():
        raise TargetError(
            f"the binary response has {int(missing.sum())} missing value(s)",
            fix="drop the patients without a response or fill it in (1 = responder, 0 = non)",
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise TargetError("the binary response has infinite values", fix="recode it as 0/1")
    if arr.dtype.kind == "O":
        values = list(arr)
        if all(isinstance(v, bool | np.bool_ | int | np.integer | float) for v in values):
            arr = arr.astype(float)
        else:
            arr = arr.astype(str)
    from sklearn.utils.multiclass import type_of_target

    if type_of_target(arr, input_name="y") == "continuous":
        raise TargetError(
            "Unknown label type: continuous values where a binary response (two classes) was "
            "expected",
            fix="recode the response as 1 = responder, 0 = non-responder",
        )
    classes = np.unique(arr)
    if len(classes) > 2:
        shown = ", ".join(map(repr, classes[:5].tolist())) + (" ..." if len(classes) > 5 else "")
        raise TargetError(
            f"Only binary classification is supported: found {len(classes)} classes ({shown})",
            fix="recode the response as 1 = responder, 0 = non-responder",
        )
    if len(classes) < 2:
        raise TargetError(
            "the binary response has one class only",
            fix="a response model needs both responders and non-responders",
        )
    return classes, (arr == classes[1]).astype(int)


def check_binary_target(y) -> np.ndarray:
    """Validate a response coded 0/1 (or False/True) and return it as an int array of 0/1.

    The strict form of :func:`binary_target` for tables (a manifest's ``response`` column),
    where the meaning of the two codes must not depend on how labels sort.

    Raises
    ------
    TargetError
        Values other than two classes coded 0/1 (or False/True), or only one class present.
    """
    arr = _as_1d(y, "response")
    num = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isin(num, [0.0, 1.0])):
        raise TargetError(
            "a binary response must be coded 0/1; found other or missing values",
            fix="recode the response column as 1 = responder, 0 = non-responder",
        )
    return binary_target(num)[1]
