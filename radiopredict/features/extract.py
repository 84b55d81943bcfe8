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
from radiopredict.errors import ConfigError, FeatureComputationError, RadiopredictError
from radiopredict.parallel import iter_tasks, starred

__all__ = ["ExtractionResult", "extract", "FAILURE_COLUMNS", "INDEX_NAMES"]

#: Index levels of the feature table.
INDEX_NAMES = ["patient_id", "modality", "timepoint", "label"]
#: Columns of the failures table.
FAILURE_COLUMNS = ["patient_id", "modality", "timepoint", "label", "stage", "error", "fix"]
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
    """

    features: pd.DataFrame
    failures: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the feature table as Parquet, with provenance and failures in its metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.features, preserve_index=True)
        meta = dict(table.schema.metadata or {})
        payload = {
            "provenance": self.provenance,
            "failures": self.failures.astype(object)
            .where(self.failures.notna(), None)
            .to_dict(orient="records"),
        }
        meta[_META_KEY] = json.dumps(payload, default=str).encode()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table.replace_schema_metadata(meta), tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def read_parquet(cls, path: str | os.PathLike[str]) -> ExtractionResult:
        """Read a table written by :meth:`to_parquet` (features, failures and provenance)."""
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
        failures = pd.DataFrame(meta.get("failures", []), columns=FAILURE_COLUMNS)
        return cls(table.to_pandas(), failures, meta.get("provenance", {}))


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
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            out[i] = {"features": hit, "hashes": hashes, "cached": True}
        else:
            out[i] = {"key": key, "hashes": hashes}
            todo.append(i)
    if not todo:
        return out
    try:
        results = engine.compute(image, [items[i] for i in todo])
    except Exception as exc:  # e.g. unreadable image: all pending items of this image fail
        err, fix = _describe(exc)
        for i in todo:
            out[i] = {"stage": "read", "error": err, "fix": fix}
        return out
    for i, res in zip(todo, results):
        if isinstance(res, Exception):
            err, fix = _describe(res)
            stage = getattr(res, "radiopredict_stage", "features")
            out[i] = {"stage": stage, "error": err, "fix": fix}
            continue
        if cache is not None:
            cache.put(out[i]["key"], res, {"image": str(image), "label": repr(items[i][1])})
        out[i] = {"features": res, "hashes": out[i]["hashes"], "cached": False}
    return out


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
        ``features`` (rows in cohort order), ``failures`` and ``provenance``.

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
    rows, index, failures, inputs = [], [], [], {}
    n_cached = 0
    for case, res in zip(cases, results):
        label = case.label_name if hasattr(case, "label_name") else str(case.label)
        key = (str(case.patient_id), str(case.modality), str(case.timepoint), label)
        if "features" in res:
            rows.append(res["features"])
            index.append(key)
            inputs["|".join(key)] = res["hashes"]
            n_cached += bool(res.get("cached"))
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
    provenance = {
        "engine": eng.name,
        "engine_version": eng.version,
        "config": eng.config(),
        "versions": _versions(eng.name),
        "inputs": inputs,
        "n_cases": len(cases),
        "n_failed": len(failures),
        "n_from_cache": n_cached,
    }
    return ExtractionResult(features, pd.DataFrame(failures, columns=FAILURE_COLUMNS), provenance)


def _versions(engine_name: str) -> dict[str, str]:
    return library_versions()  # the one recorder, the same list as model bundles
