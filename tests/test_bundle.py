"""Model bundles: round trip, and refusal of tampered, added, missing or untrusted content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.bundle import Bundle, load_bundle, save_bundle
from radiopredict.errors import BundleIntegrityError


class Untrusted(BaseEstimator):
    def fit(self, X, y):
        self.mean_ = np.mean(X)
        return self


@pytest.fixture()
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    model = make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=8, max_depth=2)).fit(
        X, y
    )
    return model, X


def test_round_trip_gives_identical_predictions(tmp_path: Path, fitted) -> None:
    model, X = fitted
    path = save_bundle(
        tmp_path / "b", Bundle(model=model, metadata={"horizon": 24.0, "columns": ["a"]})
    )
    loaded = load_bundle(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict_proba(X)[:, 1])
    assert loaded.metadata == {"horizon": 24.0, "columns": ["a"]}
    assert (
        "model.skops" in loaded.manifest["files"] and "scikit-learn" in loaded.manifest["versions"]
    )
    with pytest.raises(FileExistsError):
        save_bundle(path, Bundle(model=model))


def test_tampered_added_and_missing_files_are_refused(tmp_path: Path, fitted) -> None:
    model, _ = fitted
    path = save_bundle(tmp_path / "b", Bundle(model=model))
    data = bytearray((path / "model.skops").read_bytes())
    data[-10] ^= 0xFF
    (path / "model.skops").write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="model.skops: SHA-256 differs"):
        load_bundle(path)

    path2 = save_bundle(tmp_path / "c", Bundle(model=model))
    (path2 / "extra.py").write_text("print('hi')")
    with pytest.raises(BundleIntegrityError, match="extra.py: not listed"):
        load_bundle(path2)

    path3 = save_bundle(tmp_path / "d", Bundle(model=model))
    (path3 / "model.skops").unlink()
    with pytest.raises(BundleIntegrityError, match="model.skops: missing"):
        load_bundle(path3)

    with pytest.raises(FileNotFoundError, match="manifest"):
        load_bundle(tmp_path / "nowhere")


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "u", Bundle(model=Untrusted().fit(np.ones((3, 2)), None)))
    with pytest.raises(BundleIntegrityError, match="may not hold: .*Untrusted"):
        load_bundle(path)


def test_torch_weights_round_trip(tmp_path: Path, fitted) -> None:
    torch = pytest.importorskip("torch")
    model, _ = fitted
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    path = save_bundle(tmp_path / "w", Bundle(model=model, weights={"encoder": state}))
    loaded = load_bundle(path)
    assert torch.equal(loaded.weights["encoder"]["w"], state["w"])


def _payloads():
    import builtins
    import operator
    import os
    import subprocess

    return {
        "builtins.exec": builtins.exec,
        "builtins.eval": builtins.eval,
        "builtins.getattr": builtins.getattr,
        "builtins.__import__": builtins.__import__,
        f"{os.system.__module__}.system": os.system,
        "subprocess.Popen": subprocess.Popen,
        "operator.attrgetter": operator.attrgetter("__class__"),
    }


@pytest.mark.parametrize("name", list(_payloads()))
def test_bundle_holding_code_is_refused_naming_the_type(tmp_path: Path, name: str) -> None:
    # A bundle written with a valid manifest (an attacker can compute the hashes) that hides a
    # callable in a FunctionTransformer: loading it must not build the callable.
    from sklearn.preprocessing import FunctionTransformer

    payload = _payloads()[name]
    path = save_bundle(tmp_path / "evil", Bundle(model=FunctionTransformer(func=payload)))
    with pytest.raises(BundleIntegrityError, match="may not hold") as info:
        load_bundle(path)
    assert name.split(".")[-1] in str(info.value)
    assert "TRUSTED_TYPES" in info.value.fix


def test_trusted_types_are_exact_names_without_wildcards() -> None:
    from radiopredict.bundle import TRUSTED_TYPES

    for name in TRUSTED_TYPES:
        assert not name.endswith(".") and not name.startswith("builtins."), name
        assert "*" not in name


@pytest.mark.slow  # fits every candidate pipeline of both tasks
def test_every_project_pipeline_needs_only_trusted_types(tmp_path: Path) -> None:
    import pandas as pd
    import skops.io as sio

    from radiopredict.bundle import TRUSTED_TYPES
    from radiopredict.harmonize import ComBat
    from radiopredict.models._pipeline import SurvivalPipeline
    from radiopredict.models.pipelines import (
        adaptive_candidates,
        candidate_pipelines,
        default_pipeline,
    )
    from radiopredict.preprocess import ClinicalPreprocessor
    from radiopredict.select import GroupPCA, VarianceFilter
    from radiopredict.targets import make_survival_target
    from radiopredict.treatment import TreatmentBenefit

    rng = np.random.default_rng(0)
    n = 80
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"rad__f{i}" for i in range(6)])
    X["emb__0"], X["emb__1"] = rng.normal(size=n), rng.normal(size=n)
    X["clin__age"] = rng.normal(60, 10, n)
    X["clin__sex"] = rng.choice(["M", "F"], n)
    X["batch"] = rng.choice(["a", "b"], n)
    y_surv = make_survival_target(rng.random(n) < 0.7, rng.exponential(10, n))
    y_resp = (X["rad__f0"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    needed: set[str] = set()
    for task, y in (("survival", y_surv), ("response", y_resp)):
        bases = {
            **candidate_pipelines(task),
            **{f"adaptive {k}": v for k, v in adaptive_candidates(task).items()},
            "default": default_pipeline(task),
        }
        for base in bases.values():
            pipe = SurvivalPipeline(
                [
                    ("constant", VarianceFilter(threshold=0.0, columns="radiomics")),
                    ("combat", ComBat(batch_col="batch", on_constant="skip")),
                    ("clinical", ClinicalPreprocessor(drop="if_binary")),
                    ("pca", GroupPCA(columns="embedding", n_components=1)),
                    *base.steps,
                ]
            ).fit(X, y)
            needed |= set(sio.get_untrusted_types(data=sio.dumps(pipe)))
            if task == "survival":
                tb = TreatmentBenefit(pipe, learner="t", horizon=5.0, n_bootstrap=2)
                tb.fit(X.assign(treatment=rng.choice([0, 1], n)), y)
                needed |= set(sio.get_untrusted_types(data=sio.dumps(tb)))
    assert sorted(needed - TRUSTED_TYPES) == []
