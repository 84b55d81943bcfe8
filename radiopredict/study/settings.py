"""Study settings: what `radiopredict run study.yaml` does, validated up front.

A study YAML has one section per stage; every key is optional except ``manifest``. An unknown
key is an error that names the closest valid key, before anything runs.

.. code-block:: yaml

    manifest: cohort/manifest.csv   # relative to the YAML file
    output: study-out               # relative to the YAML file
    task: survival                  # survival | response
    horizon: 24                     # time at which survival and benefit are read
    seed: 0
    n_jobs: 1
    segmentation: {enabled: false, epochs: 30, patch_size: [32, 48, 48]}
    features: {engine: native, settings: ct, label: 1}
    embeddings: {enabled: false, encoder: autoencoder, epochs: 20, crop_mm: 48, size: 24}
    cnn: {enabled: false, architecture: resnet, crop_mm: 48, size: 32, epochs: 20}
    model: {estimator: default, cv_splits: 5, cv_repeats: 2}
    treatment: {enabled: true, learner: t, n_bootstrap: 20}
    report: {n_patients: 3}
    external: other/manifest.csv    # optional: validate the locked model on a second cohort
    new_site_min_patients: 10       # a site unseen in training needs this many patients

Every value is type-checked before anything runs: ``cv_splits: '5'`` or ``features: ct`` (a
string where a section is due) is an error naming the key, the value and the expected type.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from radiopredict._config import dataclass_from_mapping, load_yaml_mapping
from radiopredict.errors import ConfigError

__all__ = [
    "Study",
    "SegmentationSection",
    "FeatureSection",
    "EmbeddingSection",
    "CNNSection",
    "ModelSection",
    "TreatmentSection",
    "ReportSection",
]


def _require(cond: bool, problem: str, fix: str) -> None:
    if not cond:
        raise ConfigError(problem, fix=fix)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping of keys (a section)"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        inner = _type_name(args[0]) if args else "value"
        return f"a list of {inner} values"
    return {int: "an integer", float: "a number", str: "text", bool: "true/false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _conforms(value: Any, tp: Any) -> tuple[bool, Any]:
    """Whether ``value`` has type ``tp`` (YAML scalars as parsed); returns the value to store
    (ints accepted for floats, lists for tuples)."""
    if tp is Any:
        return True, value
    if tp is type(None):
        return value is None, value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _conforms(value, arg)
            if ok:
                return True, v
        return False, value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False, value
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        out = []
        for i, item in enumerate(value):
            arg = args[min(i, len(args) - 1)] if args else Any
            ok, v = _conforms(item, arg)
            if not ok:
                return False, value
            out.append(v)
        return True, tuple(out)
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    if dataclasses.is_dataclass(tp):
        return isinstance(value, tp), value
    return isinstance(value, tp), value


def _check_types(obj: Any, where: str) -> None:
    """Type-check every field of a settings dataclass against its annotation (frozen: values
    are converted in place with ``object.__setattr__``)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        ok, converted = _conforms(value, hints[f.name])
        if not ok:
            raise ConfigError(
                f"{where}.{f.name} = {value!r} has the wrong type: expected "
                f"{_type_name(hints[f.name])}, got {type(value).__name__}",
                fix=f"write {f.name} as {_type_name(hints[f.name])}"
                + (
                    f", e.g. {f.name}: {f.default!r}"
                    if f.default is not dataclasses.MISSING
                    and not dataclasses.is_dataclass(f.default)
                    else ""
                ),
            )
        if converted is not value:
            object.__setattr__(obj, f.name, converted)


@dataclass(frozen=True)
class SegmentationSection:
    """U-Net segmentation of the cases before feature extraction.

    ``enabled``: train a U-Net on the cohort's masks and replace every mask by the prediction
    (the study then runs on predicted masks, as it would on new patients); ``epochs``,
    ``patch_size`` (z, y, x voxels), ``base_filters``, ``depth``: training budget and network
    size; ``inference_patch_size``: sliding-window size at inference (default the training
    patch; a window as large as small images is faster); ``time_budget_s``: stop training after
    this many seconds; ``window``: intensity window
    ``[low, high]`` for normalisation (e.g. ``[-300, 400]`` HU for CT; default z-score);
    ``train_fraction``: patients used for training (the rest only receive predictions).
    """

    enabled: bool = False
    epochs: int = 30
    time_budget_s: float | None = 150.0
    patch_size: tuple[int, int, int] = (16, 32, 32)
    inference_patch_size: tuple[int, int, int] | None = None
    window: tuple[float, float] | None = None
    base_filters: int = 8
    depth: int = 3
    train_fraction: float = 0.5

    def __post_init__(self) -> None:
        _check_types(self, "segmentation")
        _require(
            self.epochs >= 1,
            f"segmentation.epochs must be >= 1, got {self.epochs}",
            "use a positive number",
        )
        _require(
            0 < self.train_fraction <= 1,
            "segmentation.train_fraction must be in (0, 1]",
            "e.g. 0.5",
        )
        object.__setattr__(self, "patch_size", tuple(int(v) for v in self.patch_size))
        if self.inference_patch_size is not None:
            object.__setattr__(
                self, "inference_patch_size", tuple(int(v) for v in self.inference_patch_size)
            )
        if self.window is not None:
            _require(
                len(self.window) == 2 and float(self.window[0]) < float(self.window[1]),
                f"segmentation.window must be [low, high], got {self.window!r}",
                "e.g. window: [-300, 400]",
            )
            object.__setattr__(self, "window", (float(self.window[0]), float(self.window[1])))


