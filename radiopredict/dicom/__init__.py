"""Results in the radiology workflow: DICOM-SEG and TID 1500 measurement reports written into
the source study, DICOMweb fetch and store, and pseudonymisation of DICOM input.

See the "Results in the PACS" page of the documentation.
"""

from __future__ import annotations

from radiopredict.dicom.codes import feature_code, ibsi_code_table
from radiopredict.dicom.deidentify import deidentify_folder, reidentify_file
from radiopredict.dicom.predict import predict_dicomweb
from radiopredict.dicom.results import (
    ResultFiles,
    fetch_inputs,
    read_inputs,
    store_results,
    write_results,
)
from radiopredict.dicom.series import write_dicom_series
from radiopredict.dicom.sr import read_measurement_report, write_measurement_report
from radiopredict.dicom.web import (
    StudyInputs,
    fetch_study,
    select_inputs,
    store_instances,
    study_series,
)
from radiopredict.imaging.dicom import write_dicom_seg

__all__ = [
    "ResultFiles",
    "StudyInputs",
    "fetch_inputs",
    "read_inputs",
    "store_results",
    "write_results",
    "predict_dicomweb",
    "deidentify_folder",
    "feature_code",
    "fetch_study",
    "ibsi_code_table",
    "read_measurement_report",
    "reidentify_file",
    "select_inputs",
    "store_instances",
    "study_series",
    "write_dicom_seg",
    "write_dicom_series",
    "write_measurement_report",
]
