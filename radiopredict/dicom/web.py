"""DICOMweb client side: fetch a study (QIDO-RS + WADO-RS), pick its image series and mask,
store results (STOW-RS). Built on ``dicomweb-client``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from radiopredict.errors import (
    DicomWebError,
    GeometryMismatchError,
    ImageReadError,
    InputFileNotFoundError,
)

__all__ = [
    "StudyInputs",
    "connect",
    "study_series",
    "fetch_study",
    "select_inputs",
    "store_instances",
]

_MASK_MODALITIES = ("RTSTRUCT", "SEG")


def connect(url: str, *, timeout: float = 60.0, attempts: int = 3):
    """A ``dicomweb_client.DICOMwebClient`` for the DICOMweb root ``url``.

    Parameters
    ----------
    url
        DICOMweb root, e.g. ``http://pacs:8042/dicom-web``.
    timeout
        Seconds to wait for an answer to one request.
    attempts
        Tries per request (a refused connection or HTTP 408/429/503/504), with exponential
        back-off from 0.5 s.
    """
    from dicomweb_client import DICOMwebClient

    client = DICOMwebClient(url.rstrip("/"), timeout=timeout)
    if attempts > 1:
        client.set_http_retry_params(max_attempts=attempts, wait_exponential_multiplier=500)
    else:
        client.set_http_retry_params(retry=False)
    return client


def _call(url: str, what: str, fn, *args, study: str | None = None, **kwargs):
    """Run one DICOMweb request; turn transport and HTTP failures into DicomWebError."""
    import requests

    where = f"study {study} on {url}" if study else url
    try:
        return fn(*args, **kwargs)
    except requests.exceptions.ConnectionError as exc:
        raise DicomWebError(
            f"the DICOMweb server {url} is unreachable ({what}): {type(exc).__name__}",
            fix="check the URL (scheme, host, port and the DICOMweb root such as /dicom-web), "
            "that the server runs and that this machine may reach it",
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise DicomWebError(
            f"the DICOMweb server {url} did not answer in time ({what} of {where})",
            fix="retry, or raise the timeout",
        ) from exc
    except requests.exceptions.HTTPError as exc:
        status = getattr(exc.response, "status_code", "?")
        raise DicomWebError(
            f"the DICOMweb server refused {what} of {where} (HTTP {status})",
            fix="check the study UID, the DICOMweb root of the URL and the credentials",
        ) from exc


def _tag(record: dict, tag: str) -> str:
    value = record.get(tag, {}).get("Value", [""])
    return str(value[0]) if value else ""


def study_series(url: str, study_uid: str, *, client: Any = None) -> pd.DataFrame:
    """The series of a study on a DICOMweb server (QIDO-RS).

    Returns
    -------
    pandas.DataFrame
        ``series_uid``, ``modality``, ``description``, ``n_instances``; empty when the server
        does not hold the study.
    """
    client = client or connect(url)
    found = _call(url, "the series search", client.search_for_series, study_uid, study=study_uid)
    rows = [
        {
            "series_uid": _tag(r, "0020000E"),
            "modality": _tag(r, "00080060"),
            "description": _tag(r, "0008103E"),
            "n_instances": int(_tag(r, "00201209") or 0),
        }
        for r in found
    ]
    return pd.DataFrame(rows, columns=["series_uid", "modality", "description", "n_instances"])


def fetch_study(url: str, study_uid: str, out_dir: str | Path, *, client: Any = None) -> Path:
    """Download a study (WADO-RS) into ``out_dir/<series UID>/<SOP instance UID>.dcm``.

    Parameters
    ----------
    url
        DICOMweb root, e.g. ``http://pacs:8042/dicom-web``.
    study_uid
        Study Instance UID.
    out_dir
        Output folder (created).

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    DicomWebError
        The server is unreachable, refuses the request, or does not hold the study.
    """
    client = client or connect(url)
    series = study_series(url, study_uid, client=client)
    if series.empty:
        raise DicomWebError(
            f"the DICOMweb server {url} holds no study {study_uid}",
            fix="check the Study Instance UID (search the PACS for the patient's studies)",
        )
    out = Path(out_dir)
    for uid in series["series_uid"]:
        datasets = _call(
            url,
            f"the download of series {uid}",
            client.retrieve_series,
            study_uid,
            uid,
            study=study_uid,
        )
        folder = out / uid
        folder.mkdir(parents=True, exist_ok=True)
        for ds in datasets:
            ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    return out


def store_instances(url: str, paths: Iterable[str | Path], *, client: Any = None) -> list[str]:
    """Send DICOM files to a DICOMweb server (STOW-RS).

    Returns
    -------
    list of str
        SOP Instance UIDs the server accepted.

    Raises
    ------
    DicomWebError
        The server is unreachable, or refuses some of the instances.
    """
    import pydicom

    client = client or connect(url)
    datasets = [pydicom.dcmread(p) for p in paths]
    if not datasets:
        return []
    study = str(datasets[0].StudyInstanceUID)
    response = _call(url, "the upload", client.store_instances, datasets, study=study)
    failed = [
        str(item.get("ReferencedSOPInstanceUID", "?"))
        for item in (response.get("FailedSOPSequence", []) if response is not None else [])
    ]
    if failed:
        raise DicomWebError(
            f"the DICOMweb server {url} refused {len(failed)} instance(s) of study {study}: "
            + ", ".join(failed[:5]),
            fix="check the server's log: the instances may conflict with stored ones",
        )
    return [str(ds.SOPInstanceUID) for ds in datasets]


@dataclass(frozen=True)
class StudyInputs:
    """What :func:`select_inputs` picked in a fetched study.

    Attributes
    ----------
    study_uid
        Study Instance UID.
    image_folder
        Folder of the image series' files.
    series_uid
        Series Instance UID of the image series.
    mask_path
        The RTSTRUCT or SEG file on the series, or ``None`` when the study has none (the
        caller then segments the image).
    mask_modality
        ``"RTSTRUCT"``, ``"SEG"`` or ``None``.
    """

    study_uid: str
    image_folder: Path
    series_uid: str
    mask_path: Path | None
    mask_modality: str | None


@dataclass
class _Object:
    path: Path
    series_uid: str
    modality: str
    description: str
    frame_of_reference: str
    referenced_series: frozenset[str]
    referenced_instances: frozenset[str]
    sop_uid: str
    study_uid: str
    is_report: bool


def _read_objects(folder: Path) -> list[_Object]:
    import pydicom

    from radiopredict.imaging.dicom import is_dicom_file

    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and is_dicom_file(p)):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        modality = str(ds.get("Modality", "")).upper()
        frame = str(ds.get("FrameOfReferenceUID", ""))
        series: set[str] = set()
        instances: set[str] = set()
        if modality == "RTSTRUCT":
            for fr in ds.get("ReferencedFrameOfReferenceSequence", []):
                frame = frame or str(fr.get("FrameOfReferenceUID", ""))
                for st in fr.get("RTReferencedStudySequence", []):
                    for se in st.get("RTReferencedSeriesSequence", []):
                        series.add(str(se.SeriesInstanceUID))
        elif modality == "SEG":
            for se in ds.get("ReferencedSeriesSequence", []):
                series.add(str(se.SeriesInstanceUID))
        elif modality == "SR":
            for ev in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
                for se in ev.get("ReferencedSeriesSequence", []):
                    for inst in se.get("ReferencedSOPSequence", []):
                        instances.add(str(inst.ReferencedSOPInstanceUID))
        templates = [
            str(t.get("TemplateIdentifier", "")) for t in ds.get("ContentTemplateSequence", [])
        ]
        out.append(
            _Object(
                path=path,
                series_uid=str(ds.get("SeriesInstanceUID", "")),
                modality=modality,
                description=str(ds.get("SeriesDescription", "")),
                frame_of_reference=frame,
                referenced_series=frozenset(series),
                referenced_instances=frozenset(instances),
                sop_uid=str(ds.get("SOPInstanceUID", "")),
                study_uid=str(ds.get("StudyInstanceUID", "")),
                is_report=modality == "SR"
                and "1500" in templates
                and str(ds.get("Manufacturer", "")) == "radiopredict",
            )
        )
    return out


def select_inputs(
    folder: str | Path,
    *,
    modality: str = "CT",
    series_uid: str | None = None,
    mask_series_uid: str | None = None,
) -> StudyInputs:
    """Pick the image series and its RTSTRUCT or SEG in a fetched study.

    The image series is the one series of ``modality`` (or ``series_uid``). A mask qualifies
    when it refers to that series (or, lacking a series reference, shares its frame of
    reference); SEGs that a radiopredict measurement report of the study refers to are earlier
    results, not inputs, and are left out.

    Raises
    ------
    ImageReadError
        No series of ``modality``; several of them (or several masks) without ``series_uid``
        (``mask_series_uid``); the message lists the candidates.
    GeometryMismatchError
        The study's masks lie on another frame of reference than the image series.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileNotFoundError(
            "the study folder does not exist", path=folder, fix="fetch the study first"
        )
    objects = _read_objects(folder)
    if not objects:
        raise ImageReadError(
            "the study folder holds no DICOM file", path=folder, fix="fetch the study first"
        )
    study_uid = objects[0].study_uid
    by_series: dict[str, list[_Object]] = {}
    for o in objects:
        by_series.setdefault(o.series_uid, []).append(o)

    def describe(uid: str) -> str:
        first = by_series[uid][0]
        return (
            f"{uid} ({first.modality}, {first.description or 'no description'!r}, "
            f"{len(by_series[uid])} files)"
        )

    images = [
        uid
        for uid, objs in by_series.items()
        if objs[0].modality == modality.upper() and (series_uid in (None, uid))
    ]
    listing = "; ".join(describe(u) for u in by_series) or "nothing"
    if not images:
        raise ImageReadError(
            f"study {study_uid} has no {modality} series"
            + (f" {series_uid}" if series_uid else "")
            + f"; it holds: {listing}",
            path=folder,
            fix=f"pick a study with a {modality} series (or pass the series UID of the image)",
        )
    if len(images) > 1:
        raise ImageReadError(
            f"study {study_uid} has {len(images)} {modality} series: "
            + "; ".join(describe(u) for u in images),
            path=folder,
            fix="choose one with series_uid=<Series Instance UID> (CLI: --series UID)",
        )
    image_uid = images[0]
    image = by_series[image_uid]
    frame = image[0].frame_of_reference
    results = set().union(*(o.referenced_instances for o in objects if o.is_report))
    masks = [
        o
        for o in objects
        if o.modality in _MASK_MODALITIES
        and o.sop_uid not in results
        and mask_series_uid in (None, o.series_uid)
    ]
    on_image = [
        m
        for m in masks
        if image_uid in m.referenced_series
        or (not m.referenced_series and m.frame_of_reference == frame)
    ]
    if not on_image and masks:
        other = masks[0]
        raise GeometryMismatchError(
            f"study {study_uid}: the {other.modality} {other.series_uid} lies on frame of "
            f"reference {other.frame_of_reference or '(none)'} and refers to series "
            f"{sorted(other.referenced_series) or '(none)'}, not to the {modality} series "
            f"{image_uid} (frame of reference {frame})",
            path=other.path,
            fix="store the mask drawn on this series, or pass the series it was drawn on",
        )
    if len(on_image) > 1:
        raise ImageReadError(
            f"study {study_uid} has {len(on_image)} masks on series {image_uid}: "
            + "; ".join(f"{m.modality} {m.series_uid} {m.description!r}" for m in on_image),
            path=folder,
            fix="choose one with mask_series_uid=<Series Instance UID> (CLI: --mask-series UID)",
        )
    mask = on_image[0] if on_image else None
    return StudyInputs(
        study_uid=study_uid,
        image_folder=image[0].path.parent,
        series_uid=image_uid,
        mask_path=None if mask is None else mask.path,
        mask_modality=None if mask is None else mask.modality,
    )
