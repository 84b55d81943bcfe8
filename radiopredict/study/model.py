"""A locked study model: everything a new patient needs, fitted once, saved as one bundle.

:class:`StudyModel` holds the ROI / label selection, the feature settings and engine, the
segmentation U-Net (when the study segments), the CNN encoder and its crop settings (when the
study uses embeddings), the fitted pipeline (imputation, harmonisation, selection, model), the
treatment-benefit model and the horizon. :meth:`StudyModel.predict` runs the same stage
functions as the study (:mod:`radiopredict.study.stages`) on new patients.

Rules for new patients
----------------------
- A radiomic or embedding feature that cannot be computed for a new patient is filled with the
  training median of that feature (the model's imputation) and listed per patient in
  ``prediction.undefined``; it never stops the run.
- A patient whose image, mask or label cannot be read, or who lacks a clinical variable the
  model uses, gets a row in ``prediction.failures`` (patient, stage, error, fix); the others
  are scored.
- A site (``batch``) not seen in training is harmonised by ComBat only when at least
  ``new_site_min_patients`` of its patients are scored together: its location and scale are
  then estimated from its own patients with everything else as learnt
  (:meth:`radiopredict.harmonize.ComBat.with_new_batches`). A smaller new site is refused
  patient by patient in ``failures`` naming the site and the fix.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import BundleIntegrityError, ConfigError, ManifestError
from radiopredict.study import stages
from radiopredict.study.settings import Study

__all__ = ["StudyModel", "StudyPrediction", "MODEL_FORMAT_VERSION"]

#: Version of the StudyModel layout inside a bundle; a bundle with another version is refused.
MODEL_FORMAT_VERSION = 2
_KIND = "radiopredict-study-model"
FAILURE_COLUMNS = ["patient_id", "stage", "error", "fix"]


def _failure(pid: Any, stage: str, error: str, fix: str) -> dict[str, str]:
    return {"patient_id": str(pid), "stage": stage, "error": error, "fix": fix}


@dataclass
class StudyPrediction:
    """What :meth:`StudyModel.predict` returns.

    Attributes
    ----------
    predictions
        One row per scored patient (index ``patient_id``). Survival: ``risk``,
        ``survival_at_horizon`` and, with a benefit model, ``survival[arm]``, ``benefit[arm]``
        (with ``_lower`` / ``_upper`` bootstrap limits). Response: ``probability``. Always
        ``n_undefined`` (features filled by the training imputation).
    failures
        One row per patient that could not be scored: ``patient_id, stage, error, fix``.
    undefined
        ``patient_id, feature``: features that could not be computed and were imputed.
    contributions
        Top SHAP contributions per patient: ``patient_id, rank, feature, value, shap``.
    X
        The design matrix the model saw (after imputation), one row per scored patient.
    """

    predictions: pd.DataFrame
    failures: pd.DataFrame
    undefined: pd.DataFrame
    contributions: pd.DataFrame
    X: pd.DataFrame
    extras: dict[str, Any] = field(default_factory=dict)

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``predictions.csv``, ``failures.csv``, ``undefined_features.csv`` and
        ``contributions.csv`` into ``out_dir``; returns name -> path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, table, index in (
            ("predictions", self.predictions, True),
            ("failures", self.failures, False),
            ("undefined_features", self.undefined, False),
            ("contributions", self.contributions, False),
        ):
            path = out / f"{name}.csv"
            tmp = path.with_name(f".{path.name}.tmp")
            table.to_csv(tmp, index=index)
            os.replace(tmp, path)
            paths[name] = path
        return paths


class StudyModel:
    """A study's locked model: fit on a development cohort, predict new patients.

    Parameters
    ----------
    study
        The :class:`~radiopredict.study.Study` settings (a mapping is accepted; its
        ``manifest`` key may be left out). Only the settings that shape the model are used:
        task, horizon, seed, segmentation, features, embeddings, model, treatment and
        ``new_site_min_patients``.

    Examples
    --------
    >>> model = StudyModel({"task": "survival", "horizon": 24}).fit(cohort)  # doctest: +SKIP
    >>> model.save("model_bundle")                                         # doctest: +SKIP
    >>> StudyModel.load("model_bundle").predict(new_cohort).predictions    # doctest: +SKIP
    """

    def __init__(self, study: Study | dict[str, Any] | None = None) -> None:
        if study is None or isinstance(study, dict):
            study = Study.from_dict({"manifest": "", **(study or {})})
        if not isinstance(study, Study):
            raise ConfigError(
                f"StudyModel needs a Study or a mapping of study settings, got {type(study).__name__}",
                fix="pass Study.from_yaml(path) or a dict such as {'task': 'survival'}",
            )
        self.study = study

    # ------------------------------------------------------------------ fit
    def fit(self, cohort, *, work_dir=None, progress: bool = False) -> StudyModel:
        """Learn every piece a new patient needs from ``cohort`` (no cross-validation: see
        :func:`radiopredict.study.run_study` for the validated study).

        Parameters
        ----------
        cohort
            A :class:`radiopredict.Cohort` with outcomes.
        work_dir
            Folder for predicted masks and caches (a temporary folder by default).
        progress
            Show progress bars.
        """
        study = self.study
        with _work_dir(work_dir) as work:
            cohort = stages.select_label(cohort, study.features.label)
            seg_model = None
            if study.segmentation.enabled:
                seg_model, _ = stages.train_segmentation(
                    cohort, study.segmentation, seed=study.seed, progress=progress
                )
                cohort = stages.segment(
                    cohort,
                    seg_model,
                    Path(work) / "masks",
                    progress=progress,
                    inference_patch=study.segmentation.inference_patch_size,
                )
            settings = stages.feature_settings(study.features.settings, Path(study.manifest).parent)
            result = stages.extract_features(
                cohort, settings, study.features.engine, n_jobs=study.n_jobs, progress=progress
            )
            encoder = crop = embeddings = None
            if study.embeddings.enabled:
                encoder, crop = stages.train_encoder(
                    cohort, study.embeddings, seed=study.seed, segmentation_model=seg_model
                )
                embeddings = stages.embed(cohort, encoder, crop)
            with_batch = _has_batches(cohort)
            X, _ = stages.design(result.features, embeddings, cohort, with_batch=with_batch)
        y = _target(cohort, study.task, list(X.index))
        horizon = study.horizon
        if study.task == "survival" and horizon is None:
            horizon = float(np.quantile(y["time"], 0.5))
        pipeline = stages.build_pipeline(study, X, with_batch=with_batch).fit(X, y)
        benefit = None
        if study.task == "survival" and study.treatment.enabled and _has_treatment(cohort):
            benefit = _fit_benefit(study, pipeline, X, y, cohort, horizon)
        self._set_fitted(
            pipeline=pipeline,
            X=X,
            y=y,
            horizon=horizon,
            feature_settings=settings,
            with_batch=with_batch,
            segmentation_model=seg_model,
            encoder=encoder,
            crop=crop,
            benefit_model=benefit,
        )
        return self

    @classmethod
    def from_parts(
        cls,
        study: Study,
        *,
        pipeline,
        X: pd.DataFrame,
        y: np.ndarray,
        horizon: float | None,
        feature_settings,
        with_batch: bool,
        segmentation_model=None,
        encoder=None,
        crop=None,
        benefit_model=None,
        development: dict[str, Any] | None = None,
    ) -> StudyModel:
        """A StudyModel from pieces fitted elsewhere (by :func:`run_study`, or by a federated
        fit): ``pipeline`` fitted on design matrix ``X`` and target ``y``."""
        model = cls(study)
        model._set_fitted(
            pipeline=pipeline,
            X=X,
            y=y,
            horizon=horizon,
            feature_settings=feature_settings,
            with_batch=with_batch,
            segmentation_model=segmentation_model,
            encoder=encoder,
            crop=crop,
            benefit_model=benefit_model,
            development=development,
        )
        return model

    def _set_fitted(
        self,
        *,
        pipeline,
        X,
        y,
        horizon,
        feature_settings,
        with_batch,
        segmentation_model,
        encoder,
        crop,
        benefit_model,
        development=None,
    ) -> None:
        self.pipeline_ = pipeline
        self.benefit_model_ = benefit_model
        self.columns_ = [str(c) for c in X.columns]
        self.horizon_ = None if horizon is None else float(horizon)
        self.feature_settings_ = feature_settings
        self.with_batch_ = bool(with_batch)
        self.segmentation_model_ = segmentation_model
        self.encoder_ = encoder
        self.crop_ = crop
        numeric = [c for c in self.columns_ if c.startswith(("rad__", "emb__"))]
        self.impute_ = X[numeric].median().astype(float)
        self.batches_ = sorted({str(b) for b in X["batch"]}) if "batch" in X.columns else []
        self.reference_X_ = X.copy()
        self.reference_y_ = y.copy()
        risk = self._risk(X)
        self.risk_cutpoints_ = [float(v) for v in np.quantile(risk, [1 / 3, 2 / 3])]
        self.development_ = dict(development or {})

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise ConfigError(
                "this StudyModel is not fitted", fix="call fit(cohort) or StudyModel.load(path)"
            )

    @property
    def task(self) -> str:
        return self.study.task

    def _risk(self, X: pd.DataFrame) -> np.ndarray:
        model = self.pipeline_
        if self.task == "response":
            return np.asarray(model.predict_proba(X))[:, 1]
        return np.asarray(model.predict(X), dtype=float)

    def predict(
        self,
        cohort,
        *,
        work_dir=None,
        explain: bool = True,
        top: int = 5,
        n_jobs: int = 1,
        impute_clinical: bool = False,
        progress: bool = False,
    ) -> StudyPrediction:
        """Score new patients with exactly the fitted pieces.

        Parameters
        ----------
        cohort
            A :class:`radiopredict.Cohort` (outcomes optional) with the images, masks (unless
            the model segments) and clinical columns used in training.
        work_dir
            Folder for predicted masks (a temporary folder by default).
        explain
            Compute the SHAP contributions (``top`` per patient).
        n_jobs
            Feature-extraction workers.
        impute_clinical
            Fill a missing clinical value with the training imputation instead of refusing
            the patient.
        progress
            Show progress bars.
        """
        self._check_fitted()
        study = self.study
        failures: list[dict[str, str]] = []
        with _work_dir(work_dir) as work:
            cohort = stages.select_label(cohort, study.features.label)
            if self.segmentation_model_ is not None:
                cohort = stages.segment(
                    cohort,
                    self.segmentation_model_,
                    Path(work) / "masks",
                    progress=progress,
                    inference_patch=study.segmentation.inference_patch_size,
                )
                for row in cohort.failures.itertuples(index=False):
                    failures.append(
                        _failure(row.patient_id, "segment", row.error, "check the image file")
                    )
            result = stages.extract_features(
                cohort,
                self.feature_settings_,
                study.features.engine,
                n_jobs=n_jobs,
                progress=progress,
            )
            for row in result.failures.to_dict(orient="records"):
                failures.append(
                    _failure(
                        row["patient_id"],
                        row.get("stage", "features"),
                        row["error"],
                        row.get("fix") or "check the case's files",
                    )
                )
            embeddings = None
            if self.encoder_ is not None:
                embeddings = stages.embed(cohort, self.encoder_, self.crop_)
                for row in embeddings.attrs.get("failures", []):
                    failures.append(
                        _failure(row["patient_id"], "embed", row["error"], "check the mask's ROI")
                    )
            if self.with_batch_ and "batch" not in cohort.patients.columns:
                raise ManifestError(
                    "the model harmonises sites (ComBat) but the manifest has no 'batch' column",
                    path=cohort.source,
                    fix="add the scanner / site of every patient as a 'batch' column",
                )
            failed = {f["patient_id"] for f in failures}
            keep = [p for p in cohort.patient_ids if p not in failed]
            if result.features.empty or not keep:
                return self._empty(failures)
            sub = cohort.subset(keep)
            feats = result.features[
                result.features.index.get_level_values(0).astype(str).isin(keep)
            ]
            emb = None
            if embeddings is not None:
                emb = embeddings[embeddings.index.get_level_values(0).astype(str).isin(keep)]
            X, _ = stages.design(
                feats, emb, sub, with_batch=self.with_batch_, columns=self.columns_
            )
        X, undefined = self._impute(X)
        X, clin_fail = self._check_clinical(X, impute_clinical)
        failures += clin_fail
        model, benefit, site_fail = self._for_sites(X)
        failures += site_fail
        X = X.drop(index=[f["patient_id"] for f in site_fail if f["patient_id"] in X.index])
        undefined = undefined[undefined["patient_id"].isin(X.index)].reset_index(drop=True)
        if X.empty:
            return self._empty(failures, undefined)
        pred = self._predict_table(model, benefit, X, cohort)
        pred["n_undefined"] = (
            undefined["patient_id"].value_counts().reindex(X.index, fill_value=0).astype(int)
        )
        contributions = self._contributions(model, X, top) if explain else _empty_contributions()
        return StudyPrediction(
            predictions=pred,
            failures=pd.DataFrame(failures, columns=FAILURE_COLUMNS),
            undefined=undefined,
            contributions=contributions,
            X=X,
        )

    def _empty(self, failures, undefined=None) -> StudyPrediction:
        return StudyPrediction(
            predictions=pd.DataFrame(index=pd.Index([], name="patient_id")),
            failures=pd.DataFrame(failures, columns=FAILURE_COLUMNS),
            undefined=undefined
            if undefined is not None
            else pd.DataFrame(columns=["patient_id", "feature"]),
            contributions=_empty_contributions(),
            X=pd.DataFrame(columns=self.columns_),
        )

    def _impute(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cols = list(self.impute_.index)
        values = X[cols].apply(pd.to_numeric, errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        rows, colidx = np.nonzero(bad)
        undefined = pd.DataFrame(
            {
                "patient_id": [str(X.index[i]) for i in rows],
                "feature": [cols[j] for j in colidx],
            },
            columns=["patient_id", "feature"],
        )
        X = X.copy()
        X[cols] = values.where(~bad, self.impute_, axis=1)
        return X, undefined

    def _check_clinical(self, X: pd.DataFrame, impute: bool):
        clin = [c for c in self.columns_ if c.startswith("clin__")]
        if impute or not clin:
            return X, []
        missing = X[clin].isna()
        out = []
        for pid, row in missing.iterrows():
            names = [c.removeprefix("clin__") for c, m in row.items() if m]
            if names:
                out.append(
                    _failure(
                        pid,
                        "clinical",
                        f"missing clinical variable(s) {names} that the model uses",
                        "fill in the value(s), or predict with impute_clinical=True to use the "
                        "training imputation",
                    )
                )
        return X.drop(index=[f["patient_id"] for f in out]), out

    def _for_sites(self, X: pd.DataFrame):
        """The pipeline and benefit model adapted to the sites of X unseen in training."""
        if not self.with_batch_:
            return self.pipeline_, self.benefit_model_, []
        new = sorted({str(b) for b in X["batch"]} - set(self.batches_))
        if not new:
            return self.pipeline_, self.benefit_model_, []
        minimum = self.study.new_site_min_patients
        counts = X["batch"].astype(str).value_counts()
        small = [b for b in new if counts[b] < minimum]
        fails = [
            _failure(
                pid,
                "harmonise",
                f"site {b!r} was not seen in training and only {counts[b]} of its patients are "
                f"scored (ComBat needs at least {minimum} to estimate a new site's scanner effect)",
                f"score at least {minimum} patients of site {b!r} together, or set their batch to "
                f"the training site they match (training sites: {self.batches_})",
            )
            for pid, b in X["batch"].astype(str).items()
            if b in small
        ]
        Xk = X[~X["batch"].astype(str).isin(small)]
        if not set(new) - set(small):
            return self.pipeline_, self.benefit_model_, fails
        model = _adapt_pipeline(self.pipeline_, Xk, minimum)
        benefit = self.benefit_model_
        if benefit is not None:
            benefit = copy.deepcopy(benefit)
            for models in [benefit.models_, *getattr(benefit, "bootstrap_models_", [])]:
                for arm, m in models.items():
                    models[arm] = _adapt_pipeline(m, benefit._covariates(Xk), minimum)
        return model, benefit, fails

    def _predict_table(self, model, benefit, X: pd.DataFrame, cohort) -> pd.DataFrame:
        pred = pd.DataFrame(index=X.index)
        pred.index.name = "patient_id"
        if self.task == "response":
            pred["probability"] = np.asarray(model.predict_proba(X))[:, 1]
            return pred
        pred["risk"] = np.asarray(model.predict(X), dtype=float)
        pred["survival_at_horizon"] = np.asarray(
            model.predict_survival_function(X, np.array([self.horizon_]))
        )[:, 0]
        if benefit is not None:
            Xt = X.assign(treatment=np.asarray(benefit.arms_[0]).repeat(len(X)))
            table = benefit.predict_benefit(Xt)
            table.index = X.index
            pred = pred.join(
                table[
                    [
                        c
                        for c in table.columns
                        if not c.startswith("rmst") and not c.startswith("benefit_rmst")
                    ]
                ]
            )
            if "treatment" in cohort.patients.columns:
                trt = cohort.treatment()
                pred["treatment_received"] = trt.reindex(X.index).to_numpy()
        return pred

    def _contributions(self, model, X: pd.DataFrame, top: int) -> pd.DataFrame:
        from radiopredict.explain import explain

        background = self.reference_X_
        if self.with_batch_:
            background = background[
                background["batch"].astype(str).isin(set(X["batch"].astype(str)))
            ]
            if background.empty:
                background = X
        ex = explain(model, X, background=background)
        rows = []
        for pid in X.index:
            vals = ex.values.loc[pid]
            order = vals.abs().sort_values(ascending=False).index[:top]
            for rank, col in enumerate(order, start=1):
                rows.append(
                    {
                        "patient_id": str(pid),
                        "rank": rank,
                        "feature": col,
                        "value": ex.data.loc[pid, col],
                        "shap": float(vals[col]),
                    }
                )
        return pd.DataFrame(rows, columns=["patient_id", "rank", "feature", "value", "shap"])

    # ------------------------------------------------------------------ external validation
    def validate(
        self,
        prediction: StudyPrediction,
        cohort,
        *,
        n_bootstrap: int = 200,
        min_events: int = 10,
    ) -> dict[str, Any]:
        """External validation of the locked model on a cohort with outcomes.

        Parameters
        ----------
        prediction
            :meth:`predict` on ``cohort``.
        cohort
            The validation cohort (outcomes required).
        n_bootstrap
            Bootstrap resamples for the confidence intervals.
        min_events
            Subgroups with fewer events get a warning.

        Returns
        -------
        dict
            ``"metrics"`` (``metric, value, ci_low, ci_high, note``; see
            :func:`radiopredict.validation.external_validation`), ``"subgroups"``
            (:func:`radiopredict.validation.subgroup_audit` by site, sex, age band and stage
            where the cohort has them), ``"shift"`` (membership AUC and standardised
            differences of the model inputs, :func:`radiopredict.validation.shift_diagnostics`),
            ``"y"`` (the validation target aligned with the predictions).
        """
        from radiopredict.validation import external_validation, shift_diagnostics, subgroup_audit

        self._check_fitted()
        pred = prediction.predictions
        ids = [str(i) for i in pred.index]
        y = _target(cohort, self.task, ids)
        table = pred.reset_index(drop=True)
        curves = None
        if self.task == "survival":
            grid = np.linspace(0.0, float(np.max(y["time"])), 60)[1:]
            curves = (
                grid,
                np.asarray(
                    self._model_for(prediction).predict_survival_function(prediction.X, grid)
                ),
            )
        metrics = external_validation(
            self.task,
            y,
            table,
            y_train=self.reference_y_ if self.task == "survival" else None,
            horizon=self.horizon_,
            n_bootstrap=n_bootstrap,
            random_state=self.study.seed,
            survival_curves=curves,
        )
        groups = _audit_groups(cohort, ids)
        subgroups = (
            subgroup_audit(
                self.task,
                y,
                table,
                groups.reset_index(drop=True),
                horizon=self.horizon_,
                n_bootstrap=n_bootstrap,
                min_events=min_events,
                random_state=self.study.seed,
            )
            if not groups.empty
            else pd.DataFrame()
        )
        numeric = [c for c in self.columns_ if c.startswith(("rad__", "emb__"))]
        numeric += [
            c
            for c in self.columns_
            if c.startswith("clin__") and pd.api.types.is_numeric_dtype(self.reference_X_[c])
        ]
        shift = shift_diagnostics(
            self.reference_X_[numeric].astype(float),
            prediction.X[numeric].astype(float),
            random_state=self.study.seed,
        )
        return {"metrics": metrics, "subgroups": subgroups, "shift": shift, "y": y}

    def _model_for(self, prediction: StudyPrediction):
        """The pipeline used for ``prediction`` (adapted to its new sites, if any)."""
        model, _, _ = self._for_sites(prediction.X)
        return model

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model as a bundle folder (skops for the scikit-learn parts, safetensors
        for the networks, SHA-256 manifest); reload with :meth:`load`."""
        from radiopredict.bundle import Bundle, save_bundle

        self._check_fitted()
        weights: dict[str, Any] = {}
        meta: dict[str, Any] = {
            "kind": _KIND,
            "model_format_version": MODEL_FORMAT_VERSION,
            "study": self.study.to_dict(),
            "task": self.task,
            "horizon": self.horizon_,
            "columns": self.columns_,
            "feature_settings": self.feature_settings_.to_dict(),
            "feature_engine": self.study.features.engine,
            "label": self.study.features.label,
            "with_batch": self.with_batch_,
            "batches": self.batches_,
            "impute": {k: float(v) for k, v in self.impute_.items()},
            "risk_cutpoints": self.risk_cutpoints_,
            "development": self.development_,
            "treatment_column": "treatment" if self.benefit_model_ is not None else None,
        }
        if self.segmentation_model_ is not None:
            weights["unet"] = self.segmentation_model_.net.state_dict()
            meta["segmentation"] = self.segmentation_model_.to_config()
        if self.encoder_ is not None:
            if self.encoder_.kind != "unet_bottleneck":  # the U-Net's weights are saved above
                weights["encoder"] = self.encoder_.module.state_dict()
            meta["encoder"] = self.encoder_.config()
            meta["crop"] = self.crop_.to_dict()
        reference = {
            "index": [str(i) for i in self.reference_X_.index],
            "y": self.reference_y_,
            "columns": _columns_to_plain(self.reference_X_),
        }
        bundle = Bundle(
            model=self.pipeline_,
            benefit_model=self.benefit_model_,
            metadata=meta,
            weights=weights,
            extra={"reference": reference},
        )
        return save_bundle(path, bundle, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StudyModel:
        """Load a bundle written by :meth:`save` after checking its integrity and version.

        Raises
        ------
        BundleIntegrityError
            Modified files, untrusted types, or a bundle of another model format version.
        """
        from radiopredict.bundle import load_bundle
        from radiopredict.features import FeatureSettings

        bundle = load_bundle(path)
        meta = bundle.metadata
        version = meta.get("model_format_version")
        if meta.get("kind") != _KIND or version != MODEL_FORMAT_VERSION:
            raise BundleIntegrityError(
                f"this bundle holds model format {version!r} (kind {meta.get('kind')!r}), this "
                f"radiopredict ({bundle.manifest.get('versions', {}).get('radiopredict', '?')} "
                f"wrote it) reads format {MODEL_FORMAT_VERSION}",
                path=path,
                fix="re-run the study with this radiopredict version, or install the version "
                "that wrote the bundle",
            )
        study = Study.from_dict(_plain(meta["study"]))
        model = cls(study)
        seg = enc = crop = None
        if "segmentation" in meta:
            from radiopredict._torch import load_weights_into
            from radiopredict.segment._data import Preprocessing
            from radiopredict.segment.model import SegmentationModel
            from radiopredict.segment.unet import UNetConfig

            cfg = meta["segmentation"]
            seg = SegmentationModel(
                UNetConfig.from_dict(cfg["unet"]),
                Preprocessing.from_dict(cfg["preprocessing"]),
                tuple(cfg["patch_size"]),
                history=cfg.get("history"),
                training=cfg.get("training"),
            )
            load_weights_into(seg.net, bundle.weights["unet"], source=str(path))
        if "encoder" in meta:
            from radiopredict._torch import load_weights_into
            from radiopredict.embed import CropSettings, ResNetConfig, ResNetEncoder

            if meta["encoder"].get("kind") == "unet_bottleneck":
                from radiopredict.embed import UNetEncoder

                enc = UNetEncoder(seg)
            else:
                enc = ResNetEncoder(ResNetConfig.from_dict(meta["encoder"]["resnet"]))
                load_weights_into(enc.module, bundle.weights["encoder"], source=str(path))
                enc.trained_by = meta["encoder"].get("trained_by")
            crop = CropSettings(**_plain(meta["crop"]))
        ref = bundle.extra["reference"]
        X = _columns_from_plain(ref["columns"], ref["index"])
        X = X[meta["columns"]]
        model.pipeline_ = bundle.model
        model.benefit_model_ = bundle.benefit_model
        model.columns_ = list(meta["columns"])
        model.horizon_ = meta["horizon"]
        model.feature_settings_ = FeatureSettings.from_dict(meta["feature_settings"])
        model.with_batch_ = bool(meta["with_batch"])
        model.batches_ = list(meta["batches"])
        model.impute_ = pd.Series(meta["impute"], dtype=float).reindex(
            [c for c in model.columns_ if c.startswith(("rad__", "emb__"))]
        )
        model.segmentation_model_ = seg
        model.encoder_ = enc
        model.crop_ = crop
        model.reference_X_ = X
        model.reference_y_ = ref["y"]
        model.risk_cutpoints_ = list(meta["risk_cutpoints"])
        model.development_ = dict(meta.get("development", {}))
        model.manifest_ = bundle.manifest
        return model

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "pipeline_") else "not fitted"
        return f"StudyModel(task={self.task!r}, {state})"


