"""Fusion: one design matrix per patient from radiomics, embeddings and clinical tables.

The design matrix is a :class:`pandas.DataFrame` indexed by ``patient_id`` whose column *names*
carry their group, so the groups survive every pandas operation, ``clone``, ``Pipeline``,
``set_output(transform="pandas")`` and a round trip through numpy plus ``feature_names_in_``:

==============  =========  ===================================================
group           prefix     example
==============  =========  ===================================================
``radiomics``   ``rad__``  ``rad__tumour__CT__baseline__morph_volume``
``embedding``   ``emb__``  ``emb__tumour__CT__baseline__e017``
``clinical``    ``clin__`` ``clin__age``
==============  =========  ===================================================

A long feature or embedding table (one row per ``(patient_id, modality, timepoint, label)``) is
pivoted to one row per patient; each wide column is named
``<prefix><label>__<modality>__<timepoint>__<feature>`` using the key columns present in the long
table (a key column that is absent is left out of the name). A wide table keeps its column names
after the prefix. The optional ``batch`` column (scanner / site, consumed by
:class:`radiopredict.harmonize.ComBat`) has no prefix and belongs to no group.

``df.attrs["column_groups"]`` holds the same mapping for convenience, but the prefixes are the
source of truth: :func:`column_groups` reads the names, so it works after ``attrs`` are lost.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from radiopredict.errors import ConfigError, FeatureTableError

__all__ = [
    "GROUP_PREFIXES",
    "KEY_COLUMNS",
    "design_matrix",
    "column_groups",
    "group_columns",
]

#: Column-name prefix of each column group.
GROUP_PREFIXES: dict[str, str] = {"radiomics": "rad__", "embedding": "emb__", "clinical": "clin__"}
#: Key columns of a long feature / embedding table, in the order they appear in wide names.
KEY_COLUMNS: tuple[str, ...] = ("label", "modality", "timepoint")
_ID = "patient_id"
_SEP = "__"


def _names(names: Iterable) -> list[str]:
    if isinstance(names, pd.DataFrame):
        return [str(c) for c in names.columns]
    return [str(c) for c in names]


def column_groups(X: pd.DataFrame | Iterable[str]) -> dict[str, list[str]]:
    """Column groups of a design matrix, read from the column-name prefixes.

    Parameters
    ----------
    X
        A design matrix, or its column names (e.g. ``estimator.feature_names_in_``).

    Returns
    -------
    dict
        ``{"radiomics": [...], "embedding": [...], "clinical": [...], "other": [...]}`` in column
        order; ``other`` holds the columns without a group prefix (e.g. ``batch``).
    """
    out: dict[str, list[str]] = {g: [] for g in GROUP_PREFIXES}
    out["other"] = []
    for name in _names(X):
        for group, prefix in GROUP_PREFIXES.items():
            if name.startswith(prefix):
                out[group].append(name)
                break
        else:
            out["other"].append(name)
    return out


def group_columns(
    names: pd.DataFrame | Iterable[str],
    columns: str | Sequence[str] | None,
    *,
    owner: str = "transformer",
) -> list[str]:
    """Resolve a ``columns`` parameter to concrete column names.

    Parameters
    ----------
    names
        All column names of the input (or the DataFrame itself).
    columns
        ``None`` (all columns), a group name (``"radiomics"``, ``"embedding"``, ``"clinical"``,
        ``"other"``), a column name, or a list mixing group and column names.
    owner
        Name of the caller, used in error messages.

    Returns
    -------
    list of str
        The selected column names, in input order.

    Raises
    ------
    ConfigError
        A name is neither a group nor a column, or a group has no column in the input.
    """
    all_names = _names(names)
    if columns is None:
        return list(all_names)
    wanted = [columns] if isinstance(columns, str) else list(columns)
    groups = column_groups(all_names)
    present = set(all_names)
    chosen: set[str] = set()
    for item in wanted:
        item = str(item)
        if item in groups:
            if not groups[item]:
                prefix = GROUP_PREFIXES.get(item, "")
                raise ConfigError(
                    f"{owner}: column group {item!r} has no column in the input "
                    f"(its columns start with {prefix!r})",
                    fix="build X with radiopredict.fuse.design_matrix, or pass column names",
                )
            chosen.update(groups[item])
        elif item in present:
            chosen.add(item)
        else:
            raise ConfigError(
                f"{owner}: {item!r} is neither a column group "
                f"({', '.join(GROUP_PREFIXES)}) nor a column of the input",
                fix="check the spelling; column names are listed in feature_names_in_",
            )
    return [n for n in all_names if n in chosen]


# ----------------------------------------------------------------------------------------------
# design matrix


def _patient_index(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Return ``df`` with a string ``patient_id`` column (taken from the index when needed)."""
    if _ID not in df.columns:
        if df.index.name == _ID or (
            df.index.name is None and not isinstance(df.index, pd.RangeIndex)
        ):
            df = df.reset_index().rename(columns={df.index.name or "index": _ID})
        else:
            raise FeatureTableError(
                f"the {source} table has no {_ID!r} column or index",
                fix=f"add a {_ID!r} column (one id per patient, as in the cohort manifest)",
            )
    df = df.copy()
    if df[_ID].isna().any():
        raise FeatureTableError(
            f"the {source} table has {int(df[_ID].isna().sum())} rows without {_ID}",
            fix="fill in or drop those rows",
        )
    df[_ID] = df[_ID].astype(str)
    return df


