"""ComBat: agreement with neuroCombat, removal of a planted site effect, folds, bad inputs."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.errors import ConfigError, FeatureTableError
from radiopredict.harmonize import ComBat

SHIFT = {"A": 0.0, "B": 2.0, "C": -1.5}
SCALE = {"A": 1.0, "B": 2.0, "C": 0.5}


def _sites(n_per=(30, 35, 25), p=20, seed=0, age_by_site=None):
    """Multi-site data: features depend on age (slope 0.05) and sex, plus site shift/scale."""
    rng = np.random.default_rng(seed)
    batch = np.repeat(list(SHIFT), n_per)
    n = len(batch)
    if age_by_site is None:
        age = rng.integers(40, 80, n).astype(float)
    else:
        age = np.array([rng.integers(*age_by_site[b]) for b in batch], dtype=float)
    sex = rng.choice(["F", "M"], n)
    Y = rng.normal(size=(n, p)) + 0.05 * age[:, None] + 0.5 * (sex == "M")[:, None]
    Y = Y * np.array([SCALE[b] for b in batch])[:, None]
    Y = Y + np.array([SHIFT[b] for b in batch])[:, None]
    X = pd.DataFrame(Y, columns=[f"rad__f{i}" for i in range(p)])
    X.index = [f"P{i:03d}" for i in range(n)]
    X["batch"] = batch
    X["clin__age"] = age
    X["clin__sex"] = sex
    return X


FEATS = [f"rad__f{i}" for i in range(20)]


@pytest.mark.parametrize(
    "options",
    [{}, {"parametric": False}, {"eb": False}, {"mean_only": True}],
    ids=["parametric", "nonparametric", "no-eb", "mean-only"],
)
def test_agrees_with_neurocombat(options):
    neuro = pytest.importorskip("neuroCombat")
    X = _sites()
    covars = pd.DataFrame(
        {"batch": X["batch"].to_numpy(), "age": X["clin__age"].to_numpy(), "sex": X["clin__sex"]}
    ).reset_index(drop=True)
    with contextlib.redirect_stdout(io.StringIO()):  # neuroCombat prints progress
        ref = neuro.neuroCombat(
            X[FEATS].to_numpy(dtype=float).T.copy(),
            covars,
            "batch",
            categorical_cols=["sex"],
            continuous_cols=["age"],
            **options,
        )["data"].T
    cb = ComBat(
        categorical_covariates=["clin__sex"], continuous_covariates=["clin__age"], **options
    )
    out = cb.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    np.testing.assert_allclose(out[FEATS].to_numpy(), ref, rtol=0, atol=1e-6)
    # transform of the training rows with the fitted model gives the same numbers
    np.testing.assert_allclose(cb.transform(X)[FEATS].to_numpy(), ref, rtol=0, atol=1e-6)


def test_removes_planted_site_shift_and_preserves_covariate_effect():
    # site C patients are older: a naive per-site centring would remove part of the age effect
    X = _sites(
        n_per=(60, 60, 60), age_by_site={"A": (40, 60), "B": (50, 70), "C": (60, 80)}, seed=1
    )
    out = ComBat(categorical_covariates=["clin__sex"], continuous_covariates=["clin__age"])
    H = out.fit_transform(X)
    age = X["clin__age"].to_numpy()
    sex = (X["clin__sex"] == "M").to_numpy(dtype=float)
    design = np.column_stack([np.ones(len(X)), age, sex])
    site = X["batch"].to_numpy()
    with_site = np.column_stack([pd.get_dummies(site).to_numpy(dtype=float), age, sex])

    def resid(D, Y):
        return Y - D @ np.linalg.lstsq(D, Y, rcond=None)[0]

    for frame, max_site_gap in ((X, None), (H, 0.35)):
        Y = frame[FEATS].to_numpy()
        site_means = pd.DataFrame(resid(design, Y)).groupby(site).mean().mean(axis=1)
        site_sd = pd.DataFrame(resid(with_site, Y)).groupby(site).std().mean(axis=1)
        gap = site_means.max() - site_means.min()
        if max_site_gap is None:
            assert gap > 2.0  # the planted shift is there before
            assert site_sd.max() / site_sd.min() > 3.0
        else:
            assert gap < max_site_gap  # and gone after
            assert site_sd.max() / site_sd.min() < 1.3
    slope = np.linalg.lstsq(design, H[FEATS].to_numpy(), rcond=None)[0][1]
    # harmonised data keep the age slope on the pooled scale (true 0.05 in site A units)
    assert np.mean(slope) == pytest.approx(0.05 * np.mean(list(SCALE.values())), rel=0.35)
    # without the covariate, ComBat confounds age with site and loses much of the slope
    naive = ComBat(categorical_covariates=["clin__sex"]).fit_transform(X)
    slope_naive = np.linalg.lstsq(design, naive[FEATS].to_numpy(), rcond=None)[0][1]
    assert np.mean(slope_naive) < 0.6 * np.mean(slope)


def test_fit_uses_only_the_training_rows():
    X = _sites(seed=2)
    rng = np.random.default_rng(0)
    train = np.sort(rng.choice(len(X), size=len(X) // 2, replace=False))
    test = np.setdiff1d(np.arange(len(X)), train)
    cb = ComBat(continuous_covariates=["clin__age"]).fit(X.iloc[train])
    alone = ComBat(continuous_covariates=["clin__age"]).fit(X.iloc[train].copy())
    full = ComBat(continuous_covariates=["clin__age"]).fit(X)
    np.testing.assert_array_equal(cb.grand_mean_, alone.grand_mean_)
    assert not np.allclose(cb.grand_mean_, full.grand_mean_)
    # changing the test rows changes neither the model nor the harmonised training rows
    X2 = X.copy()
    X2.iloc[test, :20] += 100.0
    cb2 = ComBat(continuous_covariates=["clin__age"]).fit(X2.iloc[train])
    np.testing.assert_array_equal(cb2.gamma_star_, cb.gamma_star_)
    out = cb.transform(X.iloc[test])
    assert list(out.index) == list(X.index[test])


def test_in_pipeline_cross_validation_grid_search_and_clone():
    X = _sites(seed=3)
    y = np.random.default_rng(0).integers(0, 2, len(X))
    pipe = make_pipeline(
        ComBat(continuous_covariates=["clin__age"], categorical_covariates=["clin__sex"]),
        _DropObject(),
        StandardScaler(),
        LogisticRegression(C=0.1),
    )
    # every training fold must contain every batch: stratify the folds on the batch
    cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, X["batch"]))
    scores = cross_val_score(pipe, X, y, cv=cv, error_score="raise")
    assert np.all(np.isfinite(scores))
    grid = GridSearchCV(pipe, {"combat__parametric": [True, False]}, cv=cv, error_score="raise")
    grid.fit(X, y)
    assert grid.best_params_["combat__parametric"] in (True, False)
    c = clone(ComBat(columns=FEATS[:5], drop_batch=False))
    assert c.get_params()["columns"] == FEATS[:5]


class _DropObject:
    """Tiny helper transformer: keep numeric columns (clinical sex is a string here)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X.select_dtypes("number")

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self


