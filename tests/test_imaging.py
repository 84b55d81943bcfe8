"""Image and mask I/O for label maps (NIfTI, NRRD, MHA), label names, geometry checks, errors."""

from __future__ import annotations

import json

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

import radiopredict
from radiopredict.errors import (
    ConfigError,
    GeometryMismatchError,
    ImageReadError,
    InputFileNotFoundError,
    LabelNotFoundError,
    RadiopredictError,
)
from radiopredict.imaging import (
    describe_geometry,
    geometry_differences,
    label_sidecar_path,
    mask_labels,
    read_image,
    read_mask,
    write_image,
    write_mask,
)

PYRADIOMICS_CASES = ["brain1", "brain2", "breast1", "lung1", "lung2"]


def _image(size=(20, 16, 8), spacing=(0.8, 0.8, 2.5), origin=(-10.0, 5.0, 30.0), seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1000, 1000, size=size[::-1]).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def _label_map(reference: sitk.Image) -> sitk.Image:
    """Tumour (1) with a necrotic core (2) and a separate node (4)."""
    size = reference.GetSize()
    arr = np.zeros(size[::-1], dtype=np.uint8)
    arr[2:6, 4:12, 4:14] = 1
    arr[3:5, 6:10, 7:11] = 2
    arr[1:3, 1:3, 16:19] = 4
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(reference)
    return mask


def test_public_api_is_exported():
    import radiopredict.imaging as imaging

    for name in imaging.__all__:
        assert hasattr(imaging, name)
    for name in [
        "read_image",
        "read_mask",
        "mask_labels",
        "write_image",
        "write_mask",
        "write_dicom_seg",
        "geometry_differences",
    ]:
        assert callable(getattr(radiopredict, name))


@pytest.mark.parametrize("case", PYRADIOMICS_CASES)
def test_pyradiomics_cases_load_with_geometry(shared_data, case):
    folder = shared_data / "pyradiomics-cases"
    image = read_image(folder / f"{case}_image.nrrd")
    mask = read_mask(folder / f"{case}_label.nrrd", reference=image)
    assert image.GetDimension() == 3
    assert all(s >= 20 for s in image.GetSize())
    spacing = np.asarray(image.GetSpacing())
    assert np.all((spacing > 0.3) & (spacing < 10)), spacing
    assert geometry_differences(image, mask) == []
    labels = mask_labels(folder / f"{case}_label.nrrd")
    assert labels == {1: "1"}
    binary = read_mask(folder / f"{case}_label.nrrd", reference=image, label=1)
    assert binary.GetPixelID() == sitk.sitkUInt8
    values = np.unique(sitk.GetArrayViewFromImage(binary))
    assert values.tolist() == [0, 1]
    # the label map and the binary mask agree voxel for voxel
    assert np.array_equal(
        sitk.GetArrayViewFromImage(binary) == 1, sitk.GetArrayViewFromImage(mask) == 1
    )


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"])
def test_image_round_trip_keeps_voxels_and_geometry(tmp_path, ext):
    img = _image()
    img.SetDirection((0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0))
    path = write_image(img, tmp_path / f"sub/ct{ext}")
    back = read_image(path)
    assert geometry_differences(back, img, 1e-6) == []
    assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(img))


@pytest.mark.parametrize("ext", [".nii.gz", ".nrrd", ".mha"])
def test_multilabel_mask_keeps_numbers_and_names(tmp_path, ext):
    img = _image()
    mask = _label_map(img)
    names = {1: "tumour", 2: "necrosis", 4: "node"}
    path = write_mask(mask, tmp_path / f"mask{ext}", label_names=names)
    sidecar = label_sidecar_path(path)
    assert sidecar.name == "mask.labels.json"
    assert json.loads(sidecar.read_text()) == {"1": "tumour", "2": "necrosis", "4": "node"}
    assert mask_labels(path) == names
    label_map = read_mask(path, reference=img)
    assert np.array_equal(sitk.GetArrayViewFromImage(label_map), sitk.GetArrayViewFromImage(mask))
    arr = sitk.GetArrayFromImage(mask)
    for number, name in names.items():
        by_name = sitk.GetArrayFromImage(read_mask(path, img, label=name))
        by_number = sitk.GetArrayFromImage(read_mask(path, img, label=number))
        assert np.array_equal(by_name, (arr == number).astype(np.uint8))
        assert np.array_equal(by_name, by_number)
    # name lookup forgives case, and a number written as text is a number
    assert sitk.GetArrayFromImage(read_mask(path, img, label="Necrosis")).sum() == (arr == 2).sum()
    assert sitk.GetArrayFromImage(read_mask(path, img, label="4")).sum() == (arr == 4).sum()


def test_unnamed_labels_are_named_by_number_and_stale_sidecar_removed(tmp_path):
    img = _image()
    path = write_mask(_label_map(img), tmp_path / "m.nii.gz", label_names={1: "a", 2: "b"})
    assert mask_labels(path) == {1: "a", 2: "b", 4: "4"}
    write_mask(_label_map(img), path)
    assert not label_sidecar_path(path).exists()
    assert mask_labels(path) == {1: "1", 2: "2", 4: "4"}


