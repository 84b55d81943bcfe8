"""External validation, shift, subgroup and site audits on simulated data with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from radiopredict import validation as V
from radiopredict.errors import (
    ConfigError,
    EvaluationTimeError,
    FeatureTableError,
    RadiopredictError,
    TargetError,
)
from radiopredict.metrics import kaplan_meier
from radiopredict.targets import make_survival_target

LAMBDA, HORIZON = 0.1, 5.0


def cox_cohort(n, beta=1.0, *, seed=0, censor_max=20.0, shift=0.0):
    """Exponential Cox model h(t | x) = LAMBDA exp(beta x), x ~ N(shift, 1), uniform censoring."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    lp = beta * x
    t = rng.exponential(1.0 / (LAMBDA * np.exp(lp)))
    c = rng.uniform(0, censor_max, n) if censor_max else np.full(n, np.inf)
    y = make_survival_target(t <= c, np.minimum(t, c))
    return x, lp, y


def true_prediction(lp, factor=1.0, scale=1.0):
    """Predictions with the true (factor=scale=1) or a distorted hazard."""
    s = np.exp(-factor * LAMBDA * HORIZON * np.exp(scale * lp))
    return pd.DataFrame({"risk": scale * lp, "survival_at_horizon": s})


def analytic_c(beta):
    """Large-sample concordance of the true risk without censoring.

    P(r_i > r_j | T_i < T_j) = 2 E[1(D > 0) sigma(beta D)], D = x_i - x_j ~ N(0, 2), since
    P(T_i < T_j | x) = exp(beta x_i) / (exp(beta x_i) + exp(beta x_j)).
    """
    sd = np.sqrt(2.0)
    f = lambda d: stats.norm.pdf(d, scale=sd) / (1 + np.exp(-beta * d))  # noqa: E731
    return 2 * integrate.quad(f, 0, np.inf)[0]


# --------------------------------------------------------------------------- survival


def test_harrell_c_of_true_risk_matches_analytic_value():
    _, lp, y = cox_cohort(1500, beta=1.0, seed=1, censor_max=None)
    out = V.external_validation(
        "survival", y, true_prediction(lp), horizon=HORIZON, n_bootstrap=0
    ).set_index("metric")
    expected = analytic_c(1.0)  # 0.7398
    assert out.loc["harrell_c", "value"] == pytest.approx(expected, abs=0.02)
    assert out.loc["uno_c", "value"] == pytest.approx(expected, abs=0.03)


def test_calibrated_survival_gives_slope_one_intercept_zero():
    _, lp, y = cox_cohort(3000, seed=2)
    cal = V.calibration_at_horizon(y, true_prediction(lp)["survival_at_horizon"], HORIZON)
    assert cal["calibration_slope"] == pytest.approx(1.0, abs=0.1)
    assert cal["calibration_intercept"] == pytest.approx(0.0, abs=0.1)


def test_calibration_fit_is_the_weighted_maximum_likelihood():
    """Independent check: maximise the IPCW-weighted cloglog likelihood with scipy."""
    from scipy.optimize import minimize

    _, lp, y = cox_cohort(600, seed=17)
    s = true_prediction(lp, factor=1.3, scale=0.8)["survival_at_horizon"].to_numpy()
    knots, g = kaplan_meier(y["event"], y["time"], reverse=True)
    G = lambda t: np.r_[1.0, g][np.searchsorted(knots, t, side="right")]  # noqa: E731
    d = y["event"] & (y["time"] <= HORIZON)
    alive = y["time"] > HORIZON
    w = np.where(alive, 1 / G(HORIZON), 0.0)
    w[d] = 1 / G(y["time"][d])
    c = np.log(-np.log(s))

    def nll(beta, slope):
        eta = beta[0] + (beta[1] * c if slope else c)
        return -np.sum(w * np.where(d, np.log(-np.expm1(-np.exp(eta))), -np.exp(eta)))

    b = minimize(
        nll,
        [0.0, 1.0],
        args=(True,),
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 5000},
    ).x
    a0 = minimize(
        nll, [0.0], args=(False,), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10}
    ).x
    ours = V.calibration_at_horizon(y, s, HORIZON)
    assert ours["calibration_slope"] == pytest.approx(b[1], abs=1e-4)
    assert ours["calibration_intercept"] == pytest.approx(a0[0], abs=1e-4)


