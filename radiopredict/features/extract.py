"""Cohort-scale feature extraction: one call, every case, failures kept, cached, parallel.

Cases that share an image are computed together (each filter runs once per image, on a crop
padded by its support), every finished case is written to the cache at once (so a killed run
loses nothing done), and a failing case is recorded while the others finish.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from radiopredict._provenance import library_versions
from radiopredict.errors import (
    ConfigError,
    FeatureComputationError,
    ManifestError,
    RadiopredictError,
)
from radiopredict.parallel import iter_tasks, starred

__all__ = ["ExtractionResult", "extract", "FAILURE_COLUMNS", "INDEX_NAMES", "UNDEFINED_COLUMNS"]

#: Index levels of the feature table.
INDEX_NAMES = ["patient_id", "modality", "timepoint", "label"]
#: Columns of the failures table.
FAILURE_COLUMNS = ["patient_id", "modality", "timepoint", "label", "stage", "error", "fix"]
#: Columns of the table of (case, feature) pairs that could not be computed.
UNDEFINED_COLUMNS = ["patient_id", "modality", "timepoint", "label", "feature", "reason"]
_META_KEY = b"radiopredict.extraction"


@dataclass
class ExtractionResult:
    """Features, failures and provenance of one cohort extraction.

    Attributes
    ----------
    features
        One row per successful case, indexed by ``(patient_id, modality, timepoint, label)``
        (``label`` as text, ``"all"`` for a whole mask), one column per feature.
    failures
        One row per failed case: key, ``stage`` (``read``, ``features``...), ``error``, ``fix``.
    provenance
        Engine configuration (settings), library versions and input SHA-256 digests per case.
    undefined
        One row per (case, feature) of a successful case that could not be computed: key,
        ``feature`` (a feature tag, or a family name when the whole family is undefined for
        the ROI) and ``reason``. Their cells in ``features`` are missing (NaN), never a value.
    """

    features: pd.DataFrame
    failures: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)
    undefined: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=UNDEFINED_COLUMNS))

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the feature table as Parquet, with provenance, failures and undefined features
        in its metadata. The file appears complete or not at all (temporary file, then rename).

        Raises
        ------
        OutputPathError
            ``path`` is a folder, or cannot be written (the message says why).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        from radiopredict.errors import OutputPathError

        table = pa.Table.from_pandas(self.features, preserve_index=True)
        meta = dict(table.schema.metadata or {})
        payload = {
            "provenance": self.provenance,
            "failures": _records(self.failures),
            "undefined": _records(self.undefined),
        }
        meta[_META_KEY] = json.dumps(payload, default=str).encode()
        path = Path(path)
        if path.is_dir():
            raise OutputPathError(
                "the output is an existing folder, and a file is due there",
                path=path,
                fix=f"name a file, e.g. {str(path / 'features.parquet')!r}",
            )
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.replace_schema_metadata(meta), tmp)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:  # its folder is what failed
                pass
            raise OutputPathError(
                f"cannot write the feature table ({exc})",
                path=path,
                fix="choose a writable location with free space",
            ) from exc
        return path

    @classmethod
    def read_parquet(cls, path: str | os.PathLike[str]) -> ExtractionResult:
        """Read a table written by :meth:`to_parquet` (features, failures and provenance)."""
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
        failures = pd.DataFrame(meta.get("failures", []), columns=FAILURE_COLUMNS)
        undefined = pd.DataFrame(meta.get("undefined", []), columns=UNDEFINED_COLUMNS)
        return cls(table.to_pandas(), failures, meta.get("provenance", {}), undefined)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")


# -- worker side -------------------------------------------------------------------------------
def _describe(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, RadiopredictError):
        where = f" ({exc.path})" if exc.path else ""
        return exc.problem + where, exc.fix or ""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, FileNotFoundError):
        return text, "check the path in the manifest"
    if "not present in mask" in str(exc):
        return text, "check the label value in the manifest against the labels in the mask"
    return text, "check this case's image and mask (see the error), or report a bug"


def _run_group(engine, image: Path, items: list[tuple[Path | None, Any]], cache_dir):
    """Compute (or fetch from the cache) all items of one image. Never raises."""
    from radiopredict.features.cache import FeatureCache, cache_key, file_digest

    out: list[dict[str, Any]] = [{} for _ in items]
    try:
        image_sha = file_digest(image)
    except Exception as exc:  # unreadable / missing image: every item of it fails
        err, fix = _describe(exc)
        return [
            {"stage": "read", "error": err, "fix": fix or "check the image path"} for _ in items
        ]
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    config = engine.config()
    todo = []
    for i, (mask, label) in enumerate(items):
        try:
            if mask is None:
                raise ConfigError("the case has no mask", fix="add a mask path or segment first")
            mask_sha = file_digest(mask)
        except Exception as exc:
            err, fix = _describe(exc)
            out[i] = {"stage": "read", "error": err, "fix": fix}
            continue
        key = cache_key(image_sha256=image_sha, mask_sha256=mask_sha, label=label, config=config)
        hashes = {"image_sha256": image_sha, "mask_sha256": mask_sha}
        hit = cache.entry(key) if cache is not None else None
        if hit is not None:
            out[i] = {**hit, "hashes": hashes, "cached": True}
        else:
            out[i] = {"key": key, "hashes": hashes}
            todo.append(i)
    if not todo:
        return out
    reasons: list[dict[str, str]] = []
    try:
        if _reports_not_computed(engine):
            results = engine.compute(image, [items[i] for i in todo], not_computed=reasons)
        else:
            results = engine.compute(image, [items[i] for i in todo])
    except Exception as exc:  # e.g. unreadable image: all pending items of this image fail
        err, fix = _describe(exc)
        for i in todo:
            out[i] = {"stage": "read", "error": err, "fix": fix}
        return out
    reasons += [{}] * (len(todo) - len(reasons))
    for i, res, why in zip(todo, results, reasons):
        if isinstance(res, Exception):
            err, fix = _describe(res)
            stage = getattr(res, "radiopredict_stage", "features")
            out[i] = {"stage": stage, "error": err, "fix": fix}
            continue
        features, undefined = _split_finite(res, why)
        cache_error = None
        if cache is not None:
            meta = {"image": str(image), "label": repr(items[i][1])}
            try:
                cache.put(out[i]["key"], features, meta, undefined)
            except OSError as exc:  # a full or read-only cache: keep the result, say so
                cache_error = f"{type(exc).__name__}: {exc}"
        out[i] = {
            "features": features,
            "undefined": undefined,
            "hashes": out[i]["hashes"],
            "cached": False,
            "cache_error": cache_error,
        }
    return out


def _reports_not_computed(engine) -> bool:
    """Whether ``engine.compute`` accepts ``not_computed=`` (the reasons of what it left out)."""
    import inspect

    try:
        return "not_computed" in inspect.signature(engine.compute).parameters
    except (TypeError, ValueError):
        return False


def _split_finite(res, why) -> tuple[dict[str, float], dict[str, str]]:
    """Finite features, and ``{feature: reason}`` of those not computed (a non-finite value
    an engine returned, such as a pyradiomics NaN, is moved there: never a silent NaN)."""
    import math

    features, undefined = {}, dict(why or {})
    for tag, value in res.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            undefined[tag] = f"not a number ({value!r})"
            continue
        if math.isfinite(number):
            features[tag] = number
        else:
            undefined[tag] = f"value is {number} for this ROI (not finite)"
    return features, undefined


# -- main entry point ------------------------------------------------------------------------
def extract(
    cohort,
    settings: Any = None,
    engine: str | Any = "native",
    *,
    n_jobs: int = 1,
    executor: Literal["joblib", "dask"] | Any | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    on_error: Literal["record", "raise"] = "record",
    progress: bool = True,
) -> ExtractionResult:
    """Extract features for every case of a cohort.

    Parameters
    ----------
    cohort
        A :class:`radiopredict.Cohort` (or any object with ``cases()``), or a list of cases.
    settings
        Native engine: ``FeatureSettings``, preset name or YAML path. pyradiomics engine: a
        pyradiomics parameter file (used unchanged) or dict.
    engine
        ``"native"`` (default), ``"pyradiomics"`` or an engine object.
    n_jobs
        Worker processes (joblib) or Dask workers of a LocalCluster started for this call.
    executor
        None / ``"joblib"``: serial when ``n_jobs == 1``, else joblib processes. ``"dask"``:
        the current Dask client, or a LocalCluster of ``n_jobs`` workers. A
        ``distributed.Client``: that client.
    cache_dir
        Folder of the content-addressed cache; finished cases are stored at once and reused by
        later runs with the same inputs and configuration.
    on_error
        ``"record"``: a failing case is recorded in ``failures`` and the others finish.
        ``"raise"``: stop at the first failure with :class:`FeatureComputationError`.
    progress
        Show a progress bar (rich).

    Returns
    -------
    ExtractionResult
        ``features`` (rows in cohort order), ``failures``, ``undefined`` (every (case,
        feature) that could not be computed, with its reason) and ``provenance``.

    Raises
    ------
    ManifestError
        Before any work: no case, or two cases with the same key
        ``(patient_id, modality, timepoint, label)``.
    OutputPathError
        Before any work: ``cache_dir`` is a file or cannot be written. (A cache write that
        fails during the run only warns: the case keeps its features.)
    FeatureComputationError
        ``on_error="raise"`` and a case failed.

    Examples
    --------
    >>> from radiopredict import Cohort                                       # doctest: +SKIP
    >>> res = extract(Cohort.read("manifest.csv"), "params.yaml", engine="pyradiomics",
    ...               n_jobs=2, cache_dir="cache")                            # doctest: +SKIP
    >>> res.to_parquet("features.parquet")                                    # doctest: +SKIP
    """
    from radiopredict.features.engines import get_engine

    if on_error not in ("record", "raise"):
        raise ConfigError(
            f"on_error must be 'record' or 'raise', got {on_error!r}",
            fix="use on_error='record' or on_error='raise'",
        )
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a positive integer, got {n_jobs!r}", fix="use n_jobs=1")
    cases = list(cohort.cases()) if hasattr(cohort, "cases") else list(cohort)
    _check_cases(cases, getattr(cohort, "source", None))
    if cache_dir is not None:  # before any work: a read-only cache would lose every result
        from radiopredict._outputs import check_writable_folder
        from radiopredict.features.cache import FeatureCache

        check_writable_folder(cache_dir, "cache folder")
        FeatureCache(cache_dir).clean()  # temporary files of interrupted writes
    eng = get_engine(engine, settings)

    # group the cases of one image: every filter then runs once for all its labels and masks
    groups: dict[Path, list[int]] = {}
    for idx, case in enumerate(cases):
        groups.setdefault(Path(case.image), []).append(idx)
    tasks = [
        (eng, image, [(cases[i].mask, cases[i].label) for i in idxs], cache_dir)
        for image, idxs in groups.items()
    ]
    members = list(groups.values())

    if executor == "joblib" and n_jobs == 1:
        executor = None  # one job: serial, as before
    stream = iter_tasks(starred(_run_group), tasks, n_jobs=n_jobs, executor=executor)

    results: list[dict[str, Any] | None] = [None] * len(cases)
    bar = _progress(progress, len(cases))
    try:
        for gidx, group_out in stream:
            for case_idx, res in zip(members[gidx], group_out):
                results[case_idx] = res
                if on_error == "raise" and "features" not in res:
                    case = cases[case_idx]
                    raise FeatureComputationError(
                        f"{res['stage']} failed: {res['error']}",
                        patient=case.patient_id,
                        path=case.image,
                        fix=res["fix"],
                    )
            if bar is not None:
                bar[0].advance(bar[1], len(group_out))
    finally:
        if bar is not None:
            bar[0].stop()
        close = getattr(stream, "close", None)
        if close is not None:
            close()

    return _assemble(cases, results, eng)


def _case_key(case) -> tuple[str, str, str, str]:
    label = case.label_name if hasattr(case, "label_name") else str(case.label)
    return (str(case.patient_id), str(case.modality), str(case.timepoint), label)


def _check_cases(cases, source) -> None:
    """Refuse what ``Cohort.validate`` refuses and a feature table cannot hold: no case, or two
    cases with one key (their rows would be written twice)."""
    if not cases:
        raise ManifestError(
            "there is no case to extract (the cohort is empty)",
            path=source,
            fix="give a cohort with at least one (patient, image, mask) row",
        )
    seen: dict[tuple, int] = {}
    dups = []
    for i, case in enumerate(cases):
        key = _case_key(case)
        if key in seen:
            dups.append(f"{key} (cases {seen[key] + 1} and {i + 1})")
        else:
            seen[key] = i
    if dups:
        raise ManifestError(
            f"{len(dups)} duplicate case key(s) (patient_id, modality, timepoint, label): "
            + "; ".join(dups[:10]),
            path=source,
            fix="give each image its own modality / timepoint, or each mask row its own label "
            "(Cohort.validate() lists every problem of the manifest)",
        )


def _progress(show: bool, total: int):
    if not show:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    )
    task = bar.add_task("extracting features", total=total)
    bar.start()
    return bar, task


def _assemble(cases, results, eng) -> ExtractionResult:
    rows, index, failures, inputs, reasons = [], [], [], {}, {}
    n_cached = 0
    cache_errors = []
    for case, res in zip(cases, results):
        key = _case_key(case)
        if "features" in res:
            rows.append(res["features"])
            index.append(key)
            reasons[key] = res.get("undefined") or {}
            inputs["|".join(key)] = res["hashes"]
            n_cached += bool(res.get("cached"))
            if res.get("cache_error"):
                cache_errors.append(res["cache_error"])
        else:
            failures.append(
                dict(zip(FAILURE_COLUMNS, (*key, res["stage"], res["error"], res["fix"])))
            )
    features = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    features.index = (
        pd.MultiIndex.from_tuples(index, names=INDEX_NAMES)
        if index
        else (pd.MultiIndex.from_tuples([], names=INDEX_NAMES))
    )
    undefined = _undefined_table(features, reasons)
    if cache_errors:
        import warnings

        warnings.warn(
            f"{len(cache_errors)} case(s) could not be written to the cache (first: "
            f"{cache_errors[0]}); their features are in the result, but a rerun recomputes them",
            stacklevel=3,
        )
    provenance = {
        "engine": eng.name,
        "engine_version": eng.version,
        "config": eng.config(),
        "versions": _versions(eng.name),
        "inputs": inputs,
        "n_cases": len(cases),
        "n_failed": len(failures),
        "n_from_cache": n_cached,
        "n_undefined": len(undefined),
        "n_cache_errors": len(cache_errors),
    }
    return ExtractionResult(
        features, pd.DataFrame(failures, columns=FAILURE_COLUMNS), provenance, undefined
    )


def _family_of(tag: str) -> str | None:
    """The native family of a feature tag (filter prefix ``name__`` allowed), else None."""
    from radiopredict.features.families import load_all
    from radiopredict.features.registry import get_feature

    load_all()
    try:
        return get_feature(tag.split("__")[-1]).family
    except (KeyError, ValueError, LookupError):
        return None


def _undefined_table(features: pd.DataFrame, reasons: dict[tuple, dict[str, str]]):
    """One row per (case, feature) not computed: what the engine reported, plus every missing
    cell of the table (a feature computed for other cases) it did not explain."""
    rows = []
    for key, why in reasons.items():
        for feature, reason in why.items():
            rows.append((*key, feature, reason))
    if len(features.columns) and len(features):
        missing = features.isna()
        families: dict[str, str | None] = {}
        for key, row in zip(features.index, missing.to_numpy(), strict=True):
            why = reasons.get(tuple(key), {})
            for col in features.columns[row]:
                if col in why:
                    continue
                if col not in families:
                    families[col] = _family_of(str(col))
                prefix = str(col).rsplit("__", 1)[0] + "__" if "__" in str(col) else ""
                family = families[col]
                if family is not None and f"{prefix}{family}" in why:
                    continue  # the engine reported the whole family
                rows.append((*key, col, "not computed for this case (computed for others)"))
    return pd.DataFrame(rows, columns=UNDEFINED_COLUMNS)


def _versions(engine_name: str) -> dict[str, str]:
    return library_versions()  # the one recorder, the same list as model bundles
