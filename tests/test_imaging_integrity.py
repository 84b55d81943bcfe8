"""Readers check what the file promises: damaged files, NaN voxels, swapped image and mask,
2-D / 4-D images, detached data files, DICOM Frames of Reference. Real files, written in tmp."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

from radiopredict.errors import GeometryMismatchError, ImageReadError, InputFileNotFoundError
from radiopredict.imaging import mask_labels, read_image, read_mask, write_image, write_mask


def _ct(shape=(12, 16, 20), seed=0) -> sitk.Image:
    rng = np.random.default_rng(seed)
    img = sitk.GetImageFromArray(rng.normal(40, 30, shape).astype(np.float32))
    img.SetSpacing((0.8, 0.8, 2.5))
    return img


def _mask(shape=(12, 16, 20)) -> sitk.Image:
    arr = np.zeros(shape, np.uint8)
    arr[3:9, 4:12, 5:15] = 1
    m = sitk.GetImageFromArray(arr)
    m.SetSpacing((0.8, 0.8, 2.5))
    return m


def _truncate(path, keep=0.6):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_truncated_nifti_image_is_an_error_naming_the_file(tmp_path, ext):
    path = write_image(_ct(), tmp_path / f"ct{ext}")
    read_image(path)  # complete: fine
    _truncate(path)
    with pytest.raises(ImageReadError, match="incomplete|cut short") as info:
        read_image(path)
    assert info.value.path == str(path)
    assert "copy the file again" in str(info.value)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_truncated_mask_is_reported_as_truncated_not_empty(tmp_path, ext):
    image = _ct()
    path = write_mask(_mask(), tmp_path / f"mask{ext}", compress=False)
    _truncate(path, keep=0.3)  # the ROI's slices are gone: a zero-filled read would be empty
    with pytest.raises(ImageReadError, match="incomplete"):
        read_mask(path, reference=image, label=1)
    with pytest.raises(ImageReadError, match="incomplete"):
        mask_labels(path)


def test_corrupt_gzip_is_an_error(tmp_path):
    path = write_image(_ct(), tmp_path / "ct.nii.gz")
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)  # a damaged block inside the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="damaged|incomplete"):
        read_image(path)


def test_uncompressed_gzip_extension_still_checked(tmp_path):
    """A .nii.gz that is really an uncompressed .nii (renamed) is read and checked as such."""
    path = write_image(_ct(), tmp_path / "ct.nii", compress=False)
    renamed = tmp_path / "renamed.nii.gz"
    renamed.write_bytes(path.read_bytes())
    assert read_image(renamed).GetSize() == (20, 16, 12)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz", ".nrrd", ".mha"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_voxels_are_found_in_every_format(tmp_path, ext, bad):
    img = _ct()
    arr = sitk.GetArrayFromImage(img)
    arr[2, 3, 4] = bad
    broken = sitk.GetImageFromArray(arr)
    broken.CopyInformation(img)
    path = tmp_path / f"ct{ext}"
    sitk.WriteImage(broken, str(path))
    with pytest.raises(ImageReadError, match="1 NaN or infinite voxel") as info:
        read_image(path)
    assert "replace the NaN" in str(info.value)
    assert r"(x, y, z) = (4, 3, 2)" in str(info.value)


def test_nifti_nan_voxels_would_be_read_as_zero_by_itk(tmp_path):
    """Why the NIfTI check reads the raw bytes: ITK itself returns 0 for them."""
    img = _ct()
    arr = sitk.GetArrayFromImage(img)
    arr[0, 0, 0] = np.nan
    broken = sitk.GetImageFromArray(arr)
    path = tmp_path / "nan.nii"
    sitk.WriteImage(broken, str(path))
    assert np.isfinite(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))).all()
    with pytest.raises(ImageReadError, match="NaN"):
        read_image(path)


def test_mhd_without_its_raw_names_the_raw(tmp_path):
    path = write_image(_ct(), tmp_path / "ct.mhd", compress=False)
    raw = tmp_path / "ct.raw"
    assert raw.exists()
    raw.unlink()
    with pytest.raises(InputFileNotFoundError, match=r"'ct\.raw'") as info:
        read_image(path)
    assert "next to 'ct.mhd'" in str(info.value)


def test_truncated_mha_and_raw_are_reported_as_incomplete(tmp_path):
    mha = write_image(_ct(), tmp_path / "ct.mha", compress=False)
    _truncate(mha)
    with pytest.raises(ImageReadError, match="incomplete"):
        read_image(mha)
    mhd = write_image(_ct(), tmp_path / "ct2.mhd", compress=False)
    _truncate(tmp_path / "ct2.raw")
    with pytest.raises(ImageReadError, match="incomplete") as info:
        read_image(mhd)
    assert info.value.path.endswith("ct2.raw")


def test_nhdr_without_its_data_file_names_it(tmp_path):
    img = _ct()
    sitk.WriteImage(img, str(tmp_path / "ct.nhdr"))
    data = [p for p in tmp_path.iterdir() if p.name != "ct.nhdr"]
    assert data, "SimpleITK writes the data beside a .nhdr"
    for p in data:
        p.unlink()
    with pytest.raises(InputFileNotFoundError, match="data file"):
        read_image(tmp_path / "ct.nhdr")


def test_truncated_nrrd_names_the_file(tmp_path):
    path = write_image(_ct(), tmp_path / "ct.nrrd")
    _truncate(path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)


def test_two_d_image_is_refused_without_inventing_a_thickness(tmp_path):
    slice2d = sitk.GetImageFromArray(np.ones((16, 20), np.float32))
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(slice2d, str(path))
    with pytest.raises(ImageReadError, match="2-D") as info:
        read_image(path)
    assert "JoinSeries" in str(info.value)


def test_four_d_images(tmp_path):
    img = _ct()
    one = tmp_path / "one_volume.nii.gz"
    sitk.WriteImage(sitk.JoinSeries([img]), str(one))
    out = read_image(one)  # a single volume along the 4th axis: its 3-D volume
    assert out.GetDimension() == 3 and out.GetSize() == img.GetSize()
    np.testing.assert_allclose(out.GetSpacing(), img.GetSpacing())
    several = tmp_path / "dce.nii.gz"
    sitk.WriteImage(sitk.JoinSeries([img, img, img]), str(several))
    with pytest.raises(ImageReadError, match="4-D .* 3 volumes"):
        read_image(several)


def test_integer_ct_given_as_mask_names_the_swap(tmp_path):
    ct = sitk.Cast(_ct() * 10 - 500, sitk.sitkInt16)
    path = write_image(ct, tmp_path / "ct.nii.gz")
    with pytest.raises(ImageReadError, match="negative values") as info:
        read_mask(path, reference=ct)
    assert "swapped" in str(info.value)


def test_unsigned_image_given_as_mask_names_the_swap(tmp_path):
    arr = np.random.default_rng(1).integers(0, 4000, (12, 16, 20)).astype(np.uint16)
    path = write_image(sitk.GetImageFromArray(arr), tmp_path / "mr.nii.gz")
    with pytest.raises(ImageReadError, match="distinct values") as info:
        mask_labels(path)
    assert "swapped" in str(info.value)


def test_float_image_given_as_mask_names_the_swap(tmp_path):
    path = write_image(_ct(), tmp_path / "ct.nii.gz")
    with pytest.raises(ImageReadError, match="looks like an image") as info:
        read_mask(path)
    assert "swapped" in str(info.value)


def test_atlas_with_hundreds_of_labels_is_a_label_map(tmp_path):
    arr = np.zeros((12, 16, 20), np.uint16)
    arr.reshape(-1)[:246] = np.arange(1, 247) * 10  # 246 parcels, numbered up to 2460
    path = write_mask(sitk.GetImageFromArray(arr), tmp_path / "atlas.nii.gz")
    assert len(mask_labels(path)) == 246


# ------------------------------------------------------------------------------- DICOM


@pytest.fixture(scope="module")
def phantom(shared_data):
    root = shared_data / "ibsi1" / "ct_phantom" / "dicom"
    return {"series": root / "image", "rtstruct": root / "mask" / "DCM_RS_00060.dcm"}


def test_rtstruct_from_another_frame_of_reference_is_refused(phantom, tmp_path):
    ct = read_image(phantom["series"])
    ds = pydicom.dcmread(phantom["rtstruct"])
    other = pydicom.uid.generate_uid()
    for item in ds.ReferencedFrameOfReferenceSequence:
        item.FrameOfReferenceUID = other
    for roi in ds.StructureSetROISequence:
        roi.ReferencedFrameOfReferenceUID = other
    path = tmp_path / "other_for.dcm"
    ds.save_as(path)
    with pytest.raises(GeometryMismatchError, match="Frame of Reference") as info:
        read_mask(path, reference=ct, label="GTV-1")
    assert other in str(info.value)
    assert read_mask(phantom["rtstruct"], reference=ct, label="GTV-1") is not None
    # validate reports it with its own fix (pair it with its series), not "resample"
    from radiopredict import Cohort

    table = pd.DataFrame(
        {"patient_id": ["p1"], "image": [str(phantom["series"])], "mask": [str(path)]}
    ).assign(label="GTV-1")
    problems = Cohort.from_dataframe(table).validate()
    assert problems["problem"].str.contains("Frame of Reference").any()
    assert problems["fix"].str.contains("series it was drawn on").all()


def test_seg_from_another_frame_of_reference_is_refused(phantom, tmp_path):
    from radiopredict.imaging import write_dicom_seg

    ct = read_image(phantom["series"])
    gtv = read_mask(phantom["rtstruct"], reference=ct, label="GTV-1")
    seg = write_dicom_seg(gtv, phantom["series"], tmp_path / "seg.dcm")
    read_mask(seg, reference=ct, label=1)  # its own series: fine
    ds = pydicom.dcmread(seg)
    ds.FrameOfReferenceUID = pydicom.uid.generate_uid()
    ds.save_as(seg)
    with pytest.raises(GeometryMismatchError, match="Frame of Reference"):
        read_mask(seg, reference=ct, label=1)


def test_gzip_helper_is_real_gzip(tmp_path):
    """Guard for the tests above: SimpleITK writes .nii.gz as gzip."""
    path = write_image(_ct(), tmp_path / "ct.nii.gz")
    with gzip.open(path) as fh:
        assert len(fh.read(348)) == 348


def test_empty_file_and_cut_header(tmp_path):
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty \(0 bytes\)"):
        read_image(empty)
    path = write_image(_ct(), tmp_path / "ct.nii", compress=False)
    path.write_bytes(path.read_bytes()[:200])  # cut inside the 348-byte header
    with pytest.raises(ImageReadError, match="incomplete .*inside its header"):
        read_image(path)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_integer_nifti_damage_found_from_size_or_on_read_failure(tmp_path, ext):
    """Integer NIfTI is checked from its size (gzip trailer); a block damaged inside the
    compressed stream makes ITK fail, and the thorough check then says what is wrong."""
    ct = sitk.Cast(_ct(), sitk.sitkInt16)
    path = write_image(ct, tmp_path / f"ct{ext}")
    assert read_image(path).GetPixelID() == sitk.sitkInt16
    good = path.read_bytes()
    path.write_bytes(good[: len(good) - 100])
    with pytest.raises(ImageReadError, match="incomplete"):
        read_image(path)
    if ext == ".nii.gz":
        data = bytearray(good)
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
        path.write_bytes(bytes(data))
        with pytest.raises(ImageReadError, match="damaged|incomplete"):
            read_image(path)


def test_truncated_dicom_slice_is_named(phantom, tmp_path):
    import shutil

    series = tmp_path / "series"
    shutil.copytree(phantom["series"], series)
    shutil.copy(phantom["rtstruct"], series / "rtstruct.dcm")  # a non-image object beside
    victim = sorted(series.glob("DCM_IMG_*.dcm"))[29]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ImageReadError, match="missing or duplicated") as info:
        read_image(series)
    assert victim.name in str(info.value)
    assert "rtstruct.dcm" not in str(info.value)
