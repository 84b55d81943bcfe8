"""Synthetic cohort: files, determinism, geometry, and that the planted signals are present."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy.stats import pearsonr, spearmanr

from radiopredict.datasets import (
    LABEL_NAMES,
    SyntheticModel,
    load_synthetic_ground_truth,
    make_synthetic_cohort,
)
from radiopredict.errors import ConfigError, InputFileNotFoundError

MANIFEST_COLUMNS = [
    "patient_id",
    "image",
    "mask",
    "label",
    "time",
    "event",
    "response",
    "treatment",
    "batch",
    "age",
    "stage",
    "sex",
]
PROGNOSTIC = [
    "z_log_volume",
    "z_heterogeneity",
    "z_irregularity",
    "z_intensity_mean",
    "z_age",
    "z_stage",
    "z_male",
]


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _arrays(folder: Path, rel: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(folder / rel)))


@pytest.fixture(scope="module")
def cohort100(tmp_path_factory) -> Path:
    """100 patients, seed 0, default model: the cohort the demo uses."""
    out = tmp_path_factory.mktemp("synthetic100")
    make_synthetic_cohort(out, n_patients=100, seed=0)
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """5 patients, every tumour with a necrotic core."""
    out = tmp_path_factory.mktemp("synthetic5")
    make_synthetic_cohort(
        out, n_patients=5, seed=11, model=SyntheticModel(necrosis_min_volume_mm3=0.0)
    )
    return out


# --- files and determinism ------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seed_differs(small, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    make_synthetic_cohort(
        again, n_patients=5, seed=11, model=SyntheticModel(necrosis_min_volume_mm3=0.0)
    )
    make_synthetic_cohort(
        other, n_patients=5, seed=12, model=SyntheticModel(necrosis_min_volume_mm3=0.0)
    )
    first, second, third = _digests(small), _digests(again), _digests(other)
    assert len(first) == 5 * 3 + 3  # image, mask, sidecar per patient + 3 tables
    assert first == second
    assert set(first) == set(third)
    differing = [k for k in first if first[k] != third[k]]
    # every image, mask and table differs; sidecars and nothing else are shared
    assert {k for k in first if k not in differing} == {
        k for k in first if k.endswith(".labels.json")
    }
    pd.testing.assert_frame_equal(
        load_synthetic_ground_truth(small), load_synthetic_ground_truth(again)
    )


def test_manifest_layout_and_cohort_validates(small):
    from radiopredict.cohort import Cohort

    manifest = pd.read_csv(small / "manifest.csv")
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["label"].tolist() == [1] * 5
    assert manifest["patient_id"].is_unique
    for rel in list(manifest["image"]) + list(manifest["mask"]):
        assert not Path(rel).is_absolute() and (small / rel).is_file()
    assert set(manifest["event"]) <= {0, 1} and set(manifest["response"]) <= {0, 1}
    assert (manifest["time"] > 0).all()
    assert set(manifest["stage"]) <= {1, 2, 3, 4} and set(manifest["sex"]) <= {"F", "M"}
    cohort = Cohort.read(small / "manifest.csv")
    assert cohort.validate().empty
    assert cohort.patient_ids == manifest["patient_id"].tolist()


def test_images_masks_geometry_and_labels(small):
    from radiopredict.imaging import mask_labels, read_image, read_mask

    manifest = pd.read_csv(small / "manifest.csv")
    for row in manifest.itertuples():
        image = read_image(small / row.image)
        assert image.GetSize() == (64, 64, 48)  # (x, y, z): shape (z, y, x) = (48, 64, 64)
        assert image.GetSpacing() == pytest.approx((0.8, 0.8, 2.5))
        assert image.GetPixelID() == sitk.sitkInt16
        mask_path = small / row.mask
        assert mask_labels(mask_path) == LABEL_NAMES
        labels = sitk.GetArrayFromImage(read_mask(mask_path, reference=image))
        assert set(np.unique(labels)) == {0, 1, 2}
        tumour = sitk.GetArrayFromImage(read_mask(mask_path, reference=image, label="tumour"))
        necrosis = sitk.GetArrayFromImage(read_mask(mask_path, reference=image, label=2))
        assert tumour.sum() > necrosis.sum() > 0
        # the necrotic core is darker than the viable tumour
        hu = sitk.GetArrayFromImage(image).astype(float)
        assert hu[necrosis == 1].mean() < hu[tumour == 1].mean() - 20
        # the tumour does not touch the border of the volume
        core = labels[1:-1, 1:-1, 1:-1]
        assert (labels > 0).sum() == (core > 0).sum()


def test_necrosis_false_gives_single_label(tmp_path):
    make_synthetic_cohort(
        tmp_path,
        n_patients=3,
        seed=2,
        necrosis=False,
        model=SyntheticModel(necrosis_min_volume_mm3=0.0),
    )
    truth = load_synthetic_ground_truth(tmp_path)
    assert not truth["necrosis"].any() and (truth["label2_voxels"] == 0).all()
    for pid in truth.index:
        assert set(np.unique(_arrays(tmp_path, f"masks/{pid}_mask.nii.gz"))) == {0, 1}


def test_custom_shape_and_spacing(tmp_path):
    make_synthetic_cohort(
        tmp_path,
        n_patients=2,
        seed=0,
        size=(80, 72, 40),
        spacing=(1.0, 0.9, 3.0),
        model=SyntheticModel(volume_range_mm3=(250.0, 4000.0)),
    )
    img = sitk.ReadImage(str(tmp_path / "images" / "SYN000_ct.nii.gz"))
    assert img.GetSize() == (80, 72, 40)
    assert img.GetSpacing() == pytest.approx((1.0, 0.9, 3.0))
    info = json.loads((tmp_path / "synthetic_info.json").read_text())
    assert info["arguments"]["shape_zyx"] == [40, 72, 80]


# --- ground truth is internally consistent ---------------------------------------------------


def test_ground_truth_tables_agree(cohort100):
    truth = load_synthetic_ground_truth(cohort100)
    manifest = pd.read_csv(cohort100 / "manifest.csv").set_index("patient_id")
    info = json.loads((cohort100 / "synthetic_info.json").read_text())
    model = SyntheticModel()
    assert list(truth.index) == list(manifest.index)
    for col in ["event", "response", "treatment", "age", "stage"]:
        assert (truth[col] == manifest[col]).all(), col
    assert np.allclose(truth["time"], manifest["time"], atol=1e-4)
    assert (truth["batch"] == manifest["batch"]).all()
    # treatment 1:1 and balanced sites
    assert truth["treatment"].sum() == 50
    assert truth["batch"].value_counts().tolist() == [34, 33, 33]
    # the true log-hazard is the stated linear predictor
    beta = info["hazard_coefficients"]
    prognostic = sum(truth[k] * v for k, v in beta.items())
    assert np.allclose(truth["log_hazard_control"], prognostic)
    assert np.allclose(truth["log_hazard_treated"], prognostic + truth["treatment_log_hr"])
    assigned = np.where(
        truth["treatment"] == 1, truth["log_hazard_treated"], truth["log_hazard_control"]
    )
    assert np.allclose(truth["log_hazard"], assigned)
    # benefit is S(H | treated) - S(H | control) of the Weibull model at the stated horizon
    horizon = info["horizon"]
    lam, k = info["model"]["weibull_scale"], info["model"]["weibull_shape"]

    def surv(eta):
        return np.exp(-((horizon / lam) ** k) * np.exp(eta))

    assert horizon == 24.0
    assert np.allclose(truth["surv_horizon_control"], surv(truth["log_hazard_control"]))
    assert np.allclose(
        truth["benefit"], surv(truth["log_hazard_treated"]) - surv(truth["log_hazard_control"])
    )
    assert ((truth["rmst_benefit"] > 0) & (truth["rmst_benefit"] < horizon)).all()
    # planted heterogeneity: no effect for the most homogeneous, strong for the heterogeneous
    lo, hi = model.heterogeneity_range_hu
    expected_tau = -2.0 * (truth["heterogeneity"] - lo) / (hi - lo)
    assert np.allclose(truth["treatment_log_hr"], expected_tau)
    assert spearmanr(truth["heterogeneity"], truth["benefit"])[0] > 0.6
    # response probability is the logistic model
    alpha = info["response_coefficients"]
    lin = alpha["intercept"] + sum(truth[k] * v for k, v in alpha.items() if k.startswith("z_"))
    lin = lin + alpha["treatment"] * truth["treatment"]
    assert np.allclose(truth["p_response"], 1 / (1 + np.exp(-lin)))
    # observed = min(event time, censoring time)
    assert np.allclose(truth["time"], np.minimum(truth["event_time"], truth["censor_time"]))
    assert ((truth["event"] == 1) == (truth["event_time"] <= truth["censor_time"])).all()


def test_censoring_is_calibrated(cohort100):
    truth = load_synthetic_ground_truth(cohort100)
    info = json.loads((cohort100 / "synthetic_info.json").read_text())
    observed = 1 - truth["event"].mean()
    assert info["censoring"]["observed_fraction"] == pytest.approx(observed)
    assert 0.2 <= observed <= 0.4  # 0.3 +- 2 binomial SD at n = 100
    # Monte Carlo check of the calibration: with the stored rate, P(C < T) averages 0.30
    rate = info["censoring"]["rate_per_month"]
    lam, k = info["model"]["weibull_scale"], info["model"]["weibull_shape"]
    rng = np.random.default_rng(123)
    eta = truth["log_hazard"].to_numpy()[:, None]
    t = lam * (-np.log(1 - rng.random((len(eta), 4000))) / np.exp(eta)) ** (1 / k)
    c = rng.exponential(1 / rate, t.shape)
    assert (c < t).mean() == pytest.approx(0.30, abs=0.01)


# --- the planted signals are present ---------------------------------------------------------


def _cox_data(truth: pd.DataFrame) -> pd.DataFrame:
    d = truth[PROGNOSTIC].copy()
    d["treatment"] = truth["treatment"]
    d["treatment_x_z_heterogeneity"] = truth["treatment"] * truth["z_heterogeneity"]
    d["time"] = truth["time"]
    d["event"] = truth["event"]
    return d


def _fit_cox(truth: pd.DataFrame):
    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(_cox_data(truth), "time", "event").summary


def test_cox_recovers_strong_prognostic_signs(cohort100):
    """n = 100: the four strongest prognostic factors have the sign of the truth."""
    summary = _fit_cox(load_synthetic_ground_truth(cohort100))
    for name in ["z_log_volume", "z_irregularity", "z_age", "z_stage"]:
        assert summary.loc[name, "coef"] > 0, name
        assert summary.loc[name, "p"] < 0.05, name
    # the treatment helps more when the tumour is more heterogeneous
    assert summary.loc["treatment_x_z_heterogeneity", "coef"] < 0


def test_logistic_recovers_response_signs(cohort100):
    from sklearn.linear_model import LogisticRegression

    truth = load_synthetic_ground_truth(cohort100)
    info = json.loads((cohort100 / "synthetic_info.json").read_text())
    cols = ["z_log_volume", "z_heterogeneity", "z_intensity_mean", "treatment"]
    fit = LogisticRegression(C=1e6, max_iter=2000).fit(truth[cols], truth["response"])
    for name, coef in zip(cols, fit.coef_[0], strict=True):
        assert np.sign(coef) == np.sign(info["response_coefficients"][name]), name


def test_images_reflect_latent_properties(cohort100):
    truth = load_synthetic_ground_truth(cohort100)
    rows = []
    for pid in truth.index:
        hu = _arrays(cohort100, f"images/{pid}_ct.nii.gz").astype(float)
        labels = _arrays(cohort100, f"masks/{pid}_mask.nii.gz")
        viable = hu[labels == 1]
        rows.append(
            {
                "mean": viable.mean(),
                "sd": viable.std(),
                "volume": np.count_nonzero(labels) * 0.8 * 0.8 * 2.5,
                "label2": np.count_nonzero(labels == 2),
            }
        )
    img = pd.DataFrame(rows, index=truth.index)
    # mean HU inside the tumour = drawn mean + site shift (+ noise)
    assert pearsonr(img["mean"] - truth["site_shift_hu"], truth["intensity_mean"])[0] > 0.99
    assert np.allclose(img["mean"] - truth["site_shift_hu"], truth["intensity_mean"], atol=3.0)
    # the site shift is visible without harmonisation
    assert pearsonr(img["mean"], truth["site_shift_hu"])[0] > 0.5
    # SD inside the tumour grows with the drawn heterogeneity
    assert spearmanr(img["sd"], truth["heterogeneity"])[0] > 0.9
    # voxel volume of the mask matches the drawn volume
    assert pearsonr(np.log(img["volume"]), np.log(truth["volume_mm3"]))[0] > 0.99
    assert np.allclose(img["volume"], truth["volume_mm3"], rtol=0.1)
    assert np.allclose(img["volume"], truth["mask_volume_mm3"])
    # necrotic cores exactly in the tumours drawn with necrosis
    assert ((img["label2"] > 0) == truth["necrosis"]).all()
    assert truth["necrosis"].any()


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n_patients": 1}, "n_patients"),
        ({"n_patients": 2.5}, "n_patients"),
        ({"seed": -1}, "seed"),
        ({"censoring": 0.95}, "censoring"),
        ({"censoring": -0.1}, "censoring"),
        ({"censoring": float("nan")}, "censoring"),
        ({"horizon": 0}, "horizon"),
        ({"n_sites": 0}, "n_sites"),
        ({"n_sites": 1.5}, "n_sites"),
        ({"size": (64, 48)}, "size"),
        ({"size": (64, 64, 8)}, "size"),
        ({"spacing": (0.8, -0.8, 2.5)}, "spacing"),
        ({"size": (16, 16, 16)}, "field of view"),
        ({"model": {"beta_volume": 1.0}}, "SyntheticModel"),
    ],
)
def test_bad_arguments_raise_config_error(tmp_path, kwargs, words):
    args = {"n_patients": 4, **kwargs}
    with pytest.raises(ConfigError, match=words) as info:
        make_synthetic_cohort(tmp_path / "out", **args)
    assert "Fix:" in str(info.value)
    assert not (tmp_path / "out").exists()  # nothing written before the arguments are checked


def test_file_where_folder_expected(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="is a file") as info:
        make_synthetic_cohort(target, n_patients=2)
    assert "a_file" in str(info.value) and "Fix:" in str(info.value)
    with pytest.raises(ConfigError, match="cannot create"):
        make_synthetic_cohort(target / "sub", n_patients=2)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="file permissions do not bind the root user (or this OS has no geteuid)",
)
def test_non_writable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="writ"):
            make_synthetic_cohort(locked / "cohort", n_patients=2)
    finally:
        locked.chmod(0o700)


def test_load_ground_truth_missing(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="ground_truth.csv") as info:
        load_synthetic_ground_truth(tmp_path)
    assert "make_synthetic_cohort" in str(info.value)


def test_load_ground_truth_accepts_manifest_path(small):
    a = load_synthetic_ground_truth(small / "manifest.csv")
    b = load_synthetic_ground_truth(small)
    pd.testing.assert_frame_equal(a, b)
    assert a.index.name == "patient_id"


# --- slow: full signal check at n = 300 -------------------------------------------------------


@pytest.mark.slow
def test_cox_recovers_every_sign_and_interaction_n300(tmp_path):
    make_synthetic_cohort(tmp_path, n_patients=300, seed=0)
    truth = load_synthetic_ground_truth(tmp_path)
    info = json.loads((tmp_path / "synthetic_info.json").read_text())
    assert 0.24 <= 1 - truth["event"].mean() <= 0.36  # 0.3 +- 2.3 binomial SD
    summary = _fit_cox(truth)
    for name, coef in info["hazard_coefficients"].items():
        if coef != 0:
            assert np.sign(summary.loc[name, "coef"]) == np.sign(coef), name
            assert summary.loc[name, "p"] < 0.05, name
    # treatment x heterogeneity interaction: true value -2.0 * sd(h) / range(h) = -0.577
    inter = summary.loc["treatment_x_z_heterogeneity"]
    assert inter["coef"] < 0 and inter["p"] < 0.05
    assert inter["coef lower 95%"] < -2.0 / np.sqrt(12) < inter["coef upper 95%"]
    # a model without the interaction fits worse (likelihood-ratio test)
    from lifelines import CoxPHFitter
    from scipy.stats import chi2

    d = _cox_data(truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = CoxPHFitter().fit(d, "time", "event")
        reduced = CoxPHFitter().fit(d.drop(columns="treatment_x_z_heterogeneity"), "time", "event")
    lr = 2 * (full.log_likelihood_ - reduced.log_likelihood_)
    assert chi2.sf(lr, 1) < 0.05


def test_no_censoring_and_progress_bar(tmp_path):
    make_synthetic_cohort(tmp_path, n_patients=4, seed=5, censoring=0.0, progress=True)
    truth = load_synthetic_ground_truth(tmp_path)
    assert (truth["event"] == 1).all()
    assert np.isinf(truth["censor_time"]).all()
    info = json.loads((tmp_path / "synthetic_info.json").read_text())
    assert info["censoring"]["rate_per_month"] == 0.0
    assert info["censoring"]["observed_fraction"] == 0.0


def test_deprecated_shape_still_works_with_a_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="size=\\(x, y, z\\)"):
        make_synthetic_cohort(tmp_path, n_patients=2, seed=0, shape=(40, 72, 80))
    img = sitk.ReadImage(str(tmp_path / "images" / "SYN000_ct.nii.gz"))
    assert img.GetSize() == (80, 72, 40)
