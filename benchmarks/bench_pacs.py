"""Latency of scoring a study from a PACS: study in Orthanc -> SEG and SR stored in it.

The study: the IBSI CT phantom (../shared/data, never copied into the package) resampled
in-plane to 512 x 512 (linear, 0.39 mm pixels) and cut to the 50 slices (3 mm) around its GTV,
written as a DICOM CT series, with the phantom's own RTSTRUCT re-targeted to the new series
(same contours; series, frame of reference and slice references updated). It is stored in a
local Orthanc (Debian packages orthanc + orthanc-dicomweb) started by the script.

Timed per run, with the radiopredict.dicom steps `radiopredict predict --dicomweb` calls:
fetch (QIDO + WADO-RS) and pick the inputs, read the image and rasterise the RTSTRUCT, IBSI
features of the GTV (preset "ct": 2 mm isotropic resampling, every IBSI-1 family), write SEG +
TID 1500 SR, store both (STOW-RS). The model's own prediction is not included (a fixed output
row stands in for it): it is a fitted pipeline applied to one feature row.

    taskset -c 0,1 nice python benchmarks/bench_pacs.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RADIOPREDICT_SHARED_DATA", ROOT.parent / "shared" / "data"))
PREDICTION = {"risk": 0.5, "survival_at_24": 0.7, "benefit[B]": 0.05}


def make_study(work: Path) -> tuple[list[Path], str]:
    """The 512 x 512 x 50 CT series and its re-targeted RTSTRUCT; returns (files, study UID)."""
    from radiopredict.dicom import write_dicom_series
    from radiopredict.imaging import read_image

    phantom = SHARED / "ibsi1" / "ct_phantom" / "dicom"
    rtstruct = pydicom.dcmread(phantom / "mask" / "DCM_RS_00060.dcm")
    image = read_image(phantom / "image")
    size, spacing = image.GetSize(), image.GetSpacing()
    # the 50 slices around the GTV (contours at z -49.4 .. 25.6 mm)
    z = [image.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(size[2])]
    keep = [k for k in range(size[2]) if -85.5 <= z[k] <= 61.7]
    assert len(keep) == 50, len(keep)
    new_spacing = (size[0] * spacing[0] / 512, size[1] * spacing[1] / 512, spacing[2])
    first = np.asarray(image.TransformIndexToPhysicalPoint((0, 0, keep[0])), float)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    shift = direction @ np.array(
        [(new_spacing[0] - spacing[0]) / 2, (new_spacing[1] - spacing[1]) / 2, 0]
    )
    reference = sitk.Image(512, 512, 50, sitk.sitkFloat32)
    reference.SetSpacing(new_spacing)
    reference.SetDirection(image.GetDirection())
    reference.SetOrigin(tuple(first + shift))
    ct = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, -1000.0)
    files = write_dicom_series(
        ct,
        work / "ct",
        patient_id=str(rtstruct.PatientID),
        patient_name=str(rtstruct.PatientName),
        study_instance_uid=str(rtstruct.StudyInstanceUID),
        series_description="IBSI CT phantom, 512 x 512 x 50 (benchmark)",
    )
    first_slice = pydicom.dcmread(files[0], stop_before_pixels=True)
    import highdicom as hd

    rtstruct.SeriesInstanceUID, rtstruct.SOPInstanceUID = hd.UID(), hd.UID()
    rtstruct.file_meta.MediaStorageSOPInstanceUID = rtstruct.SOPInstanceUID
    frame = rtstruct.ReferencedFrameOfReferenceSequence[0]
    frame.FrameOfReferenceUID = first_slice.FrameOfReferenceUID
    series_ref = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    series_ref.SeriesInstanceUID = first_slice.SeriesInstanceUID
    items = []
    for f in files:
        item = pydicom.Dataset()
        item.ReferencedSOPClassUID = pydicom.uid.CTImageStorage
        item.ReferencedSOPInstanceUID = pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
        items.append(item)
    series_ref.ContourImageSequence = items
    for roi in rtstruct.StructureSetROISequence:
        roi.ReferencedFrameOfReferenceUID = first_slice.FrameOfReferenceUID
    for roi in rtstruct.ROIContourSequence:
        for contour in roi.get("ContourSequence", []):
            if "ContourImageSequence" in contour:
                del contour.ContourImageSequence
    rt_path = work / "rtstruct" / "rtstruct.dcm"
    rt_path.parent.mkdir(parents=True)
    rtstruct.save_as(rt_path)
    return [*files, rt_path], str(rtstruct.StudyInstanceUID)


def run_once(url: str, study_uid: str, work: Path) -> dict[str, float]:
    from radiopredict.dicom import fetch_inputs, read_inputs, store_results, write_results
    from radiopredict.features import compute_features

    times = {}
    c0 = time.process_time()
    t0 = t = time.perf_counter()
    inputs = fetch_inputs(url, study_uid, work / "input")
    times["fetch + pick (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    image, mask, names = read_inputs(inputs, label="GTV-1")
    times["read + rasterise (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    features = compute_features(image, mask, "ct").to_frame("GTV-1").T
    times["features (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    files = write_results(
        inputs, mask, names, features, PREDICTION, work / "out",
        model_name="benchmark", model_version="0",
    )  # fmt: skip
    times["write SEG + SR (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    store_results(url, files)
    times["store (s)"] = time.perf_counter() - t
    times["total (s)"] = time.perf_counter() - t0
    times["total CPU of this process (s)"] = time.process_time() - c0
    times["features"] = features.shape[1]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pacs.md")
    args = parser.parse_args()
    if not (SHARED / "ibsi1" / "ct_phantom" / "dicom").is_dir():
        sys.exit(f"needs the IBSI CT phantom DICOM under {SHARED}")
    from radiopredict.dicom import store_instances
    from radiopredict.dicom.testing import local_orthanc

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files, study_uid = make_study(tmp / "study")
        with local_orthanc(tmp / "orthanc") as url:
            store_instances(url, files)
            rows = []
            for i in range(args.repeats + 1):  # the first run warms up imports and caches
                work = tmp / f"run{i}"
                rows.append(run_once(url, study_uid, work))
                shutil.rmtree(work)
                print(i, {k: round(v, 2) for k, v in rows[-1].items()}, flush=True)
    timed = rows[1:]
    keys = [k for k in timed[0] if k.endswith("(s)")]
    med = {k: float(np.median([r[k] for r in timed])) for k in keys}
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        "# PACS latency: study in Orthanc -> SEG and SR stored",
        "",
        f"- machine: {platform.platform()}, {cpus} CPU(s) available to the process, "
        f"load average at the start {load0:.1f}, at the end {os.getloadavg()[0]:.1f} (a "
        "shared machine: wall times above the CPU time are waits for a core)",
        f"- command: `{' '.join(['python', *sys.argv])}` (median of {len(timed)} runs after "
        "one warm-up run)",
        "- study: IBSI CT phantom resampled to 512 x 512 x 50 (0.39 x 0.39 x 3 mm), RTSTRUCT GTV-1",
        f"- features: preset ct, {int(timed[0]['features'])} values; model prediction not included",
        "",
        "| step | median (s) | runs (s) |",
        "|---|---|---|",
        *[
            f"| {k.removesuffix(' (s)')} | {med[k]:.2f} | "
            + ", ".join(f"{r[k]:.2f}" for r in timed)
            + " |"
            for k in keys
        ],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
