"""The error hierarchy: builtins, messages and pickling across processes."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from radiopredict import errors

ERROR_CLASSES = [
    getattr(errors, n)
    for n in errors.__all__
    if isinstance(getattr(errors, n), type) and getattr(errors, n) is not errors.RadiopredictError
]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_is_a_radiopredict_error_and_a_specific_builtin(cls) -> None:
    assert issubclass(cls, errors.RadiopredictError)
    builtins_ = [
        b
        for b in cls.__mro__
        if b.__module__ == "builtins" and b not in (Exception, BaseException, object)
    ]
    assert builtins_, f"{cls.__name__} should also inherit a builtin such as ValueError"


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_keeps_its_fields_when_pickled(cls) -> None:
    extra = {"problems": pd.DataFrame({"row": [3], "problem": ["missing image"]})}
    kwargs = extra if cls is errors.ManifestError else {}
    err = cls("it broke", patient="P9", path="/d/x.nii", fix="do this", **kwargs)
    err.note = "added later"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and str(back) == str(err)
    assert (back.problem, back.patient, back.path, back.fix, back.note) == (
        "it broke",
        "P9",
        "/d/x.nii",
        "do this",
        "added later",
    )
    if cls is errors.ManifestError:
        pd.testing.assert_frame_equal(back.problems, err.problems)


#: Raises that may carry no fix, with the reason (none at present).
_NO_FIX_ALLOWED: dict[str, str] = {}


def test_every_raised_error_says_what_to_do() -> None:
    """Each ``raise SomeRadiopredictError(...)`` in the package passes a non-empty ``fix``."""
    import ast
    from pathlib import Path

    root = Path(errors.__file__).parent
    names = {c.__name__ for c in ERROR_CLASSES} | {"RadiopredictError"}
    missing = []
    for path in sorted(root.rglob("*.py")):
        rel = f"radiopredict/{path.relative_to(root).as_posix()}"
        if rel in _NO_FIX_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
            if name not in names:
                continue
            kw = {k.arg: k.value for k in node.keywords}
            if None in kw:  # **kwargs forwarded
                continue
            fix = kw.get("fix")
            if fix is None or (isinstance(fix, ast.Constant) and not fix.value):
                missing.append(f"{rel}:{node.lineno} {name}")
    assert missing == []


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
