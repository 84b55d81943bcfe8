"""Metrics checked against scikit-survival (survival) and scikit-learn (binary) to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

from radiopredict import metrics as M
from radiopredict.errors import ConfigError, EvaluationTimeError, TargetError
from radiopredict.targets import make_survival_target

sksurv_metrics = pytest.importorskip("sksurv.metrics")
sksurv_datasets = pytest.importorskip("sksurv.datasets")


@pytest.fixture(scope="module")
def veterans():
    X, y = sksurv_datasets.load_veterans_lung_cancer()
    ev, tm = y.dtype.names
    ours = make_survival_target(y[ev], y[tm])
    rng = np.random.default_rng(0)
    risk = -X["Karnofsky_score"].to_numpy(dtype=float) + rng.normal(0, 5, len(X))
    train = np.arange(len(X)) % 3 != 0
    train[np.argmax(ours["time"])] = True  # censoring KM defined over the test follow-up
    return y, ours, risk, train


@pytest.fixture(scope="module")
def whas():
    X, y = sksurv_datasets.load_whas500()
    ev, tm = y.dtype.names
    ours = make_survival_target(y[ev], y[tm])
    risk = X["age"].to_numpy(dtype=float) / 10 + X["bmi"].to_numpy(dtype=float) * -0.1
    return y, ours, risk


def test_harrell_c_matches_sksurv_with_tied_risks(veterans):
    y, ours, risk, _ = veterans
    rounded = np.round(risk / 10)  # many tied risk scores
    for r in (risk, rounded):
        ref = sksurv_metrics.concordance_index_censored(y[y.dtype.names[0]], y[y.dtype.names[1]], r)
        assert M.harrell_c(ours, r) == pytest.approx(ref[0], abs=1e-6)


def test_harrell_c_tied_times_whas(whas):
    y, ours, risk = whas  # whas500 has many tied times
    ref = sksurv_metrics.concordance_index_censored(y[y.dtype.names[0]], y[y.dtype.names[1]], risk)
    assert M.harrell_c(ours, risk) == pytest.approx(ref[0], abs=1e-6)


@pytest.mark.parametrize("tau", [None, 100.0, 300.0])
def test_uno_c_matches_sksurv(veterans, tau):
    y, ours, risk, train = veterans
    test = ~train
    ref = sksurv_metrics.concordance_index_ipcw(y[train], y[test], risk[test], tau=tau)[0]
    assert M.uno_c(ours[train], ours[test], risk[test], tau=tau) == pytest.approx(ref, abs=1e-6)


def test_cumulative_dynamic_auc_matches_sksurv(whas):
    y, ours, risk = whas
    times = np.array([100.0, 365.0, 730.0, 1000.0])
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(y, y, risk, times)
    auc, mean = M.cumulative_dynamic_auc(ours, ours, risk, times)
    np.testing.assert_allclose(auc, ref_auc, atol=1e-6)
    assert mean == pytest.approx(ref_mean, abs=1e-6)
    # a time-specific (2-D) risk, times given unsorted
    risk2 = np.outer(risk, [1.0, 2.0, 0.5, 1.5]) + np.outer(np.arange(len(risk)) % 7, [0, 1, 0, 1])
    ref_auc2, _ = sksurv_metrics.cumulative_dynamic_auc(y, y, risk2, times)
    perm = [2, 0, 3, 1]
    auc2, _ = M.cumulative_dynamic_auc(ours, ours, risk2[:, perm], times[perm])
    np.testing.assert_allclose(auc2, ref_auc2, atol=1e-6)


def test_brier_and_ibs_match_sksurv(veterans):
    y, ours, risk, train = veterans
    test = ~train
    times = np.array([20.0, 50.0, 100.0, 150.0, 250.0])
    surv = np.exp(-np.outer(np.exp((risk[test] + 60) / 30), times / 150))
    _, ref_bs = sksurv_metrics.brier_score(y[train], y[test], surv, times)
    _, bs = M.brier_score(ours[train], ours[test], surv, times)
    np.testing.assert_allclose(bs, ref_bs, atol=1e-6)
    ref_ibs = sksurv_metrics.integrated_brier_score(y[train], y[test], surv, times)
    assert M.integrated_brier_score(ours[train], ours[test], surv, times) == pytest.approx(
        ref_ibs, abs=1e-6
    )


def test_times_beyond_follow_up_raise_clear_error(veterans):
    _, ours, risk, train = veterans
    high = ours["time"].max()
    with pytest.raises(EvaluationTimeError, match="outside the follow-up"):
        M.cumulative_dynamic_auc(ours, ours, risk, [10.0, high])
    surv = np.full((len(ours), 2), 0.5)
    with pytest.raises(EvaluationTimeError, match="choose times"):
        M.brier_score(ours, ours, surv, [0.0, 10.0])
    # a test event after the last training time, where the censoring KM is still positive
    tr = ours[ours["time"] < 100]
    te = ours[ours["time"] < 400]
    with pytest.raises(EvaluationTimeError, match="beyond the last observed time"):
        M.uno_c(tr, te, np.arange(len(te), dtype=float))
    assert M.valid_time_range(ours) == (ours["time"].min(), high)


def test_bad_inputs(veterans):
    _, ours, risk, _ = veterans
    with pytest.raises(ConfigError, match="expected"):
        M.harrell_c(ours, risk[:-1])
    with pytest.raises(ConfigError, match="NaN"):
        M.harrell_c(ours, np.r_[np.nan, risk[1:]])
    with pytest.raises(ConfigError, match="probabilities"):
        M.brier_score(ours, ours, np.full((len(ours), 1), 2.0), [50.0])
    with pytest.raises(ConfigError, match="two distinct times"):
        M.integrated_brier_score(ours, ours, np.full((len(ours), 1), 0.5), [50.0])
    no_pairs = make_survival_target([1, 0], [5.0, 1.0])
    with pytest.raises(TargetError, match="comparable"):
        M.harrell_c(no_pairs, [1.0, 2.0])


def test_kaplan_meier_matches_lifelines(veterans):
    from lifelines import KaplanMeierFitter

    _, ours, _, _ = veterans
    t, s = M.kaplan_meier(ours["event"], ours["time"])
    km = KaplanMeierFitter().fit(ours["time"], ours["event"])
    np.testing.assert_allclose(s, km.survival_function_at_times(t).to_numpy(), atol=1e-12)


def test_survival_calibration_perfect_vs_wrong():
    rng = np.random.default_rng(1)
    n = 600
    lp = rng.normal(0, 1, n)
    t_event = rng.exponential(1 / (0.1 * np.exp(lp)))
    t_cens = rng.uniform(0, 15, n)
    y = make_survival_target(t_event <= t_cens, np.minimum(t_event, t_cens))
    true_s = np.exp(-0.1 * np.exp(lp) * 5.0)
    good = M.survival_calibration(y, true_s, 5.0, n_groups=4)
    bad = M.survival_calibration(y, np.clip(true_s + 0.25, 0, 1), 5.0, n_groups=4)
    assert good.ici < 0.05 < bad.ici
    assert list(good.table.columns) == [
        "group",
        "n",
        "predicted",
        "observed",
        "observed_lower",
        "observed_upper",
    ]
    assert np.all(good.table["observed_lower"] <= good.table["observed"])
    np.testing.assert_allclose(good.table["predicted"], good.table["observed"], atol=0.08)
    with pytest.raises(EvaluationTimeError):
        M.survival_calibration(y, true_s, 100.0)


def test_binary_metrics_match_sklearn():
    from sklearn.metrics import brier_score_loss, roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 300), 0, 1)
    p_tied = np.round(p, 1)
    assert M.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert M.roc_auc(y, p_tied) == pytest.approx(roc_auc_score(y, p_tied), abs=1e-12)
    assert M.binary_brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_binary_calibration_slope_intercept():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    lp = rng.normal(0, 1.5, 2000)
    y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-lp))).astype(int)
    p_over = 1 / (1 + np.exp(-2 * lp))  # too extreme: slope ~ 0.5
    cal = M.binary_calibration(y, p_over)
    ref = LogisticRegression(C=np.inf).fit((2 * lp)[:, None], y)
    assert cal.slope == pytest.approx(ref.coef_[0, 0], abs=1e-5)
    assert 0.4 < cal.slope < 0.6
    good = M.binary_calibration(y, 1 / (1 + np.exp(-lp)))
    assert abs(good.intercept) < 0.15 and good.ici < 0.03 < cal.ici
    with pytest.raises(TargetError):
        M.binary_calibration(np.full(10, 1), np.full(10, 0.5))


def test_km_at_matches_lifelines_with_greenwood_se():
    from lifelines import KaplanMeierFitter

    from radiopredict.metrics import km_at

    rng = np.random.default_rng(1)
    time = rng.exponential(10, size=200).round()
    event = rng.random(200) < 0.7
    kmf = KaplanMeierFitter().fit(time, event)
    for t in (3.0, 10.0, 25.0):
        s, se, lo, hi = km_at(event, time, t)
        assert s == pytest.approx(float(kmf.survival_function_at_times(t).iloc[0]), rel=1e-12)
        ci = kmf.confidence_interval_survival_function_
        row = ci[ci.index <= t].iloc[-1]
        assert (lo, hi) == pytest.approx((row.iloc[0], row.iloc[1]), rel=1e-6)
        assert 0 < se < 0.1