def test_miscalibrated_survival_is_detected():
    _, lp, y = cox_cohort(3000, seed=2)
    # predictions twice as extreme (overfitting): slope 1/2
    over = V.calibration_at_horizon(y, true_prediction(lp, scale=2.0)["survival_at_horizon"], 5.0)
    assert over["calibration_slope"] == pytest.approx(0.5, abs=0.07)
    # predicted hazard doubled: the true cloglog is the predicted one minus log 2
    high = V.calibration_at_horizon(y, true_prediction(lp, factor=2.0)["survival_at_horizon"], 5.0)
    assert high["calibration_intercept"] == pytest.approx(-np.log(2), abs=0.1)
    assert high["calibration_slope"] == pytest.approx(1.0, abs=0.1)


def test_survival_table_cis_contain_values_and_ibs_needs_curves():
    _, lp, y = cox_cohort(250, seed=3)
    pred = true_prediction(lp)
    out = V.external_validation("survival", y, pred, horizon=HORIZON, n_bootstrap=60)
    assert list(out.columns) == ["metric", "value", "ci_low", "ci_high", "note"]
    assert list(out["metric"]) == list(V.SURVIVAL_VALIDATION_METRICS)
    ibs = out.set_index("metric").loc["ibs"]
    assert np.isnan(ibs["value"]) and "survival_curves" in ibs["note"]
    rest = out[out["metric"] != "ibs"]
    assert rest["value"].notna().all()
    assert (rest["ci_low"] <= rest["value"]).all() and (rest["value"] <= rest["ci_high"]).all()
    assert (rest["ci_high"] > rest["ci_low"]).all()
    # same seed, same numbers
    again = V.external_validation("survival", y, pred, horizon=HORIZON, n_bootstrap=60)
    pd.testing.assert_frame_equal(out, again)


def test_ibs_with_true_curves_beats_a_null_model():
    _, lp, y = cox_cohort(400, seed=4)
    grid = np.linspace(0.5, 15, 40)
    true_curves = np.exp(-LAMBDA * grid[None, :] * np.exp(lp)[:, None])
    knots, km = kaplan_meier(y["event"], y["time"])  # the null model: everyone gets the KM
    km_grid = np.r_[1.0, km][np.searchsorted(knots, grid, side="right")]
    null_curves = np.repeat(km_grid[None, :], len(lp), axis=0)
    kw = dict(horizon=HORIZON, n_bootstrap=20)
    good = V.external_validation(
        "survival", y, true_prediction(lp), survival_curves=(grid, true_curves), **kw
    ).set_index("metric")
    null = V.external_validation(
        "survival", y, true_prediction(lp), survival_curves=(grid, null_curves), **kw
    ).set_index("metric")
    assert good.loc["ibs", "note"] == ""
    assert 0 < good.loc["ibs", "value"] < null.loc["ibs", "value"] - 0.01
    assert good.loc["ibs", "ci_low"] <= good.loc["ibs", "value"] <= good.loc["ibs", "ci_high"]


def test_random_risk_has_concordance_near_half():
    _, lp, y = cox_cohort(800, seed=5)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=len(lp))
    pred = pd.DataFrame({"risk": noise, "survival_at_horizon": np.exp(-0.5 * np.exp(noise))})
    out = V.external_validation("survival", y, pred, horizon=HORIZON, n_bootstrap=0)
    out = out.set_index("metric")
    assert out.loc["harrell_c", "value"] == pytest.approx(0.5, abs=0.04)
    assert out.loc["td_auc", "value"] == pytest.approx(0.5, abs=0.05)


# --------------------------------------------------------------------------- response


