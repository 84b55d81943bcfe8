"""Feature-selection transformers, fitted inside the cross-validation folds.

Every selector works on a subset of the columns (``columns``: ``"auto"`` = the ``radiomics``
group when X has ``rad__`` columns, else every column; or a group name or list of names) and
passes the other columns through untouched, so clinical and embedding columns survive a
radiomics selector. Selectors keep the input order of the columns they keep, expose
``get_support()`` and ``get_feature_names_out()``, and return a DataFrame after
``set_output(transform="pandas")``.

Selectors: :class:`VarianceFilter` (near-constant features), :class:`ICCFilter` (robustness
from a test-retest / perturbation ICC table, see :func:`icc`), :class:`CorrelationClusterSelector`
(one representative per cluster of correlated features), :class:`UnivariateSelector` (Cox score
test, concordance, AUC or Welch t), :class:`ElasticNetCoxSelector` and
:class:`L1LogisticSelector` (embedded selection). :class:`GroupPCA` replaces one group (by default
the CNN embeddings) by its principal components.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from radiopredict.errors import ConfigError, FeatureTableError, TargetError
from radiopredict.fuse import GROUP_PREFIXES, _check_finite, _FrameTransformer, group_columns
from radiopredict.targets import binary_target, check_survival_target, is_survival

__all__ = [
    "icc",
    "univariate_scores",
    "VarianceFilter",
    "ICCFilter",
    "CorrelationClusterSelector",
    "UnivariateSelector",
    "ElasticNetCoxSelector",
    "L1LogisticSelector",
    "GroupPCA",
]


def _auto_columns(df: pd.DataFrame, columns, owner: str) -> list[str]:
    if isinstance(columns, str) and columns == "auto":
        rad = [c for c in df.columns if c.startswith(GROUP_PREFIXES["radiomics"])]
        return rad or list(df.columns)
    return group_columns(df, columns, owner=owner)


def _target(y, owner: str):
    """Return ("survival", (event, time)) or ("binary", y01)."""
    if y is None:
        raise TargetError(
            f"{owner} requires y to be passed, but the target y is None (it needs a survival "
            "structured array or a binary response)",
            fix="pass y to fit (Pipeline.fit(X, y) forwards it)",
        )
    if is_survival(y):
        return "survival", check_survival_target(y)
    return "binary", binary_target(y)[1]


# ----------------------------------------------------------------------------------------------
# univariate scores


def _cox_score_test(Z: np.ndarray, event: np.ndarray, time: np.ndarray):
    """Score (log-rank type) test of each column of Z in a univariate Cox model at beta = 0.

    With risk sets $R_k$ at the distinct event times $t_k$ ($d_k$ events, Breslow ties),
    $U = \\sum_k (\\sum_{i \\in D_k} z_i - d_k \\bar z_{R_k})$ and
    $I = \\sum_k d_k \\operatorname{var}_{R_k}(z)$ (population variance); the statistic
    $U^2 / I$ is chi-square with 1 degree of freedom under the null.
    """
    Z = (Z - Z.mean(axis=0)) / np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
    uniq, inv = np.unique(time, return_inverse=True)
    m = len(uniq)
    cnt = np.bincount(inv, minlength=m).astype(float)
    s1 = np.zeros((m, Z.shape[1]))
    s2 = np.zeros((m, Z.shape[1]))
    np.add.at(s1, inv, Z)
    np.add.at(s2, inv, Z**2)
    d = np.bincount(inv, weights=event.astype(float), minlength=m)
    sd = np.zeros((m, Z.shape[1]))
    np.add.at(sd, inv[event], Z[event])
    # risk-set sums: everyone with time >= t_k
    r_n = np.cumsum(cnt[::-1])[::-1]
    r_s1 = np.cumsum(s1[::-1], axis=0)[::-1]
    r_s2 = np.cumsum(s2[::-1], axis=0)[::-1]
    ev = d > 0
    mean = r_s1[ev] / r_n[ev, None]
    var = r_s2[ev] / r_n[ev, None] - mean**2
    U = (sd[ev] - d[ev, None] * mean).sum(axis=0)
    info = (d[ev, None] * np.clip(var, 0, None)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(info > 1e-12, U**2 / info, 0.0)
    return stat, stats.chi2.sf(stat, 1), np.sign(U)


def univariate_scores(X, y, score: str = "auto") -> pd.DataFrame:
    """Univariate association of each column of X with a survival or binary target.

    Parameters
    ----------
    X
        Numeric DataFrame or array (n_samples, n_features).
    y
        Survival structured array (``event``, ``time``) or binary 0/1 vector.
    score
        ``"auto"`` (``"cox"`` for survival, ``"auc"`` for binary), ``"cox"`` (score test
        statistic $U^2/I$, see :func:`_cox_score_test`), ``"concordance"`` ($|C - 0.5|$, Harrell's
        C of the feature as a risk score), ``"auc"`` ($|AUC - 0.5|$, p-value of the Mann-Whitney
        U test) or ``"ttest"`` ($|t|$ of Welch's t-test).

    Returns
    -------
    pandas.DataFrame
        Index = feature names; columns ``score`` (higher = stronger), ``pvalue`` (NaN for
        concordance, which has no closed-form test) and ``direction`` (+1 when higher values
        mean higher risk / class 1). A constant feature scores 0 with p-value 1.
    """
    df = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    _check_finite(df, list(df.columns), "univariate_scores")
    Z = df.to_numpy(dtype=float)
    kind, target = _target(y, "univariate_scores")
    if score == "auto":
        score = "cox" if kind == "survival" else "auc"
    valid = {"survival": ("cox", "concordance"), "binary": ("auc", "ttest")}[kind]
    if score not in valid:
        raise ConfigError(
            f"score {score!r} does not apply to a {kind} target",
            fix=f"use one of {valid} (or 'auto')",
        )
    const = Z.std(axis=0) == 0
    pval = np.full(Z.shape[1], np.nan)
    if score == "cox":
        event, time = target
        s, pval, direction = _cox_score_test(Z, event, time)
    elif score == "concordance":
        from lifelines.utils import concordance_index

        event, time = target
        c = np.array([concordance_index(time, -Z[:, j], event) for j in range(Z.shape[1])])
        s, direction = np.abs(c - 0.5), np.sign(c - 0.5)
    elif score == "auc":
        y01 = target
        ranks = stats.rankdata(Z, axis=0)
        n1, n0 = int(y01.sum()), int((1 - y01).sum())
        auc = (ranks[y01 == 1].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
        s, direction = np.abs(auc - 0.5), np.sign(auc - 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pval = stats.mannwhitneyu(Z[y01 == 1], Z[y01 == 0], axis=0).pvalue
    else:  # ttest
        y01 = target
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ttest_ind(Z[y01 == 1], Z[y01 == 0], axis=0, equal_var=False)
        s, pval, direction = np.abs(res.statistic), res.pvalue, np.sign(res.statistic)
    s = np.where(const, 0.0, np.nan_to_num(s, nan=0.0))
    if score != "concordance":
        pval = np.where(const, 1.0, pval)
    return pd.DataFrame(
        {"score": s, "pvalue": pval, "direction": np.where(const, 0.0, direction)},
        index=[str(c) for c in df.columns],
    )


# ----------------------------------------------------------------------------------------------
# ICC


def icc(
    table: pd.DataFrame,
    *,
    subject: str = "patient_id",
    rater: str = "rater",
    kind: str = "ICC(3,1)",
    features: Sequence[str] | None = None,
) -> pd.Series:
    """Intraclass correlation of each feature from a test-retest or perturbation table.

    Parameters
    ----------
    table
        Long table: one row per (subject, rater), where *rater* is the repeat, scanner,
        segmentation or image perturbation; one numeric column per feature.
    subject, rater
        Column names of the subject (patient / lesion) and of the repeat.
    kind
        ``"ICC(1,1)"``, ``"ICC(2,1)"`` or ``"ICC(3,1)"`` (Shrout and Fleiss 1979; McGraw and Wong
        1996: ICC(3,1) = two-way mixed, consistency; ICC(2,1) = two-way random, absolute
        agreement).
    features
        Feature columns; default every numeric column other than ``subject`` and ``rater``.

    Returns
    -------
    pandas.Series
        ICC per feature. With $n$ subjects, $k$ raters and the two-way ANOVA mean squares
        $MS_R$ (subjects), $MS_C$ (raters), $MS_E$ (residual) and $MS_W$ (within subjects):

        $$ \\mathrm{ICC}(1,1) = \\frac{MS_R - MS_W}{MS_R + (k-1) MS_W},\\quad
           \\mathrm{ICC}(2,1) = \\frac{MS_R - MS_E}{MS_R + (k-1) MS_E + k (MS_C - MS_E)/n},$$
        $$ \\mathrm{ICC}(3,1) = \\frac{MS_R - MS_E}{MS_R + (k-1) MS_E}. $$

        A feature that is constant over the whole table has no ICC: it is NaN and a warning
        names it.

    Raises
    ------
    FeatureTableError
        Missing columns, a subject not measured exactly once by every rater, NaN values.
    """
    kinds = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)")
    if kind not in kinds:
        raise ConfigError(f"kind must be one of {kinds}, got {kind!r}", fix="use 'ICC(3,1)'")
    for c in (subject, rater):
        if c not in table.columns:
            raise FeatureTableError(
                f"icc: column {c!r} is not in the table", fix="set subject= / rater="
            )
    if features is None:
        features = [
            c
            for c in table.columns
            if c not in (subject, rater) and pd.api.types.is_numeric_dtype(table[c])
        ]
    features = [str(f) for f in features]
    counts = table.groupby([subject, rater]).size().unstack(fill_value=0)
    bad = counts.index[(counts != 1).any(axis=1)].tolist()
    if bad:
        raise FeatureTableError(
            f"icc: subject(s) {bad[:10]} are not measured exactly once by each of the "
            f"{counts.shape[1]} raters",
            fix="keep complete subjects only (one row per subject and rater)",
        )
    _check_finite(table, features, "icc")
    raters = list(counts.columns)
    subjects = list(counts.index)
    n, k = len(subjects), len(raters)
    if n < 2 or k < 2:
        raise FeatureTableError(
            f"icc needs at least 2 subjects and 2 raters, got {n} and {k}",
            fix="add repeats",
        )
    cube = (
        table.set_index([subject, rater])[features]
        .reindex(pd.MultiIndex.from_product([subjects, raters]))
        .to_numpy(dtype=float)
        .reshape(n, k, len(features))
    )
    grand = cube.mean(axis=(0, 1))
    row = cube.mean(axis=1)
    col = cube.mean(axis=0)
    ss_r = k * ((row - grand) ** 2).sum(axis=0)
    ss_c = n * ((col - grand) ** 2).sum(axis=0)
    ss_t = ((cube - grand) ** 2).sum(axis=(0, 1))
    ss_e = ss_t - ss_r - ss_c
    ms_r = ss_r / (n - 1)
    ms_c = ss_c / (k - 1)
    ms_e = ss_e / ((n - 1) * (k - 1))
    ms_w = (ss_c + ss_e) / (n * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "ICC(1,1)":
            val = (ms_r - ms_w) / (ms_r + (k - 1) * ms_w)
        elif kind == "ICC(2,1)":
            val = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n)
        else:
            val = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e)
    const = ss_t == 0
    val = np.where(const, np.nan, val)
    if const.any():
        warnings.warn(
            f"icc: feature(s) {[f for f, c in zip(features, const) if c][:10]} are constant "
            "over the whole table; their ICC is undefined (NaN) and ICCFilter drops them",
            UserWarning,
            stacklevel=2,
        )
    return pd.Series(val, index=features, name=kind)


# ----------------------------------------------------------------------------------------------
# base


class _ColumnSelector(_FrameTransformer, TransformerMixin, BaseEstimator):
    """Selects among ``columns`` and passes the other columns through.

    Fitted attributes shared by every selector: ``columns_`` (the columns selected from),
    ``support_`` (boolean mask over all input columns). Learned attributes are numpy arrays so
    that fitted pipelines can be saved with skops (radiopredict.bundle).
    """

    _numpy_dtype = "numeric"
    columns: object = "auto"

    def _select(self, sub: pd.DataFrame, y) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None):
        """Learn which columns to keep from the rows of X (one training fold).

        Parameters
        ----------
        X : DataFrame or array
        y : survival structured array, binary vector, or None (unsupervised selectors)

        Returns
        -------
        self
        """
        owner = type(self).__name__
        df = self._frame(X, reset=True)
        if df.shape[0] < 2:
            raise FeatureTableError(
                f"{owner} needs at least 2 samples, got n_samples = {df.shape[0]}",
                fix="fit on more rows",
            )
        cols = _auto_columns(df, self.columns, owner)
        _check_finite(df, cols, owner)
        keep = np.asarray(self._select(df[cols], y), dtype=bool)
        support = np.ones(df.shape[1], dtype=bool)
        pos = {c: i for i, c in enumerate(df.columns)}
        for c, k in zip(cols, keep):
            support[pos[c]] = k
        if not support.any():
            raise FeatureTableError(
                f"{owner}: no feature is left after selection",
                fix="relax the selection threshold",
            )
        self.support_ = support
        self.columns_ = cols
        return self

    def transform(self, X):
        """Keep the selected columns (and every column outside ``columns``).

        Returns
        -------
        ndarray or DataFrame
        """
        check_is_fitted(self, "support_")
        df = self._frame(X, reset=False)
        kept = df.columns[self.support_]
        _check_finite(df, self.columns_, type(self).__name__)
        return self._output(df.loc[:, kept], X)

    def get_support(self, indices: bool = False) -> np.ndarray:
        """Boolean mask (or indices) of the kept input columns."""
        check_is_fitted(self, "support_")
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the kept columns."""
        check_is_fitted(self, "support_")
        return self._input_names(input_features)[self.support_]


class _SupervisedTags:
    """Tags of a selector that needs y: survival, or a binary response (never multi-class)."""

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # binary responses only: scikit-learn's checks then pass two classes
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags


# ----------------------------------------------------------------------------------------------
# unsupervised filters


class VarianceFilter(_ColumnSelector):
    """Drop constant and near-constant features.

    Parameters
    ----------
    threshold
        Keep features whose variance (ddof 0) is strictly greater than this.
    max_mode_fraction
        Also drop features whose most frequent value occurs in more than this fraction of the
        rows (e.g. 0.95); None disables the rule.
    columns
        Columns to filter (see the module docstring).

    Attributes
    ----------
    variances_ : ndarray
        Variance of each filtered column (in the order of ``columns_``).
    """

    def __init__(
        self,
        threshold: float = 0.0,
        max_mode_fraction: float | None = None,
        columns: str | Sequence[str] | None = "auto",
    ) -> None:
        self.threshold = threshold
        self.max_mode_fraction = max_mode_fraction
        self.columns = columns

    def _select(self, sub, y):
        var = sub.var(axis=0, ddof=0)
        self.variances_ = var.to_numpy()
        keep = (var > self.threshold).to_numpy()
        if self.max_mode_fraction is not None:
            if not 0 < self.max_mode_fraction <= 1:
                raise ConfigError(
                    f"max_mode_fraction must be in (0, 1], got {self.max_mode_fraction}",
                    fix="use e.g. 0.95",
                )
            mode_frac = np.array([sub[c].value_counts(normalize=True).iloc[0] for c in sub.columns])
            keep &= mode_frac <= self.max_mode_fraction
        return keep


class ICCFilter(_ColumnSelector):
    """Keep features that are robust in a test-retest / perturbation study: ICC >= threshold.

    Parameters
    ----------
    icc
        ICC per feature: a Series or mapping (e.g. from :func:`icc`). A column is looked up by
        its full name, then by its IBSI tag (the part after the last ``"__"``, so one ICC table
        of tags serves every ``rad__<label>__<modality>__<timepoint>__<tag>`` column).
    threshold
        Minimum ICC to keep a feature (0.75 = "good" reliability, Koo and Li 2016). NaN ICCs
        fail.
    missing
        What to do with a column that has no ICC: ``"raise"`` (default), ``"drop"`` or ``"keep"``.
    columns
        Columns to filter (see the module docstring).

    Attributes
    ----------
    icc_ : ndarray
        ICC used for each filtered column (in the order of ``columns_``; NaN when absent).
    """

    def __init__(
        self,
        icc: pd.Series | Mapping[str, float] | None = None,
        threshold: float = 0.75,
        missing: str = "raise",
        columns: str | Sequence[str] | None = "auto",
    ) -> None:
        self.icc = icc
        self.threshold = threshold
        self.missing = missing
        self.columns = columns

    def _select(self, sub, y):
        if self.icc is None:
            raise ConfigError(
                "ICCFilter needs an ICC table", fix="pass icc=radiopredict.select.icc(...)"
            )
        if self.missing not in ("raise", "drop", "keep"):
            raise ConfigError(
                f"missing must be 'raise', 'drop' or 'keep', got {self.missing!r}",
                fix="use missing='raise'",
            )
        table = pd.Series(self.icc, dtype=float)
        table.index = table.index.astype(str)
        values, absent = [], []
        for c in sub.columns:
            tag = c.rsplit("__", 1)[-1]
            if c in table.index:
                values.append(table[c])
            elif tag in table.index:
                values.append(table[tag])
            else:
                values.append(np.nan)
                absent.append(c)
        if absent and self.missing == "raise":
            raise FeatureTableError(
                f"ICCFilter: {len(absent)} column(s) have no ICC: {absent[:10]}",
                fix="add them to the ICC table, or pass missing='drop' / 'keep'",
            )
        self.icc_ = np.asarray(values, dtype=float)
        keep = self.icc_ >= self.threshold
        if self.missing == "keep":
            keep |= sub.columns.isin(absent)
        return keep


class CorrelationClusterSelector(_ColumnSelector):
    """Cluster correlated features and keep one representative per cluster.

    Hierarchical clustering on the distance $1 - |r|$ ($r$ = Spearman or Pearson correlation),
    cut at $1 - $ ``threshold``: with average linkage, features whose mean absolute correlation
    with the rest of their cluster exceeds ``threshold`` end up together.

    Parameters
    ----------
    threshold
        Absolute correlation above which features are redundant (e.g. 0.9).
    method
        ``"spearman"`` (default, robust to the skewed distributions of radiomics) or
        ``"pearson"``.
    linkage
        ``"average"``, ``"complete"`` or ``"single"`` (scipy linkage methods).
    keep
        Representative of each cluster: ``"central"`` (highest mean $|r|$ with the other members,
        scale-free), ``"variance"`` (highest variance; only meaningful on comparable scales) or
        ``"score"`` (best univariate score against y, see :func:`univariate_scores`).
    scoring
        Univariate score for ``keep="score"``.
    columns
        Columns to cluster (see the module docstring).

    Attributes
    ----------
    clusters_ : ndarray of int
        Cluster id of each clustered column (in the order of ``columns_``).
    representatives_ : list of str
        Kept columns, one per cluster.
    """

    def __init__(
        self,
        threshold: float = 0.9,
        method: str = "spearman",
        linkage: str = "average",
        keep: str = "central",
        scoring: str = "auto",
        columns: str | Sequence[str] | None = "auto",
    ) -> None:
        self.threshold = threshold
        self.method = method
        self.linkage = linkage
        self.keep = keep
        self.scoring = scoring
        self.columns = columns

    def _select(self, sub, y):
        if self.method not in ("spearman", "pearson"):
            raise ConfigError(
                f"method must be 'spearman' or 'pearson', got {self.method!r}",
                fix="use method='spearman' (default) or 'pearson'",
            )
        if self.keep not in ("central", "variance", "score"):
            raise ConfigError(
                f"keep must be 'central', 'variance' or 'score', got {self.keep!r}",
                fix="use keep='central' (default), 'variance' or 'score'",
            )
        if not 0 < self.threshold <= 1:
            raise ConfigError(
                f"threshold must be in (0, 1], got {self.threshold}", fix="e.g. threshold=0.9"
            )
        Z = sub.to_numpy(dtype=float)
        p = Z.shape[1]
        if Z.shape[0] < 3:
            raise FeatureTableError(
                f"CorrelationClusterSelector needs at least 3 rows, got {Z.shape[0]}",
                fix="fit on more patients",
            )
        const = Z.std(axis=0) == 0
        if const.any():
            raise FeatureTableError(
                "CorrelationClusterSelector: constant column(s) have no correlation: "
                f"{sub.columns[const].tolist()[:10]}",
                fix="put a VarianceFilter before this step",
            )
        if p == 1:
            self.clusters_ = np.ones(1, dtype=int)
            self.representatives_ = list(sub.columns)
            return np.ones(1, dtype=bool)
        if self.method == "spearman":
            Z = stats.rankdata(Z, axis=0)
        r = np.abs(np.corrcoef(Z, rowvar=False))
        np.fill_diagonal(r, 1.0)
        dist = np.clip(1.0 - r, 0.0, None)
        np.fill_diagonal(dist, 0.0)
        tree = hierarchy.linkage(squareform(dist, checks=False), method=self.linkage)
        labels = hierarchy.fcluster(tree, t=1.0 - self.threshold, criterion="distance")
        if self.keep == "score":
            crit = univariate_scores(sub, y, self.scoring)["score"].to_numpy()
        elif self.keep == "variance":
            crit = sub.var(axis=0, ddof=0).to_numpy()
        keep = np.zeros(p, dtype=bool)
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            if self.keep == "central":
                sub_r = r[np.ix_(members, members)]
                c = (sub_r.sum(axis=1) - 1.0) / max(len(members) - 1, 1)
            else:
                c = crit[members]
            keep[members[int(np.argmax(c))]] = True
        self.clusters_ = np.asarray(labels, dtype=int)
        self.representatives_ = sub.columns[keep].tolist()
        return keep


# ----------------------------------------------------------------------------------------------
# supervised selectors


class UnivariateSelector(_SupervisedTags, _ColumnSelector):
    """Keep the features most associated with the outcome, one at a time.

    Parameters
    ----------
    k
        Number of features to keep (``"all"`` keeps all that pass ``threshold``); a ``k`` larger
        than the number of columns keeps them all.
    threshold
        Minimum score to keep a feature (applied before ``k``); None disables it.
    scoring
        See :func:`univariate_scores`: ``"auto"``, ``"cox"``, ``"concordance"``, ``"auc"``,
        ``"ttest"``.
    columns
        Columns to rank (see the module docstring).

    Attributes
    ----------
    scores_, pvalues_, directions_ : ndarray
        :func:`univariate_scores` of the ranked columns (in the order of ``columns_``) on the
        training rows.
    """

    def __init__(
        self,
        k: int | str = 10,
        threshold: float | None = None,
        scoring: str = "auto",
        columns: str | Sequence[str] | None = "auto",
    ) -> None:
        self.k = k
        self.threshold = threshold
        self.scoring = scoring
        self.columns = columns

    def _select(self, sub, y):
        if not (self.k == "all" or (isinstance(self.k, int | np.integer) and self.k >= 1)):
            raise ConfigError(
                f"k must be a positive int or 'all', got {self.k!r}", fix="e.g. k=10 or k='all'"
            )
        table = univariate_scores(sub, y, self.scoring)
        self.scores_ = table["score"].to_numpy()
        self.pvalues_ = table["pvalue"].to_numpy()
        self.directions_ = table["direction"].to_numpy()
        s = table["score"].to_numpy()
        keep = np.ones(len(s), dtype=bool)
        if self.threshold is not None:
            keep &= s >= self.threshold
        if self.k != "all" and keep.sum() > self.k:
            order = np.argsort(-np.where(keep, s, -np.inf), kind="stable")
            keep = np.zeros(len(s), dtype=bool)
            keep[order[: int(self.k)]] = True
        return keep


def _standardise(sub: pd.DataFrame) -> pd.DataFrame:
    sd = sub.std(axis=0, ddof=0)
    const = sd == 0
    if const.any():
        raise FeatureTableError(
            f"constant column(s) {sub.columns[const].tolist()[:10]} cannot enter a penalised model",
            fix="put a VarianceFilter before this step",
        )
    return (sub - sub.mean(axis=0)) / sd


def _keep_nonzero(coef: np.ndarray, tol: float, max_features: int | None, owner: str):
    mag = np.abs(coef)
    keep = mag > tol
    if max_features is not None and keep.sum() > max_features:
        order = np.argsort(-mag, kind="stable")
        keep = np.zeros(len(coef), dtype=bool)
        keep[order[:max_features]] = True
    if not keep.any():
        warnings.warn(
            f"{owner}: every coefficient is zero at this penalty; keeping the single feature "
            "with the largest coefficient. Lower the penalty.",
            UserWarning,
            stacklevel=4,
        )
        keep[int(np.argmax(mag))] = True
    return keep


class ElasticNetCoxSelector(_ColumnSelector):
    """Keep the features with a non-zero coefficient in an elastic-net Cox model (lifelines).

    The columns are standardised (training-fold mean and SD), then lifelines' ``CoxPHFitter``
    maximises the partial log-likelihood minus
    $\\lambda\\,(\\alpha\\|\\beta\\|_1 + \\tfrac12(1-\\alpha)\\|\\beta\\|_2^2)$ with
    $\\lambda$ = ``penalizer`` and $\\alpha$ = ``l1_ratio``. lifelines smooths the L1 term, so
    coefficients are small rather than exactly 0: features with $|\\beta| \\le$ ``tol`` are
    dropped.

    Parameters
    ----------
    penalizer
        $\\lambda > 0$.
    l1_ratio
        $\\alpha \\in [0, 1]$; 1 is the lasso.
    tol
        Coefficient magnitude (on the standardised scale) below which a feature counts as 0.
    max_features
        Keep at most this many features (largest $|\\beta|$).
    columns
        Columns to select from (see the module docstring).

    Attributes
    ----------
    coef_ : ndarray
        Standardised coefficients of the fitted Cox model (in the order of ``columns_``).
    """

    def __init__(
        self,
        penalizer: float = 0.1,
        l1_ratio: float = 1.0,
        tol: float = 1e-3,
        max_features: int | None = None,
        columns: str | Sequence[str] | None = "auto",
    ) -> None:
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.max_features = max_features
        self.columns = columns

    def _select(self, sub, y):
        from lifelines import CoxPHFitter

        kind, target = _target(y, "ElasticNetCoxSelector")
        if kind != "survival":
            raise TargetError(
                "ElasticNetCoxSelector needs a survival target (structured array event, time)",
                fix="use L1LogisticSelector for a binary response",
            )
        if self.penalizer <= 0 or not 0 <= self.l1_ratio <= 1:
            raise ConfigError(
                f"penalizer must be > 0 and l1_ratio in [0, 1], got {self.penalizer}, "
                f"{self.l1_ratio}",
                fix="e.g. penalizer=0.1, l1_ratio=1.0",
            )
        event, time = target
        data = _standardise(sub).reset_index(drop=True)
        data.columns = [f"f{i}" for i in range(sub.shape[1])]
        data["__time"] = time
        data["__event"] = event.astype(int)
        cph = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph.fit(data, duration_col="__time", event_col="__event")
        coef = cph.params_.to_numpy()
        self.coef_ = np.asarray(coef, dtype=float)
        return _keep_nonzero(coef, self.tol, self.max_features, "ElasticNetCoxSelector")


class L1LogisticSelector(_SupervisedTags, _ColumnSelector):
    """Keep the features with a non-zero coefficient in an L1 / elastic-net logistic regression.

    The columns are standardised (training-fold mean and SD), then scikit-learn's
    ``LogisticRegression`` minimises the log-loss plus
    $\\frac1C(\\alpha\\|\\beta\\|_1 + \\tfrac12(1-\\alpha)\\|\\beta\\|_2^2)$ (liblinear for the lasso,
    saga otherwise). Coefficients are exactly 0 for dropped features.

    Parameters
    ----------
    C
        Inverse penalty strength.
    l1_ratio
        $\\alpha \\in (0, 1]$; 1 is the lasso.
    max_features
        Keep at most this many features (largest $|\\beta|$).
    class_weight
        Passed to ``LogisticRegression`` (e.g. ``"balanced"``).
    random_state
        Seed of the solver.
    columns
        Columns to select from (see the module docstring).

    Attributes
    ----------
    coef_ : ndarray
        Standardised coefficients (in the order of ``columns_``).
    """

    def __init__(
        self,
        C: float = 0.1,
        l1_ratio: float = 1.0,
        max_features: int | None = None,
        class_weight: str | dict | None = None,
        random_state: int | None = None,
        columns: str | Sequence[str] | None = "auto",
    ) -> None:
        self.C = C
        self.l1_ratio = l1_ratio
        self.max_features = max_features
        self.class_weight = class_weight
        self.random_state = random_state
        self.columns = columns

    def _select(self, sub, y):
        from sklearn.linear_model import LogisticRegression

        kind, target = _target(y, "L1LogisticSelector")
        if kind != "binary":
            raise TargetError(
                "L1LogisticSelector needs a binary target (two classes)",
                fix="use ElasticNetCoxSelector for a survival target",
            )
        if not 0 < self.l1_ratio <= 1:
            raise ConfigError(
                f"l1_ratio must be in (0, 1], got {self.l1_ratio}", fix="use 1.0 for the lasso"
            )
        Z = _standardise(sub).to_numpy()
        deprecated_penalty = (
            inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
        )
        kw: dict = {"C": self.C, "class_weight": self.class_weight}
        kw["random_state"] = self.random_state
        if self.l1_ratio == 1:
            kw["solver"] = "liblinear"
            kw.update({"l1_ratio": 1.0} if deprecated_penalty else {"penalty": "l1"})
        else:
            kw.update(solver="saga", max_iter=5000, l1_ratio=self.l1_ratio)
            if not deprecated_penalty:
                kw["penalty"] = "elasticnet"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LogisticRegression(**kw).fit(Z, target)
        coef = model.coef_.ravel()
        self.coef_ = np.asarray(coef, dtype=float)
        return _keep_nonzero(coef, 0.0, self.max_features, "L1LogisticSelector")


# ----------------------------------------------------------------------------------------------
# PCA on one group


class GroupPCA(_FrameTransformer, TransformerMixin, BaseEstimator):
    """Replace the columns of one group (default: CNN embeddings) by their principal components.

    Other columns pass through unchanged; the components take the place of the group's first
    column and are named ``<prefix>pc1, <prefix>pc2, ...`` where the prefix is the group's
    (``emb__pc1``), so they stay in their group.

    Parameters
    ----------
    columns
        The columns to reduce: a group name (default ``"embedding"``) or a list of names.
    n_components
        Number of components (int), or the fraction of variance to keep (float in (0, 1)).
    standardize
        Scale each column to unit variance before PCA (default False: embedding dimensions
        share a scale).
    random_state
        Seed of the randomised SVD solver (used by scikit-learn for large inputs).

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    columns_ : list of str
    """

    _numpy_dtype = "numeric"

    def __init__(
        self,
        columns: str | Sequence[str] | None = "embedding",
        n_components: int | float = 10,
        standardize: bool = False,
        random_state: int | None = None,
    ) -> None:
        self.columns = columns
        self.n_components = n_components
        self.standardize = standardize
        self.random_state = random_state

    def _prefix(self) -> str:
        if isinstance(self.columns, str) and self.columns in GROUP_PREFIXES:
            return GROUP_PREFIXES[self.columns]
        prefixes = {
            p for p in GROUP_PREFIXES.values() if all(c.startswith(p) for c in self.columns_)
        }
        return prefixes.pop() if prefixes else "pca__"

    def fit(self, X, y=None):
        """Fit the PCA on the group's columns of the training rows."""
        from sklearn.decomposition import PCA

        df = self._frame(X, reset=True)
        cols = group_columns(df, self.columns, owner="GroupPCA")
        _check_finite(df, cols, "GroupPCA")
        Z = df[cols].to_numpy(dtype=float)
        nmax = min(Z.shape)
        if isinstance(self.n_components, int | np.integer) and not 1 <= self.n_components <= nmax:
            raise ConfigError(
                f"GroupPCA: n_components={self.n_components} but the group has {len(cols)} "
                f"columns and {Z.shape[0]} rows (at most {nmax} components)",
                fix="lower n_components, or give a variance fraction such as 0.9",
            )
        self.mean_ = Z.mean(axis=0)
        sd = Z.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0) if self.standardize else np.ones(Z.shape[1])
        self.pca_ = PCA(n_components=self.n_components, random_state=self.random_state)
        self.pca_.fit((Z - self.mean_) / self.scale_)
        self.columns_ = cols
        return self

    def transform(self, X):
        """Project the group's columns on the fitted components."""
        check_is_fitted(self, "pca_")
        df = self._frame(X, reset=False)
        _check_finite(df, self.columns_, "GroupPCA")
        Z = df[self.columns_].to_numpy(dtype=float)
        pcs = self.pca_.transform((Z - self.mean_) / self.scale_)
        names = self._pc_names()
        first = list(df.columns).index(self.columns_[0])
        rest = df.drop(columns=self.columns_)
        pc_df = pd.DataFrame(pcs, index=df.index, columns=names)
        n_before = sum(1 for c in df.columns[:first] if c not in set(self.columns_))
        out = pd.concat([rest.iloc[:, :n_before], pc_df, rest.iloc[:, n_before:]], axis=1)
        return self._output(out, X)

    def _pc_names(self) -> list[str]:
        prefix = self._prefix()
        return [f"{prefix}pc{i + 1}" for i in range(self.pca_.n_components_)]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns (components in place of the group)."""
        check_is_fitted(self, "pca_")
        names = list(self._input_names(input_features))
        first = names.index(self.columns_[0])
        group = set(self.columns_)
        before = [c for c in names[:first] if c not in group]
        after = [c for c in names[first:] if c not in group]
        return np.asarray(before + self._pc_names() + after, dtype=object)
