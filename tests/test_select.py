"""Selection transformers: scikit-learn contract, reference values, groups, folds, bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from radiopredict.errors import ConfigError, FeatureTableError, TargetError
from radiopredict.select import (
    CorrelationClusterSelector,
    ElasticNetCoxSelector,
    GroupPCA,
    ICCFilter,
    L1LogisticSelector,
    UnivariateSelector,
    VarianceFilter,
    icc,
    univariate_scores,
)
from radiopredict.targets import make_survival_target


@parametrize_with_checks(
    [VarianceFilter(), CorrelationClusterSelector(), GroupPCA(columns=None, n_components=2)]
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def _breast():
    data = load_breast_cancer()
    X = pd.DataFrame(data.data, columns=["rad__" + c.replace(" ", "_") for c in data.feature_names])
    return X, data.target


def _rossi():
    from lifelines.datasets import load_rossi

    r = load_rossi()
    y = make_survival_target(r["arrest"], r["week"])
    return r.drop(columns=["arrest", "week"]).astype(float), y


def _mixed(n=80, seed=0):
    """Radiomics with planted structure, embeddings, and a string clinical column."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 3))
    cols = {}
    for k in range(3):  # three clusters of four strongly correlated features
        for j in range(4):
            cols[f"rad__c{k}_{j}"] = base[:, k] * (j + 1) + 0.05 * rng.normal(size=n)
    cols["rad__indep0"] = rng.normal(size=n)
    cols["rad__indep1"] = rng.normal(size=n)
    cols["rad__const"] = np.ones(n)
    X = pd.DataFrame(cols, index=[f"P{i}" for i in range(n)])
    for j in range(6):
        X[f"emb__e{j}"] = rng.normal(size=n) + base[:, 0]
    X["clin__sex"] = rng.choice(["F", "M"], n)
    y = (base[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


# ------------------------------------------------------------------------------ filters


def test_variance_filter_drops_constant_and_near_constant_only_in_its_group():
    X, _ = _mixed()
    X["rad__rare"] = 0.0
    X.iloc[:2, X.columns.get_loc("rad__rare")] = 1.0  # 2 of 80 rows differ: near-constant
    vf = VarianceFilter().fit(X)
    out = vf.transform(X)
    assert "rad__const" not in out and "rad__rare" in out
    assert out["clin__sex"].tolist() == X["clin__sex"].tolist()  # string passthrough
    assert list(out.columns) == list(vf.get_feature_names_out())
    near = VarianceFilter(max_mode_fraction=0.95).fit(X)
    assert "rad__rare" not in near.get_feature_names_out()
    assert near.variances_[near.columns_.index("rad__const")] == 0.0
    with pytest.raises(ConfigError, match="max_mode_fraction"):
        VarianceFilter(max_mode_fraction=1.5).fit(X)


def test_icc_matches_shrout_fleiss_1979_table():
    # Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges;
    # published ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71
    ratings = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
        dtype=float,
    )
    long = pd.DataFrame(
        [{"patient_id": i, "rater": j, "f": ratings[i, j]} for i in range(6) for j in range(4)]
    )
    assert icc(long, kind="ICC(1,1)")["f"] == pytest.approx(0.17, abs=0.005)
    assert icc(long, kind="ICC(2,1)")["f"] == pytest.approx(0.29, abs=0.005)
    assert icc(long, kind="ICC(3,1)")["f"] == pytest.approx(0.71, abs=0.005)


def test_icc_errors_and_constant_feature():
    long = pd.DataFrame(
        {"patient_id": [1, 1, 2, 2, 3], "rater": ["a", "b", "a", "b", "a"], "f": [1.0] * 5}
    )
    with pytest.raises(FeatureTableError, match=r"subject\(s\) \[3\] are not measured"):
        icc(long)
    full = pd.concat(
        [long, pd.DataFrame({"patient_id": [3], "rater": ["b"], "f": [1.0]})], ignore_index=True
    )
    full["g"] = np.arange(6.0)
    with pytest.warns(UserWarning, match=r"\['f'\] are constant"):
        out = icc(full)
    assert np.isnan(out["f"]) and np.isfinite(out["g"])
    with pytest.raises(FeatureTableError, match="column 'scan' is not in the table"):
        icc(full, rater="scan")
    with pytest.raises(ConfigError, match="kind must be"):
        icc(full, kind="ICC(3,k)")
    full.loc[0, "g"] = np.nan
    with pytest.raises(FeatureTableError, match=r"\['g'\]"):
        icc(full)


def test_icc_filter_by_full_name_or_tag_and_missing_policy():
    X = pd.DataFrame(
        {
            "rad__tumour__CT__baseline__morph_volume": [1.0, 2, 3, 4],
            "rad__tumour__CT__baseline__glcm_x": [4.0, 3, 3, 1],
            "rad__node__CT__baseline__glcm_x": [1.0, 3, 3, 1],
            "rad__unknown": [0.0, 1, 2, 3],
            "clin__age": [50, 60, 70, 80],
        }
    )
    table = pd.Series({"morph_volume": 0.95, "glcm_x": 0.5, "rad__node__CT__baseline__glcm_x": 0.8})
    with pytest.raises(FeatureTableError, match=r"no ICC: \['rad__unknown'\]"):
        ICCFilter(table).fit(X)
    kept = ICCFilter(table, threshold=0.75, missing="drop").fit(X).get_feature_names_out()
    assert list(kept) == [
        "rad__tumour__CT__baseline__morph_volume",
        "rad__node__CT__baseline__glcm_x",
        "clin__age",
    ]
    keep = ICCFilter(table, missing="keep").fit(X)
    assert "rad__unknown" in keep.get_feature_names_out()
    assert keep.icc_[keep.columns_.index("rad__tumour__CT__baseline__glcm_x")] == 0.5
    with pytest.raises(ConfigError, match="needs an ICC table"):
        ICCFilter().fit(X)


def test_correlation_clusters_keep_one_per_planted_cluster():
    X, y = _mixed()
    X = X.drop(columns=["rad__const"])
    sel = CorrelationClusterSelector(threshold=0.9).fit(X)
    rad = [c for c in sel.get_feature_names_out() if c.startswith("rad__")]
    assert len(rad) == 5  # 3 clusters + 2 independent features
    assert {c.split("_")[2] for c in rad if "__c" in c} == {"c0", "c1", "c2"}
    assert len(np.unique(sel.clusters_)) == 5
    # keep="score": within the cluster of the outcome driver, the kept one is the best scorer
    by_score = CorrelationClusterSelector(threshold=0.9, keep="score").fit(X, y)
    c1 = [c for c in X if c.startswith("rad__c1")]
    best = univariate_scores(X[c1], y)["score"].idxmax()
    assert best in by_score.representatives_
    var = CorrelationClusterSelector(threshold=0.9, keep="variance").fit(X)
    assert "rad__c0_3" in var.representatives_  # the largest-scale member


def test_correlation_clusters_errors():
    X, _ = _mixed()
    with pytest.raises(FeatureTableError, match=r"constant column\(s\) have no correlation"):
        CorrelationClusterSelector().fit(X)
    with pytest.raises(ConfigError, match="method must be"):
        CorrelationClusterSelector(method="kendall").fit(X.drop(columns=["rad__const"]))


# ------------------------------------------------------------------------------ univariate


def test_cox_score_equals_logrank_for_a_binary_feature_without_ties():
    from lifelines.statistics import logrank_test

    rng = np.random.default_rng(1)
    n = 200
    g = rng.integers(0, 2, n)
    t = rng.exponential(1 / np.exp(0.5 * g))
    c = rng.exponential(2, n)
    event, time = t < c, np.minimum(t, c)
    y = make_survival_target(event, time)
    s = univariate_scores(pd.DataFrame({"g": g.astype(float)}), y, "cox").loc["g"]
    ref = logrank_test(time[g == 1], time[g == 0], event[g == 1], event[g == 0])
    assert s["score"] == pytest.approx(ref.test_statistic, rel=1e-9)
    assert s["pvalue"] == pytest.approx(ref.p_value, rel=1e-9)
    assert s["direction"] == 1.0  # g = 1 has the higher hazard


def test_binary_scores_match_sklearn_and_scipy():
    X, y = _breast()
    X = X.iloc[:, :6]
    auc = univariate_scores(X, y, "auc")
    for c in X:
        ref = roc_auc_score(y, X[c])
        assert auc.loc[c, "score"] == pytest.approx(abs(ref - 0.5), abs=1e-12)
    tt = univariate_scores(X, y, "ttest")
    ref = stats.ttest_ind(X[y == 1], X[y == 0], equal_var=False)
    np.testing.assert_allclose(tt["score"], np.abs(ref.statistic))


def test_concordance_score_on_rossi():
    from lifelines.utils import concordance_index

    X, y = _rossi()
    s = univariate_scores(X, y, "concordance")
    c = concordance_index(y["time"], -X["prio"], y["event"])
    assert s.loc["prio", "score"] == pytest.approx(abs(c - 0.5))
    assert s.loc["prio", "direction"] == 1.0  # more prior convictions, earlier arrest


def test_univariate_selector_k_threshold_and_constant():
    X, y = _rossi()
    X["const"] = 1.0
    sel = UnivariateSelector(k=3).fit(X, y)
    assert set(sel.get_feature_names_out()) == {"age", "prio", "wexp"}
    const = sel.columns_.index("const")
    assert sel.scores_[const] == 0.0 and sel.pvalues_[const] == 1.0
    thr = UnivariateSelector(k="all", threshold=9.0).fit(X, y)
    assert set(thr.get_feature_names_out()) == {"age", "prio", "wexp"}
    assert UnivariateSelector(k=100).fit(X, y).get_support().sum() == X.shape[1]
    with pytest.raises(FeatureTableError, match="no feature is left"):
        UnivariateSelector(threshold=1e9).fit(X, y)


def test_univariate_bad_targets_and_options():
    X, y = _rossi()
    with pytest.raises(TargetError, match="requires y to be passed"):
        UnivariateSelector().fit(X)
    with pytest.raises(ConfigError, match="does not apply to a survival target"):
        UnivariateSelector(scoring="auc").fit(X, y)
    with pytest.raises(TargetError, match="Only binary classification is supported: found 3"):
        UnivariateSelector().fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ConfigError, match="k must be"):
        UnivariateSelector(k=0).fit(X, y)


