"""Read and write images and masks, with label names and geometry checks.

Makes a small CT-like image and a two-label mask with SimpleITK, writes them as NIfTI (the label
names go to a ``.labels.json`` sidecar), reads them back, checks the grid, picks a label by name,
and shows what happens when the mask's grid differs from the image's. Also writes the image as a
DICOM series and the mask as a DICOM-SEG, and reads the SEG back.

Usage: ``python examples/read_images.py [OUT_DIR]`` (a temporary folder when omitted).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

import radiopredict as rp
from radiopredict.errors import GeometryMismatchError
from radiopredict.imaging import describe_geometry


def make_case() -> tuple[sitk.Image, sitk.Image]:
    """A 48x40x12 CT-like volume (0.8 x 0.8 x 3 mm) with a tumour (1) and necrotic core (2)."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:12, 0:40, 0:48]
    r = np.sqrt(((x - 24) * 0.8) ** 2 + ((y - 20) * 0.8) ** 2 + ((z - 6) * 3.0) ** 2)
    ct = np.where(r < 10, 40, -800) + rng.normal(0, 20, r.shape)
    image = sitk.GetImageFromArray(ct.astype(np.int16))
    image.SetSpacing((0.8, 0.8, 3.0))
    image.SetOrigin((-19.2, -16.0, -18.0))
    mask = sitk.GetImageFromArray(np.where(r < 4, 2, np.where(r < 10, 1, 0)).astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def write_dicom_series(image: sitk.Image, folder: Path) -> None:
    """Write ``image`` as a CT DICOM series (one file per slice) with SimpleITK."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = "1.2.826.0.1.3680043.8.498.1"
    study_uid = "1.2.826.0.1.3680043.8.498.2"
    frame_uid = "1.2.826.0.1.3680043.8.498.3"
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        sl = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
            "0008|0018": f"{series_uid}.{k + 1}",  # SOP Instance UID
            "0008|0060": "CT",
            "0010|0010": "Example^Patient",
            "0010|0020": "EX001",
            "0020|000d": study_uid,
            "0020|000e": series_uid,
            "0020|0052": frame_uid,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0018|0050": f"{image.GetSpacing()[2]:.6f}",
            "0008|103e": "example CT",
        }
        for key, value in tags.items():
            sl.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice_{k:03d}.dcm"))
        writer.Execute(sl)


def main(out: Path) -> None:
    image, mask = make_case()
    names = {1: "tumour", 2: "necrosis"}

    # NIfTI image + label map with names (sidecar mask.labels.json)
    image_path = rp.write_image(image, out / "ct.nii.gz")
    mask_path = rp.write_mask(mask, out / "mask.nii.gz", label_names=names)
    print("wrote", image_path.name, mask_path.name, "and", mask_path.name[:-7] + ".labels.json")

    ct = rp.read_image(image_path)
    print("image grid:", describe_geometry(ct))
    print("labels:", rp.mask_labels(mask_path))
    label_map = rp.read_mask(mask_path, reference=ct)
    print("grid differences image/mask:", rp.geometry_differences(ct, label_map) or "none")
    tumour = rp.read_mask(mask_path, reference=ct, label="tumour")
    n_tumour = int(sitk.GetArrayViewFromImage(tumour).sum())
    print(f"'tumour' voxels: {n_tumour}, volume {n_tumour * np.prod(ct.GetSpacing()):.0f} mm^3")

    # a mask on a shifted grid: an error that prints both grids, or nearest-neighbour resampling
    shifted = sitk.Image(mask)
    shifted.SetOrigin((-18.4, -16.0, -18.0))
    shifted_path = rp.write_mask(shifted, out / "shifted_mask.nii.gz", label_names=names)
    try:
        rp.read_mask(shifted_path, reference=ct, label="tumour")
    except GeometryMismatchError as exc:
        print("mismatch detected:", exc.problem.split(". Mask:")[0])
    fixed = rp.read_mask(shifted_path, reference=ct, label="tumour", on_mismatch="resample")
    print("after resampling:", rp.geometry_differences(ct, fixed) or "same grid")

    # DICOM: the image as a series, the mask as a DICOM-SEG referencing it
    series = out / "dicom" / "ct"
    write_dicom_series(image, series)
    dicom_ct = rp.read_image(series)
    seg_path = rp.write_dicom_seg(mask, series, out / "dicom" / "mask_seg.dcm", label_names=names)
    print("DICOM-SEG segments:", rp.mask_labels(seg_path))
    back = rp.read_mask(seg_path, reference=dicom_ct)
    same = np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(mask))
    print("DICOM-SEG round trip identical:", same)
    if not same:
        raise SystemExit("DICOM-SEG round trip changed the mask")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