def test_response_calibrated_probabilities():
    rng = np.random.default_rng(6)
    x = rng.normal(size=3000)
    p = 1 / (1 + np.exp(-(x - 0.3)))
    y = (rng.uniform(size=len(p)) < p).astype(int)
    out = V.external_validation(
        "response", y, pd.DataFrame({"probability": p}), n_bootstrap=40
    ).set_index("metric")
    assert list(out.index) == list(V.RESPONSE_VALIDATION_METRICS)
    assert out.loc["calibration_slope", "value"] == pytest.approx(1.0, abs=0.1)
    assert out.loc["calibration_intercept", "value"] == pytest.approx(0.0, abs=0.1)
    # AUC of the true probability: compare with the large-sample value by simulation
    big = rng.normal(size=200_000)
    pb = 1 / (1 + np.exp(-(big - 0.3)))
    yb = rng.uniform(size=len(pb)) < pb
    from sklearn.metrics import roc_auc_score

    assert out.loc["auc", "value"] == pytest.approx(roc_auc_score(yb, pb), abs=0.03)
    assert (out["ci_low"] <= out["value"]).all() and (out["value"] <= out["ci_high"]).all()


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_project_errors_with_a_fix():
    _, lp, y = cox_cohort(100, seed=7)
    pred = true_prediction(lp)
    cases = [
        (ConfigError, dict(task="surv", y=y, prediction=pred, horizon=5)),
        (ConfigError, dict(task="survival", y=y, prediction=pred[["risk"]], horizon=5)),
        (ConfigError, dict(task="survival", y=y[:-1], prediction=pred, horizon=5)),
        (ConfigError, dict(task="survival", y=y, prediction=pred)),  # no horizon
        (EvaluationTimeError, dict(task="survival", y=y, prediction=pred, horizon=1e6)),
        (TargetError, dict(task="survival", y=np.zeros(100), prediction=pred, horizon=5)),
        (ConfigError, dict(task="response", y=np.arange(100) % 2, prediction=pred)),
        (
            TargetError,
            dict(
                task="response",
                y=np.ones(100),
                prediction=pred.rename(columns={"survival_at_horizon": "probability"}),
            ),
        ),  # one class only
        (
            ConfigError,
            dict(
                task="response",
                y=np.arange(100) % 2,
                prediction=pd.DataFrame({"probability": np.linspace(0, 2, 100)}),
            ),
        ),  # not probabilities
        (
            ConfigError,
            dict(
                task="survival",
                y=y,
                prediction=pred,
                horizon=5,
                survival_curves=(np.arange(3), np.ones((100, 4))),
            ),
        ),
    ]
    for err, kw in cases:
        with pytest.raises(err) as info:
            V.external_validation(n_bootstrap=0, **kw)
        assert info.value.fix, kw


def test_constant_predictions_leave_a_note_not_a_bare_nan():
    y = np.arange(60) % 2
    out = V.external_validation(
        "response", y, pd.DataFrame({"probability": np.full(60, 0.4)}), n_bootstrap=5
    ).set_index("metric")
    assert out.loc["auc", "value"] == 0.5
    assert np.isnan(out.loc["calibration_slope", "value"])
    assert "same predicted probability" in out.loc["calibration_slope", "note"]
    _, lp, ys = cox_cohort(80, seed=18)
    flat = pd.DataFrame({"risk": np.zeros(80), "survival_at_horizon": np.full(80, 0.6)})
    surv = V.external_validation("survival", ys, flat, horizon=HORIZON, n_bootstrap=5)
    surv = surv.set_index("metric")
    assert np.isnan(surv.loc["calibration_slope", "value"])
    assert surv.loc["calibration_slope", "note"].startswith("not computed")
    assert surv.loc["calibration_intercept", "note"] == ""  # defined with the slope fixed


def test_missing_prediction_names_the_patient():
    _, lp, y = cox_cohort(50, seed=8)
    pred = true_prediction(lp)
    pred.insert(0, "patient_id", [f"P{i:03d}" for i in range(50)])
    pred.loc[7, "risk"] = np.nan
    with pytest.raises(ConfigError, match="P007"):
        V.external_validation("survival", y, pred, horizon=HORIZON)


# --------------------------------------------------------------------------- shift


def test_shift_diagnostics_shifted_vs_unshifted():
    rng = np.random.default_rng(9)

    def frame(n, shift):
        return pd.DataFrame(
            {"a": rng.normal(shift, 1, n), "b": rng.normal(0, 1, n), "c": rng.normal(0, 1, n)}
        )

    dev = frame(300, 0.0)
    same = V.shift_diagnostics(dev, frame(300, 0.0))
    moved = V.shift_diagnostics(dev, frame(300, 1.5))
    assert same["membership_auc"] == pytest.approx(0.5, abs=0.08)
    assert moved["membership_auc"] > 0.8  # analytic: Phi(1.5 / sqrt 2) = 0.856
    lo, hi = moved["membership_auc_ci"]
    assert lo <= moved["membership_auc"] <= hi
    smd = moved["standardized_differences"]
    assert list(smd.columns)[:4] == ["column", "mean_dev", "mean_val", "smd"]
    assert smd["column"].iloc[0] == "a"
    assert smd["smd"].iloc[0] == pytest.approx(1.5, abs=0.2)
    assert smd["smd"].abs().is_monotonic_decreasing


