"""DICOM results: the IBSI code table, TID 1500 measurement reports with DICOM-SEG, their
validation with dciodvfy, and pseudonymisation of DICOM input."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

from radiopredict.dicom import (
    deidentify_folder,
    feature_code,
    ibsi_code_table,
    read_measurement_report,
    reidentify_file,
    write_dicom_seg,
    write_measurement_report,
)
from radiopredict.errors import ConfigError, ImageReadError

PREDICTION = {
    "risk": 0.7312345678912345,
    "survival_at_24": 0.6134,
    "survival[surgery]": 0.55,
    "survival[chemoradiotherapy]": 0.6134,
    "benefit[chemoradiotherapy]": 0.0634,
    "benefit[chemoradiotherapy]_lower": -0.012,
    "benefit[chemoradiotherapy]_upper": 0.1421,
}

# dciodvfy warnings the written objects may carry, and why (listed in docs/pacs.md)
ALLOWED_WARNINGS = (
    # the private coding scheme of the model outputs and radiopredict tags is not a DICOM one
    r"Unrecognized defined term <99RADPRED> for value 1 of attribute <Coding Scheme Designator>",
    # copied from the source series (the IBSI phantom has no study date, time or ID)
    r"Missing attribute or value that would be needed to build DICOMDIR - Study (Date|Time|ID)",
    # the phantom's patient name <PAT1> has one component
    r"Value dubious for this VR - \(0x0010,0x0010\) PN Patient's Name .*Retired Person Name form",
)


def _unexplained(warnings: list[str]) -> list[str]:
    return [w for w in warnings if not any(re.search(p, w) for p in ALLOWED_WARNINGS)]


def test_ibsi_code_table_agrees_with_registry_and_ps316():
    from pydicom.sr import _concepts_dict

    from radiopredict.features.families import load_all
    from radiopredict.features.registry import all_features

    load_all()
    table = ibsi_code_table()
    registry = {d.stem: d.ibsi_code for d in all_features() if d.family != "diagnostics"}
    assert dict(zip(table.stem, table.ibsi_code)) == {s: c for s, c in registry.items() if c}
    ps316 = {
        code: meaning
        for entry in _concepts_dict.concepts["IBSI"].values()
        for code, (meaning, _cids) in entry.items()
    }
    listed = table[table.dicom_cid != ""]
    assert len(listed) >= 140
    for row in listed.itertuples():
        assert ps316[row.ibsi_code] == row.code_meaning, row.stem
    assert set(table.unit_kind) <= {"1", "mm", "mm2", "mm3", "/mm", "I", "I2", "I.mm3"}


def test_feature_code_of_tags():
    code = feature_code("cm_joint_max_3D_avg")
    assert (code.value, code.scheme, code.meaning) == ("GYBY", "IBSI", "Joint Maximum of GLCM")
    assert feature_code("morph_volume").unit_kind == "mm3"
    other = feature_code("original_firstorder_Mean")
    assert (other.value, other.scheme) == ("original_firstorder_Mean", "99RADPRED")


@pytest.fixture(scope="module")
def phantom_result(shared_data, tmp_path_factory):
    from radiopredict.features import compute_features
    from radiopredict.imaging import read_image, read_mask

    root = shared_data / "ibsi1" / "ct_phantom" / "dicom"
    image = read_image(root / "image")
    mask = read_mask(root / "mask" / "DCM_RS_00060.dcm", reference=image, label="GTV-1")
    features = compute_features(image, mask, "ct")
    out = tmp_path_factory.mktemp("phantom_results")
    seg = write_dicom_seg(
        mask, root / "image", out / "seg.dcm", label_names={1: "GTV-1"}, algorithm_name="demo"
    )
    table = pd.DataFrame([features.to_dict()], index=["GTV-1"])
    sr = write_measurement_report(
        out / "sr.dcm",
        root / "image",
        seg,
        table,
        PREDICTION,
        model_name="demo study model",
        model_version="0.3.1",
    )
    return {"series": root / "image", "mask": mask, "features": table, "seg": seg, "sr": sr}


def test_report_round_trip_on_the_phantom(phantom_result):
    back = read_measurement_report(phantom_result["sr"])
    features = phantom_result["features"]
    assert list(back.index) == ["GTV-1"]
    for tag in features.columns:  # the stored double of each feature
        assert back.loc["GTV-1", tag] == features.loc["GTV-1", tag], tag
    for col, value in PREDICTION.items():
        assert back.loc["GTV-1", col] == value, col
    mask = phantom_result["mask"]
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    assert back.loc["GTV-1", "volume_mm3"] == pytest.approx(voxels * np.prod(mask.GetSpacing()))
    assert back.loc["GTV-1", "segment_number"] == 1
    assert back.attrs["model_name"] == "demo study model"
    assert back.attrs["model_version"] == "0.3.1"


def test_seg_and_sr_join_the_source_study(phantom_result):
    source = pydicom.dcmread(next(phantom_result["series"].glob("*.dcm")))
    seg = pydicom.dcmread(phantom_result["seg"])
    sr = pydicom.dcmread(phantom_result["sr"])
    assert seg.StudyInstanceUID == sr.StudyInstanceUID == source.StudyInstanceUID
    assert len({seg.SeriesInstanceUID, sr.SeriesInstanceUID, source.SeriesInstanceUID}) == 3
    assert seg.SOPInstanceUID != sr.SOPInstanceUID
    assert sr.PatientID == source.PatientID
    evidence = {
        str(se.SeriesInstanceUID)
        for st in sr.CurrentRequestedProcedureEvidenceSequence
        for se in st.ReferencedSeriesSequence
    }
    assert {str(source.SeriesInstanceUID), str(seg.SeriesInstanceUID)} <= evidence
    assert read_measurement_report(phantom_result["sr"]).attrs["seg_sop_instance_uid"] == (
        seg.SOPInstanceUID
    )


def test_seg_and_sr_pass_dciodvfy(phantom_result, dciodvfy):
    for key in ("seg", "sr"):
        result = dciodvfy(phantom_result[key])
        assert result["errors"] == [], (key, result["errors"])
        assert _unexplained(result["warnings"]) == [], key


def test_report_errors(phantom_result, synthetic_dicom_case, tmp_path):
    series, seg = phantom_result["series"], phantom_result["seg"]
    with pytest.raises(ConfigError, match="stat_mean.*not a finite number"):
        write_measurement_report(
            tmp_path / "a.dcm", series, seg, {"GTV-1": {"stat_mean": float("nan")}},
            model_name="m", model_version="1",
        )  # fmt: skip
    with pytest.raises(ConfigError, match="ROI 'liver' has no segment.*GTV-1"):
        write_measurement_report(
            tmp_path / "b.dcm", series, seg, {"liver": {"stat_mean": 1.0}, "GTV-1": {}},
            model_name="m", model_version="1",
        )  # fmt: skip
    with pytest.raises(ImageReadError, match="not to the source series"):
        write_measurement_report(
            tmp_path / "c.dcm", series, synthetic_dicom_case["seg"], {"GTV-1": {"x": 1.0}},
            model_name="m", model_version="1",
        )  # fmt: skip
    with pytest.raises(ImageReadError, match="not a TID 1500 measurement report"):
        read_measurement_report(seg)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_deidentified_outputs_hold_no_identifiers(synthetic_dicom_case, tmp_path, dciodvfy):
    case = synthetic_dicom_case
    patient = case["patient"]
    secrets_ = [
        patient["patient_id"],
        patient["patient_birth_date"],
        "Testperson",
        "Erika",
        "ACC99881",
    ]
    original = pydicom.dcmread(next(case["series"].glob("*.dcm")))
    assert str(original.PatientName) == patient["patient_name"]  # the input carries them

    key = tmp_path / "key" / "pseudonyms.json"
    mapping = deidentify_folder(case["root"], tmp_path / "deid", key)
    pseudonym = mapping[patient["patient_id"]]
    series = tmp_path / "deid" / "ct"
    seg = write_dicom_seg(
        case["mask"], series, tmp_path / "out" / "seg.dcm", label_names={1: "tumour"}
    )
    sr = write_measurement_report(
        tmp_path / "out" / "sr.dcm", series, seg, {"tumour": {"stat_mean": 81.5}}, PREDICTION,
        model_name="m", model_version="1",
    )  # fmt: skip
    table = read_measurement_report(sr)
    table.to_csv(tmp_path / "out" / "table.csv")
    outputs = [*sorted((tmp_path / "deid").rglob("*.dcm")), seg, sr, tmp_path / "out/table.csv"]
    for path in outputs:
        data = path.read_bytes()
        assert not [s for s in secrets_ if s.encode() in data], path
    ds = pydicom.dcmread(sr)
    assert ds.PatientID == pseudonym and ds.PatientIdentityRemoved == "YES"
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    assert dciodvfy(sr)["errors"] == [] and dciodvfy(seg)["errors"] == []

    # the key maps back; the same key gives the same pseudonym again
    entry = json.loads(key.read_text())["patients"][pseudonym]
    assert entry["PatientID"] == patient["patient_id"]
    assert entry["PatientBirthDate"] == patient["patient_birth_date"]
    again = deidentify_folder(case["series"], tmp_path / "deid2", key)
    assert again == mapping
    back = pydicom.dcmread(reidentify_file(sr, key, tmp_path / "reid" / "sr.dcm"))
    assert back.StudyInstanceUID == original.StudyInstanceUID
    assert back.PatientID == patient["patient_id"]
    assert "PatientIdentityRemoved" not in back


def test_bad_input_errors(synthetic_dicom_case, tmp_path):
    from radiopredict.dicom import write_dicom_series
    from radiopredict.dicom.deidentify import load_key
    from radiopredict.dicom.predict import _clinical_row
    from radiopredict.errors import InputFileNotFoundError, ManifestError

    bad_key = tmp_path / "key.json"
    bad_key.write_text('{"not": "a key"}')
    with pytest.raises(ConfigError, match="not a radiopredict pseudonymisation key"):
        load_key(bad_key)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileNotFoundError, match="holds no DICOM file"):
        deidentify_folder(tmp_path / "empty", tmp_path / "out", tmp_path / "k.json")
    other_key = tmp_path / "other.json"
    deidentify_folder(synthetic_dicom_case["series"], tmp_path / "d", tmp_path / "k1.json")
    deidentify_folder(synthetic_dicom_case["series"], tmp_path / "d2", other_key)
    with pytest.raises(ConfigError, match="not a pseudonym of the key file"):
        reidentify_file(next((tmp_path / "d").glob("*.dcm")), other_key, tmp_path / "r.dcm")
    with pytest.raises(ConfigError, match="needs a 3-D image"):
        write_dicom_series(sitk.Image(4, 4, sitk.sitkInt16), tmp_path / "s", patient_id="x")
    with pytest.raises(InputFileNotFoundError, match="source DICOM folder does not exist"):
        write_measurement_report(
            tmp_path / "x.dcm", tmp_path / "nowhere", synthetic_dicom_case["seg"], {"t": {}},
            model_name="m", model_version="1",
        )  # fmt: skip
    with pytest.raises(InputFileNotFoundError, match="measurement report does not exist"):
        read_measurement_report(tmp_path / "missing.dcm")
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("id,age\nP1,60\n")
    with pytest.raises(ManifestError, match="no patient_id column"):
        _clinical_row(clinical, "P1", "P1")
    clinical.write_text("patient_id,age\nP1,60\nP1,61\n")
    with pytest.raises(ManifestError, match="2 rows for the study's patient"):
        _clinical_row(clinical, "P1", "P1")
    clinical.write_text("patient_id,age\n007,60\n")
    assert _clinical_row(clinical, "007", "007") == {"age": 60}
