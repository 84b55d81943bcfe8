"""The error hierarchy: builtins, messages and pickling across processes."""

from __future__ import annotations

import pickle

import pytest

from radiopredict import errors


def test_every_error_is_a_radiopredict_error_and_a_builtin() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and obj is not errors.RadiopredictError:
            assert issubclass(obj, errors.RadiopredictError)
            assert len(obj.__mro__) > 3, f"{name} should also inherit a builtin"


def test_message_names_patient_file_problem_fix() -> None:
    err = errors.ImageReadError("cannot decode", patient="P7", path="/d/x.nii", fix="re-export it")
    text = str(err)
    for part in ("P7", "/d/x.nii", "cannot decode", "Fix: re-export it"):
        assert part in text
    assert isinstance(err, OSError)


def test_errors_survive_pickling_with_context() -> None:
    err = errors.GeometryMismatchError(
        "spacing differs", patient="P1", path="m.nii", fix="resample"
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is errors.GeometryMismatchError
    assert (back.patient, back.path, back.fix) == ("P1", "m.nii", "resample")
    assert str(back) == str(err)


def test_label_not_found_is_readable_keyerror() -> None:
    err = errors.LabelNotFoundError("label 3 absent", fix="use 1 or 2")
    with pytest.raises(KeyError):
        raise err
    assert str(err).startswith("label 3 absent")
