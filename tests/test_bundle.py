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
    with pytest.raises(BundleIntegrityError, match="not trusted"):
        load_bundle(path)


def test_torch_weights_round_trip(tmp_path: Path, fitted) -> None:
    torch = pytest.importorskip("torch")
    model, _ = fitted
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    path = save_bundle(tmp_path / "w", Bundle(model=model, weights={"encoder": state}))
    loaded = load_bundle(path)
    assert torch.equal(loaded.weights["encoder"]["w"], state["w"])
