"""TID 1500 measurement reports (Comprehensive 3D SR): radiomic features and model outputs.

One report per scored patient holds

* one volumetric ROI measurement group (TID 1411) per ROI: its volume (SNOMED CT "Volume",
  counted from the segment's voxels) and its radiomic features, each coded with its IBSI
  identifier (see :mod:`radiopredict.dicom.codes`), the whole radiopredict tag as measurement
  method, and the segment of the DICOM-SEG it was computed on as the referenced segment;
* one measurement group (TID 1501) with the model's outputs (risk, survival at the horizon,
  benefit under each arm with its confidence limits), coded in the private scheme ``99RADPRED``.

Both groups carry the model name and version as algorithm identification. The report joins the
source study (its patient and study modules are those of the source series), in a new series
with fresh UIDs. :func:`read_measurement_report` turns a report back into the table.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.dicom.codes import (
    IBSI_SCHEME,
    PRIVATE_SCHEME,
    PRIVATE_SCHEME_NAME,
    feature_code,
    feature_unit,
    output_meaning,
)
from radiopredict.errors import ConfigError, ImageReadError, InputFileNotFoundError

__all__ = ["write_measurement_report", "read_measurement_report", "source_datasets"]

_VOLUME = ("118565006", "SCT", "Volume")
_METHOD = ("370129005", "SCT", "Measurement Method")
_PREDICTION_GROUP = "radiopredict model output"
_VOLUME_COLUMN = "volume_mm3"


def source_datasets(folder: str | Path, series_uid: str | None = None) -> list[Any]:
    """Headers (no pixel data) of the files of one image series, in slice order.

    Parameters
    ----------
    folder
        Folder of the series (other series and non-image objects may be present).
    series_uid
        Series Instance UID when the folder holds several image series.
    """
    import pydicom

    from radiopredict.imaging.dicom import list_series, read_dicom_series

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileNotFoundError(
            "the source DICOM folder does not exist",
            path=folder,
            fix="pass the folder of the image series the features were computed on",
        )
    series = list_series(folder)
    chosen = [s for s in series if series_uid in (None, s.series_uid)]
    if len(chosen) != 1:
        read_dicom_series(folder, series_uid)  # raises the error that lists the series
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in chosen[0].files]


def _rows(features: Any) -> dict[str, dict[str, float]]:
    """``{roi name: {tag: value}}`` from a DataFrame (one row per ROI), a Series or a mapping."""
    if isinstance(features, pd.Series):
        features = {str(features.name or "ROI"): features}
    elif isinstance(features, pd.DataFrame):
        features = {str(i): row for i, row in features.iterrows()}
    if not isinstance(features, Mapping) or not features:
        raise ConfigError(
            "features must be a DataFrame with one row per ROI (index: ROI name), a Series of "
            f"one ROI or a mapping {{ROI name: {{tag: value}}}}, got {type(features).__name__}",
            fix="pass the feature table of the scored patient",
        )
    first = next(iter(features.values()))
    if not isinstance(first, (Mapping, pd.Series)):  # one ROI given as {tag: value}
        features = {"ROI": features}
    return {str(roi): dict(values) for roi, values in features.items()}


def _number(value: Any, what: str, path: Path) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(
            f"{what} is {value!r}, not a finite number: a measurement report holds numbers only",
            path=path,
            fix="drop the column, or fix the value before writing the report",
        )
    return number


def _segments(seg) -> dict[str, int]:
    return {str(s.SegmentLabel): int(s.SegmentNumber) for s in seg.SegmentSequence}


def write_measurement_report(
    path: str | Path,
    source_dicom_folder: str | Path,
    seg_path: str | Path,
    features: Any,
    prediction: Mapping[str, Any] | pd.Series | None = None,
    *,
    model_name: str,
    model_version: str,
    series_uid: str | None = None,
    segment_numbers: Mapping[str, int] | None = None,
    volumes: Mapping[str, float] | None = None,
    series_description: str = "radiopredict measurement report",
) -> Path:
    """Write a TID 1500 measurement report (Comprehensive 3D SR) for one scored patient.

    Parameters
    ----------
    path
        Output ``.dcm`` file; parent folders are created.
    source_dicom_folder
        Folder of the image series the features were computed on.
    seg_path
        The DICOM-SEG of the ROIs (written with :func:`radiopredict.dicom.write_dicom_seg` from
        the same series); each ROI references its segment.
    features
        Feature table of the patient: a DataFrame with one row per ROI (index: ROI name, the
        segment label in the SEG), a Series of one ROI, or ``{roi: {tag: value}}``. Values must
        be finite numbers.
    prediction
        The model's outputs for the patient, ``{column: value}`` (a row of the prediction
        table: ``risk``, ``survival_at_<h>``, ``survival[arm]``, ``benefit[arm]``,
        ``benefit[arm]_lower``...); ``None`` for features only.
    model_name, model_version
        Algorithm identification of the model (and of the feature extraction).
    series_uid
        Source series when the folder holds several.
    segment_numbers
        ``{roi: segment number}`` when ROI names differ from the SEG's segment labels.
    volumes
        ``{roi: volume in mm3}`` when the caller has counted them; by default each segment's
        voxels are counted in the SEG.
    series_description
        Series Description of the report.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ConfigError
        A feature or output value is not a finite number, or an ROI has no segment in the SEG.
    ImageReadError
        The SEG cannot be read, or does not refer to the source series.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.coding import Code

    from radiopredict._version import __version__
    from radiopredict.imaging.dicom import read_dicom_seg

    out = Path(path)
    seg_path = Path(seg_path)
    rows = _rows(features)
    sources = source_datasets(source_dicom_folder, series_uid)
    source = sources[0]
    try:
        seg = pydicom.dcmread(seg_path)
    except Exception as exc:
        raise ImageReadError(
            f"cannot read the DICOM-SEG: {exc}", path=seg_path, fix="pass the SEG file written"
        ) from exc
    referenced = {str(s.SeriesInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])}
    if str(source.SeriesInstanceUID) not in referenced:
        raise ImageReadError(
            f"the SEG refers to series {sorted(referenced)}, not to the source series "
            f"{source.SeriesInstanceUID}",
            path=seg_path,
            fix="write the SEG from the same source series as the report",
        )
    labels = _segments(seg)
    numbers = dict(segment_numbers or {})
    for roi in rows:
        if roi not in numbers:
            if roi in labels:
                numbers[roi] = labels[roi]
            elif len(rows) == 1 and len(labels) == 1:
                numbers[roi] = next(iter(labels.values()))
            else:
                raise ConfigError(
                    f"ROI {roi!r} has no segment in the SEG; its segments are "
                    + ", ".join(f"{n} ({lab!r})" for lab, n in labels.items()),
                    path=seg_path,
                    fix="name the ROIs as the segment labels, or pass segment_numbers={roi: n}",
                )
    modality = str(source.get("Modality", ""))
    algorithm = hd.sr.AlgorithmIdentification(name=model_name, version=str(model_version))
    groups = []
    for roi, values in rows.items():
        number = numbers[roi]
        if volumes is not None and roi in volumes:
            volume = _number(volumes[roi], f"volume of ROI {roi!r}", out)
        else:
            mask = read_dicom_seg(seg_path, number)
            volume = float(np.count_nonzero(_array(mask)) * np.prod(mask.GetSpacing()))
        measurements = [
            hd.sr.Measurement(
                name=Code(*_VOLUME),
                value=volume,
                unit=Code("mm3", "UCUM", "cubic millimeter"),
            )
        ]
        for tag, value in values.items():
            number_value = _number(value, f"feature {tag!r} of ROI {roi!r}", out)
            code = feature_code(str(tag))
            measurements.append(
                hd.sr.Measurement(
                    name=Code(code.value, code.scheme, code.meaning),
                    value=number_value,
                    unit=_unit(code.unit_kind, modality),
                    method=Code(str(tag), PRIVATE_SCHEME, str(tag)[:64]),
                )
            )
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=roi),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID,
                    sop_instance_uid=seg.SOPInstanceUID,
                    segment_number=number,
                    source_series=hd.sr.SourceSeriesForSegmentation(str(source.SeriesInstanceUID)),
                ),
                algorithm_id=algorithm,
                measurements=measurements,
            )
        )
    if prediction is not None:
        outputs = [
            hd.sr.Measurement(
                name=Code(str(col), PRIVATE_SCHEME, output_meaning(str(col))),
                value=_number(value, f"model output {col!r}", out),
                unit=Code("1", "UCUM", "no units"),
            )
            for col, value in dict(prediction).items()
        ]
        if outputs:
            groups.append(
                hd.sr.MeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=hd.UID(), identifier=_PREDICTION_GROUP
                    ),
                    algorithm_id=algorithm,
                    measurements=outputs,
                )
            )
    observer = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=Code("121007", "DCM", "Device"),
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=hd.UID(),
                name=model_name[:64],
                manufacturer_name="radiopredict",
                model_name=f"radiopredict {__version__}"[:64],
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=observer,
        procedure_reported=Code("363679005", "SCT", "Imaging procedure"),
        imaging_measurements=groups,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*intended person name.*")
        sr = hd.sr.Comprehensive3DSR(
            evidence=[*sources, seg],
            content=report[0],
            series_instance_uid=hd.UID(),
            series_number=int(source.get("SeriesNumber", 0) or 0) + 2000,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="radiopredict",
            is_complete=True,
            series_description=series_description,
        )
    _declare_schemes(sr, pydicom)
    out.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(out)
    return out