# ---------------------------------------------------------------------------------- helpers
class _work_dir:
    """A given folder, or a temporary one removed afterwards."""

    def __init__(self, path) -> None:
        self.path = path
        self._tmp = None

    def __enter__(self) -> str:
        if self.path is not None:
            Path(self.path).mkdir(parents=True, exist_ok=True)
            return str(self.path)
        self._tmp = tempfile.TemporaryDirectory(prefix="radiopredict-")
        return self._tmp.name

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _plain(obj):
    """JSON lists back to tuples where the settings expect them."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return tuple(_plain(v) for v in obj)
    return obj


def _has_batches(cohort) -> bool:
    pts = cohort.patients
    return "batch" in pts.columns and pts["batch"].nunique() > 1


def _has_treatment(cohort) -> bool:
    return "treatment" in cohort.patients.columns


def _target(cohort, task: str, ids: list[str]) -> np.ndarray:
    target = cohort.survival_target() if task == "survival" else cohort.binary_target()
    position = {pid: i for i, pid in enumerate(cohort.patient_ids)}
    return target[[position[pid] for pid in ids]]


def _fit_benefit(study, pipeline, X, y, cohort, horizon):
    trt = cohort.treatment().loc[list(X.index)]
    Xt = X.assign(treatment=trt.to_numpy())
    return stages.benefit_estimator(study, pipeline, horizon).fit(Xt, y)


def _adapt_pipeline(pipeline, X: pd.DataFrame, min_samples: int):
    """A copy of a fitted pipeline whose ComBat steps also harmonise the new sites of X."""
    from radiopredict.harmonize import ComBat

    steps = getattr(pipeline, "steps", None)
    if not steps or not any(isinstance(s, ComBat) for _, s in steps):
        return pipeline
    out = copy.deepcopy(pipeline)
    Xt = X
    for i, (name, step) in enumerate(out.steps[:-1]):
        if isinstance(step, ComBat):
            step = step.with_new_batches(Xt, min_samples=min_samples)
            out.steps[i] = (name, step)
        Xt = step.transform(Xt)
    return out


def _audit_groups(cohort, ids: list[str]) -> pd.DataFrame:
    """Site, sex, age and stage of the patients ``ids`` where the cohort has them."""
    pts = cohort.patients
    pts = pts.set_index("patient_id") if "patient_id" in pts.columns else pts
    pts.index = pts.index.astype(str)
    out = pd.DataFrame(index=ids)
    for name, candidates in (
        ("site", ("batch", "site")),
        ("sex", ("sex", "gender")),
        ("age", ("age",)),
        ("stage", ("stage",)),
    ):
        for c in candidates:
            if c in pts.columns:
                out[name] = pts[c].reindex(ids).to_numpy()
                break
    return out


def _columns_to_plain(X: pd.DataFrame) -> dict[str, Any]:
    """Columns as float arrays (numeric) or lists of text / None (others), for skops."""
    out: dict[str, Any] = {}
    for c in X.columns:
        col = X[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[str(c)] = col.to_numpy(dtype=float)
        else:
            out[str(c)] = [None if pd.isna(v) else str(v) for v in col]
    return out


def _columns_from_plain(columns: dict[str, Any], index: list[str]) -> pd.DataFrame:
    data = {
        c: v if isinstance(v, np.ndarray) else pd.Series(list(v), dtype=object)
        for c, v in columns.items()
    }
    X = pd.DataFrame(
        {c: np.asarray(v) if isinstance(v, np.ndarray) else v.to_numpy() for c, v in data.items()}
    )
    X.index = pd.Index(list(index), name="patient_id")
    return X


class NewSiteAdaptive:
    """Meta-estimator for leave-one-site-out validation: ``fit`` fits a clone of
    ``estimator``; every prediction first adapts its ComBat steps to the sites of ``X`` not
    seen in fit (:meth:`radiopredict.harmonize.ComBat.with_new_batches`), the rule a locked
    model applies to a new hospital."""

    def __init__(self, estimator, min_samples: int = 10) -> None:
        self.estimator = estimator
        self.min_samples = min_samples

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"estimator": self.estimator, "min_samples": self.min_samples}

    def set_params(self, **params) -> NewSiteAdaptive:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y, **fit_params) -> NewSiteAdaptive:
        from sklearn.base import clone

        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self

    def _adapted(self, X):
        return _adapt_pipeline(self.estimator_, X, self.min_samples)

    def predict(self, X):
        return self._adapted(X).predict(X)

    def predict_proba(self, X):
        return self._adapted(X).predict_proba(X)

    def predict_survival_function(self, X, times):
        return self._adapted(X).predict_survival_function(X, times)


def _empty_contributions() -> pd.DataFrame:
    return pd.DataFrame(columns=["patient_id", "rank", "feature", "value", "shap"])
