"""Cohort embedding extraction with a per-case cache."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict._provenance import sha256_file
from radiopredict._torch import torch_threads
from radiopredict._version import __version__
from radiopredict.cohort import Case, Cohort
from radiopredict.embed.crops import CropSettings, case_crop
from radiopredict.embed.encoders import Encoder
from radiopredict.errors import ConfigError, RadiopredictError
from radiopredict.imaging.cases import as_cases
from radiopredict.parallel import resolve_progress, track

__all__ = ["extract_embeddings", "case_cache_key"]

INDEX_NAMES = ["patient_id", "modality", "timepoint", "label"]


def case_cache_key(case: Case, crop: CropSettings, encoder_fingerprint: str) -> str:
    """SHA-256 of the image and mask bytes, the label, the crop settings and the encoder."""
    h = hashlib.sha256()
    sha256_file(case.image, h)
    if case.mask is not None:
        sha256_file(case.mask, h)
    h.update(repr(case.label).encode())
    h.update(crop.to_json().encode())
    h.update(encoder_fingerprint.encode())
    return h.hexdigest()


def extract_embeddings(  # noqa: C901 -- one loop: cache hits, batches, recorded failures
    cases: Cohort | Iterable[Any],
    encoder: Encoder,
    crop: CropSettings | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 8,
    device: str = "auto",
    num_threads: int | None = None,
    on_error: str = "raise",
    progress: bool = True,
    progress_bar: bool | None = None,
) -> pd.DataFrame:
    """Embed every case's ROI-centred crop with ``encoder``.

    Parameters
    ----------
    cases
        A Cohort, Cases or ``(image, mask)`` pairs; each case needs a mask (the ROI).
    encoder
        An :class:`~radiopredict.embed.encoders.Encoder`.
    crop
        :class:`~radiopredict.embed.crops.CropSettings`; its channel count must match the
        encoder's ``in_channels``.
    cache_dir
        When given, each case's embedding is stored as ``<cache_dir>/<key>.npy`` with ``key`` the
        SHA-256 of image bytes, mask bytes, label, crop settings and encoder fingerprint (config
        and weights), and reused on the next call.
    batch_size, device, num_threads
        Inference settings.
    on_error
        ``"raise"`` stops at the first failing case; ``"record"`` leaves it out of the table and
        lists it in ``table.attrs["failures"]`` (a list of records with patient_id, modality,
        timepoint, label and error; ``pd.DataFrame(table.attrs["failures"])`` tabulates them).
    progress
        Show a progress bar.
    progress_bar
        Deprecated spelling of ``progress``.

    Returns
    -------
    pandas.DataFrame
        Columns ``emb_000 ... emb_{F-1}`` (float32), indexed by ``(patient_id, modality,
        timepoint, label)``; ``attrs`` holds ``encoder`` (config), ``fingerprint``, ``crop``,
        ``radiopredict_version`` and ``failures``.
    """
    show_progress = resolve_progress(progress, progress_bar, where="extract_embeddings")
    crop = crop or CropSettings()
    if on_error not in ("record", "raise"):
        raise ConfigError(
            f"on_error must be 'record' or 'raise', got {on_error!r}",
            fix="use on_error='record' or on_error='raise'",
        )
    if crop.channels != encoder.in_channels:
        raise ConfigError(
            f"the crops have {crop.channels} channel(s) but the encoder expects "
            f"{encoder.in_channels}",
            fix="set CropSettings(include_mask=True) for a 2-channel encoder, False for 1",
        )
    bad = [s for s in crop.shape if s % encoder.divisor]
    if bad:
        raise ConfigError(
            f"crop shape {crop.shape} must be multiples of {encoder.divisor} for this encoder",
            fix=f"use CropSettings(shape=...) with multiples of {encoder.divisor}",
        )
    fingerprint = encoder.fingerprint()
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    case_list = as_cases(cases)
    results: dict[int, np.ndarray] = {}
    pending: list[tuple[int, np.ndarray, Path | None]] = []
    failures = []

    def flush() -> None:
        if not pending:
            return
        emb = encoder.embed(np.stack([p[1] for p in pending]), device=device, batch_size=batch_size)
        for (i, _, path), e in zip(pending, emb, strict=True):
            results[i] = e
            if path is not None:
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, e)
                os.replace(tmp, path)
        pending.clear()

    with torch_threads(num_threads):
        for i, case in enumerate(
            track(case_list, total=len(case_list), description="embedding", enabled=show_progress)
        ):
            try:
                path = None
                if cache is not None:
                    path = cache / f"{case_cache_key(case, crop, fingerprint)}.npy"
                    if path.is_file():
                        try:
                            results[i] = np.load(path, allow_pickle=False)
                            continue
                        except (OSError, ValueError):
                            path.unlink(missing_ok=True)  # corrupted entry: recompute
                pending.append((i, case_crop(case, crop), path))
            except RadiopredictError as exc:
                if on_error == "raise":
                    raise
                failures.append(
                    {**dict(zip(INDEX_NAMES, case.key, strict=True)), "error": str(exc)}
                )
            if len(pending) >= batch_size:
                flush()
        flush()
    keep = sorted(results)
    columns = [f"emb_{k:03d}" for k in range(encoder.embedding_dim)]
    values = (
        np.stack([results[i] for i in keep]).astype(np.float32)
        if keep
        else np.zeros((0, len(columns)), np.float32)
    )
    keys = [case_list[i].key for i in keep]
    index = pd.MultiIndex.from_arrays(
        [[k[j] for k in keys] for j in range(len(INDEX_NAMES))], names=INDEX_NAMES
    )
    table = pd.DataFrame(values, index=index, columns=columns)
    table.attrs.update(
        {
            "encoder": encoder.config(),
            "fingerprint": fingerprint,
            "crop": crop.to_dict(),
            "radiopredict_version": __version__,
            "failures": failures,
        }
    )
    return table
