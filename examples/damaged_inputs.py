"""What radiopredict does with damaged or wrong inputs (see docs/troubleshooting.md).

Writes a small cohort of four synthetic CT-like patients (synthetic data: the numbers mean
nothing clinically), then damages it the way real data gets damaged: one image copied only in
part (a truncated ``.nii.gz``), NaN voxels in another, the image and mask columns of a third
swapped, an ``age`` of ``unknown``, and identifiers with leading zeros. ``Cohort.validate``
lists every problem with its fix; extraction on the repaired cohort reports the features that
are undefined for a one-voxel ROI instead of leaving silent NaN.

Usage: ``python examples/damaged_inputs.py [OUT_DIR]`` (a temporary folder when omitted).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiopredict import Cohort
from radiopredict.features import FeatureSettings
from radiopredict.features.extract import extract


def write_case(folder: Path, pid: str, seed: int, *, tiny: bool = False) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    ct = rng.normal(40, 25, (12, 24, 24)).astype(np.float32)
    image = sitk.GetImageFromArray(ct)
    image.SetSpacing((0.8, 0.8, 3.0))
    arr = np.zeros(ct.shape, np.uint8)
    if tiny:
        arr[6, 12, 12] = 1  # a one-voxel ROI: texture and shape axes are undefined
    else:
        arr[3:9, 6:18, 6:18] = 1
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(image)
    sitk.WriteImage(image, str(folder / f"{pid}_ct.nii.gz"))
    sitk.WriteImage(mask, str(folder / f"{pid}_mask.nii.gz"))
    return {"patient_id": pid, "image": f"{pid}_ct.nii.gz", "mask": f"{pid}_mask.nii.gz"}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ids = ["0001", "0002", "0003", "0004"]
    rows = [write_case(out, pid, i, tiny=pid == "0004") for i, pid in enumerate(ids)]
    table = pd.DataFrame(rows).assign(age=["61", "unknown", "58", "70"], stage=list("ABAB"))

    # the damage
    truncated = out / "0001_ct.nii.gz"
    good_bytes = truncated.read_bytes()
    truncated.write_bytes(good_bytes[: len(good_bytes) // 2])  # an interrupted copy
    nan_img = sitk.ReadImage(str(out / "0002_ct.nii.gz"))
    arr = sitk.GetArrayFromImage(nan_img)
    arr[5, 10, 10] = np.nan  # NaN inside the ROI; ITK's NIfTI reader would give 0
    broken = sitk.GetImageFromArray(arr)
    broken.CopyInformation(nan_img)
    sitk.WriteImage(broken, str(out / "0002_ct.nii.gz"))
    table.loc[2, ["image", "mask"]] = table.loc[2, ["mask", "image"]].to_numpy()  # swapped
    table.to_csv(out / "manifest.csv", index=False)

    cohort = Cohort.read(out / "manifest.csv")
    print("patient ids (text, leading zeros kept):", cohort.patient_ids)
    problems = cohort.validate()
    with pd.option_context("display.max_colwidth", 90, "display.width", 200):
        print(problems[["patient_id", "column", "problem"]].to_string(index=False))
    found = {(r.patient_id, r.column) for r in problems.itertuples()}
    assert ("0001", "image") in found, "truncated image not found"
    assert ("0002", "image") in found, "NaN voxels not found"
    assert ("0003", "mask") in found, "swapped columns not found"
    assert ("0002", "age") in found, "text in a numeric column not found"

    # repair: the original image, the NaN replaced, the columns put back, age left empty
    truncated.write_bytes(good_bytes)
    arr[~np.isfinite(arr)] = 40.0
    fixed = sitk.GetImageFromArray(arr)
    fixed.CopyInformation(nan_img)
    sitk.WriteImage(fixed, str(out / "0002_ct.nii.gz"))
    table.loc[2, ["image", "mask"]] = table.loc[2, ["mask", "image"]].to_numpy()
    table.loc[1, "age"] = ""
    table.to_csv(out / "manifest.csv", index=False)
    cohort = Cohort.read(out / "manifest.csv")
    assert cohort.validate().empty

    settings = FeatureSettings(families=("intensity_stats", "morphology", "glcm"))
    result = extract(cohort, settings, progress=False)
    print(f"\n{len(result.features)} cases x {result.features.shape[1]} features (synthetic data)")
    print(f"{len(result.undefined)} (case, feature) pairs not computed:")
    print(result.undefined[["patient_id", "feature", "reason"]].head(6).to_string(index=False))
    assert set(result.undefined["patient_id"]) == {"0004"}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
