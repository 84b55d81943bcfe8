"""DeepSurv: the linear network reproduces the Cox fit; sklearn contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from radiopredict.errors import ConfigError
from radiopredict.targets import make_survival_target

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    d = load_rossi()
    X = StandardScaler().fit_transform(d.drop(columns=["arrest", "week"]).astype(float))
    return X, make_survival_target(d["arrest"], d["week"])


@pytest.mark.slow
def test_linear_deepsurv_matches_cox_partial_likelihood(rossi):
    from radiopredict.models import CoxPH, DeepSurv

    X, y = rossi  # rossi has many tied event weeks: checks the Breslow risk sets
    net = DeepSurv(hidden=(), dropout=0, weight_decay=0, learning_rate=0.05, epochs=600)
    net.fit(X, y)
    cox = CoxPH(alpha=0.0).fit(X, y)
    w = net.net_[0].weight.detach().numpy().ravel()
    np.testing.assert_allclose(w, cox.coef_, atol=3e-3)
    assert net.loss_curve_[-1] < net.loss_curve_[0]


def test_deepsurv_contract(rossi):
    from radiopredict.models import DeepSurv

    X, y = rossi
    model = DeepSurv(hidden=(8,), epochs=50)
    a = clone(model).fit(X, y)
    b = clone(model).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))  # seeded: deterministic
    s = a.predict_survival_function(X[:4], [5.0, 30.0, 52.0])
    assert s.shape == (4, 3) and np.all(np.diff(s, axis=1) <= 0)
    assert 0.5 < a.score(X, y) <= 1
    with pytest.raises(ConfigError, match="dropout"):
        DeepSurv(dropout=1.5).fit(X, y)
