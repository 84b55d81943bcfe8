"""CNN estimators on ROI crops, their explanations and the ablation: real (small) training."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

pytest.importorskip("torch")
pytest.importorskip("monai")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_predict  # noqa: E402

from radiopredict.ablation import REFERENCE, delong_auc, delong_paired, run_ablation  # noqa: E402
from radiopredict.cohort import Cohort  # noqa: E402
from radiopredict.datasets import (  # noqa: E402
    DiagnosisModel,
    load_synthetic_ground_truth,
    make_synthetic_cohort,
)
from radiopredict.embed import CropSettings  # noqa: E402
from radiopredict.errors import ConfigError  # noqa: E402
from radiopredict.models import CNNClassifier, CNNSurvival, cohort_crops  # noqa: E402

CROP = CropSettings(
    size_mm=(48.0,) * 3,
    shape=(16,) * 3,
    include_mask=True,
    intensity="window",
    window=(-1000.0, 400.0),
)
FAST = dict(epochs=2, batch_size=8, base_width=4, validation_fraction=0.0, time_budget_s=60)


@pytest.fixture(scope="module")
def diag(tmp_path_factory):
    out = tmp_path_factory.mktemp("diag")
    make_synthetic_cohort(out, n_patients=24, seed=5, diagnosis=True)
    cohort = Cohort.read(out / "manifest_diagnosis.csv")
    return out, cohort, cohort_crops(cohort, CROP), cohort.binary_target()


def test_diagnosis_cohort_files_and_truth(diag):
    out, cohort, crops, y = diag
    truth = load_synthetic_ground_truth(out)
    info = json.loads((out / "synthetic_info.json").read_text())
    assert info["diagnosis"]["manifest"] == "manifest_diagnosis.csv"
    assert (truth["abnormal"].to_numpy() == y).all()
    assert set(truth["satellite"]) == {0, 1}
    sat = truth[truth["satellite"] == 1]
    assert (sat["satellite_voxels"] > 0).all() and (sat["satellite_count"] >= 2).all()
    # satellites are in the image but outside the mask: the masks equal those without them
    plain = out.parent / "plain"
    make_synthetic_cohort(plain, n_patients=24, seed=5)
    pid = sat.index[0]
    m1 = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"masks/{pid}_mask.nii.gz")))
    m0 = sitk.GetArrayFromImage(sitk.ReadImage(str(plain / f"masks/{pid}_mask.nii.gz")))
    i1 = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"images/{pid}_ct.nii.gz")))
    i0 = sitk.GetArrayFromImage(sitk.ReadImage(str(plain / f"images/{pid}_ct.nii.gz")))
    assert (m1 == m0).all()
    changed = i1 != i0
    assert changed.sum() > 0 and not (changed & (m1 > 0)).any()
    # the default manifest keeps its layout and outcomes
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "manifest.csv"), pd.read_csv(plain / "manifest.csv")
    )
    assert crops.shape == (24, 2, 16, 16, 16) and crops.dtype == np.float32


def test_size_order_and_shape_deprecated(tmp_path):
    with pytest.warns(DeprecationWarning, match="size"):
        make_synthetic_cohort(tmp_path / "a", n_patients=2, shape=(40, 64, 72))
    make_synthetic_cohort(tmp_path / "b", n_patients=2, size=(72, 64, 40))
    for sub in ("a", "b"):
        img = sitk.ReadImage(str(tmp_path / sub / "images" / "SYN000_ct.nii.gz"))
        assert img.GetSize() == (72, 64, 40)
    with pytest.raises(ConfigError, match="not both"):
        make_synthetic_cohort(tmp_path / "c", n_patients=2, size=(64, 64, 48), shape=(48, 64, 64))
    with pytest.raises(ConfigError, match=r"size"):
        make_synthetic_cohort(tmp_path / "d", n_patients=2, size=(64, 64))
    with pytest.raises(ConfigError, match="diagnosis"):
        make_synthetic_cohort(tmp_path / "e", n_patients=2, diagnosis="yes")
    with pytest.raises(ConfigError, match="satellite_probability"):
        DiagnosisModel(satellite_probability=1.5)


def test_classifier_fits_predicts_and_is_deterministic(diag):
    _, _, crops, y = diag
    a = CNNClassifier(**FAST, random_state=3).fit(crops, y)
    b = CNNClassifier(**FAST, random_state=3).fit(crops, y)
    c = CNNClassifier(**FAST, random_state=4).fit(crops, y)
    pa, pb, pc = a.predict_proba(crops), b.predict_proba(crops), c.predict_proba(crops)
    assert pa.shape == (24, 2) and np.allclose(pa.sum(axis=1), 1.0)
    np.testing.assert_array_equal(pa, pb)
    assert not np.allclose(pa, pc)
    assert set(a.predict(crops)) <= set(a.classes_)
    emb = a.transform(crops)
    assert emb.shape == (24, a.embedding_dim_) == (24, 32)
    assert a.n_epochs_ == 2 and a.stopped_by_ == "epochs" and a.fit_cpu_seconds_ > 0
    # flattened crops with input_shape give the same network
    flat = CNNClassifier(**FAST, random_state=3, input_shape=crops.shape[1:])
    flat.fit(crops.reshape(24, -1), y)
    np.testing.assert_allclose(
        flat.decision_function(crops.reshape(24, -1)),
        a.decision_function(crops),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.slow
def test_classifier_in_sklearn_cv_and_early_stopping(diag):
    _, _, crops, y = diag
    est = CNNClassifier(epochs=30, batch_size=8, base_width=4, validation_fraction=0.25, patience=1)
    assert clone(est).get_params() == est.get_params()
    scores = cross_val_predict(clone(est), crops, y, cv=2, method="decision_function")
    assert scores.shape == (24,) and np.all(np.isfinite(scores))
    fitted = est.fit(crops, y)
    assert fitted.stopped_by_ == "early_stopping" and fitted.n_epochs_ < 30
    assert all("val_loss" in h for h in fitted.history_)


@pytest.mark.slow
def test_time_budget_and_2_5d_and_checkpoint(diag, tmp_path):
    _, _, crops, y = diag
    tiny = CNNClassifier(**{**FAST, "epochs": 50, "time_budget_s": 0.5}).fit(crops, y)
    assert tiny.stopped_by_ == "time_budget" and tiny.n_epochs_ < 50
    m25 = CNNClassifier(**FAST, mode="2.5d", n_slices=3).fit(crops, y)
    assert m25.decision_function(crops).shape == (24,)
    a = CNNClassifier(**FAST).fit(crops, y)
    weights, _ = a.save_weights(tmp_path / "cnn")
    b = CNNClassifier(**{**FAST, "epochs": 1, "learning_rate": 1e-12}, init_weights=weights)
    b.fit(crops, y)
    # a learning rate of ~0 keeps the initial weights: the checkpoint's parameters
    pa, pb = dict(a.net_.named_parameters()), dict(b.net_.named_parameters())
    assert set(pa) == set(pb)
    for name in pa:
        np.testing.assert_allclose(pb[name].detach(), pa[name].detach(), atol=1e-6)
    with pytest.raises(ConfigError, match="does not fit"):
        CNNClassifier(**{**FAST, "base_width": 8}, init_weights=weights).fit(crops, y)


@pytest.mark.slow
def test_resnet3d_backbone_from_encoder_checkpoint(diag, tmp_path):
    from radiopredict.embed import ResNetConfig, ResNetEncoder

    _, _, crops, y = diag
    enc = ResNetEncoder(ResNetConfig(in_channels=2, base_width=4, blocks=(1, 1)), seed=1)
    weights, _ = enc.save(tmp_path / "enc")
    m = CNNClassifier(**FAST, architecture="resnet3d", blocks=(1, 1), init_weights=weights).fit(
        crops[:8], y[:8]
    )
    assert m.transform(crops[:2]).shape == (2, 8)


def test_bad_inputs_are_clear(diag):
    _, _, crops, y = diag
    with pytest.raises(ConfigError, match="input_shape"):
        CNNClassifier(**FAST).fit(crops.reshape(24, -1), y)
    with pytest.raises(ConfigError, match="crops"):
        CNNClassifier(**FAST).fit(crops[:, 0], y)
    bad = crops.copy()
    bad[3, 0, 0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match=r"rows \[3\]"):
        CNNClassifier(**FAST).fit(bad, y)
    with pytest.raises(ConfigError, match="2 classes"):
        CNNClassifier(**FAST).fit(crops, np.zeros(24))
    with pytest.raises(ConfigError, match="architecture"):
        CNNClassifier(architecture="vgg").fit(crops, y)
    with pytest.raises(ConfigError, match="n_slices"):
        CNNClassifier(mode="2.5d", n_slices=4).fit(crops, y)
    m = CNNClassifier(**FAST).fit(crops, y)
    with pytest.raises(ConfigError, match="trained on"):
        m.predict(crops[:, :1])


def test_survival_cnn_cox_and_breslow(diag):
    _, cohort, crops, _ = diag
    y = cohort.survival_target()
    m = CNNSurvival(**FAST).fit(crops, y)
    risk = m.predict(crops)
    assert risk.shape == (24,) and np.all(np.isfinite(risk))
    times = np.array([1.0, 10.0, 30.0])
    surv = m.predict_survival_function(crops, times)
    assert surv.shape == (24, 3)
    assert np.all(np.diff(surv, axis=1) <= 1e-12) and np.all((surv >= 0) & (surv <= 1))
    assert 0.0 <= m.score(crops, y) <= 1.0


def test_cox_loss_matches_deepsurv_formula():
    import torch

    from radiopredict.models.cnn import cox_partial_likelihood

    g = torch.tensor([0.5, -0.2, 1.0, 0.0], dtype=torch.float64)
    ev = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    t = torch.tensor([2.0, 3.0, 2.0, 5.0], dtype=torch.float64)
    # by hand: risk set of T=2 is everyone, of T=5 only patient 4
    lse_all = torch.logsumexp(g, 0)
    expected = -((g[0] - lse_all) + (g[2] - lse_all) + (g[3] - g[3])) / 3
    assert float(cox_partial_likelihood(g, ev, t)) == pytest.approx(float(expected))


def test_explanations_nifti_on_image_grid_and_png(diag, tmp_path):
    from radiopredict.models.cnn_explain import explain_case

    _, cohort, crops, y = diag
    m = CNNClassifier(**FAST).fit(crops, y)
    case = cohort.cases()[0]
    paths = explain_case(m, case, CROP, tmp_path / "explain", mask_size=4)
    image = sitk.ReadImage(str(case.image))
    for method in ("gradcam", "occlusion"):
        nii = sitk.ReadImage(str(paths[f"{method}_nifti"]))
        assert nii.GetSize() == image.GetSize()
        assert np.allclose(nii.GetSpacing(), image.GetSpacing())
        assert np.allclose(nii.GetOrigin(), image.GetOrigin())
        arr = sitk.GetArrayFromImage(nii)
        assert np.all(np.isfinite(arr)) and np.abs(arr).max() > 0
        assert paths[f"{method}_png"].read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ConfigError, match="3-D"):
        explain_case(
            CNNClassifier(**FAST, mode="2.5d", n_slices=3).fit(crops, y), case, CROP, tmp_path / "x"
        )


def test_delong_matches_mann_whitney_and_paired_identity():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    a = y + rng.normal(0, 1, 80)
    b = y + rng.normal(0, 2, 80)
    auc, lo, hi = delong_auc(y, a)
    assert auc == pytest.approx(roc_auc_score(y, a)) and lo < auc < hi
    same = delong_paired(y, a, a)
    assert same["diff"] == 0.0 and same["p_value"] == 1.0
    d = delong_paired(y, a, b)
    assert d["diff"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    assert d["ci_low"] < d["diff"] < d["ci_high"] and 0 <= d["p_value"] <= 1


def test_ablation_without_cnn_and_bad_input(diag):
    out, cohort, crops, y = diag
    truth = load_synthetic_ground_truth(out)
    clinical = pd.DataFrame({"age": truth["age"].to_numpy(float)})
    radiomics = pd.DataFrame(
        {"het": truth["heterogeneity"].to_numpy(), "vol": truth["volume_mm3"].to_numpy()}
    )
    plain = run_ablation(y, clinical=clinical, radiomics=radiomics, cv=3, n_bootstrap=50)
    assert plain.table["model"].tolist() == ["clinical", "radiomics", REFERENCE]
    ref = plain.table.set_index("model").loc[REFERENCE]
    assert ref["diff_vs_reference"] == 0.0
    with pytest.raises(ConfigError, match="no cnn"):
        run_ablation(y, clinical=clinical, radiomics=radiomics, crops=crops)
    with pytest.raises(ConfigError, match="rows"):
        run_ablation(y[:10], clinical=clinical, radiomics=radiomics)
    # unsupervised embeddings add their rows; a table that sees the satellites (here: noise
    # plus the planted indicator) beats radiomics + clinical
    rng = np.random.default_rng(0)
    emb = pd.DataFrame(rng.normal(size=(len(y), 3)), columns=["e0", "e1", "e2"])
    emb["e0"] += 3.0 * truth["satellite"].to_numpy(float)
    with_emb = run_ablation(
        y, clinical=clinical, radiomics=radiomics, embeddings=emb, cv=3, n_bootstrap=50
    )
    assert with_emb.table["model"].tolist() == [
        "clinical",
        "radiomics",
        REFERENCE,
        "embeddings",
        "embeddings+radiomics+clinical",
    ]
    assert with_emb.table.set_index("model").loc["embeddings", "diff_vs_reference"] > 0
    with pytest.raises(ConfigError, match="embeddings has 3 rows"):
        run_ablation(y, clinical=clinical, radiomics=radiomics, embeddings=emb.iloc[:3])
    bad = emb.copy()
    bad.iloc[0, 0] = np.nan
    with pytest.raises(ConfigError, match="embeddings holds NaN"):
        run_ablation(y, clinical=clinical, radiomics=radiomics, embeddings=bad)


@pytest.mark.slow
def test_ablation_with_cnn_rows(diag):
    out, cohort, crops, y = diag
    truth = load_synthetic_ground_truth(out)
    clinical = pd.DataFrame({"age": truth["age"].to_numpy(float)})
    radiomics = pd.DataFrame(
        {"het": truth["heterogeneity"].to_numpy(), "vol": truth["volume_mm3"].to_numpy()}
    )
    cnn = CNNClassifier(**FAST)
    res = run_ablation(
        y,
        clinical=clinical,
        radiomics=radiomics,
        crops=crops,
        cnn=cnn,
        cv=2,
        inner_cv=2,
        n_bootstrap=50,
        n_components=2,
    )
    t = res.table.set_index("model")
    assert set(t.index) == {
        "clinical",
        "radiomics",
        REFERENCE,
        "cnn",
        "cnn+clinical",
        "all (late)",
        "all (intermediate)",
    }
    assert res.predictions.notna().all().all() and set(res.folds) == {0, 1}
    for _, row in t.iterrows():
        assert row["auc_boot_low"] <= row["auc"] <= row["auc_boot_high"]
        assert row["diff_boot_low"] <= row["diff_boot_high"]
