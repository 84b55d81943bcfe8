"""Survival and binary targets."""

from __future__ import annotations

import numpy as np
import pytest

from radiopredict.errors import TargetError
from radiopredict.targets import check_binary_target, check_survival_target, make_survival_target


def test_make_survival_target_fields_and_values() -> None:
    y = make_survival_target([1, 0, True], [1.5, 2, 3])
    assert y.dtype.names == ("event", "time")
    assert y.dtype["event"] == np.bool_ and y.dtype["time"] == np.float64
    event, time = check_survival_target(y)
    np.testing.assert_array_equal(event, [True, False, True])
    np.testing.assert_allclose(time, [1.5, 2.0, 3.0])


@pytest.mark.parametrize(
    ("event", "time", "fragment"),
    [
        ([1, 2], [1, 2], "0/1"),
        ([1, 0], [1, -2], ">= 0"),
        ([1, 0], [1, np.nan], ">= 0"),
        ([1, 0, 1], [1, 2], "3 values"),
        ([[1, 0]], [[1, 2]], "one-dimensional"),
    ],
)
def test_make_survival_target_rejects_bad_input(event, time, fragment) -> None:
    with pytest.raises(TargetError, match=fragment):
        make_survival_target(event, time)


def test_bad_values_name_the_patients() -> None:
    with pytest.raises(TargetError, match="pB"):
        make_survival_target([1, 0], [1, -1], ids=["pA", "pB"])


def test_check_survival_target_gate() -> None:
    with pytest.raises(TargetError, match="structured array"):
        check_survival_target(np.array([1.0, 2.0]))
    with pytest.raises(TargetError, match="all survival times are censored"):
        check_survival_target(make_survival_target([0, 0], [1, 2]))
    assert check_survival_target(make_survival_target([0, 0], [1, 2]), allow_all_censored=True)
    wrong = np.array([(1, 2.0)], dtype=[("e", "i4"), ("t", "f8")])
    with pytest.raises(TargetError, match="boolean"):
        check_survival_target(wrong)


def test_binary_target() -> None:
    np.testing.assert_array_equal(check_binary_target([True, False, 1]), [1, 0, 1])
    with pytest.raises(TargetError, match="0/1"):
        check_binary_target([0, 1, 2])
    with pytest.raises(TargetError, match="one class"):
        check_binary_target([1, 1])


def test_binary_target_returns_the_classes_and_the_01_vector():
    from radiopredict.targets import binary_target

    classes, y = binary_target(["responder", "non", "responder"])
    assert list(classes) == ["non", "responder"] and list(y) == [1, 0, 1]
    classes, y = binary_target(np.array([[True], [False]]))
    assert list(y) == [1, 0]
    for bad, match in (
        (["a", "b", "c"], "Only binary classification is supported: found 3"),
        ([0.1, 0.2, 0.35], "Unknown label type"),
        (["a", None, "b"], "missing"),
        ([1, 1], "one class"),
    ):
        with pytest.raises(TargetError, match=match):
            binary_target(bad)


def test_string_labels_work_through_every_response_pipeline():
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from radiopredict.models import ElasticNetLogistic, RandomForestResponse, XGBResponse
    from radiopredict.select import L1LogisticSelector, UnivariateSelector

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6))
    labels = np.where(X[:, 0] + 0.5 * rng.normal(size=80) > 0, "responder", "non")
    for selector in (UnivariateSelector(k=3), L1LogisticSelector(C=1.0)):
        for model in (ElasticNetLogistic(), XGBResponse(), RandomForestResponse(n_estimators=20)):
            pipe = make_pipeline(StandardScaler(), selector, model).fit(X, labels)
            assert set(pipe.predict(X)) <= {"responder", "non"}
            assert list(pipe.classes_) == ["non", "responder"]
            assert pipe.score(X, labels) > 0.7  # AUC on the training data
    scores = cross_val_score(
        make_pipeline(UnivariateSelector(k=3), ElasticNetLogistic()), X, labels, cv=3
    )
    assert np.all(scores > 0.6)