def _check_numeric(df: pd.DataFrame, cols: list[str], source: str) -> pd.DataFrame:
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        shown = ", ".join(repr(c) for c in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise FeatureTableError(
            f"the {source} table has {len(bad)} non-numeric feature column(s): {shown}",
            fix="convert them to numbers, move them to the clinical table, or drop them",
        )
    return df


def _wide(df: pd.DataFrame | None, group: str) -> pd.DataFrame | None:
    """One row per patient, columns prefixed by the group prefix."""
    if df is None:
        return None
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(
            f"the {group} table must be a pandas DataFrame, got {type(df).__name__}",
            fix="pass a DataFrame with a patient_id column or index",
        )
    prefix = GROUP_PREFIXES[group]
    dup_cols = df.columns[df.columns.duplicated()].unique().tolist()
    if dup_cols:
        raise FeatureTableError(
            f"the {group} table has duplicated column names: {dup_cols[:10]}",
            fix="give every column a unique name",
        )
    df = _patient_index(df, group)
    # clinical tables are patient-level: never pivoted, even with a column named "label"
    keys = [k for k in KEY_COLUMNS if k in df.columns] if group != "clinical" else []
    value_cols = [c for c in df.columns if c != _ID and c not in keys]
    if group != "clinical":
        _check_numeric(df, value_cols, group)
    if keys:  # long table: pivot
        dup = df.duplicated([_ID, *keys], keep=False)
        if dup.any():
            rows = df.loc[dup, [_ID, *keys]].drop_duplicates().head(5).to_dict("records")
            raise FeatureTableError(
                f"the {group} table has {int(dup.sum())} rows with a repeated key "
                f"({_ID}, {', '.join(keys)}), e.g. {rows}",
                fix="keep one row per (patient_id, modality, timepoint, label)",
            )
        df[keys] = df[keys].astype(str)
        wide = df.pivot(index=_ID, columns=keys, values=value_cols)
        # order: key combinations as they first appear, then features in table order
        combos = list(df[keys].drop_duplicates().itertuples(index=False, name=None))
        wide = wide[[(f, *combo) for combo in combos for f in value_cols]]
        # wide.columns levels: (feature, key1, key2, ...)
        names = [prefix + _SEP.join([*tup[1:], str(tup[0])]) for tup in wide.columns]
        wide.columns = names
        order = pd.unique(df[_ID])
        wide = wide.loc[order]
    else:
        if df[_ID].duplicated().any():
            dups = df.loc[df[_ID].duplicated(), _ID].unique().tolist()
            raise FeatureTableError(
                f"the {group} table is wide but has several rows for patient(s) {dups[:10]}",
                fix=f"add key columns ({', '.join(KEY_COLUMNS)}) to make it a long table, "
                "or keep one row per patient",
            )
        wide = df.set_index(_ID)
        wide.columns = [prefix + str(c) for c in wide.columns]
    wide.index.name = _ID
    if wide.columns.duplicated().any():
        dups = wide.columns[wide.columns.duplicated()].tolist()
        raise FeatureTableError(
            f"the {group} table gives duplicated column names after pivoting: {dups[:10]}",
            fix="make feature names unique per (label, modality, timepoint)",
        )
    return wide


def _check_missing(df: pd.DataFrame, group: str) -> None:
    if group == "clinical" or df.shape[1] == 0:
        return
    values = df.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        cols = df.columns[bad.any(axis=0)].tolist()
        pats = df.index[bad.any(axis=1)].tolist()
        raise FeatureTableError(
            f"the {group} table has missing or infinite values in {len(cols)} column(s) "
            f"{cols[:5]}{' ...' if len(cols) > 5 else ''} for patient(s) {pats[:10]}"
            f"{' ...' if len(pats) > 10 else ''} (a long table also gives missing values when a "
            "patient lacks a (label, modality, timepoint) that others have)",
            fix="recompute or drop those features/patients, or pass allow_missing=True and "
            "impute inside the pipeline",
        )


def design_matrix(
    features: pd.DataFrame | None = None,
    embeddings: pd.DataFrame | None = None,
    clinical: pd.DataFrame | None = None,
    *,
    batch: pd.Series | Mapping | None = None,
    how: str = "inner",
    allow_missing: bool = False,
) -> pd.DataFrame:
    """Fuse radiomics, embeddings and clinical variables into one row per patient.

    Parameters
    ----------
    features
        Radiomic features, long (``patient_id`` plus any of ``label``, ``modality``,
        ``timepoint`` and one numeric column per feature) or wide (one row per patient, with a
        ``patient_id`` column or index).
    embeddings
        CNN embeddings, long or wide like ``features``.
    clinical
        Patient-level clinical variables (wide), any dtype; missing values are allowed and are
        imputed by :class:`radiopredict.preprocess.ClinicalPreprocessor` inside the folds.
    batch
        Optional scanner / site per patient (Series indexed by ``patient_id`` or a mapping), put
        in an unprefixed ``batch`` column for :class:`radiopredict.harmonize.ComBat`.
    how
        ``"inner"``: keep the patients present in every source and warn naming the dropped ones;
        ``"strict"``: raise an error listing the patients missing from any source.
    allow_missing
        When False (the default) a missing or infinite radiomics / embedding value is an error
        naming the columns and patients.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``patient_id`` (in the order of the first source given), columns prefixed
        ``rad__`` / ``emb__`` / ``clin__`` (see the module docstring); ``attrs["column_groups"]``
        holds :func:`column_groups` of the result.

    Raises
    ------
    FeatureTableError
        Patients missing from a source (strict), no patient in common, duplicated keys or
        columns, non-numeric features, missing feature values.
    ConfigError
        No source given, or an invalid ``how``.
    """
    if how not in ("inner", "strict"):
        raise ConfigError(f"how must be 'inner' or 'strict', got {how!r}", fix="use how='inner'")
    sources: dict[str, pd.DataFrame] = {}
    for group, table in (
        ("radiomics", features),
        ("embedding", embeddings),
        ("clinical", clinical),
    ):
        wide = _wide(table, group)
        if wide is not None:
            if not allow_missing:
                _check_missing(wide, group)
            sources[group] = wide
    if batch is not None:
        b = pd.Series(batch) if isinstance(batch, Mapping) else pd.Series(batch).copy()
        b.index = b.index.astype(str)
        if b.index.duplicated().any():
            raise FeatureTableError(
                f"batch has several values for patient(s) {b.index[b.index.duplicated()].tolist()[:10]}",
                fix="give one batch (scanner / site) per patient",
            )
        if b.isna().any():
            raise FeatureTableError(
                f"batch is missing for patient(s) {b.index[b.isna()].tolist()[:10]}",
                fix="fill in the scanner / site of every patient",
            )
        sources["batch"] = b.rename("batch").to_frame()
    if not sources:
        raise ConfigError(
            "design_matrix needs at least one of features, embeddings or clinical",
            fix="pass a feature table",
        )
    first = next(iter(sources.values()))
    all_ids = list(dict.fromkeys(i for df in sources.values() for i in df.index))
    missing = {name: [i for i in all_ids if i not in set(df.index)] for name, df in sources.items()}
    missing = {k: v for k, v in missing.items() if v}
    if missing:
        text = "; ".join(
            f"missing from {k}: {v[:20]}{' ...' if len(v) > 20 else ''} ({len(v)})"
            for k, v in missing.items()
        )
        if how == "strict":
            raise FeatureTableError(
                f"patients are not aligned across sources: {text}",
                fix="compute the missing tables for these patients, or use how='inner' to drop "
                "them",
            )
        warnings.warn(
            f"design_matrix dropped patients not present in every source: {text}",
            UserWarning,
            stacklevel=2,
        )
    keep = [i for i in first.index if all(i in set(df.index) for df in sources.values())]
    if not keep:
        raise FeatureTableError(
            "no patient is present in every source",
            fix="check that patient_id values are spelled the same in every table",
        )
    out = pd.concat([df.loc[keep] for df in sources.values()], axis=1)
    out.index.name = _ID
    if out.columns.duplicated().any():
        raise FeatureTableError(
            f"duplicated columns across sources: {out.columns[out.columns.duplicated()].tolist()}",
            fix="rename the columns",
        )
    groups = column_groups(out)
    out.attrs["column_groups"] = {g: cols for g, cols in groups.items() if g != "other"}
    return out


# ----------------------------------------------------------------------------------------------
# private base shared by the transformers of radiopredict.preprocess / harmonize / select


def _output_is_pandas(estimator) -> bool:
    try:
        from sklearn.utils._set_output import _get_output_config

        return _get_output_config("transform", estimator)["dense"] == "pandas"
    except Exception:  # pragma: no cover - older / newer scikit-learn
        from sklearn import get_config

        return get_config().get("transform_output") == "pandas"


def _check_finite(df: pd.DataFrame, cols: Sequence[str], owner: str) -> None:
    """Raise a ValueError naming the non-numeric columns and the columns with NaN / inf."""
    if not len(cols):
        return
    cols = list(cols)
    # selecting every column (the usual case) needs no copy; dtypes are checked in one pass,
    # not column by column (that was the main cost of a selector's fit on ~1000 features)
    sub = df if cols == list(df.columns) else df[cols]
    bad_type = [c for c, dt in sub.dtypes.items() if not pd.api.types.is_numeric_dtype(dt)]
    if bad_type:
        raise ConfigError(
            f"{owner}: {len(bad_type)} column(s) are not numeric: {bad_type[:10]}",
            fix="one-hot encode them first (ClinicalPreprocessor) or leave them out of `columns`",
        )
    values = sub.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        cols_bad = sub.columns[bad.any(axis=0)].tolist()
        rows_bad = [str(i) for i in sub.index[bad.any(axis=1)][:10]]
        raise FeatureTableError(
            f"{owner}: NaN or infinite values (Input contains NaN) in {len(cols_bad)} column(s) "
            f"{cols_bad[:10]}{' ...' if len(cols_bad) > 10 else ''} for rows {rows_bad}",
            fix="drop or recompute these features, or impute them before this step",
        )


class _FrameTransformer:
    """Mixin: validate ``X`` into a DataFrame with stable column names and wrap the output.

    Inputs may be DataFrames (any dtypes, names kept) or arrays (named ``x0, x1, ...``). A
    DataFrame input gives a DataFrame output (same index, dtypes kept), so column names and
    groups flow through a Pipeline without configuration; an array input gives an array, or a
    DataFrame after ``set_output(transform="pandas")``.
    """

    _numpy_dtype: object = "numeric"

    def _frame(self, X, *, reset: bool) -> pd.DataFrame:
        from sklearn.utils.validation import validate_data

        owner = type(self).__name__
        if isinstance(X, pd.DataFrame):
            X = X.copy()
            X.columns = [str(c) for c in X.columns]
            if not reset and hasattr(self, "feature_names_in_"):
                expected = [str(c) for c in self.feature_names_in_]
                missing = [c for c in expected if c not in X.columns]
                if missing:
                    raise ConfigError(
                        f"{owner}: {len(missing)} column(s) seen at fit are missing: "
                        f"{missing[:10]}",
                        fix="transform data with the same columns as the training data",
                    )
                X = X[expected]
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] < 1:
                raise ConfigError(f"{owner}: 0 sample(s) given", fix="pass at least one row")
            return X
        arr = validate_data(self, X, reset=reset, dtype=self._numpy_dtype, ensure_all_finite=False)
        names = (
            [str(c) for c in self.feature_names_in_]
            if hasattr(self, "feature_names_in_")
            else [f"x{i}" for i in range(arr.shape[1])]
        )
        return pd.DataFrame(arr, columns=names).infer_objects()

    def _output(self, df: pd.DataFrame, X):
        """DataFrame in (or ``set_output(transform="pandas")``) -> DataFrame out, else ndarray."""
        if isinstance(X, pd.DataFrame) or _output_is_pandas(self):
            return df
        return df.to_numpy()

    def _input_names(self, input_features=None) -> np.ndarray:
        from sklearn.utils.validation import _check_feature_names_in

        return np.asarray(_check_feature_names_in(self, input_features), dtype=object)