def test_output_columns_dtypes_and_numpy_input():
    X = _sites()
    cb = ComBat(columns=FEATS[:3], drop_batch=False).fit(X)
    out = cb.transform(X)
    assert list(out.columns) == list(X.columns)
    pd.testing.assert_frame_equal(out[FEATS[3:]], X[FEATS[3:]])  # untouched
    assert out["clin__sex"].dtype == object
    assert list(ComBat().fit(X).get_feature_names_out()) == [c for c in X if c != "batch"]
    # auto = radiomics group; numpy input: batch is a column position name x<i>
    arr = X[[*FEATS, "batch"]].to_numpy(dtype=object)
    res = ComBat(batch_col="x20").fit(arr).transform(arr)
    assert isinstance(res, np.ndarray) and res.shape == (len(X), 20)
    pandas_out = ComBat(batch_col="x20").set_output(transform="pandas").fit_transform(arr)
    assert list(pandas_out.columns) == [f"x{i}" for i in range(20)]


def test_unknown_batch_at_transform():
    X = _sites()
    cb = ComBat().fit(X[X["batch"] != "C"])
    with pytest.raises(FeatureTableError, match=r"batch\(es\) \['C'\] were not seen at fit"):
        cb.transform(X)


def test_missing_batch_column_and_missing_batch_values():
    X = _sites()
    with pytest.raises(FeatureTableError, match="batch column 'site' is not in X"):
        ComBat(batch_col="site").fit(X)
    X.loc["P005", "batch"] = None
    with pytest.raises(FeatureTableError, match=r"batch is missing for rows \['P005'\]"):
        ComBat().fit(X)


