"""DICOMweb against a real PACS (Orthanc from Debian, started by the ``orthanc`` fixture):
upload the IBSI CT phantom with its RTSTRUCT and a synthetic case written as DICOM, fetch them
back, write SEG and SR, store them and find them in the source study; and the errors."""

from __future__ import annotations

import shutil

import pandas as pd
import pydicom
import pytest

from radiopredict.dicom import (
    fetch_inputs,
    fetch_study,
    read_inputs,
    read_measurement_report,
    select_inputs,
    store_instances,
    store_results,
    study_series,
    write_dicom_seg,
    write_results,
)
from radiopredict.errors import DicomWebError, GeometryMismatchError, ImageReadError

PREDICTION = {"risk": 0.42, "survival_at_24": 0.71, "benefit[B]": 0.05}


def _score_and_store(url, study_uid, work, label, key_file=None):
    """The predict steps around the model: fetch and pick, features of the mask, SEG + SR, store."""
    from radiopredict.features import compute_features

    inputs = fetch_inputs(url, study_uid, work / "input", key_file=key_file)
    image, mask, names = read_inputs(inputs, label=label)
    assert names == {1: label}
    features = compute_features(image, mask, "ct").to_frame(label).T
    files = write_results(
        inputs, mask, names, features, PREDICTION, work / "out",
        model_name="test model", model_version="1",
    )  # fmt: skip
    stored = store_results(url, files, key_file=key_file)
    return inputs, features, files, stored


@pytest.mark.slow
def test_phantom_and_synthetic_case_round_trip_through_orthanc(
    orthanc, shared_data, synthetic_dicom_case, tmp_path
):
    phantom = shared_data / "ibsi1" / "ct_phantom" / "dicom"
    store_instances(orthanc, sorted(phantom.rglob("*.dcm")))
    store_instances(orthanc, [*sorted(synthetic_dicom_case["series"].glob("*.dcm"))])
    store_instances(orthanc, [synthetic_dicom_case["seg"]])

    cases = {
        "GTV-1": pydicom.dcmread(phantom / "mask" / "DCM_RS_00060.dcm").StudyInstanceUID,
        "tumour": pydicom.dcmread(synthetic_dicom_case["seg"]).StudyInstanceUID,
    }
    for label, study_uid in cases.items():
        work = tmp_path / label
        chosen, features, (seg, sr), stored = _score_and_store(orthanc, study_uid, work, label)
        assert len(stored) == 2
        assert chosen.mask_modality == ("RTSTRUCT" if label == "GTV-1" else "SEG")
        series = study_series(orthanc, study_uid)
        modalities = sorted(series.modality)
        assert modalities.count("SEG") == (1 if label == "GTV-1" else 2)
        assert "SR" in modalities and "CT" in modalities
        sr_series = pydicom.dcmread(sr).SeriesInstanceUID
        assert sr_series in set(series.series_uid)

        # fetched back from the PACS, the report gives the same table
        again = fetch_study(orthanc, study_uid, work / "again")
        sr_back = next((again / sr_series).glob("*.dcm"))
        table = read_measurement_report(sr_back)
        pd.testing.assert_frame_equal(
            table[features.columns], features, check_names=False, check_dtype=False
        )
        assert table.loc[label, "risk"] == PREDICTION["risk"]
        # the stored SEG is a result now, not an input: the study's own mask is picked again
        assert select_inputs(again).mask_modality == chosen.mask_modality


@pytest.mark.slow
def test_pseudonymised_scoring_stores_into_the_original_study(
    orthanc, synthetic_dicom_case, tmp_path
):
    case = synthetic_dicom_case
    study_uid = pydicom.dcmread(case["seg"]).StudyInstanceUID
    if study_series(orthanc, study_uid).empty:
        store_instances(orthanc, [*sorted(case["series"].glob("*.dcm")), case["seg"]])
    key = tmp_path / "pseudonyms.json"
    inputs, _, files, stored = _score_and_store(orthanc, study_uid, tmp_path, "tumour", key)
    assert inputs.study_uid != study_uid  # worked on the pseudonymised copy
    identifiers = [case["patient"]["patient_id"].encode(), b"Testperson", b"19570312"]
    local = [*files, *(tmp_path / "input" / "pseudonymised").rglob("*.dcm")]
    for path in local:
        assert not [s for s in identifiers if s in path.read_bytes()], path
    held = study_series(orthanc, study_uid)  # the results joined the original study
    stored_series = {pydicom.dcmread(p).SeriesInstanceUID for p in files}
    assert stored_series <= set(held.series_uid)
    back = fetch_study(orthanc, study_uid, tmp_path / "back")
    sr = pydicom.dcmread(next((back / pydicom.dcmread(files.sr).SeriesInstanceUID).glob("*")))
    assert sr.PatientID == case["patient"]["patient_id"]


def test_dicomweb_errors(orthanc, synthetic_dicom_case, tmp_path):
    import socket

    from radiopredict.dicom.web import connect

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/dicom-web"
    with pytest.raises(DicomWebError, match="unreachable.*check the URL"):
        fetch_study(dead, "1.2.3", tmp_path / "x", client=connect(dead, attempts=1))
    with pytest.raises(DicomWebError, match="holds no study 1.2.3.4.5"):
        fetch_study(orthanc, "1.2.3.4.5", tmp_path / "y")


def test_select_inputs_errors(shared_data, synthetic_dicom_case, tmp_path):
    phantom = shared_data / "ibsi1" / "ct_phantom" / "dicom"
    only_mask = tmp_path / "only_mask"
    shutil.copytree(phantom / "mask", only_mask)
    with pytest.raises(ImageReadError, match="has no CT series; it holds: .*RTSTRUCT"):
        select_inputs(only_mask)

    two = tmp_path / "two_ct"
    shutil.copytree(phantom / "image", two / "a")
    shutil.copytree(synthetic_dicom_case["series"], two / "b")
    with pytest.raises(ImageReadError, match="has 2 CT series.*--series"):
        select_inputs(two)
    ct = select_inputs(
        two, series_uid=pydicom.dcmread(next((two / "b").glob("*"))).SeriesInstanceUID
    )
    assert ct.mask_path is None  # no mask: the caller segments

    other = tmp_path / "other_frame"
    shutil.copytree(phantom / "image", other / "ct")
    shutil.copy(synthetic_dicom_case["seg"], other / "seg.dcm")
    with pytest.raises(GeometryMismatchError, match="another|frame of reference"):
        select_inputs(other)

    masks = tmp_path / "two_masks"
    shutil.copytree(synthetic_dicom_case["series"], masks / "ct")
    shutil.copy(synthetic_dicom_case["seg"], masks / "seg1.dcm")
    seg2 = write_dicom_seg(
        synthetic_dicom_case["mask"], masks / "ct", masks / "seg2.dcm", label_names={1: "t2"}
    )
    with pytest.raises(ImageReadError, match="2 masks on series.*--mask-series"):
        select_inputs(masks)
    picked = select_inputs(masks, mask_series_uid=pydicom.dcmread(seg2).SeriesInstanceUID)
    assert picked.mask_path == seg2