def _unit(kind: str, modality: str):
    from pydicom.sr.coding import Code

    value, meaning = feature_unit(kind, modality)
    return Code(value, "UCUM", meaning)


def _array(image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(image)


def _declare_schemes(sr, pydicom) -> None:
    """Coding Scheme Identification of the private and IBSI schemes used in the report."""
    items = list(sr.get("CodingSchemeIdentificationSequence", []))
    have = {str(i.CodingSchemeDesignator) for i in items}
    for designator, name, registry in (
        (PRIVATE_SCHEME, PRIVATE_SCHEME_NAME, None),
        (IBSI_SCHEME, "Image Biomarker Standardisation Initiative", "HL7"),
    ):
        if designator in have:
            continue
        item = pydicom.Dataset()
        item.CodingSchemeDesignator = designator
        item.CodingSchemeName = name
        item.CodingSchemeResponsibleOrganization = (
            "radiopredict" if registry is None else "Image Biomarker Standardisation Initiative"
        )
        items.append(item)
    sr.CodingSchemeIdentificationSequence = items


# ---------------------------------------------------------------------------------- reading


def _code(item) -> tuple[str, str]:
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue")
    return str(value), str(item.CodingSchemeDesignator)


def _value(item) -> float:
    measured = item.MeasuredValueSequence[0]
    if "FloatingPointValue" in measured:
        return float(measured.FloatingPointValue)
    return float(measured.NumericValue)


def _children(item, value_type: str | None = None):
    for child in item.get("ContentSequence", []):
        if value_type is None or str(child.ValueType) == value_type:
            yield child


def read_measurement_report(path: str | Path) -> pd.DataFrame:
    """Read a measurement report written by :func:`write_measurement_report` into a table.

    Parameters
    ----------
    path
        The SR file.

    Returns
    -------
    pandas.DataFrame
        One row per ROI (index ``roi``): ``segment_number``, ``volume_mm3``, every feature by its
        radiopredict tag, and the model's outputs by their column names (the same on every row).
        Values are those stored (the binary double of each measurement, so equal to what was
        written). ``attrs`` holds ``model_name``, ``model_version``, ``study_instance_uid``,
        ``series_instance_uid``, ``sop_instance_uid`` and ``seg_sop_instance_uid``.

    Raises
    ------
    ImageReadError
        The file is not a TID 1500 measurement report.
    """
    import pydicom

    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(
            "the measurement report does not exist", path=path, fix="check the path"
        )
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise ImageReadError(
            f"cannot read the DICOM file: {exc}", path=path, fix="pass a DICOM SR file"
        ) from exc
    template = [str(t.get("TemplateIdentifier", "")) for t in ds.get("ContentTemplateSequence", [])]
    if str(ds.get("Modality", "")) != "SR" or "1500" not in template:
        raise ImageReadError(
            f"not a TID 1500 measurement report (Modality {ds.get('Modality', '')!r}, "
            f"template {template or 'none'})",
            path=path,
            fix="pass the SR written by write_measurement_report",
        )
    rows: dict[str, dict[str, float]] = {}
    outputs: dict[str, float] = {}
    algorithm: dict[str, str] = {}
    seg_uid = ""
    for container in _children(ds, "CONTAINER"):  # Imaging Measurements
        for group in _children(container, "CONTAINER"):  # Measurement Group
            tracking = ""
            values: dict[str, float] = {}
            segment = None
            for item in _children(group):
                name = _code(item.ConceptNameCodeSequence[0])
                if name == ("112039", "DCM"):  # Tracking Identifier
                    tracking = str(item.TextValue)
                elif name == ("111001", "DCM"):  # Algorithm Name
                    algorithm.setdefault("model_name", str(item.TextValue))
                elif name == ("111003", "DCM"):  # Algorithm Version
                    algorithm.setdefault("model_version", str(item.TextValue))
                elif name == ("121191", "DCM"):  # Referenced Segment
                    ref = item.ReferencedSOPSequence[0]
                    segment = int(ref.ReferencedSegmentNumber)
                    seg_uid = str(ref.ReferencedSOPInstanceUID)
                elif str(item.ValueType) == "NUM":
                    tag = name[0]
                    for mod in _children(item, "CODE"):
                        if _code(mod.ConceptNameCodeSequence[0]) == _METHOD[:2]:
                            tag = _code(mod.ConceptCodeSequence[0])[0]
                    if name == _VOLUME[:2]:
                        tag = _VOLUME_COLUMN
                    values[tag] = _value(item)
            if tracking == _PREDICTION_GROUP and segment is None:
                outputs.update(values)
            else:
                rows[tracking] = {"segment_number": segment, **values}
    table = pd.DataFrame.from_dict(rows, orient="index")
    for col, value in outputs.items():
        table[col] = value
    if table.empty and outputs:
        table = pd.DataFrame([outputs])
    table.index.name = "roi"
    table.attrs.update(
        algorithm,
        study_instance_uid=str(ds.StudyInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        seg_sop_instance_uid=seg_uid,
    )
    return table
