"""Model bundles: a folder with the fitted model, its settings and a manifest of SHA-256 hashes.

Layout of a bundle folder::

    manifest.json          format, versions, metadata, SHA-256 of every other file
    model.skops            the scikit-learn part (estimators, pipelines), saved with skops
    benefit_model.skops    optional treatment-benefit model
    weights/NAME.safetensors   optional torch weights (e.g. an embedding encoder)
    extra/NAME.skops       optional plain data (arrays, lists, dicts) saved with skops

Nothing is unpickled: scikit-learn objects are loaded with :func:`skops.io.load`, which builds
only the types skops trusts by default (scikit-learn estimators, numpy arrays, plain
containers) and the exact types named in :data:`TRUSTED_TYPES` (the project's estimators and
the few library types their fitted state holds). There are no module wildcards: a function
such as ``builtins.exec`` or ``os.system`` hidden in a bundle is refused with
:class:`~radiopredict.errors.BundleIntegrityError` naming it. Torch weights are safetensors.
Every file's hash is checked against the manifest before anything is loaded, so a modified or
missing file is refused with a clear error.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radiopredict._provenance import library_versions, sha256_file  # noqa: F401 (re-export)
from radiopredict.errors import BundleIntegrityError, InputFileNotFoundError

__all__ = ["Bundle", "save_bundle", "load_bundle", "library_versions", "TRUSTED_TYPES"]

FORMAT = "radiopredict-bundle"
FORMAT_VERSION = 1
#: The exact types (beyond skops' own defaults) that a bundle may hold. Extend it only with
#: estimator classes or plain data types: never a function, a module wildcard or a type whose
#: construction runs code. ``tests/test_bundle.py`` fits every pipeline the project builds and
#: checks that their types are all listed here.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        # radiopredict estimators and transformers
        "radiopredict.harmonize.ComBat",
        "radiopredict.models._baseline.BreslowBaseline",
        "radiopredict.models._pipeline.SurvivalPipeline",
        "radiopredict.models.adaptive.AdaptiveResponse",
        "radiopredict.models.adaptive.AdaptiveSurvival",
        "radiopredict.models.response.ElasticNetLogistic",
        "radiopredict.models.response.RandomForestResponse",
        "radiopredict.models.response.SoftVoteResponse",
        "radiopredict.models.response.XGBResponse",
        "radiopredict.models.survival.CoxPH",
        "radiopredict.models.survival.NullSurvival",
        "radiopredict.models.survival.XGBSurvival",
        "radiopredict.preprocess.ClinicalPreprocessor",
        "radiopredict.select.CorrelationClusterSelector",
        "radiopredict.select.ElasticNetCoxSelector",
        "radiopredict.select.GroupPCA",
        "radiopredict.select.ICCFilter",
        "radiopredict.select.L1LogisticSelector",
        "radiopredict.select.UnivariateSelector",
        "radiopredict.select.VarianceFilter",
        "radiopredict.treatment.TreatmentBenefit",
        # fitted state of library estimators
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.utils._bunch.Bunch",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
    }
)


def _sha256(path: Path) -> str:
    return sha256_file(path)


@dataclass
class Bundle:
    """A loaded (or to-be-saved) model bundle.

    Attributes
    ----------
    model
        The fitted scikit-learn estimator or pipeline.
    benefit_model
        Optional fitted :class:`radiopredict.treatment.TreatmentBenefit`.
    metadata
        JSON-serialisable dict: feature settings, design-matrix columns, horizon, training
        summary... whatever the study needs to apply the model to new patients.
    weights
        Optional torch state dicts by name (saved as safetensors).
    extra
        Optional plain data by name (numpy arrays, lists, dicts), saved with skops and loaded
        under the same type allow-list as the model.
    manifest
        The manifest read from disk (versions, hashes), empty before saving.
    """

    model: Any
    benefit_model: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    def predict(self, X):
        """Risk score (or class probability for classifiers) of the bundled model."""
        if hasattr(self.model, "predict_proba") and not hasattr(
            self.model, "predict_survival_function"
        ):
            return self.model.predict_proba(X)[:, 1]
        return self.model.predict(X)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the bundle folder; see :func:`save_bundle`."""
        return save_bundle(path, self, overwrite=overwrite)