def test_slicer_seg_nrrd_names_are_read(tmp_path):
    img = _image()
    mask = _label_map(img)
    mask.SetMetaData("Segment0_Name", "liver tumour")
    mask.SetMetaData("Segment0_LabelValue", "1")
    path = tmp_path / "case.seg.nrrd"
    sitk.WriteImage(mask, str(path))
    assert mask_labels(path) == {1: "liver tumour", 2: "2", 4: "4"}


def test_float_mask_with_integer_values_is_cast(tmp_path):
    img = _image()
    mask = sitk.Cast(_label_map(img), sitk.sitkFloat32)
    sitk.WriteImage(mask, str(tmp_path / "f.nii.gz"))
    back = read_mask(tmp_path / "f.nii.gz", img)
    assert back.GetPixelID() == sitk.sitkUInt8
    assert sorted(np.unique(sitk.GetArrayViewFromImage(back))) == [0, 1, 2, 4]


def test_geometry_differences_tolerance():
    a = _image()
    b = sitk.Image(a)
    assert geometry_differences(a, b) == []
    b.SetOrigin(tuple(o + 1e-6 for o in a.GetOrigin()))
    assert geometry_differences(a, b) == []
    b.SetOrigin((a.GetOrigin()[0] + 0.4, *a.GetOrigin()[1:]))
    diffs = geometry_differences(a, b)
    assert len(diffs) == 1 and diffs[0].startswith("origin")
    assert geometry_differences(a, b, tolerance=1.0) == []
    c = _image(spacing=(0.8, 0.8, 2.0), size=(20, 16, 9))
    kinds = {d.split()[0] for d in geometry_differences(a, c)}
    assert kinds == {"size", "spacing"}
    d = sitk.Image(a)
    d.SetDirection((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    assert geometry_differences(a, d)[0].startswith("direction")
    assert geometry_differences(a, sitk.Image([4, 4], sitk.sitkUInt8)) == ["dimension 3 != 2"]
    with pytest.raises(ValueError):
        geometry_differences(a, b, tolerance=-1)


def test_mask_within_tolerance_gets_the_reference_grid(tmp_path):
    img = _image()
    mask = _label_map(img)
    mask.SetOrigin(tuple(o + 1e-6 for o in img.GetOrigin()))
    path = write_mask(mask, tmp_path / "m.nii.gz")
    back = read_mask(path, img)
    assert back.GetOrigin() == img.GetOrigin()


# ----------------------------------------------------------------------------------- errors


def test_missing_files_raise_input_file_not_found(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="does not exist") as info:
        read_image(tmp_path / "nope.nii.gz")
    assert isinstance(info.value, FileNotFoundError)
    assert "nope.nii.gz" in str(info.value)
    with pytest.raises(FileNotFoundError, match="nope_mask"):
        read_mask(tmp_path / "nope_mask.nrrd")
    with pytest.raises(InputFileNotFoundError):
        mask_labels(tmp_path / "nope_mask.nrrd")


def test_unreadable_file_raises_image_read_error(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageReadError) as info:
        read_image(bad)
    msg = str(info.value)
    assert "broken.nii.gz" in msg and "Fix:" in msg
    assert isinstance(info.value, OSError) and isinstance(info.value, RadiopredictError)
    with pytest.raises(ImageReadError, match="broken.nii.gz"):
        read_mask(bad)
    # a truncated real file
    good = write_image(_image(), tmp_path / "ok.nrrd")
    truncated = tmp_path / "trunc.nrrd"
    truncated.write_bytes(good.read_bytes()[:400])
    with pytest.raises(ImageReadError, match="trunc.nrrd"):
        read_image(truncated)


def test_folder_is_not_a_mask(tmp_path):
    with pytest.raises(ImageReadError, match="not a folder"):
        read_mask(tmp_path)


def test_probability_map_is_not_a_label_map(tmp_path):
    img = _image()
    prob = sitk.Cast(_label_map(img), sitk.sitkFloat32) * 0.3
    sitk.WriteImage(prob, str(tmp_path / "p.nii.gz"))
    with pytest.raises(ImageReadError, match="non-integer"):
        read_mask(tmp_path / "p.nii.gz")


def test_probability_map_cannot_be_written_as_mask(tmp_path):
    prob = sitk.Cast(_label_map(_image()), sitk.sitkFloat32) * 0.3
    with pytest.raises(ConfigError, match="non-integer"):
        write_mask(prob, tmp_path / "p.nii.gz")


def test_vector_image_is_refused(tmp_path):
    rgb = sitk.Image([8, 8, 4], sitk.sitkVectorUInt8, 3)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.mha"))
    with pytest.raises(ImageReadError, match="components"):
        read_image(tmp_path / "rgb.mha")
    with pytest.raises(ImageReadError, match="components"):
        read_mask(tmp_path / "rgb.mha")


def test_absent_label_lists_labels_present(tmp_path):
    img = _image()
    path = write_mask(_label_map(img), tmp_path / "m.nii.gz", label_names={1: "tumour"})
    with pytest.raises(LabelNotFoundError) as info:
        read_mask(path, img, label=3)
    msg = str(info.value)
    assert "labels present: 1 ('tumour'), 2 ('2'), 4 ('4')" in msg
    assert "m.nii.gz" in msg
    assert isinstance(info.value, KeyError)
    with pytest.raises(LabelNotFoundError, match="did you mean 'tumour'"):
        read_mask(path, img, label="tumor")


def test_label_named_in_sidecar_but_without_voxels_is_absent(tmp_path):
    img = _image()
    path = write_mask(_label_map(img), tmp_path / "m.nii.gz", label_names={7: "nodes"})
    with pytest.raises(LabelNotFoundError, match="labels present"):
        read_mask(path, img, label="nodes")


def test_geometry_mismatch_raises_with_both_geometries(tmp_path):
    img = _image()
    mask = _label_map(img)
    mask.SetOrigin((img.GetOrigin()[0] + 2 * 0.8, *img.GetOrigin()[1:]))
    path = write_mask(mask, tmp_path / "shifted.nii.gz")
    with pytest.raises(GeometryMismatchError) as info:
        read_mask(path, img, label=1)
    msg = str(info.value)
    assert "origin" in msg and "shifted.nii.gz" in msg
    assert f"Mask: {describe_geometry(read_mask(path))}" in msg
    assert f"Image: {describe_geometry(img)}" in msg
    assert "on_mismatch='resample'" in msg
    assert isinstance(info.value, ValueError)


def test_geometry_mismatch_resample_moves_voxels(tmp_path):
    img = _image()
    mask = _label_map(img)
    # the mask's grid starts two voxels further along x: voxel i of the mask is voxel i+2 of
    # the image
    mask.SetOrigin((img.GetOrigin()[0] + 2 * 0.8, *img.GetOrigin()[1:]))
    path = write_mask(mask, tmp_path / "shifted.nii.gz")
    out = read_mask(path, img, on_mismatch="resample")
    assert geometry_differences(out, img) == []
    expected = np.zeros_like(sitk.GetArrayFromImage(mask))
    expected[:, :, 2:] = sitk.GetArrayFromImage(mask)[:, :, :-2]
    assert np.array_equal(sitk.GetArrayFromImage(out), expected)
    # on a coarser grid: nearest neighbour keeps labels (no interpolated values)
    coarse = _image(size=(10, 8, 4), spacing=(1.6, 1.6, 5.0))
    out = read_mask(path, coarse, on_mismatch="resample")
    assert set(np.unique(sitk.GetArrayViewFromImage(out))) <= {0, 1, 2, 4}
    assert out.GetSize() == coarse.GetSize()


def test_bad_on_mismatch_value(tmp_path):
    img = _image()
    path = write_mask(_label_map(img), tmp_path / "m.nii.gz")
    with pytest.raises(ConfigError, match="on_mismatch"):
        read_mask(path, img, on_mismatch="crop")


def test_writer_errors(tmp_path):
    img = _image()
    with pytest.raises(ConfigError, match="file format"):
        write_image(img, tmp_path / "ct.png.txt")
    with pytest.raises(ConfigError, match="label_names"):
        write_mask(_label_map(img), tmp_path / "m.nii.gz", label_names={0: "background"})
    with pytest.raises(ConfigError, match="integer"):
        write_mask(sitk.Image([4, 4, 4], sitk.sitkComplexFloat32), tmp_path / "c.nii.gz")


def test_bad_sidecar_is_reported(tmp_path):
    img = _image()
    path = write_mask(_label_map(img), tmp_path / "m.nii.gz")
    label_sidecar_path(path).write_text('["tumour"]')
    with pytest.raises(ImageReadError, match="sidecar"):
        mask_labels(path)


@settings(max_examples=25, deadline=None)
@given(
    labels=hnp.arrays(np.uint8, (3, 5, 4), elements=st.sampled_from([0, 0, 1, 3, 200])),
    spacing=st.tuples(*[st.floats(0.2, 6.0)] * 3),
    origin=st.tuples(*[st.floats(-500.0, 500.0)] * 3),
    ext=st.sampled_from([".nii.gz", ".nrrd", ".mha"]),
)
def test_label_map_round_trip_property(tmp_path_factory, labels, spacing, origin, ext):
    mask = sitk.GetImageFromArray(labels)
    mask.SetSpacing(spacing)
    mask.SetOrigin(origin)
    present = sorted(int(v) for v in np.unique(labels) if v)
    names = {v: f"structure {v}" for v in present}
    path = write_mask(mask, tmp_path_factory.mktemp("prop") / f"m{ext}", label_names=names)
    back = read_mask(path, reference=mask)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), labels)
    assert mask_labels(path) == names
    assert geometry_differences(read_mask(path), mask) == []
    for v in present:
        one = sitk.GetArrayFromImage(read_mask(path, label=names[v]))
        np.testing.assert_array_equal(one, (labels == v).astype(np.uint8))
