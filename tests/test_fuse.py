"""Design matrix: pivoting, prefixes / column groups, patient alignment and every bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from radiopredict.errors import ConfigError, FeatureTableError
from radiopredict.fuse import column_groups, design_matrix, group_columns

IDS = ["P1", "P2", "P3", "P4"]


def _long():
    rows = []
    for i, pid in enumerate(IDS):
        for label in ("tumour", "node"):
            rows.append(
                {
                    "patient_id": pid,
                    "label": label,
                    "modality": "CT",
                    "timepoint": "baseline",
                    "morph_volume": 10.0 * i + (label == "node"),
                    "stat_mean": float(i),
                }
            )
    return pd.DataFrame(rows)


def _emb():
    return pd.DataFrame(
        np.arange(12, dtype=float).reshape(4, 3),
        index=pd.Index(IDS, name="patient_id"),
        columns=["e0", "e1", "e2"],
    )


def _clin():
    return pd.DataFrame({"patient_id": IDS, "age": [50, np.nan, 70, 80], "sex": list("FMFM")})


def test_long_table_pivoted_with_documented_names_and_groups():
    X = design_matrix(_long(), _emb(), _clin())
    assert list(X.index) == IDS
    assert X.index.name == "patient_id"
    assert list(X.columns[:4]) == [
        "rad__tumour__CT__baseline__morph_volume",
        "rad__tumour__CT__baseline__stat_mean",
        "rad__node__CT__baseline__morph_volume",
        "rad__node__CT__baseline__stat_mean",
    ]
    assert X.loc["P3", "rad__node__CT__baseline__morph_volume"] == 21.0
    groups = column_groups(X)
    assert groups["embedding"] == ["emb__e0", "emb__e1", "emb__e2"]
    assert groups["clinical"] == ["clin__age", "clin__sex"]
    assert X.attrs["column_groups"]["radiomics"] == groups["radiomics"]
    # clinical NaN is allowed (imputed later), dtypes kept
    assert np.isnan(X.loc["P2", "clin__age"]) and X["clin__sex"].dtype == object


def test_groups_survive_loss_of_attrs_and_numpy_round_trip():
    X = design_matrix(_long(), _emb())
    plain = pd.DataFrame(X.to_numpy(), columns=X.columns)
    assert plain.attrs == {}
    assert column_groups(plain) == column_groups(X)
    assert column_groups(np.asarray(X.columns))["embedding"] == ["emb__e0", "emb__e1", "emb__e2"]


def test_long_table_without_key_columns_in_names_and_wide_table():
    long = _long().drop(columns=["modality", "timepoint"])
    X = design_matrix(long)
    assert X.columns[0] == "rad__tumour__morph_volume"
    wide = pd.DataFrame({"patient_id": IDS, "glcm_x": [1.0, 2, 3, 4]})
    assert list(design_matrix(wide).columns) == ["rad__glcm_x"]


def test_clinical_table_is_never_pivoted():
    clin = _clin().assign(label=["a", "b", "a", "b"])
    X = design_matrix(_long(), clinical=clin)
    assert list(X.filter(like="clin__").columns) == ["clin__age", "clin__sex", "clin__label"]


def test_integer_and_string_ids_align():
    feats = pd.DataFrame({"patient_id": [1, 2, 3], "f": [1.0, 2.0, 3.0]})
    clin = pd.DataFrame({"age": [30, 40, 50]}, index=pd.Index(["3", "2", "1"], name="patient_id"))
    X = design_matrix(feats, clinical=clin)
    assert list(X.index) == ["1", "2", "3"]
    assert list(X["clin__age"]) == [50, 40, 30]


def test_strict_lists_missing_patients_inner_warns_and_drops():
    clin = _clin().iloc[:3]  # P4 missing
    emb = _emb().drop(index="P1")
    with pytest.raises(FeatureTableError, match=r"missing from clinical: \['P4'\]") as info:
        design_matrix(_long(), emb, clin, how="strict")
    assert "missing from embedding: ['P1']" in str(info.value)
    with pytest.warns(UserWarning, match=r"P4") as rec:
        X = design_matrix(_long(), emb, clin, how="inner")
    assert "P1" in str(rec[0].message)
    assert list(X.index) == ["P2", "P3"]


def test_no_common_patient_and_no_source_and_bad_how():
    with (
        pytest.raises(FeatureTableError, match="no patient is present"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        design_matrix(_long(), clinical=pd.DataFrame({"patient_id": ["X"], "age": [1]}))
    with pytest.raises(ConfigError, match="at least one"):
        design_matrix()
    with pytest.raises(ConfigError, match="how must be"):
        design_matrix(_long(), how="outer")


def test_duplicated_keys_and_columns_are_errors():
    long = pd.concat([_long(), _long().iloc[:1]])
    with pytest.raises(FeatureTableError, match="repeated key"):
        design_matrix(long)
    wide = pd.DataFrame([[1.0, 2.0]], columns=["f", "f"])
    wide.insert(0, "patient_id", ["P1"])
    with pytest.raises(FeatureTableError, match="duplicated column names"):
        design_matrix(wide)
    dup_rows = pd.DataFrame({"patient_id": ["P1", "P1"], "f": [1.0, 2.0]})
    with pytest.raises(FeatureTableError, match="several rows for patient"):
        design_matrix(dup_rows)


def test_non_numeric_features_named():
    long = _long()
    long["shape_class"] = "round"
    with pytest.raises(FeatureTableError, match="non-numeric.*shape_class"):
        design_matrix(long)


def test_missing_feature_values_named_unless_allowed():
    long = _long()
    long.loc[3, "stat_mean"] = np.nan  # P2 node
    with pytest.raises(FeatureTableError, match=r"rad__node__CT__baseline__stat_mean.*P2"):
        design_matrix(long)
    # a patient without a node row gives missing columns too
    partial = _long().drop(index=[7])
    with pytest.raises(FeatureTableError, match=r"P4"):
        design_matrix(partial)
    X = design_matrix(partial, allow_missing=True)
    assert X.loc["P4"].isna().sum() == 2


def test_missing_patient_id_is_error():
    with pytest.raises(FeatureTableError, match="no 'patient_id'"):
        design_matrix(pd.DataFrame({"f": [1.0, 2.0]}))
    with pytest.raises(FeatureTableError, match="rows without patient_id"):
        design_matrix(pd.DataFrame({"patient_id": ["a", None], "f": [1.0, 2.0]}))
    with pytest.raises(ConfigError, match="must be a pandas DataFrame"):
        design_matrix(np.zeros((2, 2)))


def test_batch_column_and_its_errors():
    X = design_matrix(_long(), batch={"P1": "A", "P2": "A", "P3": "B", "P4": "B"})
    assert list(X["batch"]) == ["A", "A", "B", "B"]
    assert column_groups(X)["other"] == ["batch"]
    with pytest.raises(FeatureTableError, match=r"batch is missing for patient\(s\) \['P2'\]"):
        design_matrix(_long(), batch=pd.Series(["A", None, "B", "B"], index=IDS))
    with pytest.raises(FeatureTableError, match=r"missing from batch: \['P4'\]"):
        design_matrix(_long(), batch={"P1": "A", "P2": "A", "P3": "B"}, how="strict")


def test_group_columns_resolution_and_errors():
    X = design_matrix(_long(), _emb(), _clin())
    assert group_columns(X, "embedding") == ["emb__e0", "emb__e1", "emb__e2"]
    assert group_columns(X, ["clinical", "emb__e1"]) == ["emb__e1", "clin__age", "clin__sex"]
    assert group_columns(X, None) == list(X.columns)
    with pytest.raises(ConfigError, match="neither a column group"):
        group_columns(X, "radiomic")
    with pytest.raises(ConfigError, match="group 'embedding' has no column"):
        group_columns(design_matrix(_long()), "embedding")