def test_too_few_samples_per_batch_and_single_batch():
    X = _sites()
    X.loc["P000", "batch"] = "Z"
    with pytest.raises(FeatureTableError, match=r"\['Z'\] have fewer than 2 samples"):
        ComBat().fit(X)
    with pytest.raises(FeatureTableError, match="single batch"):
        ComBat().fit(_sites().query("batch == 'A'"))


def test_constant_feature_within_a_batch():
    X = _sites()
    X.loc[X["batch"] == "B", "rad__f3"] = 1.0
    with pytest.raises(FeatureTableError, match=r"rad__f3 in batch 'B'"):
        ComBat().fit(X)
    X["rad__f4"] = 2.0
    with pytest.raises(FeatureTableError, match=r"zero residual variance.*rad__f4"):
        ComBat(mean_only=True).fit(X)


def test_nan_in_features_named_at_fit_and_transform():
    X = _sites()
    bad = X.copy()
    bad.loc["P002", "rad__f7"] = np.nan
    with pytest.raises(FeatureTableError, match=r"rad__f7.*P002"):
        ComBat().fit(bad)
    cb = ComBat().fit(X)
    with pytest.raises(FeatureTableError, match=r"rad__f7"):
        cb.transform(bad)


def test_covariate_errors():
    X = _sites()
    with pytest.raises(FeatureTableError, match="covariate column 'clin__bmi' is not in X"):
        ComBat(continuous_covariates=["clin__bmi"]).fit(X)
    cb = ComBat(categorical_covariates=["clin__sex"]).fit(X)
    other = X.copy()
    other.loc["P001", "clin__sex"] = "U"
    with pytest.raises(FeatureTableError, match=r"level\(s\) \['U'\] not seen at fit"):
        cb.transform(other)
    other = X.copy()
    other.loc["P001", "clin__age"] = np.nan
    with pytest.raises(FeatureTableError, match=r"'clin__age' has missing.*P001"):
        ComBat(continuous_covariates=["clin__age"]).fit(other)
    conf = X.copy()
    conf["clin__site_copy"] = conf["batch"]
    with pytest.raises(FeatureTableError, match="confounded with the batch"):
        ComBat(categorical_covariates=["clin__site_copy"]).fit(conf)
    with pytest.raises(ConfigError, match="include the batch / covariate"):
        ComBat(columns=["rad__f0", "clin__age"], continuous_covariates=["clin__age"]).fit(X)


def test_missing_column_at_transform_and_single_feature_eb():
    X = _sites()
    cb = ComBat().fit(X)
    with pytest.raises(ConfigError, match=r"missing: \['rad__f2'\]"):
        cb.transform(X.drop(columns=["rad__f2"]))
    with pytest.raises(ConfigError, match="at least 2 features"):
        ComBat(columns=["rad__f0"]).fit(X)
    out = ComBat(columns=["rad__f0"], eb=False).fit_transform(X)
    assert out.shape == (len(X), X.shape[1] - 1)


def test_on_constant_skip_passes_constant_features_through() -> None:
    import warnings as _w

    rng = np.random.default_rng(3)
    n = 30
    X = pd.DataFrame(
        {
            "rad__a": rng.normal(size=n),
            "rad__b": rng.normal(size=n),
            "rad__c": rng.normal(size=n),
            "batch": np.repeat(["s1", "s2", "s3"], 10),
        }
    )
    X.loc[X["batch"] == "s2", "rad__c"] = 1.0  # constant within one batch
    with pytest.raises(FeatureTableError, match="constant within a batch"):
        ComBat().fit(X)
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        model = ComBat(on_constant="skip").fit(X)
    assert model.skipped_ == ["rad__c"]
    assert any("rad__c" in str(w.message) for w in caught)
    out = model.transform(X)
    np.testing.assert_array_equal(out["rad__c"].to_numpy(), X["rad__c"].to_numpy())
    assert not np.allclose(out["rad__a"].to_numpy(), X["rad__a"].to_numpy())
    with pytest.raises(ConfigError, match="on_constant"):
        ComBat(on_constant="maybe").fit(X)
