"""Federated algorithms equal their pooled counterparts (in-process runner, no Flower)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiopredict.federated import LocalRunner, SiteData, SiteRefusedError, make_site_tables
from radiopredict.federated import cox as fcox
from radiopredict.federated import stats as fstats
from radiopredict.federated._prep import Prep
from radiopredict.federated.study import (
    FederatedSettings,
    compare,
    model_pipeline,
    pooled_reference,
    run_study,
)
from radiopredict.federated.validation import cindex_from_counts, km_from_counts


def _sites(n_sites=3, n=120, seed=1, **kw):
    tabs = make_site_tables(n_sites, n, 5, seed=seed, **kw)
    return [
        SiteData(
            k,
            v.filter(like="rad__"),
            event=v.event.to_numpy(),
            time=v.time.to_numpy(),
            response=v.response.to_numpy(),
            batch=v.batch.to_numpy(),
        )
        for k, v in tabs.items()
    ]


@pytest.fixture(scope="module")
def study():
    sites = _sites()
    runner = LocalRunner(sites)
    result = run_study(runner, FederatedSettings())
    pooled = pooled_reference(sites, result)
    return sites, runner, result, pooled, compare(result, pooled, sites)


def _diff(table, name):
    return float(table.set_index("algorithm").loc[name, "max_abs_diff"])


@pytest.mark.parametrize(
    "name, tol",
    [
        ("imputation_mean", 1e-10),
        ("variance_filter", 1e-10),
        ("standardisation_mean", 1e-10),
        ("standardisation_sd", 1e-10),
        ("combat", 1e-6),
        ("cox", 1e-6),
        ("cox_stratified", 1e-6),
        ("breslow_baseline", 1e-8),
        ("km_binned", 1e-12),
        ("cindex_binned", 1e-12),
        ("logistic", 1e-6),
        ("loso_cindex", 1e-8),
    ],
)
def test_federated_equals_pooled(study, name, tol):
    assert _diff(study[4], name) < tol


def test_cox_converges_in_few_rounds(study):
    result = study[2]
    assert result.cox.converged and result.cox.n_rounds <= 10
    assert result.cox_stratified.n_rounds <= 10


def test_elastic_net_cox_equals_coxph():
    from radiopredict.models import CoxPH
    from radiopredict.targets import make_survival_target

    sites = _sites(missing_rate=0.0)
    runner = LocalRunner(sites)
    cols = list(sites[0].features.columns)
    m = runner.run(fstats.moments(Prep(cols)))
    fit = runner.run(
        fcox.fit_cox(Prep(cols), m.mean, np.sqrt(m.var(1)), m.n, alpha=0.1, l1_ratio=0.5)
    )
    X = pd.concat([s.features for s in sites]).to_numpy()
    y = make_survival_target(
        np.concatenate([s.event for s in sites]), np.concatenate([s.time for s in sites])
    )
    ref = CoxPH(alpha=0.1, l1_ratio=0.5).fit(X, y)
    assert np.max(np.abs(ref.coef_ - fit.coef)) < 1e-5


def test_counts_formulas_match_metrics():
    from radiopredict.metrics import harrell_c, kaplan_meier
    from radiopredict.targets import make_survival_target

    rng = np.random.default_rng(0)
    t = rng.integers(0, 6, 300).astype(float)
    e = rng.uniform(size=300) < 0.7
    r = rng.integers(0, 4, 300)
    ev = np.zeros((6, 4))
    ce = np.zeros((6, 4))
    np.add.at(ev, (t[e].astype(int), r[e]), 1)
    np.add.at(ce, (t[~e].astype(int), r[~e]), 1)
    assert cindex_from_counts(ev, ce) == pytest.approx(
        harrell_c(make_survival_target(e, t), r), abs=1e-12
    )
    _, km = kaplan_meier(e, t)
    assert np.allclose(km_from_counts(ev.sum(1), ce.sum(1)), km)


def test_no_small_cell_leaves_a_site(study):
    val = study[2].validation
    assert (val.km["n_events"] >= 5).all()
    audit = study[1].audit.to_frame()
    assert {"round", "kind", "shape", "bytes"} <= set(audit.columns)
    assert "value" not in audit.columns


def test_model_pipeline_predicts(study):
    sites, _, result, pooled, _ = study
    model = model_pipeline(result)
    X = sites[0].features[result.kept].fillna(0.0).assign(batch=sites[0].batch)
    risk = model.predict(X)
    assert risk.shape == (len(X),) and np.all(np.isfinite(risk))
    s = model.predict_survival_function(X, [5.0, 10.0])
    assert s.shape == (len(X), 2) and np.all((s >= 0) & (s <= 1))


def test_site_with_other_features_is_refused():
    sites = _sites()
    sites[1].features = sites[1].features.drop(columns=["rad__f2"])
    with pytest.raises(SiteRefusedError, match="site2.*other features"):
        run_study(LocalRunner(sites), FederatedSettings())


def test_site_with_other_settings_is_refused():
    sites = _sites()
    sites[2].settings_hash = "deadbeef"
    with pytest.raises(SiteRefusedError, match="site3.*other settings"):
        run_study(LocalRunner(sites), FederatedSettings())


def test_site_with_too_few_events_is_refused():
    sites = _sites()
    sites[0].event = np.zeros_like(sites[0].event)
    sites[0].event[:3] = True
    with pytest.raises(SiteRefusedError, match="site1.*too few events"):
        run_study(LocalRunner(sites), FederatedSettings(min_events=10))


def test_site_sending_nan_is_refused():
    sites = _sites(missing_rate=0.0)
    sites[1].features.iloc[3, 0] = np.inf
    with pytest.raises(SiteRefusedError, match="site2.*NaN or infinite"):
        run_study(LocalRunner(sites), FederatedSettings())


def test_dp_noise_costs_accuracy(study):
    from radiopredict.federated.study import dp_sigma

    assert dp_sigma(0.5, 1e-5) == pytest.approx(np.sqrt(2 * np.log(1.25e5)) / 0.5)
    sites, _, exact, _, _ = study
    noisy = run_study(
        LocalRunner(sites), FederatedSettings(dp_epsilon=0.5, loso=False, response=False)
    )
    km0 = exact.validation.km["survival"].to_numpy()
    km1 = noisy.validation.km["survival"].to_numpy()
    assert 0 < np.max(np.abs(km0 - km1)) < 0.2  # noise changes the curve, boundedly
    assert np.allclose(noisy.cox.coef, exact.cox.coef)  # the model itself is untouched


def test_study_model_bundle_round_trip(study, tmp_path):
    from radiopredict.bundle import load_bundle
    from radiopredict.federated.outputs import save_study_model
    from radiopredict.study import StudyModel

    sites, _, result, _, _ = study
    path = save_study_model(tmp_path / "bundle", result)
    model = StudyModel.load(path)
    assert model.columns_ == [*result.kept, "batch"]
    X = sites[0].features[result.kept].fillna(0.0).assign(batch=sites[0].batch)
    expected = model_pipeline(result).predict(X)
    assert np.allclose(model.pipeline_.predict(X), expected)
    assert np.allclose(load_bundle(path).model.predict(X), expected)
    dev = model.development_
    assert dev["reference"].startswith("SYNTHETIC") and dev["federated"]["sites"] == result.sites


def test_cli_lists_federated_commands():
    from typer.testing import CliRunner

    from radiopredict.cli import app

    out = CliRunner().invoke(app, ["federated", "--help"])
    assert out.exit_code == 0
    for command in ("server", "site", "simulate"):
        assert command in out.output


def test_cli_simulate_needs_two_sites(tmp_path):
    from typer.testing import CliRunner

    from radiopredict.cli import app

    (tmp_path / "a.csv").write_text("patient_id,time,event\n")
    out = CliRunner().invoke(
        app, ["federated", "simulate", "--sites", str(tmp_path / "a.csv"), "--out", str(tmp_path)]
    )
    assert out.exit_code != 0 and "at least two sites" in out.output
