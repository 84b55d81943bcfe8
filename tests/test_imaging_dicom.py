"""DICOM input/output on the IBSI CT phantom: series, RTSTRUCT, DICOM-SEG, and their errors."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radiopredict.errors import (
    ConfigError,
    EmptyMaskError,
    GeometryMismatchError,
    ImageReadError,
    InputFileNotFoundError,
    LabelNotFoundError,
)
from radiopredict.imaging import (
    geometry_differences,
    mask_labels,
    read_image,
    read_mask,
    write_dicom_seg,
    write_mask,
)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def phantom(shared_data):
    root = shared_data / "ibsi1" / "ct_phantom"
    return {
        "series": root / "dicom" / "image",
        "rtstruct": root / "dicom" / "mask" / "DCM_RS_00060.dcm",
        "nifti_image": root / "nifti" / "image" / "phantom.nii.gz",
        "nifti_mask": root / "nifti" / "mask" / "mask.nii.gz",
    }


@pytest.fixture(scope="module")
def ct(phantom):
    return read_image(phantom["series"])


@pytest.fixture(scope="module")
def gtv(phantom, ct):
    return read_mask(phantom["rtstruct"], reference=ct, label="GTV-1")


def test_ct_series_matches_nifti_image(phantom, ct):
    nifti = read_image(phantom["nifti_image"])
    assert ct.GetSize() == (204, 201, 60)
    assert geometry_differences(ct, nifti) == []
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(ct), sitk.GetArrayViewFromImage(nifti))


def test_rtstruct_gtv_matches_nifti_mask(phantom, ct, gtv):
    nifti_mask = read_mask(phantom["nifti_mask"], reference=ct, label=1)
    assert geometry_differences(gtv, nifti_mask) == []
    assert gtv.GetPixelID() == sitk.sitkUInt8
    a = sitk.GetArrayViewFromImage(gtv)
    b = sitk.GetArrayViewFromImage(nifti_mask)
    score = dice(a, b)
    print(
        f"IBSI CT phantom GTV-1: RTSTRUCT vs NIfTI Dice = {score:.6f} ({a.sum()} vs {b.sum()} voxels)"
    )
    assert score >= 0.98
    assert mask_labels(phantom["rtstruct"]) == {1: "GTV-1"}
    # the ROI number selects the same ROI; no label gives the label map of all ROIs
    by_number = read_mask(phantom["rtstruct"], reference=ct, label=1)
    assert np.array_equal(sitk.GetArrayViewFromImage(by_number), a)
    all_rois = read_mask(phantom["rtstruct"], reference=ct)
    assert np.array_equal(sitk.GetArrayViewFromImage(all_rois), a)


def test_wrong_roi_name_lists_roi_names(phantom, ct):
    with pytest.raises(LabelNotFoundError) as info:
        read_mask(phantom["rtstruct"], reference=ct, label="GTV1")
    msg = str(info.value)
    assert "'GTV-1'" in msg and "DCM_RS_00060.dcm" in msg and "did you mean 'GTV-1'" in msg
    with pytest.raises(LabelNotFoundError, match="GTV-1"):
        read_mask(phantom["rtstruct"], reference=ct, label=7)


def test_rtstruct_needs_a_reference(phantom):
    with pytest.raises(ConfigError, match="reference="):
        read_mask(phantom["rtstruct"], label="GTV-1")


def test_rtstruct_on_a_wrong_image_is_a_geometry_error(phantom):
    elsewhere = sitk.Image([32, 32, 10], sitk.sitkInt16)
    elsewhere.SetOrigin((500.0, 500.0, 500.0))
    with pytest.raises(GeometryMismatchError, match="outside the reference image"):
        read_mask(phantom["rtstruct"], reference=elsewhere, label="GTV-1")


def test_rtstruct_contours_between_slices(phantom, ct, gtv):
    shifted = sitk.Image(ct)
    shifted.SetOrigin((*ct.GetOrigin()[:2], ct.GetOrigin()[2] + 1.2))  # 0.4 slice off
    with pytest.raises(GeometryMismatchError, match="between two slices") as info:
        read_mask(phantom["rtstruct"], reference=shifted, label="GTV-1")
    assert "on_mismatch='resample'" in str(info.value)
    nearest = read_mask(
        phantom["rtstruct"], reference=shifted, label="GTV-1", on_mismatch="resample"
    )
    # each contour goes to its nearest slice, which is the slice it was on: same voxels
    np.testing.assert_array_equal(sitk.GetArrayFromImage(nearest), sitk.GetArrayFromImage(gtv))


def test_dicom_objects_are_not_images(phantom):
    with pytest.raises(ImageReadError, match="read_mask"):
        read_image(phantom["rtstruct"])


def test_dicom_seg_round_trip_is_identical(phantom, ct, gtv, tmp_path):
    path = write_dicom_seg(gtv, phantom["series"], tmp_path / "seg" / "gtv.dcm")
    ds = pydicom.dcmread(path)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    assert mask_labels(path) == {1: "label 1"}
    back = read_mask(path, reference=ct, label=1)
    assert geometry_differences(back, ct) == []
    assert back.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(gtv))


def test_dicom_seg_multilabel_keeps_numbers_and_names(phantom, ct, gtv, tmp_path):
    arr = sitk.GetArrayFromImage(gtv)
    labels = arr.copy()
    labels[(arr == 1) & (np.indices(arr.shape)[2] < 100)] = 2  # split the GTV in two labels
    labels[10:14, 20:30, 20:30] = 3  # and a third, separate label
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(ct)
    names = {1: "GTV medial", 2: "GTV lateral", 3: "node"}
    path = write_dicom_seg(
        mask, phantom["series"], tmp_path / "multi.dcm", label_names=names, algorithm_name="unet"
    )
    assert mask_labels(path) == names
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    back = read_mask(path, reference=ct)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), labels)
    for number, name in names.items():
        one = sitk.GetArrayFromImage(read_mask(path, reference=ct, label=name))
        np.testing.assert_array_equal(one, (labels == number).astype(np.uint8))
    with pytest.raises(LabelNotFoundError, match="'GTV medial'"):
        read_mask(path, reference=ct, label="GTV")
    # without reference: the SEG's own grid, which is the series' grid here
    alone = read_mask(path)
    assert geometry_differences(alone, ct) == []
    # the same label map through NIfTI keeps the same numbers and names
    nii = write_mask(mask, tmp_path / "multi.nii.gz", label_names=names)
    assert mask_labels(nii) == names
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_mask(nii, ct)), labels)


def test_dicom_seg_renumbers_labels_with_gaps(phantom, ct, gtv, tmp_path):
    arr = sitk.GetArrayFromImage(gtv) * 5  # label 5 only
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(ct)
    with pytest.warns(UserWarning, match="5 -> 1"):
        path = write_dicom_seg(mask, phantom["series"], tmp_path / "s.dcm", label_names={5: "x"})
    assert mask_labels(path) == {1: "x"}


def test_dicom_seg_with_only_some_slices_is_pasted_on_the_series_grid(phantom, ct, gtv, tmp_path):
    """A SEG written by another tool that omits empty frames still lands on the right slices."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    files = sorted(phantom["series"].glob("*.dcm"))
    datasets = sorted(
        (pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2])
    )
    arr = sitk.GetArrayFromImage(gtv)
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="GTV",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = hd.seg.Segmentation(
            source_images=datasets,
            pixel_array=arr,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[description],
            series_instance_uid=hd.UID(),
            series_number=99,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="test",
            manufacturer_model_name="test",
            software_versions="0",
            device_serial_number="0",
            omit_empty_frames=True,
        )
    assert seg.NumberOfFrames < arr.shape[0]
    seg.save_as(tmp_path / "partial.dcm")
    own_grid = read_mask(tmp_path / "partial.dcm")
    assert own_grid.GetSize()[2] == seg.NumberOfFrames
    back = read_mask(tmp_path / "partial.dcm", reference=ct, label="GTV")
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), arr)