def test_shift_diagnostics_constant_and_missing_columns():
    rng = np.random.default_rng(16)
    dev = pd.DataFrame({"x": rng.normal(size=40), "k": 1.0, "j": 1.0, "m": rng.normal(size=40)})
    val = pd.DataFrame({"x": rng.normal(size=30), "k": 1.0, "j": 2.0, "m": np.nan})
    table = V.shift_diagnostics(dev, val)["standardized_differences"].set_index("column")
    assert table.loc["k", "smd"] == 0.0
    assert table.loc["j", "smd"] == np.inf
    assert np.isnan(table.loc["m", "smd"]) and table.loc["m", "missing_val"] == 1.0
    assert list(table.index[:2]) == ["m", "j"]


def test_shift_diagnostics_bad_inputs():
    dev = pd.DataFrame({"a": np.arange(10.0), "b": np.ones(10)})
    with pytest.raises(FeatureTableError, match="absent from X_val: b"):
        V.shift_diagnostics(dev, dev[["a"]])
    with pytest.raises(FeatureTableError, match="non-numeric"):
        V.shift_diagnostics(dev.assign(s="x"), dev.assign(s="y"))


# --------------------------------------------------------------------------- subgroups


def test_subgroup_audit_levels_age_bands_and_warning():
    x, lp, y = cox_cohort(400, seed=10)
    rng = np.random.default_rng(10)
    groups = pd.DataFrame(
        {
            "site": np.where(np.arange(400) < 385, "A", "B"),  # B: 15 patients
            "sex": rng.choice(["F", "M"], 400),
            "age": rng.uniform(30, 90, 400),
        }
    )
    groups.loc[3, "sex"] = None
    out = V.subgroup_audit(
        "survival", y, true_prediction(lp), groups, horizon=HORIZON, n_bootstrap=20
    )
    assert list(out.columns) == [
        "subgroup",
        "level",
        "n",
        "events",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "warning",
    ]
    levels = out.groupby("subgroup")["level"].unique()
    assert set(levels["age"]) == {"0-50", "50-65", "65-75", "75-200"}
    assert "missing" in set(levels["sex"])
    b = out[(out["subgroup"] == "site") & (out["level"] == "B")].iloc[0]
    assert b["n"] == 15 and b["events"] < 10
    assert "events (< 10)" in b["warning"]
    a = out[(out["subgroup"] == "site") & (out["level"] == "A")]
    assert not a["warning"].str.contains("< 10").any()
    assert (a["ci_low"] <= a["value"]).all() and (a["value"] <= a["ci_high"]).all()
    everyone = out[out["subgroup"] == "all"]
    assert (everyone["n"] == 400).all()
    # a NaN value always carries its reason
    assert out.loc[out["value"].isna(), "warning"].str.len().gt(0).all()


def test_subgroup_audit_bad_age():
    _, lp, y = cox_cohort(60, seed=19)
    pred = true_prediction(lp).assign(patient_id=[f"P{i}" for i in range(60)])
    ages = pd.Series(np.full(60, 60.0)).astype(object)
    ages[4] = "sixty"
    with pytest.raises(ConfigError, match="P4"):
        V.subgroup_audit("survival", y, pred, pd.DataFrame({"age": ages}), horizon=HORIZON)
    with pytest.raises(ConfigError, match="outside age_bands"):
        V.subgroup_audit(
            "survival", y, pred, pd.DataFrame({"age": np.full(60, 250.0)}), horizon=HORIZON
        )