@dataclass(frozen=True)
class FeatureSection:
    """Radiomic features: ``engine`` (native | pyradiomics), ``settings`` (a preset name, a YAML
    path, or a mapping of FeatureSettings keys), ``label`` (which mask label to use: a value or
    name, ``"all"`` for every non-zero voxel, None for the manifest's), ``cache`` (reuse cached
    features)."""

    engine: str = "native"
    settings: Any = "ct"
    label: Any = None
    cache: bool = True

    def __post_init__(self) -> None:
        _check_types(self, "features")
        _require(
            self.engine in ("native", "pyradiomics"),
            f"features.engine must be 'native' or 'pyradiomics', got {self.engine!r}",
            "use native (IBSI) or pyradiomics",
        )


@dataclass(frozen=True)
class EmbeddingSection:
    """CNN embeddings: ``encoder`` (autoencoder: self-supervised on the cohort's crops, no
    outcome used; unet: the segmentation U-Net's encoder), ``epochs``, ``crop_mm`` (physical
    crop size), ``size`` (crop voxels per side), ``width`` (channels of the first ResNet stage),
    ``n_components`` (PCA components kept inside the model pipeline)."""

    enabled: bool = False
    encoder: str = "autoencoder"
    epochs: int = 20
    crop_mm: float = 48.0
    size: int = 24
    width: int = 8
    n_components: int = 4

    def __post_init__(self) -> None:
        _check_types(self, "embeddings")
        _require(
            self.encoder in ("autoencoder", "unet", "resnet"),
            f"embeddings.encoder must be autoencoder, unet or resnet, got {self.encoder!r}",
            "use autoencoder",
        )


@dataclass(frozen=True)
class CNNSection:
    """A supervised CNN on the ROI crops, trained on the outcome inside every training fold,
    and the ablation that shows whether it earns its place (response tasks).

    ``architecture`` (resnet: MONAI's ResNet; resnet3d: the project's ``ResNet3D``), ``mode``
    (3d, or 2.5d: adjacent axial slices as channels), ``crop_mm`` (physical side of the ROI
    crop), ``size`` (voxels per side), ``include_mask`` (the ROI mask as a second channel),
    ``epochs``, ``time_budget_s`` (CPU-time budget of one fit), ``validation_fraction`` (inner
    split for early stopping; 0 trains every epoch), ``n_components`` (PCA components of the
    CNN embedding in the intermediate fusion), ``inner_cv`` (inner folds of the late-fusion
    stacker)."""

    enabled: bool = False
    architecture: str = "resnet"
    mode: str = "3d"
    crop_mm: float = 48.0
    size: int = 32
    include_mask: bool = True
    epochs: int = 20
    time_budget_s: float | None = 300.0
    validation_fraction: float = 0.2
    n_components: int = 8
    inner_cv: int = 3

    def __post_init__(self) -> None:
        _check_types(self, "cnn")
        _require(
            self.architecture in ("resnet", "resnet3d"),
            f"cnn.architecture must be resnet or resnet3d, got {self.architecture!r}",
            "use resnet (MONAI's ResNet) or resnet3d",
        )
        _require(
            self.mode in ("3d", "2.5d"),
            f"cnn.mode must be 3d or 2.5d, got {self.mode!r}",
            "use 3d, or 2.5d for adjacent axial slices as channels",
        )
        _require(self.size >= 8, f"cnn.size must be >= 8, got {self.size}", "e.g. size: 32")
        _require(self.epochs >= 1, f"cnn.epochs must be >= 1, got {self.epochs}", "e.g. 20")


@dataclass(frozen=True)
class ModelSection:
    """Model and validation: ``estimator`` (default | coxph | xgb-cox | logistic | xgb),
    ``cv_splits`` and ``cv_repeats`` of the repeated stratified K-fold, ``n_bootstrap`` for the
    confidence intervals."""

    estimator: str = "default"
    cv_splits: int = 5
    cv_repeats: int = 2
    n_bootstrap: int = 200

    def __post_init__(self) -> None:
        _check_types(self, "model")
        _require(
            self.cv_splits >= 2, f"model.cv_splits must be >= 2, got {self.cv_splits}", "use 5"
        )
        _require(
            self.cv_repeats >= 1,
            f"model.cv_repeats must be >= 1, got {self.cv_repeats}",
            "use 1 or more",
        )