def test_selectors_fit_only_on_the_training_fold():
    X, y = _breast()
    train = np.arange(len(X)) % 2 == 0
    sel = UnivariateSelector(k=5).fit(X[train], y[train])
    ref = univariate_scores(X[train], y[train])
    np.testing.assert_array_equal(sel.scores_, ref["score"].to_numpy())
    np.testing.assert_array_equal(sel.pvalues_, ref["pvalue"].to_numpy())
    full = UnivariateSelector(k=5).fit(X, y)
    assert not np.allclose(sel.scores_, full.scores_)
    # test rows only go through transform: corrupting them leaves the selection unchanged
    X2 = X.copy()
    X2.loc[~train] = X2.loc[~train].to_numpy()[::-1]
    again = UnivariateSelector(k=5).fit(X2[train], y[train])
    np.testing.assert_array_equal(again.get_support(), sel.get_support())


# ------------------------------------------------------------------------------ embedded


def test_elastic_net_cox_keeps_the_known_rossi_predictors():
    X, y = _rossi()
    sel = ElasticNetCoxSelector(penalizer=0.05, l1_ratio=1.0).fit(X, y)
    kept = set(sel.get_feature_names_out())
    assert {"age", "prio"} <= kept and "paro" not in kept
    coef = dict(zip(sel.columns_, sel.coef_))
    assert coef["prio"] > 0 > coef["age"]
    with pytest.raises(TargetError, match="needs a survival target"):
        ElasticNetCoxSelector().fit(X, np.arange(len(X)) % 2)


