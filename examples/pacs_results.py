"""Results in the PACS: DICOM-SEG and a TID 1500 measurement report in the source study.

Writes a small synthetic CT (synthetic data: the numbers below describe no patient) as a DICOM
series with patient data, pseudonymises it, computes the IBSI features of its tumour mask,
writes the SEG and the measurement report (features, volume and a stand-in model output) and
reads the report back into a table. When Orthanc and its DICOMweb plugin are installed
(``apt-get install -y orthanc orthanc-dicomweb``), it then runs the DICOMweb round trip:
store the study in a local Orthanc, fetch it, write and store SEG + SR, list the study's series.

Usage: ``python examples/pacs_results.py [OUT_DIR]`` (a temporary folder when omitted).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiopredict.dicom import (
    deidentify_folder,
    fetch_inputs,
    read_inputs,
    read_measurement_report,
    select_inputs,
    store_instances,
    store_results,
    study_series,
    write_dicom_seg,
    write_dicom_series,
    write_results,
)
from radiopredict.features import compute_features

# a stand-in for the model's output row (risk, survival at the horizon, benefit with its CI)
PREDICTION = {
    "risk": 0.61,
    "survival_at_24": 0.58,
    "benefit[chemoradiotherapy]": 0.07,
    "benefit[chemoradiotherapy]_lower": 0.01,
    "benefit[chemoradiotherapy]_upper": 0.13,
}


def synthetic_case(folder: Path) -> Path:
    """A 64 x 64 x 16 CT-like series (0.8 x 0.8 x 3 mm) with a tumour, and its SEG."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:16, 0:64, 0:64]
    r = np.sqrt(((x - 32) * 0.8) ** 2 + ((y - 30) * 0.8) ** 2 + ((z - 8) * 3.0) ** 2)
    ct = np.where(r < 12, 45, -750) + rng.normal(0, 20, r.shape)
    image = sitk.GetImageFromArray(ct.astype(np.float32))
    image.SetSpacing((0.8, 0.8, 3.0))
    write_dicom_series(
        image,
        folder / "ct",
        patient_id="EXAMPLE-0001",
        patient_name="Example^Patient",
        patient_birth_date="19600101",
        series_description="synthetic CT (example)",
    )
    mask = sitk.GetImageFromArray((r < 12).astype(np.uint8))
    mask.CopyInformation(image)
    return write_dicom_seg(
        mask, folder / "ct", folder / "seg" / "tumour.dcm", label_names={1: "tumour"}
    )


def main(out: Path) -> None:
    synthetic_case(out / "study")
    mapping = deidentify_folder(out / "study", out / "pseudonymised", out / "key.json")
    print("pseudonyms:", mapping, "(key file:", out / "key.json", ")")

    inputs = select_inputs(out / "pseudonymised")
    image, mask, names = read_inputs(inputs)
    features = compute_features(image, mask, "ct").to_frame(names[1]).T
    files = write_results(
        inputs, mask, names, features, PREDICTION, out / "results",
        model_name="example model", model_version="0.1",
    )  # fmt: skip
    table = read_measurement_report(files.sr)
    print(f"SEG {files.seg.name}, SR {files.sr.name}: {table.shape[1]} values per ROI")
    cols = ["volume_mm3", "morph_volume", "stat_mean", "cm_joint_max_3D_avg", *PREDICTION]
    print("synthetic data, read back from the SR:")
    print(table[cols].T.to_string())

    from radiopredict.dicom.testing import dicomweb_plugin, local_orthanc, orthanc_binary

    if orthanc_binary() is None or dicomweb_plugin() is None:
        print("Orthanc is not installed: DICOMweb round trip skipped")
        return
    with local_orthanc(out / "orthanc") as url:
        store_instances(url, sorted((out / "study").rglob("*.dcm")))
        study_uid = inputs_uid = select_inputs(out / "study").study_uid
        fetched = fetch_inputs(url, study_uid, out / "pacs_input")
        image, mask, names = read_inputs(fetched)
        features = compute_features(image, mask, "ct").to_frame(names[1]).T
        files = write_results(
            fetched, mask, names, features, PREDICTION, out / "pacs_results",
            model_name="example model", model_version="0.1",
        )  # fmt: skip
        store_results(url, files)
        print(f"study {inputs_uid} in Orthanc now holds:")
        print(study_series(url, study_uid)[["modality", "description"]].to_string())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
