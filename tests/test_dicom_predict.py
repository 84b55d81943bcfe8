"""End to end through a real PACS: a StudyModel fitted on the synthetic cohort scores a
synthetic patient written as DICOM and stored in Orthanc; SEG and SR go back into the study and
the SR read back gives predictions.csv. Synthetic data throughout."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

from radiopredict.dicom import (
    fetch_study,
    read_measurement_report,
    store_instances,
    study_series,
    write_dicom_seg,
    write_dicom_series,
)
from radiopredict.dicom.predict import predict_dicomweb

pytestmark = pytest.mark.slow  # fits a StudyModel (about 30 s)

PATIENT = {
    "patient_name": "Mustermann^Max",
    "patient_birth_date": "19510203",
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A StudyModel fitted on 40 synthetic patients (no U-Net, no CNN), saved and reloaded."""
    from radiopredict.cohort import Cohort
    from radiopredict.datasets import make_synthetic_cohort
    from radiopredict.study import StudyModel

    root = tmp_path_factory.mktemp("study")
    cohort = Cohort.read(make_synthetic_cohort(root / "cohort", n_patients=40, progress=False))
    settings = {
        "task": "survival",
        "horizon": 24,
        "features": {"settings": "ct", "label": 1},
        "model": {"estimator": "coxph"},
        "treatment": {"enabled": True, "n_bootstrap": 5},
    }
    with warnings.catch_warnings():  # ComBat says which constant features pass through
        warnings.simplefilter("ignore")
        StudyModel(settings).fit(cohort).save(root / "bundle")
    return {"model": StudyModel.load(root / "bundle"), "cohort": cohort, "root": root}


@pytest.fixture(scope="module")
def dicom_patient(fitted, tmp_path_factory):
    """SYN000 of the cohort as a DICOM CT series with its mask as SEG, and a clinical CSV."""
    cohort = fitted["cohort"]
    case = cohort.table[cohort.table.patient_id == "SYN000"].iloc[0]
    root = tmp_path_factory.mktemp("dicom_patient")
    image = sitk.ReadImage(str(case["image"]))
    write_dicom_series(image, root / "ct", patient_id="SYN000", **PATIENT)
    mask = sitk.ReadImage(str(case["mask"]))
    mask.CopyInformation(image)
    seg = write_dicom_seg(mask, root / "ct", root / "seg.dcm", label_names={1: "tumour"})
    clinical = cohort.patients.loc[["SYN000"], ["treatment", "batch", "age", "stage", "sex"]]
    clinical.to_csv(root / "clinical.csv", index_label="patient_id")
    return {"series": root / "ct", "seg": seg, "clinical": root / "clinical.csv"}


