"""Pseudonymise DICOM input: the PS3.15 basic confidentiality profile on the patient and study
modules, with a local key file that maps pseudonyms back.

What is done to each file (DICOM PS3.15 Annex E, Table E.1-1, basic profile):

* Patient ID and Patient's Name are replaced by the pseudonym; Patient's Birth Date and Sex,
  the study's date and time, Accession Number, Study ID and Referring Physician's Name are
  emptied (action Z); the other identifying attributes of the patient and study modules
  (other IDs and names, birth time, age, size, weight, address, comments, study description,
  physicians) and institution, operator, station and device identifiers are removed (action X);
* every Study, Series, SOP Instance and Frame of Reference UID, wherever it occurs (references
  included), is replaced by a UID derived from it and the key's secret (action U), so that
  references between the pseudonymised files still hold;
* private attributes are removed, and Patient Identity Removed = YES with De-identification
  Method Code 113100 (Basic Application Confidentiality Profile) is recorded.

The key file (JSON, keep it at the site: it re-identifies) holds a random secret and, per
pseudonym, the original patient ID, name and birth date and the UID map. With the same key file
the same patient gets the same pseudonym and the same UIDs again. Pixel data is not inspected
(burned-in text is not removed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from radiopredict.errors import ConfigError, ImageReadError, InputFileNotFoundError

__all__ = ["deidentify_folder", "reidentify_file", "load_key"]

# action Z: keep the attribute, empty (Type 2 attributes of the patient and study modules)
_EMPTY = (
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "ContentDate",
    "ContentTime",
)
# action X: remove
_REMOVE = (
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientMotherBirthName",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientComments",
    "EthnicGroup",
    "MilitaryRank",
    "BranchOfService",
    "MedicalRecordLocator",
    "PatientInsurancePlanCodeSequence",
    "ResponsiblePerson",
    "StudyDescription",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "AdmittingDiagnosesDescription",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "OperatorsName",
    "PerformingPhysicianName",
    "StationName",
    "DeviceSerialNumber",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "StructureSetDate",
    "StructureSetTime",
    "RequestAttributesSequence",
)
# action U: replace consistently, wherever they occur
_UID_KEYWORDS = {
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "MediaStorageSOPInstanceUID",
    "FrameOfReferenceUID",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameOfReferenceUID",
    "RelatedFrameOfReferenceUID",
    "DimensionOrganizationUID",
}


def load_key(path: str | Path) -> dict[str, Any]:
    """Read a key file (or a fresh key when ``path`` does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return {"secret": secrets.token_hex(32), "patients": {}}
    try:
        key = json.loads(path.read_text())
        assert isinstance(key["secret"], str) and isinstance(key["patients"], dict)
    except Exception as exc:
        raise ConfigError(
            f"the key file is not a radiopredict pseudonymisation key: {exc}",
            path=path,
            fix="pass the key file written by deidentify_folder, or a new path",
        ) from exc
    return key


def _pseudonym(secret: str, patient_id: str) -> str:
    digest = hmac.new(bytes.fromhex(secret), patient_id.encode(), hashlib.sha256).hexdigest()
    return "RP-" + digest[:12].upper()


def _new_uid(secret: str, uid: str) -> str:
    digest = hmac.new(bytes.fromhex(secret), uid.encode(), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _map_uids(ds, mapping: dict[str, str]) -> None:
    """Replace every UID of the _UID_KEYWORDS, at any depth, through ``mapping``."""

    def callback(dataset, elem):
        if elem.keyword in _UID_KEYWORDS and elem.value:
            if elem.VM > 1:
                elem.value = [mapping.get(str(v), str(v)) for v in elem.value]
            else:
                elem.value = mapping.get(str(elem.value), str(elem.value))

    ds.walk(callback)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = mapping.get(
            str(meta.MediaStorageSOPInstanceUID), str(meta.MediaStorageSOPInstanceUID)
        )


def _collect_uids(ds) -> set[str]:
    found: set[str] = set()

    def callback(dataset, elem):
        if elem.keyword in _UID_KEYWORDS and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            found.update(str(v) for v in values)

    ds.walk(callback)
    return found


def deidentify_folder(
    source: str | Path, destination: str | Path, key_file: str | Path
) -> dict[str, str]:
    """Pseudonymise every DICOM file under ``source`` into ``destination``.

    Parameters
    ----------
    source
        Folder of DICOM files (searched recursively; non-DICOM files are skipped).
    destination
        Output folder; the sub-folder layout of ``source`` is kept.
    key_file
        JSON key file, created when absent and updated with the new patients (mode 0600).

    Returns
    -------
    dict
        ``{original patient ID: pseudonym}`` of the patients found.

    Raises
    ------
    InputFileNotFoundError
        ``source`` does not exist or holds no DICOM file.
    """
    import pydicom

    from radiopredict.imaging.dicom import is_dicom_file

    src, dst, key_path = Path(source), Path(destination), Path(key_file)
    files = sorted(p for p in src.rglob("*") if p.is_file() and is_dicom_file(p))
    if not files:
        raise InputFileNotFoundError(
            "the folder holds no DICOM file", path=src, fix="pass the folder of the study"
        )
    key = load_key(key_path)
    secret = key["secret"]
    found: dict[str, str] = {}
    for path in files:
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:
            raise ImageReadError(
                f"cannot read the DICOM file: {exc}", path=path, fix="remove or repair it"
            ) from exc
        original_id = str(ds.get("PatientID", "") or "")
        pseudonym = _pseudonym(secret, original_id)
        entry = key["patients"].setdefault(
            pseudonym,
            {
                "PatientID": original_id,
                "PatientName": str(ds.get("PatientName", "") or ""),
                "PatientBirthDate": str(ds.get("PatientBirthDate", "") or ""),
                "uids": {},
            },
        )
        mapping = {uid: _new_uid(secret, uid) for uid in _collect_uids(ds)}
        entry["uids"].update({new: old for old, new in mapping.items()})
        _map_uids(ds, mapping)
        ds.remove_private_tags()
        for keyword in _REMOVE:
            _apply(ds, keyword, remove=True)
        for keyword in _EMPTY:
            _apply(ds, keyword, remove=False)
        ds.PatientID = pseudonym
        ds.PatientName = pseudonym
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "PS3.15 basic profile (radiopredict)"
        ds.DeidentificationMethodCodeSequence = [
            _code(pydicom, "113100", "Basic Application Confidentiality Profile")
        ]
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out)
        found[original_id] = pseudonym
    key_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_path.with_suffix(key_path.suffix + ".tmp")
    tmp.write_text(json.dumps(key, indent=1, sort_keys=True))
    os.chmod(tmp, 0o600)
    tmp.replace(key_path)
    return found


def _apply(ds, keyword: str, *, remove: bool) -> None:
    """Remove or empty ``keyword`` in ``ds`` and in every nested dataset."""

    def visit(dataset):
        if keyword in dataset:
            if remove:
                delattr(dataset, keyword)
            else:
                dataset[keyword].value = None
        for elem in list(dataset):
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)

    visit(ds)


