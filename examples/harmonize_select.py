"""Fuse radiomics, embeddings and clinical data; harmonise and select inside the folds.

A simulated three-scanner cohort: a long radiomics table (two labels per patient, with a
scanner shift and redundant features), CNN embeddings and clinical variables are fused into one
design matrix; a Pipeline [near-constant filter -> clinical preprocessing -> ComBat ->
correlation clusters -> univariate AUC ranking -> PCA of the embeddings -> logistic regression]
is cross-validated with folds stratified on the scanner, so every step is fitted on the training
rows only.

Usage: ``python examples/harmonize_select.py [OUT_DIR]`` (a temporary folder by default). Writes
``OUT_DIR/selected_features.csv`` and ``OUT_DIR/site_effect.csv``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.fuse import column_groups, design_matrix
from radiopredict.harmonize import ComBat
from radiopredict.preprocess import ClinicalPreprocessor
from radiopredict.select import (
    CorrelationClusterSelector,
    GroupPCA,
    UnivariateSelector,
    VarianceFilter,
)


def simulate(n: int = 150, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    scanner = rng.choice(["siteA", "siteB", "siteC"], n)
    age = rng.normal(62, 9, n).round()
    sex = rng.choice(["F", "M"], n)
    latent = rng.normal(size=(n, 4))  # biology
    y = (latent[:, 0] + 0.5 * latent[:, 1] + rng.normal(scale=0.8, size=n) > 0).astype(int)
    shift = pd.Series({"siteA": 0.0, "siteB": 1.5, "siteC": -1.0})[scanner].to_numpy()
    scale = pd.Series({"siteA": 1.0, "siteB": 1.8, "siteC": 0.6})[scanner].to_numpy()
    rows = []
    for label, weight in (("tumour", 1.0), ("node", 0.5)):
        feats = {}
        for k in range(4):  # four groups of five correlated features each
            for j in range(5):
                signal = weight * latent[:, k] + 0.02 * age + 0.3 * rng.normal(size=n)
                feats[f"feat{k}_{j}"] = signal * scale + shift
        feats["const_flag"] = np.ones(n)
        rows.append(pd.DataFrame({"patient_id": ids, "label": label, "modality": "CT", **feats}))
    radiomics = pd.concat(rows, ignore_index=True)
    embeddings = pd.DataFrame(
        latent[:, :2] @ rng.normal(size=(2, 32)) + rng.normal(size=(n, 32)),
        index=pd.Index(ids, name="patient_id"),
        columns=[f"e{i:02d}" for i in range(32)],
    )
    clinical = pd.DataFrame({"patient_id": ids, "age": age, "sex": sex})
    clinical.loc[rng.choice(n, 8, replace=False), "age"] = np.nan  # imputed inside the folds
    return radiomics, embeddings, clinical, pd.Series(scanner, index=ids), y


def site_effect(X: pd.DataFrame, cols: list[str], batch: pd.Series) -> float:
    """Fraction of the features' variance explained by the scanner (mean eta squared)."""
    z = X[cols]
    between = z.groupby(batch.to_numpy()).transform("mean")
    return float(((between - z.mean()) ** 2).sum().div(((z - z.mean()) ** 2).sum()).mean())


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    radiomics, embeddings, clinical, scanner, y = simulate()
    X = design_matrix(radiomics, embeddings, clinical, batch=scanner, how="strict")
    groups = column_groups(X)
    print(f"design matrix {X.shape}: " + ", ".join(f"{g} {len(c)}" for g, c in groups.items() if c))

    pipe = make_pipeline(
        VarianceFilter(),  # drops the constant rad__ columns (ComBat refuses them)
        ClinicalPreprocessor(),  # impute, one-hot, scale the clin__ columns
        ComBat(batch_col="batch", continuous_covariates=["clin__age"]),  # rad__ columns
        CorrelationClusterSelector(threshold=0.8),
        UnivariateSelector(k=4, scoring="auc"),
        GroupPCA("embedding", n_components=3, random_state=0),
        StandardScaler(),
        LogisticRegression(C=0.5),
    )
    # every training fold must contain every scanner: stratify the folds on the scanner
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, X["batch"]))
    auc = cross_val_score(pipe, X, y, cv=folds, scoring="roc_auc", error_score="raise")
    print(f"5-fold AUC, everything fitted inside the folds: {auc.mean():.3f} +- {auc.std():.3f}")

    pipe.fit(X, y)
    harmonised = pipe[:3].transform(X)
    rad = groups["radiomics"]
    rad = [c for c in rad if not c.endswith("const_flag")]
    effect = pd.DataFrame(
        {
            "stage": ["raw", "after ComBat"],
            "scanner_eta2": [
                site_effect(X, rad, X["batch"]),
                site_effect(harmonised, rad, X["batch"]),
            ],
        }
    )
    print(effect.to_string(index=False))
    effect.to_csv(out_dir / "site_effect.csv", index=False)

    selected = pipe[:-2].get_feature_names_out()
    table = pd.DataFrame({"feature": selected, "coefficient": pipe[-1].coef_.ravel()})
    table.to_csv(out_dir / "selected_features.csv", index=False)
    print(f"{len(selected)} model inputs, e.g. {list(selected[:6])}")
    print(f"wrote {out_dir / 'selected_features.csv'} and {out_dir / 'site_effect.csv'}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="rp_sel_"))
    main(target)
