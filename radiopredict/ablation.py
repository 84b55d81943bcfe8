"""Ablation of a binary model: which inputs (clinical, radiomics, CNN) earn their place.

:func:`run_ablation` cross-validates, on the same outer folds, the models

==========================  =====================================================================
``clinical``                logistic model on the clinical columns
``radiomics``               logistic model on the radiomic columns
``cnn``                     the CNN alone (its probability)
``radiomics+clinical``      logistic model on both tables (the reference row)
``cnn+clinical``            late fusion: the CNN logit as one column next to clinical variables
``all (late)``              late fusion: CNN logit + radiomics + clinical
``all (intermediate)``      intermediate fusion: PCA of the CNN's penultimate embedding +
                            radiomics + clinical
==========================  =====================================================================

Inside every outer training fold the CNN is trained on that fold only; the late-fusion stacker is
fitted on *inner out-of-fold* CNN logits (``inner_cv`` folds of the outer training set), and the
outer test rows get the logit of the CNN trained on the whole outer training set. The
intermediate model uses that CNN's embedding with a PCA fitted inside the pipeline. Without
crops (``crops=None``) the CNN rows are left out.

Every model is scored on its pooled out-of-fold predictions: AUC with a DeLong CI and a patient
bootstrap CI, and the paired difference against ``radiomics+clinical`` with a paired bootstrap
CI and DeLong's test for correlated AUCs (DeLong et al. 1988, fast algorithm of Sun & Xu 2014).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiopredict.errors import ConfigError
from radiopredict.targets import check_binary_target

__all__ = ["run_ablation", "delong_auc", "delong_paired", "AblationResult", "REFERENCE"]

REFERENCE = "radiomics+clinical"


def _midrank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = len(x)
    ranks = np.zeros(n)
    i = 0
    while i < n:
        j = i
        while j < n and xs[j] == xs[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(n)
    out[order] = ranks
    return out


def _delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance for ``scores`` of shape (k, n)."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    k = scores.shape[0]
    tx = np.array([_midrank(p) for p in pos])
    ty = np.array([_midrank(q) for q in neg])
    tz = np.array([_midrank(s) for s in np.hstack([pos, neg])])
    auc = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    sx = np.cov(v01).reshape(k, k)
    sy = np.cov(v10).reshape(k, k)
    return auc, sx / m + sy / n


def _check_scores(y, *scores) -> tuple[np.ndarray, np.ndarray]:
    y = check_binary_target(np.asarray(y))
    s = np.vstack([np.asarray(v, dtype=float) for v in scores])
    if s.shape[1] != len(y) or not np.all(np.isfinite(s)):
        raise ConfigError(
            f"scores must be finite and have one value per patient ({len(y)})",
            fix="pass out-of-fold predictions aligned with y",
        )
    if y.min() == y.max():
        raise ConfigError("AUC needs both classes in y", fix="check the target")
    return y, s


def delong_auc(y, score, *, level: float = 0.95) -> tuple[float, float, float]:
    """AUC of ``score`` and its DeLong confidence interval ``(auc, low, high)``."""
    y, s = _check_scores(y, score)
    auc, cov = _delong(y, s)
    z = norm.ppf(0.5 + level / 2.0)
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    return float(auc[0]), max(0.0, float(auc[0]) - z * se), min(1.0, float(auc[0]) + z * se)


def delong_paired(y, score_a, score_b, *, level: float = 0.95) -> dict[str, float]:
    """DeLong's test of ``AUC(a) - AUC(b)`` for two scores of the same patients.

    Returns
    -------
    dict
        ``diff``, ``ci_low``, ``ci_high`` (normal CI from the DeLong variance) and the two-sided
        ``p_value``.
    """
    y, s = _check_scores(y, score_a, score_b)
    auc, cov = _delong(y, s)
    diff = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = np.sqrt(max(var, 0.0))
    z = norm.ppf(0.5 + level / 2.0)
    p = float(2 * norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return {"diff": diff, "ci_low": diff - z * se, "ci_high": diff + z * se, "p_value": p}


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


class AblationResult:
    """Result of :func:`run_ablation`.

    Attributes
    ----------
    table
        One row per model: ``model``, ``auc`` (pooled out-of-fold), ``auc_delong_low/high``,
        ``auc_boot_low/high``, ``auc_fold_mean``, ``auc_fold_sd``, ``diff_vs_reference``,
        ``diff_boot_low/high``, ``diff_delong_low/high``, ``delong_p``, ``n_folds``.
    predictions
        Out-of-fold scores, one column per model, indexed like the input tables.
    folds
        Outer fold number of every patient.
    cnn_fit_cpu_seconds
        CPU seconds of the CNN fit on each whole outer training fold (empty without the CNN).
    """

    def __init__(
        self,
        table: pd.DataFrame,
        predictions: pd.DataFrame,
        folds: np.ndarray,
        cnn_fit_cpu_seconds: list[float] | None = None,
    ):
        self.table = table
        self.predictions = predictions
        self.folds = folds
        self.cnn_fit_cpu_seconds = list(cnn_fit_cpu_seconds or [])

    def __repr__(self) -> str:
        return f"AblationResult(\n{self.table.to_string(index=False)}\n)"


def _tabular(C: float = 0.1):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))


def run_ablation(
    y,
    *,
    clinical: pd.DataFrame,
    radiomics: pd.DataFrame,
    crops: np.ndarray | None = None,
    cnn: Any = None,
    embeddings: pd.DataFrame | None = None,
    cv: Any = 5,
    inner_cv: int = 3,
    n_components: int = 8,
    tabular_C: float = 0.1,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
) -> AblationResult:
    """Cross-validate the ablation models of a binary task on the same folds (see module doc).

    Parameters
    ----------
    y
        Binary target (0/1), one per row of the tables.
    clinical, radiomics
        Numeric tables with the same row order as ``y`` (one row per patient).
    crops
        ROI crops ``(n, channels, z, y, x)`` (:func:`radiopredict.models.cohort_crops`);
        ``None`` drops the CNN rows.
    cnn
        An unfitted :class:`~radiopredict.models.CNNClassifier` (cloned for every fit).
    embeddings
        Optional unsupervised CNN embeddings (one row per patient, learnt without the outcome,
        e.g. the study's autoencoder): adds the rows ``embeddings`` and
        ``embeddings+radiomics+clinical`` (logistic models on the standardised tables).
    cv
        Number of stratified outer folds, or a scikit-learn splitter.
    inner_cv
        Inner folds for the out-of-fold CNN logits of the late-fusion stacker.
    n_components
        PCA components of the CNN embedding (intermediate fusion).
    tabular_C
        Inverse L2 strength of the logistic models (inputs standardised).
    n_bootstrap, level, random_state
        Bootstrap resamples of patients, CI level, seed of the folds and the bootstrap.

    Returns
    -------
    AblationResult
    """
    y = check_binary_target(np.asarray(y))
    n = len(y)
    tables = {"clinical": clinical, "radiomics": radiomics}
    for name, t in tables.items():
        if len(t) != n:
            raise ConfigError(
                f"{name} has {len(t)} rows but y has {n}", fix="align the tables with y"
            )
        if not np.all(np.isfinite(np.asarray(t, dtype=float))):
            raise ConfigError(f"{name} holds NaN or infinite values", fix="impute or drop them")
    if embeddings is not None:
        if len(embeddings) != n:
            raise ConfigError(
                f"embeddings has {len(embeddings)} rows but y has {n}",
                fix="align the tables with y",
            )
        if not np.all(np.isfinite(np.asarray(embeddings, dtype=float))):
            raise ConfigError("embeddings holds NaN or infinite values", fix="impute or drop them")
    C_ = np.asarray(clinical, dtype=float)
    R_ = np.asarray(radiomics, dtype=float)
    E_ = None if embeddings is None else np.asarray(embeddings, dtype=float)
    use_cnn = crops is not None
    if use_cnn and cnn is None:
        raise ConfigError("crops were given but no cnn", fix="pass cnn=CNNClassifier(...)")
    if use_cnn and len(crops) != n:
        raise ConfigError(f"crops has {len(crops)} rows but y has {n}", fix="align crops with y")
    splitter = (
        StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
        if isinstance(cv, (int, np.integer))
        else cv
    )
    names = ["clinical", "radiomics", REFERENCE]
    if E_ is not None:
        names += ["embeddings", "embeddings+radiomics+clinical"]
    if use_cnn:
        names += ["cnn", "cnn+clinical", "all (late)", "all (intermediate)"]
    oof = {k: np.full(n, np.nan) for k in names}
    folds = np.full(n, -1)
    fold_auc: dict[str, list[float]] = {k: [] for k in names}
    nc, nr = C_.shape[1], R_.shape[1]
    cpu_s: list[float] = []
    for k, (tr, te) in enumerate(splitter.split(np.zeros((n, 1)), y)):
        folds[te] = k
        blocks = {
            "clinical": C_,
            "radiomics": R_,
            REFERENCE: np.hstack([R_, C_]),
        }
        if E_ is not None:
            blocks["embeddings"] = E_
            blocks["embeddings+radiomics+clinical"] = np.hstack([E_, R_, C_])
        for name, Xb in blocks.items():
            m = _tabular(tabular_C).fit(Xb[tr], y[tr])
            oof[name][te] = m.decision_function(Xb[te])
        if use_cnn:
            full = clone(cnn).fit(crops[tr], y[tr])
            cpu_s.append(float(getattr(full, "fit_cpu_seconds_", np.nan)))
            score_te = full.decision_function(crops[te])
            inner = StratifiedKFold(inner_cv, shuffle=True, random_state=random_state)
            score_tr = cross_val_predict(
                clone(cnn), crops[tr], y[tr], cv=inner, method="decision_function"
            )
            oof["cnn"][te] = score_te
            for name, tab in (("cnn+clinical", C_), ("all (late)", np.hstack([R_, C_]))):
                m = _tabular(tabular_C).fit(np.column_stack([score_tr, tab[tr]]), y[tr])
                oof[name][te] = m.decision_function(np.column_stack([score_te, tab[te]]))
            E_tr, E_te = full.transform(crops[tr]), full.transform(crops[te])
            d = E_tr.shape[1]
            inter = make_pipeline(
                ColumnTransformer(
                    [
                        (
                            "cnn",
                            make_pipeline(
                                StandardScaler(),
                                PCA(min(n_components, d, len(tr) - 1), random_state=0),
                            ),
                            list(range(d)),
                        ),
                        ("tab", StandardScaler(), list(range(d, d + nr + nc))),
                    ]
                ),
                LogisticRegression(C=tabular_C, max_iter=2000),
            )
            inter.fit(np.hstack([E_tr, R_[tr], C_[tr]]), y[tr])
            oof["all (intermediate)"][te] = inter.decision_function(
                np.hstack([E_te, R_[te], C_[te]])
            )
        for name in names:
            if len(np.unique(y[te])) == 2:
                fold_auc[name].append(_auc(y[te], oof[name][te]))
    rng = np.random.default_rng(random_state)
    boot = []
    while len(boot) < n_bootstrap:
        idx = rng.integers(0, n, n)
        if y[idx].min() != y[idx].max():
            boot.append(idx)
    alpha = (1 - level) / 2
    ref = oof[REFERENCE]
    ref_boot = np.array([_auc(y[i], ref[i]) for i in boot])
    rows = []
    for name in names:
        s = oof[name]
        auc, lo, hi = delong_auc(y, s, level=level)
        b = np.array([_auc(y[i], s[i]) for i in boot])
        row = {
            "model": name,
            "auc": auc,
            "auc_delong_low": lo,
            "auc_delong_high": hi,
            "auc_boot_low": float(np.quantile(b, alpha)),
            "auc_boot_high": float(np.quantile(b, 1 - alpha)),
            "auc_fold_mean": float(np.mean(fold_auc[name])),
            "auc_fold_sd": float(np.std(fold_auc[name], ddof=1))
            if len(fold_auc[name]) > 1
            else 0.0,
        }
        if name == REFERENCE:
            row.update(
                diff_vs_reference=0.0,
                diff_boot_low=0.0,
                diff_boot_high=0.0,
                diff_delong_low=0.0,
                diff_delong_high=0.0,
                delong_p=1.0,
            )
        else:
            diff = b - ref_boot
            dl = delong_paired(y, s, ref, level=level)
            row.update(
                diff_vs_reference=auc - _auc(y, ref),
                diff_boot_low=float(np.quantile(diff, alpha)),
                diff_boot_high=float(np.quantile(diff, 1 - alpha)),
                diff_delong_low=dl["ci_low"],
                diff_delong_high=dl["ci_high"],
                delong_p=dl["p_value"],
            )
        row["n_folds"] = len(fold_auc[name])
        rows.append(row)
    index = clinical.index if isinstance(clinical, pd.DataFrame) else None
    preds = pd.DataFrame(oof, index=index)[names]
    return AblationResult(pd.DataFrame(rows), preds, folds, cpu_s)