def save_bundle(path: str | os.PathLike[str], bundle: Bundle, *, overwrite: bool = False) -> Path:
    """Save a bundle folder with a manifest of file hashes.

    Parameters
    ----------
    path
        Folder to create.
    bundle
        What to save.
    overwrite
        Replace an existing folder.

    Returns
    -------
    pathlib.Path
        The bundle folder.
    """
    import skops.io as sio

    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(
                f"bundle folder {str(path)!r} exists; pass overwrite=True to replace it"
            )
        shutil.rmtree(path)
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    sio.dump(bundle.model, tmp / "model.skops")
    if bundle.benefit_model is not None:
        sio.dump(bundle.benefit_model, tmp / "benefit_model.skops")
    if bundle.extra:
        (tmp / "extra").mkdir()
        for name, value in bundle.extra.items():
            sio.dump(value, tmp / "extra" / f"{name}.skops")
    if bundle.weights:
        from safetensors.torch import save_file

        (tmp / "weights").mkdir()
        for name, state in bundle.weights.items():
            save_file(
                {k: v.contiguous() for k, v in state.items()},
                str(tmp / "weights" / f"{name}.safetensors"),
            )
    files = {
        str(p.relative_to(tmp)).replace(os.sep, "/"): _sha256(p)
        for p in sorted(tmp.rglob("*"))
        if p.is_file()
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": library_versions(),
        "metadata": bundle.metadata,
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
    bundle.manifest = manifest
    return path


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Load a bundle folder after checking every file against the manifest's SHA-256.

    Raises
    ------
    InputFileNotFoundError
        The folder or its manifest does not exist.
    BundleIntegrityError
        A file was modified, is missing or was added, or the model holds a type that is not
        trusted.
    """
    import skops.io as sio

    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise InputFileNotFoundError(
            "no bundle manifest (manifest.json) in this folder",
            path=path,
            fix="pass the folder written by save_bundle",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleIntegrityError(
            f"the manifest is not valid JSON ({exc})", path=manifest_path, fix="re-save the bundle"
        ) from exc
    if manifest.get("format") != FORMAT:
        raise BundleIntegrityError(
            f"not a radiopredict bundle (format {manifest.get('format')!r})",
            path=manifest_path,
            fix="pass a folder written by save_bundle or StudyModel.save",
        )
    expected: dict[str, str] = manifest.get("files", {})
    present = {
        str(p.relative_to(path)).replace(os.sep, "/")
        for p in path.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    problems = []
    for rel, digest in expected.items():
        f = path / rel
        if not f.exists():
            problems.append(f"{rel}: missing")
        elif _sha256(f) != digest:
            problems.append(f"{rel}: SHA-256 differs from the manifest (file was modified)")
    problems += [
        f"{rel}: not listed in the manifest (file was added)"
        for rel in sorted(present - set(expected))
    ]
    if problems:
        raise BundleIntegrityError(
            "the bundle failed its integrity check: " + "; ".join(problems),
            path=path,
            fix="do not edit bundle files; re-save the model with save_bundle from a trusted source",
        )

    def _load(name: str):
        f = path / name
        try:
            untrusted = sio.get_untrusted_types(file=f)
        except Exception as exc:  # not a skops file, or one skops cannot parse
            raise BundleIntegrityError(
                f"{name} is not a readable skops file ({type(exc).__name__}: {exc})",
                path=f,
                fix="re-save the model with save_bundle from a trusted source",
            ) from exc
        refused = sorted(t for t in untrusted if t not in TRUSTED_TYPES)
        if refused:
            raise BundleIntegrityError(
                f"{name} holds type(s) that a bundle may not hold: {', '.join(refused)}",
                path=f,
                fix="load only bundles written by radiopredict; a bundle that holds functions "
                "or other code is refused (see radiopredict.bundle.TRUSTED_TYPES)",
            )
        return sio.load(f, trusted=sorted(untrusted))

    model = _load("model.skops")
    benefit = _load("benefit_model.skops") if "benefit_model.skops" in expected else None
    weights = {}
    names = [rel for rel in expected if rel.startswith("weights/")]
    if names:
        from safetensors.torch import load_file

        for rel in names:
            weights[Path(rel).stem] = load_file(str(path / rel))
    extra = {Path(rel).stem: _load(rel) for rel in sorted(expected) if rel.startswith("extra/")}
    return Bundle(
        model=model,
        benefit_model=benefit,
        metadata=manifest.get("metadata", {}),
        weights=weights,
        extra=extra,
        manifest=manifest,
    )
