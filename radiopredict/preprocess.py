"""Clinical-variable preprocessing fitted inside the folds: impute, one-hot encode, scale.

:class:`ClinicalPreprocessor` wraps a scikit-learn :class:`~sklearn.compose.ColumnTransformer`:
numeric columns are imputed (median by default) and standardised, categorical columns
(object, category, string or bool dtype, or listed in ``categorical``) are imputed with the most
frequent level and one-hot encoded. Columns outside ``columns`` (radiomics, embeddings, batch)
pass through unchanged, after the clinical ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from radiopredict.errors import ConfigError, FeatureTableError
from radiopredict.fuse import GROUP_PREFIXES, _FrameTransformer, group_columns

__all__ = ["ClinicalPreprocessor"]


class ClinicalPreprocessor(_FrameTransformer, TransformerMixin, BaseEstimator):
    """Impute, one-hot encode and scale clinical variables.

    Parameters
    ----------
    columns
        Columns to preprocess: ``"auto"`` (the ``clinical`` group when X has ``clin__``
        columns, else every column), a group name, or a list of names. Others pass through.
    categorical
        Columns to treat as categorical even if numeric (e.g. a stage coded 1-4); by default
        object / category / string / bool columns are categorical.
    numeric_strategy
        ``SimpleImputer`` strategy of numeric columns (``"median"``, ``"mean"``).
    categorical_strategy
        ``SimpleImputer`` strategy of categorical columns (``"most_frequent"`` or
        ``"constant"``, which adds a ``missing`` level).
    scale
        Standardise numeric columns (z-score with the training-fold mean and SD).
    add_indicator
        Add a 0/1 column per numeric column with missing values at fit (``missingindicator_``).
    drop
        ``OneHotEncoder`` ``drop`` (None keeps every level; ``"if_binary"`` keeps one column for
        two-level variables).

    Attributes
    ----------
    transformer_ : sklearn.compose.ColumnTransformer
    numeric_, categorical_ : list of str
        Columns handled as numeric / categorical.

    Notes
    -----
    Output names: numeric columns keep their names, one-hot columns are
    ``<column>_<level>`` (``clin__sex_F``), so they stay in the clinical group. Levels unseen
    at fit are encoded as all-zero rows (``handle_unknown="ignore"``).
    """

    _numpy_dtype = None

    def __init__(
        self,
        columns: str | Sequence[str] | None = "auto",
        categorical: Sequence[str] = (),
        numeric_strategy: str = "median",
        categorical_strategy: str = "most_frequent",
        scale: bool = True,
        add_indicator: bool = False,
        drop: str | None = None,
    ) -> None:
        self.columns = columns
        self.categorical = categorical
        self.numeric_strategy = numeric_strategy
        self.categorical_strategy = categorical_strategy
        self.scale = scale
        self.add_indicator = add_indicator
        self.drop = drop

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags

    def _columns(self, df: pd.DataFrame) -> list[str]:
        if isinstance(self.columns, str) and self.columns == "auto":
            clin = [c for c in df.columns if c.startswith(GROUP_PREFIXES["clinical"])]
            return clin or list(df.columns)
        return group_columns(df, self.columns, owner="ClinicalPreprocessor")

    def fit(self, X, y=None):
        """Learn imputation values, levels and scaling from the training rows."""
        self._fit(X)
        return self

    def _fit(self, X) -> pd.DataFrame:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        df = self._frame(X, reset=True)
        cols = self._columns(df)
        unknown = [c for c in self.categorical if str(c) not in cols]
        if unknown:
            raise ConfigError(
                f"ClinicalPreprocessor: categorical column(s) {unknown} are not among the "
                "preprocessed columns",
                fix="check the names (clinical columns are prefixed clin__ by design_matrix)",
            )
        forced = {str(c) for c in self.categorical}
        cat = [
            c
            for c in cols
            if c in forced
            or not pd.api.types.is_numeric_dtype(df[c])
            or pd.api.types.is_bool_dtype(df[c])
        ]
        num = [c for c in cols if c not in cat]
        empty = [c for c in cols if df[c].isna().all()]
        if empty:
            raise FeatureTableError(
                f"ClinicalPreprocessor: column(s) {empty} have no value in the training rows",
                fix="drop these columns; nothing can be imputed from them",
            )
        for c in num:
            v = df[c].to_numpy(dtype=float)
            if np.isinf(v).any():
                raise FeatureTableError(
                    f"ClinicalPreprocessor: column {c!r} has infinite values",
                    fix="replace them by missing values or finite numbers",
                )
        self.categorical_ = cat
        df = self._prepare(df)
        num_steps = [
            (
                "impute",
                SimpleImputer(strategy=self.numeric_strategy, add_indicator=self.add_indicator),
            )
        ]
        if self.scale:
            num_steps.append(("scale", StandardScaler()))
        cat_steps = [
            ("impute", SimpleImputer(strategy=self.categorical_strategy, fill_value="missing")),
            (
                "onehot",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, drop=self.drop),
            ),
        ]
        ct = ColumnTransformer(
            [("numeric", Pipeline(num_steps), num), ("categorical", Pipeline(cat_steps), cat)],
            remainder="passthrough",
            verbose_feature_names_out=False,
        )
        ct.set_output(transform="pandas")
        out = ct.fit_transform(df)
        self.transformer_ = ct
        self.numeric_ = num
        self.categorical_ = cat
        return out

    def _prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        cat = self.categorical_
        if cat:
            df[cat] = df[cat].astype(object).map(lambda v: np.nan if pd.isna(v) else str(v))
        return df

    def transform(self, X):
        """Apply the fitted imputation, encoding and scaling.

        Returns
        -------
        ndarray or DataFrame
            Preprocessed clinical columns first, then the passed-through columns.
        """
        check_is_fitted(self, "transformer_")
        df = self._prepare(self._frame(X, reset=False))
        out = self.transformer_.transform(df)
        out.index = df.index
        return self._output(out, X)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit and transform in one pass."""
        out = self._fit(X)
        out.index = X.index if isinstance(X, pd.DataFrame) else out.index
        return self._output(out, X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names (one-hot columns are ``<column>_<level>``)."""
        check_is_fitted(self, "transformer_")
        return np.asarray(self.transformer_.get_feature_names_out(), dtype=object)
