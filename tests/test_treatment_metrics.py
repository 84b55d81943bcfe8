"""Benefit helpers with hand-checked values: RMST and c-for-benefit."""

from __future__ import annotations

import numpy as np
import pytest

from radiopredict.errors import TargetError
from radiopredict.targets import make_survival_target
from radiopredict.treatment import c_for_benefit, restricted_mean


def test_restricted_mean_of_step_functions() -> None:
    times = np.array([1.0, 2.0, 3.0, 4.0])
    surv = np.array([[1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5], [1.0, 0.5, 0.5, 0.0]])
    # S=1 on [0,1); then the value at each grid time holds until the next one.
    np.testing.assert_allclose(
        restricted_mean(surv, times, 4.0), [4.0, 1 + 0.5 * 3, 1 + 1 + 0.5 + 0.5]
    )
    np.testing.assert_allclose(
        restricted_mean(surv, times, 2.5), [2.5, 1 + 0.5 * 1.5, 1 + 1 + 0.5 * 0.5]
    )


def test_c_for_benefit_perfect_and_reversed() -> None:
    # Four treated and four controls; a higher predicted benefit goes with a better observed
    # pair outcome (control had the event, treated did not).
    benefit = np.array([0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4])
    treated = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    event = np.array([1, 1, 0, 0, 0, 1, 1, 1], bool)
    time = np.array([1, 1, 9, 9, 9, 1, 1, 1], float)
    y = make_survival_target(event, time)
    # pairs by rank: (t .1 event, c .1 none) obs -1; (t .2 event, c .2 event) obs 0;
    # (t .3 none, c .3 event) +1; (t .4 none, c .4 event) +1: observed benefit never falls
    # as predicted benefit rises, and 5 of the 6 pairs of pairs differ in observed benefit.
    assert c_for_benefit(benefit, treated, y, horizon=5.0) == pytest.approx(1.0)
    assert c_for_benefit(-benefit, treated, y, horizon=5.0) == pytest.approx(0.0)


def test_c_for_benefit_needs_informative_pairs() -> None:
    y = make_survival_target([1, 1, 1, 1], [1.0, 1.0, 1.0, 1.0])
    with pytest.raises(TargetError, match="no pair"):
        c_for_benefit(np.array([0.1, 0.2, 0.1, 0.2]), np.array([1, 1, 0, 0], bool), y, horizon=5.0)
