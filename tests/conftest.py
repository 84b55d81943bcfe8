"""Shared pytest fixtures.

Tests that need the reference data in ``../shared/data`` use the ``shared_data`` fixture, which
skips with a clear reason when the folder is absent (a user's own checkout has none).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RADIOPREDICT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"reference data folder {SHARED_DATA} is absent (it ships beside the project "
            "checkout for developers and CI only; set RADIOPREDICT_SHARED_DATA to point at it)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


# ------------------------------------------------------------------ DICOM validation and a PACS


def _run_dciodvfy(path) -> dict[str, list[str]]:
    """``{"errors": [...], "warnings": [...]}`` of dicom3tools' dciodvfy on one file."""
    import subprocess

    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    return {
        "errors": [ln for ln in lines if ln.startswith("Error")],
        "warnings": [ln for ln in lines if ln.startswith("Warning")],
    }


@pytest.fixture(scope="session")
def dciodvfy():
    """A function ``path -> {"errors": [...], "warnings": [...]}``; skips without dciodvfy."""
    import shutil

    if shutil.which("dciodvfy") is None:
        pytest.skip(
            "dciodvfy (Debian package dicom3tools) is not installed: "
            "apt-get install -y dicom3tools (CI installs it)"
        )
    return _run_dciodvfy


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """A fresh Orthanc PACS on a free loopback port with the DICOMweb plugin, storage in a
    temporary folder: yields its DICOMweb root URL; stopped afterwards."""
    from radiopredict.dicom.testing import dicomweb_plugin, local_orthanc, orthanc_binary

    if orthanc_binary() is None:
        pytest.skip(
            "the Orthanc binary is absent: apt-get install -y orthanc orthanc-dicomweb "
            "(CI installs them)"
        )
    if dicomweb_plugin() is None:
        pytest.skip("the Orthanc DICOMweb plugin is absent: apt-get install -y orthanc-dicomweb")
    with local_orthanc(tmp_path_factory.mktemp("orthanc")) as url:
        yield url


@pytest.fixture(scope="module")
def synthetic_dicom_case(tmp_path_factory):
    """A small synthetic CT written as DICOM (64 x 64 x 20 voxels, a bright cuboid 'tumour')
    with identifying patient data, and its mask as a DICOM-SEG (segment ``tumour``).

    Returns ``{"series": folder, "seg": path, "mask": SimpleITK mask, "patient": {...}}``.
    """
    import numpy as np
    import SimpleITK as sitk

    from radiopredict.dicom import write_dicom_seg, write_dicom_series

    root = tmp_path_factory.mktemp("synthetic_dicom")
    rng = np.random.default_rng(7)
    arr = rng.normal(20.0, 15.0, (20, 64, 64))
    zz, yy, xx = np.mgrid[:20, :64, :64]
    inside = (abs(zz - 10) < 5) & (abs(yy - 30) < 9) & (abs(xx - 34) < 11)
    arr[inside] += 60.0 + 10.0 * np.sin(xx[inside] / 3.0)
    image = sitk.GetImageFromArray(arr.astype(np.float32))
    image.SetSpacing((0.9, 0.9, 2.5))
    image.SetOrigin((-30.0, -28.0, -25.0))
    patient = {
        "patient_name": "Testperson^Erika",
        "patient_id": "MRN-4711-SYN",
        "patient_birth_date": "19570312",
    }
    series = root / "ct"
    write_dicom_series(image, series, patient_sex="F", accession_number="ACC99881", **patient)
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(image)
    seg = write_dicom_seg(mask, series, root / "mask" / "seg.dcm", label_names={1: "tumour"})
    return {"series": series, "seg": seg, "mask": mask, "patient": patient, "root": root}


def pytest_collection_modifyitems(config, items):
    """Slow tests show warnings instead of failing on them.

    ``filterwarnings = error`` (pyproject.toml, with the accepted warnings listed there) was
    checked on the fast suite; the slow tests were not all run under it yet, so they keep
    Python's default warning display until they are.
    """
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.filterwarnings("default"))
