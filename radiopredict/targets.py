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
]

SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])


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
        raise TargetError(f"survival target must be 1-D, got shape {arr.shape}")
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


def check_binary_target(y) -> np.ndarray:
    """Validate a binary response target and return it as an int array of 0/1.

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
    out = num.astype(int)
    if len(np.unique(out)) < 2:
        raise TargetError(
            "the binary response has a single class",
            fix="a response model needs both responders and non-responders",
        )
    return out