def test_l1_logistic_selects_sparse_subset_and_warns_when_empty():
    X, y = _breast()
    sel = L1LogisticSelector(C=0.05, random_state=0).fit(X, y)
    n = sel.get_support().sum()
    assert 1 <= n < X.shape[1] // 2
    assert (sel.coef_[~sel.get_support()] == 0).all()
    assert L1LogisticSelector(C=0.05, max_features=2).fit(X, y).get_support().sum() == 2
    en = L1LogisticSelector(C=0.05, l1_ratio=0.5, random_state=0).fit(X, y)
    assert en.get_support().sum() >= n
    with pytest.warns(UserWarning, match="every coefficient is zero"):
        tiny = L1LogisticSelector(C=1e-6).fit(X, y)
    assert tiny.get_support().sum() == 1
    _, ys = _rossi()
    with pytest.raises(TargetError, match="needs a binary"):
        L1LogisticSelector().fit(X.iloc[: len(ys)], ys[: len(X)])


# ------------------------------------------------------------------------------ PCA


def test_group_pca_replaces_only_the_embedding_columns():
    X, _ = _mixed()
    pca = GroupPCA(n_components=2, random_state=0).fit(X)
    out = pca.transform(X)
    rad = [c for c in X if c.startswith("rad__")]
    assert list(out.columns) == [*rad, "emb__pc1", "emb__pc2", "clin__sex"]
    pd.testing.assert_frame_equal(out[rad], X[rad])
    assert list(pca.get_feature_names_out()) == list(out.columns)
    emb = X.filter(like="emb__").to_numpy()
    ref = (emb - emb.mean(axis=0)) @ pca.pca_.components_.T
    np.testing.assert_allclose(out[["emb__pc1", "emb__pc2"]].to_numpy(), ref, atol=1e-10)
    frac = GroupPCA(n_components=0.9).fit(X)
    assert 1 <= frac.pca_.n_components_ <= 6
    with pytest.raises(ConfigError, match="at most 6 components"):
        GroupPCA(n_components=7).fit(X)
    with pytest.raises(ConfigError, match="group 'embedding' has no column"):
        GroupPCA().fit(X.drop(columns=[c for c in X if c.startswith("emb__")]))