def _code(pydicom, value: str, meaning: str):
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def reidentify_file(path: str | Path, key_file: str | Path, out: str | Path) -> Path:
    """Map a result written on pseudonymised input (a SEG, an SR) back to the original patient.

    The patient ID, name and birth date of the pseudonym are restored and every pseudonymised
    UID it refers to (study, series, referenced instances) is mapped back, so that the result
    joins the original study. UIDs the result created itself (its own series and instance) are
    kept.

    Raises
    ------
    ConfigError
        The file's patient is not a pseudonym of the key file.
    """
    import pydicom

    path, out = Path(path), Path(out)
    key = load_key(key_file)
    ds = pydicom.dcmread(path)
    pseudonym = str(ds.get("PatientID", ""))
    entry = key["patients"].get(pseudonym)
    if entry is None:
        raise ConfigError(
            f"patient {pseudonym!r} is not a pseudonym of the key file",
            path=path,
            fix="pass the key file the input was pseudonymised with",
        )
    _map_uids(ds, entry["uids"])
    ds.PatientID = entry["PatientID"]
    ds.PatientName = entry["PatientName"]
    ds.PatientBirthDate = entry["PatientBirthDate"]
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod"):
        if keyword in ds:
            delattr(ds, keyword)
    if "DeidentificationMethodCodeSequence" in ds:
        del ds.DeidentificationMethodCodeSequence
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out)
    return out
