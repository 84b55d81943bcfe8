"""The stages of a study as plain functions: data in, data out.

:func:`radiopredict.study.run_study` (development) and :meth:`radiopredict.StudyModel.predict`
(new patients) call the same functions, so nothing is re-implemented for prediction:

============================  ===========================================================
stage                         function
============================  ===========================================================
ROI / label selection         :func:`select_label`
segmentation (train / apply)  :func:`train_segmentation`, :func:`segment`
radiomic features             :func:`feature_settings`, :func:`extract_features`
CNN embeddings (train/apply)  :func:`train_encoder`, :func:`embed`
design matrix                 :func:`design`
model pipeline                :func:`build_pipeline`
============================  ===========================================================
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import ConfigError

__all__ = [
    "select_label",
    "train_segmentation",
    "segment",
    "feature_settings",
    "extract_features",
    "undefined_features",
    "train_encoder",
    "embed",
    "design",
    "build_pipeline",
    "benefit_estimator",
    "ablation",
    "crop_settings",
]


def select_label(cohort, label: Any):
    """The cohort with every case's label replaced by ``label`` (None: keep the manifest's;
    ``"all"``: every non-zero voxel of the mask)."""
    if label is None:
        return cohort
    from radiopredict.cohort import Cohort

    value = None if str(label) == "all" else label
    return Cohort.from_dataframe(cohort.table.assign(label=value), root=cohort.root)


def train_segmentation(cohort, section, *, seed: int, progress: bool = True):
    """Train the study's U-Net on a random ``section.train_fraction`` of the patients.

    Returns
    -------
    (SegmentationModel, list of str)
        The model (its ``patch_size`` already set to the inference patch) and the training
        patients.
    """
    from radiopredict.segment import Preprocessing, TrainSettings, UNetConfig, train_unet

    rng = np.random.default_rng(seed)
    ids = list(cohort.patient_ids)
    rng.shuffle(ids)
    n_train = max(2, int(round(section.train_fraction * len(ids))))
    train = cohort.subset(ids[:n_train])
    config = UNetConfig(spatial_dims=3, base_filters=section.base_filters, depth=section.depth)
    settings = TrainSettings(
        patch_size=section.patch_size,
        max_epochs=section.epochs,
        seed=seed,
        time_budget_s=section.time_budget_s,
        batch_size=4,
        steps_per_epoch=20,
        val_fraction=0.1,
        val_every=5,
        patience=15,
    )
    prep = (
        Preprocessing(intensity="window", window=section.window)
        if section.window
        else Preprocessing()
    )
    model = train_unet(train, config, settings, preprocessing=prep, progress_bar=progress)
    return model, ids[:n_train]


def segment(cohort, model, out_dir: Path, *, progress: bool = True, inference_patch=None):
    """Replace every mask of ``cohort`` by the U-Net's prediction (written under ``out_dir``).

    Returns the new cohort; its ``failures`` attribute lists the cases that could not be
    segmented.
    """
    from radiopredict.segment import predict_masks

    if inference_patch is not None:
        model.patch_size = tuple(int(v) for v in inference_patch)
    return predict_masks(
        cohort,
        model,
        out_dir,
        overwrite=True,
        overlap=0.25,
        sw_batch_size=16,
        on_error="record",
        progress_bar=progress,
    )


def feature_settings(value: Any, base: Path):
    """:class:`~radiopredict.features.FeatureSettings` from a preset name, a YAML path
    (relative to ``base``) or a mapping."""
    from radiopredict.features import PRESETS, FeatureSettings

    if isinstance(value, dict):
        return FeatureSettings.from_dict(value)
    if isinstance(value, str) and value in PRESETS:
        return FeatureSettings.preset(value)
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    if path.suffix.lower() in (".yaml", ".yml"):
        return FeatureSettings.from_yaml(path)
    return FeatureSettings.preset(str(value))  # raises with the closest preset name


def extract_features(
    cohort,
    settings,
    engine: str,
    *,
    n_jobs: int = 1,
    cache_dir: Path | None = None,
    progress: bool = True,
):
    """Radiomic features of every case (failures recorded, never raised)."""
    from radiopredict.features.extract import extract

    return extract(
        cohort,
        settings,
        engine,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        on_error="record",
        progress=progress,
    )


def undefined_features(features: pd.DataFrame) -> dict[str, list[str]]:
    """Numeric feature columns with a non-finite value, and the patients concerned."""
    numeric = features.select_dtypes("number")
    out: dict[str, list[str]] = {}
    for c in numeric.columns:
        bad = ~np.isfinite(numeric[c].to_numpy(dtype=float))
        if bad.any():
            out[str(c)] = sorted(
                {str(k[0] if isinstance(k, tuple) else k) for k in numeric.index[bad]}
            )
    return out


def crop_settings(section):
    """The ROI crop of the CNN encoder: ``crop_mm`` cube sampled on ``size`` voxels a side."""
    from radiopredict.embed import CropSettings

    return CropSettings(size_mm=(section.crop_mm,) * 3, shape=(section.size,) * 3)


def train_encoder(cohort, section, *, seed: int, segmentation_model=None):
    """The study's CNN encoder (``embeddings.encoder``) and its ROI crop settings.

    ``autoencoder``: a 3D ResNet trained self-supervised on the cohort's ROI crops (no outcome
    used); ``resnet``: the same ResNet, randomly initialised with ``seed`` (deterministic random
    projections, a baseline); ``unet``: the pooled bottleneck of the study's segmentation U-Net
    (needs ``segmentation.enabled``).

    Returns
    -------
    (Encoder, CropSettings)
    """
    from radiopredict.embed import (
        AutoencoderSettings,
        ResNetConfig,
        ResNetEncoder,
        UNetEncoder,
        train_autoencoder,
    )

    crop = crop_settings(section)
    config = ResNetConfig(base_width=section.width, blocks=(1, 1, 1))
    if section.encoder == "resnet":
        return ResNetEncoder(config, seed=seed), crop
    if section.encoder == "unet":
        if segmentation_model is None:
            raise ConfigError(
                "embeddings.encoder: unet uses the segmentation U-Net, but segmentation is off",
                fix="set segmentation.enabled: true, or use embeddings.encoder: autoencoder",
            )
        return UNetEncoder(segmentation_model), crop
    encoder = train_autoencoder(
        cohort,
        crop,
        config=config,
        settings=AutoencoderSettings(epochs=section.epochs, seed=seed),
        progress_bar=False,
    )
    return encoder, crop


def embed(cohort, encoder, crop, *, cache_dir: Path | None = None) -> pd.DataFrame:
    """CNN embeddings of every case (failing cases listed in ``attrs["failures"]``)."""
    from radiopredict.embed import extract_embeddings

    return extract_embeddings(
        cohort, encoder, crop, cache_dir=cache_dir, on_error="record", progress_bar=False
    )


def design(
    features: pd.DataFrame,
    embeddings: pd.DataFrame | None,
    cohort,
    *,
    with_batch: bool,
    columns: list[str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The design matrix (one row per patient) and the warnings raised while building it.

    With ``columns`` (prediction) the radiomics and embedding columns are those of training:
    extra ones are dropped, absent or undefined ones are NaN (the model's imputation fills
    them); without (development) a feature undefined for any patient is left out.
    """
    from radiopredict.fuse import design_matrix

    table = features
    if columns is None:
        table = table.drop(columns=list(undefined_features(table)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = design_matrix(
            features=table.reset_index(),
            embeddings=None if embeddings is None else embeddings.reset_index(),
            clinical=cohort.clinical(),
            batch=cohort.batch() if with_batch else None,
            allow_missing=columns is not None,
        )
    if columns is not None:
        X = X.reindex(columns=columns)
    return X, [str(w.message) for w in caught]


def build_pipeline(study, X: pd.DataFrame, *, with_batch: bool):
    """The model pipeline: [ComBat] -> clinical preprocessing -> [embedding PCA] -> model."""
    from radiopredict.fuse import column_groups
    from radiopredict.harmonize import ComBat
    from radiopredict.models._pipeline import SurvivalPipeline
    from radiopredict.models.pipelines import candidate_pipelines, default_pipeline
    from radiopredict.preprocess import ClinicalPreprocessor
    from radiopredict.select import GroupPCA, VarianceFilter

    task = study.task
    if study.model.estimator == "default":
        base = default_pipeline(task, random_state=study.seed)
    else:
        names = {
            "coxph": "coxnet",
            "xgb-cox": "xgb_cox",
            "xgb-aft": "xgb_aft",
            "logistic": "enet",
            "xgb": "xgb",
        }
        candidates = candidate_pipelines(task, random_state=study.seed)
        name = names.get(study.model.estimator, study.model.estimator)
        if name not in candidates:
            raise ConfigError(
                f"model.estimator {study.model.estimator!r} is not available for task {task!r}",
                fix=f"use default or one of {sorted(names)}",
            )
        base = candidates[name]
    steps: list[tuple[str, Any]] = []
    groups = column_groups(X)
    if with_batch:
        # ComBat needs features that vary within every batch: drop constant ones first.
        steps.append(("constant", VarianceFilter(threshold=0.0, columns="radiomics")))
        steps.append(("combat", ComBat(batch_col="batch", on_constant="skip")))
    if groups.get("clinical"):
        steps.append(("clinical", ClinicalPreprocessor(drop="if_binary")))
    if groups.get("embedding"):
        steps.append(
            (
                "embedding_pca",
                GroupPCA(
                    columns="embedding",
                    n_components=study.embeddings.n_components,
                    random_state=study.seed,
                ),
            )
        )
    return SurvivalPipeline([*steps, *base.steps])


def benefit_estimator(study, pipeline, horizon: float):
    """The (unfitted) treatment-benefit model of the study over ``pipeline``."""
    from sklearn.base import clone

    from radiopredict.treatment import TreatmentBenefit

    return TreatmentBenefit(
        clone(pipeline),
        learner=study.treatment.learner,
        horizon=horizon,
        propensity=None if study.treatment.propensity == "none" else study.treatment.propensity,
        n_bootstrap=study.treatment.n_bootstrap,
        random_state=study.seed,
    )


def ablation(study, cohort, X: pd.DataFrame, y: np.ndarray, *, with_cnn: bool):
    """The ablation of a response study (:func:`radiopredict.ablation.run_ablation`): clinical,
    radiomics, radiomics + clinical, with unsupervised embeddings the embeddings alone and with
    radiomics + clinical, and with the CNN the CNN alone, CNN + clinical, all (late) and all
    (intermediate), on the same folds.

    The clinical table is the study's clinical preprocessing (imputation, one-hot, scaling)
    fitted on all patients (it uses no outcome); the radiomic columns are the design matrix's.
    """
    from radiopredict.ablation import run_ablation
    from radiopredict.preprocess import ClinicalPreprocessor

    clin = [c for c in X.columns if c.startswith("clin__")]
    rad = [c for c in X.columns if c.startswith("rad__")]
    clinical = (
        ClinicalPreprocessor(drop="if_binary").set_output(transform="pandas").fit_transform(X[clin])
        if clin
        else pd.DataFrame(np.zeros((len(X), 1)), index=X.index, columns=["clin__none"])
    )
    crops = cnn = None
    if with_cnn:
        from radiopredict.embed import CropSettings
        from radiopredict.models import CNNClassifier, cohort_crops

        sec = study.cnn
        crop = CropSettings(
            size_mm=(sec.crop_mm,) * 3, shape=(sec.size,) * 3, include_mask=sec.include_mask
        )
        first = {}  # the patient's first case (the study's ROI after label selection)
        for case in cohort.cases():
            first.setdefault(case.patient_id, case)
        crops = cohort_crops([first[pid] for pid in X.index], crop)
        cnn = CNNClassifier(
            architecture=sec.architecture,
            mode=sec.mode,
            epochs=sec.epochs,
            time_budget_s=sec.time_budget_s,
            validation_fraction=sec.validation_fraction,
            random_state=study.seed,
        )
    emb = [c for c in X.columns if c.startswith("emb__")]
    return run_ablation(
        y,
        clinical=clinical,
        radiomics=X[rad],
        crops=crops,
        cnn=cnn,
        embeddings=X[emb] if emb else None,
        cv=study.model.cv_splits,
        inner_cv=study.cnn.inner_cv,
        n_components=study.cnn.n_components,
        n_bootstrap=study.model.n_bootstrap,
        random_state=study.seed,
    )