# ------------------------------------------------------------------------------ pipelines


def test_pipeline_grid_search_clone_and_pandas_output():
    X, y = _breast()
    pipe = make_pipeline(
        VarianceFilter(),
        CorrelationClusterSelector(threshold=0.95),
        UnivariateSelector(k=5),
        StandardScaler(),
        LogisticRegression(),
    )
    grid = GridSearchCV(pipe, {"univariateselector__k": [2, 5]}, cv=3, scoring="roc_auc")
    grid.fit(X, y)
    assert grid.best_score_ > 0.9
    names = grid.best_estimator_[:3].get_feature_names_out()
    assert all(n.startswith("rad__") for n in names)
    c = clone(UnivariateSelector(k=3, scoring="ttest"))
    assert c.get_params()["scoring"] == "ttest" and not hasattr(c, "support_")
    arr_out = VarianceFilter().set_output(transform="pandas").fit_transform(X.to_numpy())
    assert isinstance(arr_out, pd.DataFrame) and arr_out.columns[0] == "x0"
    assert isinstance(VarianceFilter().fit_transform(X.to_numpy()), np.ndarray)


def test_nan_named_at_fit_and_transform():
    X, y = _breast()
    bad = X.copy()
    bad.iloc[3, 2] = np.nan
    for sel in (VarianceFilter(), UnivariateSelector(k=3), CorrelationClusterSelector()):
        with pytest.raises(FeatureTableError, match=rf"{X.columns[2]}"):
            sel.fit(bad, y)
        fitted = clone(sel).fit(X, y)
        with pytest.raises(FeatureTableError, match=rf"{X.columns[2]}"):
            fitted.transform(bad)
    with pytest.raises(ConfigError, match=r"missing: \['rad__mean_radius'\]"):
        VarianceFilter().fit(X).transform(X.drop(columns=["rad__mean_radius"]))