def test_dicom_seg_on_a_wrong_grid(phantom, ct, gtv, tmp_path):
    path = write_dicom_seg(gtv, phantom["series"], tmp_path / "gtv.dcm")
    coarse = sitk.Image([102, 100, 30], sitk.sitkInt16)
    coarse.SetSpacing((1.954, 1.954, 6.0))
    coarse.SetOrigin(ct.GetOrigin())
    with pytest.raises(GeometryMismatchError, match="spacing"):
        read_mask(path, reference=coarse)
    resampled = read_mask(path, reference=coarse, on_mismatch="resample")
    assert resampled.GetSize() == coarse.GetSize()
    assert sitk.GetArrayViewFromImage(resampled).sum() > 0


def test_write_dicom_seg_errors(phantom, ct, gtv, tmp_path):
    with pytest.raises(InputFileNotFoundError):
        write_dicom_seg(gtv, tmp_path / "no_series", tmp_path / "x.dcm")
    small = sitk.Image([10, 10, 10], sitk.sitkUInt8)
    with pytest.raises(GeometryMismatchError, match="source series"):
        write_dicom_seg(small, phantom["series"], tmp_path / "x.dcm")
    empty = sitk.Image(ct.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(ct)
    with pytest.raises(ValueError, match="empty"):
        write_dicom_seg(empty, phantom["series"], tmp_path / "x.dcm")


@pytest.fixture(scope="module")
def two_series(phantom, tmp_path_factory):
    """The phantom series plus a second 3-slice series in one folder."""
    folder = tmp_path_factory.mktemp("two_series")
    files = sorted(phantom["series"].glob("*.dcm"))
    for f in files:
        shutil.copy(f, folder / f.name)
    second_uid = pydicom.uid.generate_uid()
    for i, f in enumerate(files[:3]):
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = second_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesDescription = "scout copy"
        ds.save_as(folder / f"second_{i}.dcm")
    first_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    return folder, first_uid, second_uid


def test_several_series_without_uid_lists_them(two_series):
    folder, first_uid, second_uid = two_series
    with pytest.raises(ImageReadError) as info:
        read_image(folder)
    msg = str(info.value)
    assert "2 image series" in msg
    assert first_uid in msg and "60 slices" in msg
    assert second_uid in msg and "'scout copy'" in msg and "3 slices" in msg
    assert "series_uid=" in msg
    assert read_image(folder, series_uid=second_uid).GetSize() == (204, 201, 3)
    assert read_image(folder, series_uid=first_uid).GetSize() == (204, 201, 60)
    with pytest.raises(ImageReadError, match="is not in the folder"):
        read_image(folder, series_uid="1.2.3")


def test_missing_slice_is_reported(phantom, tmp_path):
    files = sorted(phantom["series"].glob("*.dcm"))
    for f in files[:30] + files[31:]:
        (tmp_path / f.name).symlink_to(f)
    with pytest.raises(ImageReadError, match="unevenly spaced"):
        read_image(tmp_path)


def test_folder_without_dicom_series(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ImageReadError, match="no DICOM image series"):
        read_image(tmp_path)


@pytest.fixture(scope="module")
def edited_rtstruct(phantom, tmp_path_factory):
    """The phantom RTSTRUCT plus ROIs 'tiny' (sub-voxel), 'empty' (no contour), 'copy' (= GTV)."""
    import copy

    ds = pydicom.dcmread(phantom["rtstruct"])
    gtv_roi = ds.StructureSetROISequence[0]
    gtv_contours = ds.ROIContourSequence[0]
    z = float(gtv_contours.ContourSequence[0].ContourData[2])
    for number, name in [(2, "tiny"), (3, "empty"), (4, "copy")]:
        roi = copy.deepcopy(gtv_roi)
        roi.ROINumber, roi.ROIName = number, name
        ds.StructureSetROISequence.append(roi)
        item = copy.deepcopy(gtv_contours)
        item.ReferencedROINumber = number
        if name == "tiny":  # a 0.1 mm triangle between voxel centres
            x0, y0 = 0.05, 0.05
            item.ContourSequence = [item.ContourSequence[0]]
            item.ContourSequence[0].ContourData = [x0, y0, z, x0 + 0.1, y0, z, x0, y0 + 0.1, z]
            item.ContourSequence[0].NumberOfContourPoints = 3
        elif name == "empty":
            del item.ContourSequence
        ds.ROIContourSequence.append(item)
    path = tmp_path_factory.mktemp("rtstruct") / "edited.dcm"
    ds.save_as(path)
    return path


def test_rtstruct_roi_edge_cases(edited_rtstruct, ct, gtv):
    assert mask_labels(edited_rtstruct) == {1: "GTV-1", 2: "tiny", 3: "empty", 4: "copy"}
    copy_mask = read_mask(edited_rtstruct, reference=ct, label="copy")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(copy_mask), sitk.GetArrayFromImage(gtv))
    with pytest.raises(EmptyMaskError, match="no voxel centre"):
        read_mask(edited_rtstruct, reference=ct, label="tiny")
    with pytest.raises(LabelNotFoundError, match="no closed planar contour"):
        read_mask(edited_rtstruct, reference=ct, label="empty")
    with pytest.raises(ConfigError, match="overlap"):
        read_mask(edited_rtstruct, reference=ct)


def test_overlapping_seg_segments_need_a_label(phantom, ct, gtv, tmp_path):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    datasets = sorted(
        (pydicom.dcmread(f) for f in phantom["series"].glob("*.dcm")),
        key=lambda d: float(d.ImagePositionPatient[2]),
    )
    arr = sitk.GetArrayFromImage(gtv)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=name,
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for n, name in [(1, "GTV"), (2, "GTV again")]
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = hd.seg.Segmentation(
            source_images=datasets,
            pixel_array=np.stack([arr, arr], axis=-1),  # two identical, overlapping segments
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=98,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="test",
            manufacturer_model_name="test",
            software_versions="0",
            device_serial_number="0",
        )
    seg.save_as(tmp_path / "overlap.dcm")
    with pytest.raises(ConfigError, match="overlap") as info:
        read_mask(tmp_path / "overlap.dcm", reference=ct)
    assert "label=" in str(info.value)
    second = read_mask(tmp_path / "overlap.dcm", reference=ct, label="GTV again")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(second), arr)