def test_development_censoring_too_short_is_noted():
    _, lp, y = cox_cohort(300, seed=20)
    _, _, y_dev = cox_cohort(300, seed=21, censor_max=8.0)  # development follow-up < 8
    grid = np.linspace(0.5, 15, 30)
    curves = np.exp(-LAMBDA * grid[None, :] * np.exp(lp)[:, None])
    out = V.external_validation(
        "survival",
        y,
        true_prediction(lp),
        y_train=y_dev,
        horizon=HORIZON,
        survival_curves=(grid, curves),
        n_bootstrap=10,
    ).set_index("metric")
    assert np.isnan(out.loc["ibs", "value"])
    assert "censoring" in out.loc["ibs", "note"]
    assert out.drop(index="ibs")["value"].notna().all()


def test_subgroup_audit_response_single_class_level():
    rng = np.random.default_rng(11)
    p = rng.uniform(0.1, 0.9, 120)
    y = (rng.uniform(size=120) < p).astype(int)
    site = np.where(np.arange(120) < 110, "A", "B")
    y[site == "B"] = 1
    out = V.subgroup_audit(
        "response",
        y,
        pd.DataFrame({"probability": p}),
        pd.DataFrame({"site": site}),
        n_bootstrap=10,
    )
    b = out[out["level"] == "B"]
    assert b["value"].isna().all()
    assert b["warning"].str.contains("one class|single class").all()
    with pytest.raises(ConfigError, match="groups has 3 rows"):
        V.subgroup_audit(
            "response", y, pd.DataFrame({"probability": p}), pd.DataFrame({"site": site[:3]})
        )


# --------------------------------------------------------------------------- sites


def test_site_leakage_with_and_without_offsets():
    rng = np.random.default_rng(12)
    site = np.repeat(["A", "B", "C"], 100)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    offsets = pd.Series({"A": 0.0, "B": 1.5, "C": -1.5})
    leaky = X.assign(a=X["a"] + offsets[site].to_numpy())
    assert V.site_leakage(leaky, site) > 0.75
    cleaned = leaky.assign(a=leaky["a"] - offsets[site].to_numpy())
    assert V.site_leakage(cleaned, site) == pytest.approx(0.5, abs=0.08)
    two = site != "C"
    assert V.site_leakage(leaky[two], site[two]) > 0.75
    with pytest.raises(ConfigError, match="one site"):
        V.site_leakage(X, np.repeat("A", 300))
    with pytest.raises(ConfigError, match="fewer than cv=5"):
        V.site_leakage(X.iloc[:203], site[:203])


def test_leave_one_site_out_survival_and_response():
    from sklearn.linear_model import LogisticRegression

    from radiopredict.models import CoxPH

    x, lp, y = cox_cohort(240, seed=13)
    site = np.repeat(["A", "B", "C"], 80)
    X = pd.DataFrame({"x": x, "noise": np.random.default_rng(0).normal(size=240)})
    out = V.leave_one_site_out(CoxPH(), X, y, site, task="survival", horizon=HORIZON)
    assert list(out.columns) == ["site", "n", "events", "metric", "value", "note"]
    assert set(out["site"]) == {"A", "B", "C"}
    c = out[out["metric"] == "harrell_c"]
    assert (c["n"] == 80).all()
    assert (c["value"] > 0.6).all()
    yb = (x + np.random.default_rng(1).normal(size=240) > 0).astype(int)
    resp = V.leave_one_site_out(LogisticRegression(), X, yb, site, task="response")
    assert (resp.loc[resp["metric"] == "auc", "value"] > 0.7).all()
    with pytest.raises(ConfigError, match="horizon"):
        V.leave_one_site_out(CoxPH(), X, y, site, task="survival")


# --------------------------------------------------------------------------- plots


def test_km_by_cutpoints():
    from radiopredict.report.plots import plot_km_by_cutpoints

    _, lp_dev, _ = cox_cohort(300, seed=14)
    _, lp, y = cox_cohort(200, seed=15)
    cuts = V.risk_cutpoints(lp_dev, 3)
    assert len(cuts) == 2 and cuts[0] < cuts[1]
    fig, p = plot_km_by_cutpoints(lp, y, cuts, title="external")
    assert p < 1e-3
    assert len(fig.axes[0].get_lines()) >= 3
    fig, p = plot_km_by_cutpoints(lp, y, [lp.max() + 1])
    assert np.isnan(p) and "undefined" in fig.axes[0].get_title()
    with pytest.raises(RadiopredictError):
        plot_km_by_cutpoints(lp, y, [1.0, 0.0])