def test_selection_on_real_radiomics_table(shared_data):
    """radMLBench HNSCC (93 patients, 105 pyradiomics features): redundancy is real."""
    df = pd.read_csv(shared_data / "radmlbench" / "HNSCC.gz")
    y = df.pop("Target").to_numpy()
    X = df.drop(columns=["ID"]).add_prefix("rad__")
    train = np.arange(len(X)) % 3 != 0
    vf = VarianceFilter().fit(X[train])
    cc = CorrelationClusterSelector(threshold=0.9).fit(vf.transform(X[train]))
    n_kept = len(cc.representatives_)
    # measured on these 62 training rows: 105 features, none constant, 43 clusters at 0.9
    assert 20 <= n_kept <= 70
    Z = cc.transform(vf.transform(X[~train]))
    rho = np.abs(stats.spearmanr(cc.transform(vf.transform(X[train]))).statistic)
    np.fill_diagonal(rho, 0)
    # representatives of different clusters are not all pairwise redundant
    assert np.median(rho) < 0.9
    assert Z.shape == (int((~train).sum()), n_kept)
    uni = UnivariateSelector(k=10).fit(cc.transform(vf.transform(X[train])), y[train])
    assert set(uni.get_feature_names_out()) <= set(cc.representatives_)
    assert uni.get_support().sum() == 10


@pytest.mark.slow
@pytest.mark.parametrize("name, minimum", [("HNSCC", 0.6), ("LNDb", 0.7)])
def test_selection_pipeline_cross_validated_auc_on_radmlbench(shared_data, name, minimum):
    """5-fold AUC of a selection pipeline fitted inside the folds (measured 0.71 and 0.81)."""
    df = pd.read_csv(shared_data / "radmlbench" / f"{name}.gz")
    y = df.pop("Target").to_numpy()
    X = df.drop(columns=["ID"]).add_prefix("rad__")
    pipe = make_pipeline(
        VarianceFilter(),
        CorrelationClusterSelector(threshold=0.9),
        UnivariateSelector(k=10),
        StandardScaler(),
        LogisticRegression(C=0.1),
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    auc = cross_val_score(pipe, X, y, cv=cv, scoring="roc_auc", error_score="raise")
    assert auc.mean() > minimum


@pytest.mark.slow  # importing skops.io imports every scikit-learn estimator (~10-20 s)
def test_fitted_pipeline_round_trips_through_skops_with_trusted_types_only():
    sio = pytest.importorskip("skops.io")
    from radiopredict.bundle import TRUSTED_TYPES
    from radiopredict.harmonize import ComBat
    from radiopredict.preprocess import ClinicalPreprocessor

    X, y = _mixed()
    X["batch"] = np.where(np.arange(len(X)) % 2 == 0, "A", "B")
    X["clin__age"] = np.linspace(40, 80, len(X))
    pipe = make_pipeline(
        VarianceFilter(),
        ClinicalPreprocessor(),
        # after ClinicalPreprocessor the covariates are its output columns (one-hot, scaled)
        ComBat(categorical_covariates=["clin__sex_M"], continuous_covariates=["clin__age"]),
        ICCFilter({c: 0.9 for c in X}, missing="keep"),
        CorrelationClusterSelector(0.9),
        UnivariateSelector(k=4),
        L1LogisticSelector(C=1.0),
        GroupPCA(n_components=2),
    ).fit(X, y)
    blob = sio.dumps(pipe)
    untrusted = sio.get_untrusted_types(data=blob)
    assert [t for t in untrusted if t not in TRUSTED_TYPES] == []
    loaded = sio.loads(blob, trusted=untrusted)
    pd.testing.assert_frame_equal(loaded.transform(X), pipe.transform(X))


def test_correlation_clusters_on_a_fold_where_a_feature_is_constant(shared_data):
    """radMLBench Arita2018: ``Harvard_49`` takes 2 values, so some training folds see it
    constant. The bare selector refuses it with a clear error naming the column (no crash
    inside scipy); behind the pipelines' scaler + VarianceFilter the fold fits."""
    from radiopredict.models.pipelines import _filters

    df = pd.read_csv(shared_data / "radmlbench" / "Arita2018.gz")
    X = df.drop(columns=["ID", "Target"]).astype(float)
    rows = X["Harvard_49"] == X["Harvard_49"].mode()[0]
    assert X["Harvard_49"].nunique() == 2 and rows.sum() >= 100
    fold = X[rows]
    with pytest.raises(FeatureTableError, match=r"constant column\(s\).*Harvard_49"):
        CorrelationClusterSelector(threshold=0.9, columns=None).fit(fold)
    Z = make_pipeline(*[step for _, step in _filters(0.9)]).fit(fold).transform(X)
    assert "Harvard_49" not in Z.columns and np.isfinite(Z.to_numpy()).all()