@dataclass(frozen=True)
class TreatmentSection:
    """Treatment benefit: ``learner`` (t | s), ``n_bootstrap`` refits for per-patient CIs,
    ``propensity`` (none for randomised data, logistic otherwise), ``cv_splits`` for the
    out-of-fold benefit used in validation."""

    enabled: bool = True
    learner: str = "t"
    n_bootstrap: int = 20
    propensity: str = "none"
    cv_splits: int = 5

    def __post_init__(self) -> None:
        _check_types(self, "treatment")
        _require(
            self.learner in ("t", "s"),
            f"treatment.learner must be 't' or 's', got {self.learner!r}",
            "use t",
        )
        _require(
            self.propensity in ("none", "logistic"),
            f"treatment.propensity must be 'none' or 'logistic', got {self.propensity!r}",
            "use none for randomised trials",
        )


@dataclass(frozen=True)
class ReportSection:
    """Report: ``n_patients`` individual patient pages, ``title``."""

    n_patients: int = 3
    title: str = "radiopredict study"

    def __post_init__(self) -> None:
        _check_types(self, "report")
        _require(
            self.n_patients >= 0,
            f"report.n_patients must be >= 0, got {self.n_patients}",
            "e.g. n_patients: 3",
        )


@dataclass(frozen=True)
class Study:
    """A whole study: cohort -> (segment) -> features -> (embeddings) -> model -> evaluate ->
    explain -> treat -> report, all outputs in one folder.

    Build it with :meth:`from_yaml` or :meth:`from_dict`; run it with :meth:`run`.
    """

    manifest: str
    output: str = "radiopredict-study"
    task: str = "survival"
    horizon: float | None = None
    seed: int = 0
    n_jobs: int = 1
    segmentation: SegmentationSection = field(default_factory=SegmentationSection)
    features: FeatureSection = field(default_factory=FeatureSection)
    embeddings: EmbeddingSection = field(default_factory=EmbeddingSection)
    cnn: CNNSection = field(default_factory=CNNSection)
    model: ModelSection = field(default_factory=ModelSection)
    treatment: TreatmentSection = field(default_factory=TreatmentSection)
    report: ReportSection = field(default_factory=ReportSection)
    external: str | None = None
    new_site_min_patients: int = 10

    def __post_init__(self) -> None:
        _check_types(self, "study")
        _require(
            self.task in ("survival", "response"),
            f"task must be 'survival' or 'response', got {self.task!r}",
            "use survival or response",
        )
        _require(
            self.horizon is None or float(self.horizon) > 0,
            f"horizon must be a positive time, got {self.horizon!r}",
            "e.g. horizon: 24",
        )
        _require(
            self.n_jobs >= 1,
            f"n_jobs must be >= 1, got {self.n_jobs}",
            "use 1 or the number of cores",
        )
        _require(
            self.seed >= 0,
            f"seed must be a non-negative integer, got {self.seed}",
            "e.g. seed: 0",
        )
        _require(
            not self.cnn.enabled or self.task == "response",
            "cnn.enabled needs task: response (the CNN ablation compares binary models; "
            "survival CNNs are available as radiopredict.models.CNNSurvival)",
            "set task: response, or cnn: {enabled: false}",
        )
        _require(
            self.new_site_min_patients >= 2,
            f"new_site_min_patients must be >= 2, got {self.new_site_min_patients}",
            "e.g. new_site_min_patients: 10",
        )

    @classmethod
    def from_dict(
        cls,
        mapping: dict[str, Any],
        *,
        base_dir: str | os.PathLike[str] | None = None,
        source: str | None = None,
    ) -> Study:
        """Build from a mapping; relative ``manifest`` and ``output`` paths start at ``base_dir``."""
        if "manifest" not in mapping:
            raise ConfigError(
                "the study has no 'manifest'", path=source, fix="add manifest: path/to/manifest.csv"
            )
        study = dataclass_from_mapping(cls, mapping, where="study", source=source)
        if base_dir is not None:
            base = Path(base_dir)
            study = _replace(
                study,
                manifest=str(_join(base, study.manifest)),
                output=str(_join(base, study.output)),
                external=None if study.external is None else str(_join(base, study.external)),
            )
        return study

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Study:
        """Read a study YAML (see the module docstring for the keys)."""
        path = Path(path)
        return cls.from_dict(
            load_yaml_mapping(path), base_dir=path.resolve().parent, source=str(path)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (saved next to the results)."""
        return asdict(self)

    def run(self, *, console=None) -> dict[str, Path]:
        """Run the study; returns the outputs written (name -> path)."""
        from radiopredict.study.run import run_study

        return run_study(self, console=console)


def _join(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _replace(obj, **changes):
    from dataclasses import replace

    return replace(obj, **changes)
