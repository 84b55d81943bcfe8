"""StudyModel: a locked study model that scores new patients, and `radiopredict predict`.

Fast tests build a StudyModel from a pipeline fitted on a plain design matrix (no images);
the slow tests run a real study on synthetic images (features, CNN embeddings, ComBat,
treatment benefit), score new cohorts from files and validate the model externally.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from radiopredict.cli import app
from radiopredict.errors import BundleIntegrityError, ConfigError, FeatureTableError

runner = CliRunner()


# ----------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ({"model": {"cv_splits": "5"}}, "model.cv_splits = '5'"),
        ({"seed": "abc"}, "study.seed = 'abc'"),
        ({"report": {"n_patients": -3}}, "report.n_patients must be >= 0"),
        ({"features": "ct"}, "study.features = 'ct' has the wrong type: expected a mapping"),
        ({"n_jobs": "two"}, "study.n_jobs = 'two' has the wrong type: expected an integer"),
        ({"horizon": "24"}, "study.horizon = '24'"),
        ({"segmentation": {"patch_size": [16, "a", 16]}}, "segmentation.patch_size"),
    ],
)
def test_study_settings_are_type_checked_naming_key_value_and_type(mapping, fragment) -> None:
    from radiopredict.study import Study

    with pytest.raises(ConfigError) as info:
        Study.from_dict({"manifest": "m.csv", **mapping})
    assert fragment in str(info.value)


def test_study_settings_accept_ints_for_floats_and_lists_for_tuples() -> None:
    from radiopredict.study import Study

    study = Study.from_dict(
        {"manifest": "m.csv", "horizon": 24, "segmentation": {"patch_size": [16, 32, 32]}}
    )
    assert study.horizon == 24.0 and isinstance(study.horizon, float)
    assert study.segmentation.patch_size == (16, 32, 32)


# ----------------------------------------------------------------------------- ComBat new site
def _sites(rng, n_per_site: dict[str, int], shift: dict[str, float]) -> pd.DataFrame:
    rows = []
    for site, n in n_per_site.items():
        base = rng.normal(size=(n, 5))
        rows.append(
            pd.DataFrame(
                base * (1 + shift[site]) + 3 * shift[site], columns=[f"rad__f{i}" for i in range(5)]
            ).assign(batch=site)
        )
    return pd.concat(rows, ignore_index=True)


def test_combat_new_site_is_estimated_from_its_own_patients_or_refused() -> None:
    from radiopredict.harmonize import ComBat

    rng = np.random.default_rng(0)
    train = _sites(rng, {"a": 40, "b": 40}, {"a": 0.0, "b": 1.0})
    combat = ComBat().fit(train)
    new = _sites(rng, {"c": 30}, {"c": 2.0})
    with pytest.raises(FeatureTableError, match="not seen at fit"):
        combat.transform(new)
    adapted = combat.with_new_batches(new, min_samples=10)
    out = adapted.transform(new)
    harmonised_train = combat.transform(train)
    # the new site lands on the training distribution: same mean and spread as the seen sites
    assert np.allclose(out.mean().to_numpy(), harmonised_train.mean().to_numpy(), atol=0.35)
    assert np.allclose(out.std().to_numpy(), harmonised_train.std().to_numpy(), rtol=0.35)
    # the seen sites are unchanged, and the fitted model is not modified in place
    pd.testing.assert_frame_equal(adapted.transform(train), harmonised_train)
    assert list(combat.batches_) == ["a", "b"]
    with pytest.raises(FeatureTableError, match=r"site\(s\) \{'c': 5\}.*fewer than 10"):
        combat.with_new_batches(new.iloc[:5], min_samples=10)


# ----------------------------------------------------------------------------- bundle
def _plain_model(tmp_path: Path):
    from radiopredict.features import FeatureSettings
    from radiopredict.models.pipelines import default_pipeline
    from radiopredict.study import Study, StudyModel
    from radiopredict.targets import make_survival_target

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=[f"rad__f{i}" for i in range(4)])
    X["clin__age"] = rng.normal(60, 8, 60)
    X.index = pd.Index([f"P{i:03d}" for i in range(60)], name="patient_id")
    y = make_survival_target(rng.random(60) < 0.7, rng.exponential(10 * np.exp(-X["rad__f0"])))
    pipe = default_pipeline("survival").fit(X, y)
    study = Study.from_dict({"manifest": "", "horizon": 5.0})
    model = StudyModel.from_parts(
        study,
        pipeline=pipe,
        X=X,
        y=y,
        horizon=5.0,
        feature_settings=FeatureSettings.preset("ct"),
        with_batch=False,
    )
    return model, X


def test_plain_model_round_trips_and_refuses_another_format_version(tmp_path: Path) -> None:
    from radiopredict.study import StudyModel

    model, X = _plain_model(tmp_path)
    path = model.save(tmp_path / "bundle")
    loaded = StudyModel.load(path)
    np.testing.assert_array_equal(loaded.pipeline_.predict(X), model.pipeline_.predict(X))
    pd.testing.assert_frame_equal(loaded.reference_X_, model.reference_X_, check_dtype=False)
    assert loaded.risk_cutpoints_ == model.risk_cutpoints_

    manifest = json.loads((path / "manifest.json").read_text())
    manifest["metadata"]["model_format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="model format 99"):
        StudyModel.load(path)


def test_unfitted_model_and_wrong_settings_are_clear_errors() -> None:
    from radiopredict.study import StudyModel

    with pytest.raises(ConfigError, match="not fitted"):
        StudyModel({"task": "survival"}).save("nowhere")
    with pytest.raises(ConfigError, match="needs a Study or a mapping"):
        StudyModel("study.yaml")


# ----------------------------------------------------------------------------- real studies
@pytest.fixture(scope="module")
def developed(tmp_path_factory):
    """A real study on 60 synthetic patients (features, embeddings, ComBat, benefit)."""
    from radiopredict import make_synthetic_cohort
    from radiopredict.study import Study

    root = tmp_path_factory.mktemp("develop")
    manifest = make_synthetic_cohort(root / "cohort", n_patients=60, seed=3)
    study = Study.from_dict(
        {
            "manifest": str(manifest),
            "output": str(root / "out"),
            "horizon": 24.0,
            "features": {"settings": "ct", "label": 1},
            "embeddings": {"enabled": True, "epochs": 1},
            "model": {"estimator": "coxph", "cv_splits": 3, "cv_repeats": 1, "n_bootstrap": 50},
            "treatment": {"n_bootstrap": 3, "cv_splits": 3},
            "report": {"n_patients": 1},
        }
    )
    outputs = study.run()
    return root, manifest, outputs


@pytest.mark.slow
def test_locked_model_equals_final_model_and_round_trips_exactly(developed, tmp_path) -> None:
    from radiopredict import Cohort
    from radiopredict.study import StudyModel

    _, manifest, outputs = developed
    model = StudyModel.load(outputs["bundle"])
    assert model.encoder_ is not None and model.with_batch_
    first = model.predict(Cohort.read(manifest))
    assert first.failures.empty
    # on its own patients the locked model gives the study's final model's predictions
    np.testing.assert_array_equal(
        first.predictions["risk"].to_numpy(), model.pipeline_.predict(model.reference_X_)
    )
    again = StudyModel.load(model.save(tmp_path / "again")).predict(Cohort.read(manifest))
    pd.testing.assert_frame_equal(first.predictions, again.predictions)
    assert {"survival[0]", "survival[1]", "benefit[1]", "benefit[1]_lower"} <= set(
        first.predictions.columns
    )
    assert first.contributions.groupby("patient_id").size().max() == 5


@pytest.mark.slow
def test_bad_new_patients_are_reported_one_by_one(developed, tmp_path) -> None:
    from radiopredict import Cohort, make_synthetic_cohort
    from radiopredict.study import StudyModel

    _, _, outputs = developed
    model = StudyModel.load(outputs["bundle"])
    table = Cohort.read(make_synthetic_cohort(tmp_path / "new", n_patients=16, seed=21)).table
    ids = table["patient_id"].tolist()
    table.loc[0, "age"] = np.nan  # a missing clinical variable
    table.loc[1, "image"] = str(tmp_path / "missing.nii.gz")  # a missing image
    table.loc[2:3, "batch"] = "unseen-small"  # a new site with two patients
    table.loc[4:14, "batch"] = "unseen-large"  # a new site with eleven patients
    result = model.predict(Cohort.from_dataframe(table), explain=False)
    failed = result.failures.set_index("patient_id")
    assert failed.loc[ids[0], "stage"] == "clinical" and "age" in failed.loc[ids[0], "error"]
    assert "read" in set(result.failures.loc[result.failures["patient_id"] == ids[1], "stage"])
    for pid in ids[2:4]:
        assert failed.loc[pid, "stage"] == "harmonise"
        assert (
            "unseen-small" in failed.loc[pid, "error"] and "at least 10" in failed.loc[pid, "fix"]
        )
    scored = set(result.predictions.index)
    assert set(ids[4:]) == scored  # the large new site is harmonised from its own patients
    assert np.isfinite(result.predictions["risk"]).all()
    # with imputation asked for, the patient without age is scored too
    again = model.predict(Cohort.from_dataframe(table), explain=False, impute_clinical=True)
    assert ids[0] in again.predictions.index


@pytest.mark.slow
def test_undefined_features_of_a_new_patient_are_imputed_and_listed(developed, tmp_path) -> None:
    import SimpleITK as sitk

    from radiopredict import Cohort, make_synthetic_cohort
    from radiopredict.study import StudyModel

    _, _, outputs = developed
    model = StudyModel.load(outputs["bundle"])
    cohort = Cohort.read(make_synthetic_cohort(tmp_path / "tiny", n_patients=4, seed=8))
    case = cohort.cases()[0]
    mask = sitk.ReadImage(str(case.mask))
    arr = sitk.GetArrayFromImage(mask)
    keep = np.zeros_like(arr)
    z, y, x = (int(v[0]) for v in np.nonzero(arr == 1))
    keep[z, y, x : x + 2] = 1  # a two-voxel ROI: many texture features are undefined
    small = sitk.GetImageFromArray(keep)
    small.CopyInformation(mask)
    sitk.WriteImage(small, str(case.mask))
    result = model.predict(cohort, explain=False)
    pid = case.patient_id
    assert pid in result.predictions.index and result.predictions.loc[pid, "n_undefined"] > 0
    assert (result.undefined["patient_id"] == pid).sum() == result.predictions.loc[
        pid, "n_undefined"
    ]
    assert np.isfinite(result.predictions["risk"]).all()


@pytest.mark.slow
def test_predict_cli_scores_and_validates_externally(developed, tmp_path) -> None:
    from radiopredict import make_synthetic_cohort

    root, _, outputs = developed
    external = make_synthetic_cohort(tmp_path / "external", n_patients=40, seed=11)
    out = tmp_path / "pred"
    result = runner.invoke(
        app,
        [
            "predict",
            str(outputs["bundle"]),
            str(external),
            "--out",
            str(out),
            "--n-bootstrap",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output[-3000:]
    pred = pd.read_csv(out / "predictions.csv")
    assert {"patient_id", "risk", "survival_at_horizon", "benefit[1]"} <= set(pred.columns)
    assert len(pred) == 40 and pred["survival_at_horizon"].between(0, 1).all()
    metrics = pd.read_csv(out / "external_validation.csv").set_index("metric")
    assert {
        "harrell_c",
        "uno_c",
        "td_auc",
        "ibs",
        "calibration_intercept",
        "calibration_slope",
    } <= set(metrics.index)
    # the external C-index lies inside the internal cross-validation's interval (same
    # synthetic generator, another seed)
    perf = pd.read_csv(outputs["performance"])
    full = perf[(perf["model"] == "full model") & (perf["metric"].str.contains("harrell"))].iloc[0]
    c = metrics.loc["harrell_c", "value"]
    assert full["ci_low"] - 0.05 <= c <= full["ci_high"] + 0.05, (c, full.to_dict())
    html = (out / "report.html").read_text()
    for section in ("Scored patients", "External validation", "Case mix and shift"):
        assert section in html
    assert "synthetic" in html
    # an output path that is a file is refused before any work
    (tmp_path / "file").write_text("x")
    bad = runner.invoke(
        app, ["predict", str(outputs["bundle"]), str(external), "--out", str(tmp_path / "file")]
    )
    assert bad.exit_code == 1 and "is a file, not a folder" in " ".join(bad.output.split())


def test_each_embedding_encoder_setting_is_used() -> None:
    from radiopredict.embed import ResNetEncoder
    from radiopredict.study import Study, stages

    resnet = Study.from_dict({"manifest": "", "embeddings": {"enabled": True, "encoder": "resnet"}})
    encoder, crop = stages.train_encoder(None, resnet.embeddings, seed=4)
    assert isinstance(encoder, ResNetEncoder) and crop.shape == (24, 24, 24)
    again, _ = stages.train_encoder(None, resnet.embeddings, seed=4)
    assert encoder.fingerprint() == again.fingerprint()  # seeded: the same random projection
    unet = Study.from_dict({"manifest": "", "embeddings": {"enabled": True, "encoder": "unet"}})
    with pytest.raises(ConfigError, match="segmentation is off"):
        stages.train_encoder(None, unet.embeddings, seed=0)
