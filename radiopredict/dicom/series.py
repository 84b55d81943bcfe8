"""Write an image (NIfTI, NRRD, a synthetic volume) as a DICOM CT series.

Used to put a synthetic case or a converted study into a PACS; the series gets the patient and
study identifiers given, fresh UIDs, and one file per slice.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiopredict.errors import ConfigError

__all__ = ["write_dicom_series"]


def write_dicom_series(
    image: sitk.Image,
    folder: str | Path,
    *,
    patient_id: str,
    patient_name: str = "",
    patient_birth_date: str = "",
    patient_sex: str = "",
    study_instance_uid: str | None = None,
    study_date: str | None = None,
    accession_number: str = "",
    study_id: str = "1",
    series_description: str = "radiopredict series",
    series_number: int = 1,
) -> list[Path]:
    """Write a 3-D image as a DICOM CT series, one uncompressed file per slice.

    Parameters
    ----------
    image
        3-D image in Hounsfield units (rounded to int16; rescale slope 1, intercept 0).
    folder
        Output folder, created when absent; files are ``slice_0000.dcm``, ...
    patient_id, patient_name, patient_birth_date, patient_sex
        Patient module (birth date as ``YYYYMMDD``, sex ``M``, ``F``, ``O`` or empty).
    study_instance_uid
        The study to join; a fresh one by default.
    study_date, accession_number, study_id
        General study module (study date ``YYYYMMDD``, default today).
    series_description, series_number
        General series module.

    Returns
    -------
    list of pathlib.Path
        The written files, in slice order.
    """
    import highdicom as hd
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    if image.GetDimension() != 3:
        raise ConfigError(
            f"a DICOM series needs a 3-D image, got {image.GetDimension()}-D",
            fix="pass a 3-D volume",
        )
    arr = sitk.GetArrayFromImage(image)
    if not np.all(np.isfinite(arr)):
        raise ConfigError("the image holds non-finite values", fix="fill them before writing")
    pixels = np.clip(np.rint(arr), -32768, 32767).astype(np.int16)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    study_uid = study_instance_uid or hd.UID()
    series_uid, frame_uid = hd.UID(), hd.UID()
    today = _dt.datetime.now(_dt.timezone.utc)
    date = study_date or today.strftime("%Y%m%d")
    time = today.strftime("%H%M%S")
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    sx, sy, sz = image.GetSpacing()
    orientation = [float(v) for v in (*direction[:, 0], *direction[:, 1])]
    paths = []
    for k in range(pixels.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = hd.UID()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = patient_birth_date
        ds.PatientSex = patient_sex
        ds.StudyInstanceUID = study_uid
        ds.StudyDate, ds.StudyTime = date, time
        ds.ReferringPhysicianName = ""
        ds.StudyID = study_id
        ds.AccessionNumber = accession_number
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = series_description
        ds.Laterality = ""
        ds.PatientPosition = "HFS"
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.Manufacturer = "radiopredict"
        ds.InstanceNumber = k + 1
        ds.ContentDate, ds.ContentTime = date, time
        ds.AcquisitionNumber = 1
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        ds.ImagePositionPatient = [round(float(v), 6) for v in position]
        ds.ImageOrientationPatient = [round(v, 8) for v in orientation]
        ds.PixelSpacing = [float(sy), float(sx)]
        ds.SliceThickness = float(sz)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(pixels.shape[1]), int(pixels.shape[2])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.KVP = ""
        ds.PixelData = pixels[k].tobytes()
        path = out / f"slice_{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