def test_cli_predict_from_orthanc_stores_seg_and_sr_in_the_study(
    orthanc, fitted, dicom_patient, tmp_path
):
    store_instances(orthanc, [*sorted(dicom_patient["series"].glob("*.dcm")), dicom_patient["seg"]])
    study_uid = str(pydicom.dcmread(dicom_patient["seg"]).StudyInstanceUID)

    from typer.testing import CliRunner

    from radiopredict.cli import app

    out = tmp_path / "plain"
    result = CliRunner().invoke(
        app,
        [
            "predict", str(fitted["root"] / "bundle"), "--dicomweb", orthanc,
            "--study", study_uid, "--out", str(out), "--store",
            "--clinical", str(dicom_patient["clinical"]), "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    paths = {"sr": out / "dicom" / "sr.dcm", "predictions": out / "predictions.csv"}
    assert str(paths["sr"]) in result.output and "stored 2 instances" in result.output
    predictions = pd.read_csv(paths["predictions"], index_col="patient_id")
    assert list(predictions.index) == ["SYN000"]
    held = study_series(orthanc, study_uid)
    assert sorted(held.modality) == ["CT", "SEG", "SEG", "SR"]  # the input SEG, then ours

    sr_series = str(pydicom.dcmread(paths["sr"]).SeriesInstanceUID)
    back = fetch_study(orthanc, study_uid, tmp_path / "back")
    table = read_measurement_report(next((back / sr_series).glob("*.dcm")))
    assert table.attrs["model_name"] == "bundle"  # the bundle folder's name
    assert table.attrs["model_version"].startswith(
        fitted["model"].manifest_["versions"]["radiopredict"]
    )
    row = predictions.loc["SYN000"].drop("n_undefined")
    for col, value in row.items():  # predictions.csv, as the PACS holds it
        assert table.loc["tumour", col] == pytest.approx(value, rel=1e-12, abs=1e-12), col
    assert table.loc["tumour", "morph_volume"] > 0
    assert {"cm_joint_max_3D_avg", "stat_mean", "volume_mm3"} <= set(table.columns)


def test_cli_predict_dicomweb_errors(fitted, tmp_path):
    import socket

    from typer.testing import CliRunner

    from radiopredict.cli import app

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/dicom-web"
    bundle = str(fitted["root"] / "bundle")
    runner = CliRunner()
    result = runner.invoke(app, ["predict", bundle, "--dicomweb", dead, "--study", "1.2.3"])
    assert result.exit_code == 1 and "unreachable" in result.output
    result = runner.invoke(app, ["predict", bundle, "--study", "1.2.3"])
    assert result.exit_code == 2 and "go together" in result.output
    result = runner.invoke(app, ["predict", bundle])
    assert result.exit_code == 2 and "MANIFEST" in result.output


def test_predict_deidentified_keeps_identifiers_out_of_every_output(
    orthanc, fitted, dicom_patient, tmp_path
):
    study_uid = str(pydicom.dcmread(dicom_patient["seg"]).StudyInstanceUID)
    if study_series(orthanc, study_uid).empty:
        store_instances(
            orthanc, [*sorted(dicom_patient["series"].glob("*.dcm")), dicom_patient["seg"]]
        )
    out = tmp_path / "pseudo"
    paths = predict_dicomweb(
        fitted["model"], orthanc, study_uid, out, store=True, deidentify=True,
        clinical=dicom_patient["clinical"],
    )  # fmt: skip
    pseudonym = paths["patient_id"]
    assert pseudonym.startswith("RP-")
    secrets_ = [b"SYN000", b"Mustermann", b"19510203"]
    outputs = [
        paths[k] for k in ("predictions", "failures", "undefined_features", "contributions")
    ] + [paths["seg"], paths["sr"], *sorted((out / "input" / "pseudonymised").rglob("*.dcm"))]
    for path in outputs:
        assert not [s for s in secrets_ if s in path.read_bytes()], path
    assert pd.read_csv(paths["predictions"]).patient_id.tolist() == [pseudonym]
    if shutil.which("dciodvfy"):  # CI installs it; test_dicom_results runs it unconditionally
        for path in (paths["seg"], paths["sr"]):
            run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
            errors = [ln for ln in (run.stdout + run.stderr).splitlines() if "Error" in ln]
            assert errors == [], (path, errors)
    # what was stored was re-identified into the original study
    stored_sr = str(pydicom.dcmread(paths["sr"]).SOPInstanceUID)
    assert stored_sr in paths["stored"]
    held = study_series(orthanc, study_uid)
    assert str(pydicom.dcmread(paths["sr"]).SeriesInstanceUID) in set(held.series_uid)


def test_study_without_mask_and_model_without_unet(orthanc, fitted, tmp_path):
    from radiopredict.errors import ConfigError

    image = sitk.GetImageFromArray(np.zeros((6, 16, 16), np.float32))
    files = write_dicom_series(image, tmp_path / "ct", patient_id="NOMASK")
    store_instances(orthanc, files)
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    with pytest.raises(ConfigError, match="has no RTSTRUCT or SEG.*no segmentation network"):
        predict_dicomweb(fitted["model"], orthanc, study_uid, tmp_path / "out")
