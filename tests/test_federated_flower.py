"""The federated study over real Flower processes (SuperLink, SuperNodes, flwr run) on localhost.

Each test starts its own SuperLink and one SuperNode per site and stops them all at the end
(:class:`radiopredict.federated.flower.Deployment`). Flower runs one process per message and
polls every few seconds, so these tests are slow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("flwr", reason="the 'federated' extra (flwr) is not installed")

from radiopredict.federated import LocalRunner, SiteData, write_site_tables  # noqa: E402
from radiopredict.federated.flower import simulate  # noqa: E402
from radiopredict.federated.outputs import load_summary  # noqa: E402
from radiopredict.federated.study import FederatedSettings, run_study  # noqa: E402

LIGHT = {"stratified": False, "validate": False, "response": False, "loso": False}


@pytest.fixture(scope="module")
def site_csvs(tmp_path_factory):
    return write_site_tables(
        tmp_path_factory.mktemp("sites"), n_sites=3, n_per_site=80, n_features=4, seed=3
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_flower_study_with_a_dropout_equals_local_run(site_csvs, tmp_path):
    """site3 stops answering at round 3; with on_dropout='continue' the study restarts with the
    other two and its Cox coefficients equal the in-process run on site1 and site2."""
    settings = {**LIGHT, "on_dropout": "continue"}
    status = simulate(
        site_csvs,
        tmp_path / "out",
        settings,
        workdir=tmp_path / "work",
        timeout=60,
        drop_at_round={"site3": 3},
    )
    assert status["ok"], status
    assert status["dropped"] == ["site3"]
    summary = load_summary(tmp_path / "out")
    local = run_study(
        LocalRunner([SiteData.from_csv(p) for p in site_csvs[:2]]),
        FederatedSettings(**settings),
    )
    assert np.max(np.abs(np.asarray(summary["cox"]["coef"]) - local.cox.coef)) < 1e-10
    audit = pd.read_csv(tmp_path / "out" / "audit.csv")
    assert {"round", "direction", "site", "kind", "shape", "bytes"} <= set(audit.columns)
    assert (audit["bytes"] >= 0).all()
    from radiopredict.bundle import load_bundle

    bundle = load_bundle(tmp_path / "out" / "model_bundle")
    assert bundle.metadata["development"]["federated"]["dropped"] == ["site3"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_flower_dropout_stops_by_default(site_csvs, tmp_path):
    status = simulate(
        site_csvs,
        tmp_path / "out",
        LIGHT,
        workdir=tmp_path / "work",
        timeout=40,
        drop_at_round={"site2": 2},
    )
    assert not status["ok"]
    assert status["type"] == "SiteDroppedError" and status["sites"] == ["site2"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_flower_refuses_site_with_nan_and_names_it(site_csvs, tmp_path):
    bad = pd.read_csv(site_csvs[1])
    bad.loc[0, "rad__f1"] = np.inf
    path = tmp_path / "site2.csv"
    bad.to_csv(path, index=False)
    status = simulate(
        [site_csvs[0], path, site_csvs[2]], tmp_path / "out", LIGHT, workdir=tmp_path / "work"
    )
    assert not status["ok"]
    assert status["type"] == "SiteRefusedError" and status["site"] == "site2"
    assert "NaN or infinite" in status["error"]
