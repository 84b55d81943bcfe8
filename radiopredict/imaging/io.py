"""Read and write images and masks: NIfTI, NRRD, MHA/MHD, DICOM series, DICOM-SEG, RTSTRUCT.

Label names of NIfTI / NRRD / MHA label maps live in a JSON sidecar next to the mask:
``<mask name without extension>.labels.json`` holding ``{"1": "tumour", "2": "necrosis"}``
(see :func:`label_sidecar_path`).
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import SimpleITK as sitk

from radiopredict.errors import (
    ConfigError,
    ImageReadError,
    InputFileNotFoundError,
    LabelNotFoundError,
)
from radiopredict.imaging import _integrity, dicom
from radiopredict.imaging.geometry import check_geometry

__all__ = [
    "label_sidecar_path",
    "mask_labels",
    "read_image",
    "read_mask",
    "write_image",
    "write_mask",
]

PathLikeStr = str | PathLike[str]

_IMAGE_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".img.gz", ".img")
_WRITE_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


def _split_extension(path: Path) -> tuple[str, str]:
    name = path.name
    for ext in _IMAGE_EXTENSIONS + (".dcm",):
        if name.lower().endswith(ext):
            return name[: -len(ext)], name[-len(ext) :]
    return path.stem, path.suffix


def label_sidecar_path(mask_path: PathLikeStr) -> Path:
    """Path of the label-name sidecar of a mask file.

    The sidecar sits next to the mask and replaces its image extension with ``.labels.json``:
    ``ct_mask.nii.gz`` -> ``ct_mask.labels.json``, ``seg.nrrd`` -> ``seg.labels.json``.
    """
    path = Path(mask_path)
    stem, _ = _split_extension(path)
    return path.with_name(stem + ".labels.json")


def _require_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise InputFileNotFoundError(
            f"the {what} does not exist",
            path=path,
            fix="check the path (relative paths start at the current folder, or at the "
            "manifest's folder inside a Cohort)",
        )


def _read_sitk(path: Path, what: str) -> sitk.Image:
    """Read a file with SimpleITK after checking that its data is complete (SimpleITK
    zero-fills what a truncated NIfTI lacks), as one 3-D volume with finite voxels."""
    _integrity.check_file_complete(path, what)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        # ITK says "Unable to determine ImageIO reader" for a damaged file: say what is wrong
        _integrity.check_file_complete(path, what, thorough=True)
        raise ImageReadError(
            f"cannot read the {what}: {dicom._first_line(exc)}",
            path=path,
            fix="use a NIfTI (.nii/.nii.gz), NRRD, MHA/MHD file or a DICOM series folder, and "
            "check that the file is complete (not truncated or still downloading)",
        ) from exc
    image = _integrity.check_volume(image, path, what)
    _integrity.check_finite(image, path, what)
    return image


def read_image(path: PathLikeStr, *, series_uid: str | None = None) -> sitk.Image:
    """Read an image: NIfTI, NRRD, MHA/MHD file, or a DICOM series folder.

    Parameters
    ----------
    path
        Image file, or a folder of DICOM slices.
    series_uid
        For a DICOM folder with several image series, the Series Instance UID to read.

    Returns
    -------
    SimpleITK.Image
        The image with its geometry (spacing, origin, direction in LPS, mm). DICOM slices have
        their rescale slope and intercept applied.

    Raises
    ------
    InputFileNotFoundError
        The path does not exist.
    ImageReadError
        The file is not a readable image; a DICOM folder holds no image series, or several and
        no ``series_uid`` (the message lists them).
    """
    path = Path(path)
    _require_exists(path, "image")
    if path.is_dir():
        return dicom.read_dicom_series(path, series_uid)
    if dicom.is_dicom_file(path):
        modality = dicom.dicom_modality(path)
        if modality in ("RTSTRUCT", "SEG"):
            raise ImageReadError(
                f"the file is a {modality} object, not an image",
                path=path,
                fix="read it with read_mask(path, reference=image)",
            )
    image = _read_sitk(path, "image")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(
            f"the image has {image.GetNumberOfComponentsPerPixel()} components per voxel "
            "(colour or vector image)",
            path=path,
            fix="pass a scalar (grey-level) image",
        )
    return image


def _as_label_map(mask: sitk.Image, path: Path) -> sitk.Image:
    """Check that a mask is a scalar integer label map; cast integral float masks."""
    if mask.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(
            f"the mask has {mask.GetNumberOfComponentsPerPixel()} components per voxel",
            path=path,
            fix="store one label map (one integer per voxel)",
        )
    if mask.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        arr = sitk.GetArrayViewFromImage(mask)
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            finite = arr[np.isfinite(arr)]
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                lo, hi = float(finite.min()), float(finite.max())
                raise ImageReadError(
                    f"the mask holds non-integer values from {lo:.4g} to {hi:.4g}: this looks "
                    "like an image, not a label map (are the image and mask columns swapped?)",
                    path=path,
                    fix=_SWAP_FIX,
                )
            raise ImageReadError(
                "the mask holds non-integer values (a probability map?), so it is not a label map",
                path=path,
                fix="threshold it into integer labels (e.g. mask > 0.5) and save it again",
            )
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo >= 0 and hi <= 255:
            pixel = sitk.sitkUInt8
        elif lo >= 0 and hi <= 65535:
            pixel = sitk.sitkUInt16
        else:
            pixel = sitk.sitkInt32
        mask = sitk.Cast(mask, pixel)
    return mask


#: More distinct values than a label map holds (TotalSegmentator: 117 labels; brain atlases
#: a few hundred); a CT or MR image has thousands.
MAX_LABELS = 500
_SWAP_FIX = (
    "check that the manifest's image and mask columns are not swapped; a mask holds 0 for the "
    "background and one positive integer per label (1, 2, ...)"
)


def _check_plausible_labels(mask: sitk.Image, path: Path) -> None:
    """Refuse a 'mask' that is an image: negative values or more than MAX_LABELS labels."""
    if mask.GetPixelID() in (sitk.sitkUInt8, sitk.sitkLabelUInt8):
        return  # 0..255: any content is a plausible label map
    arr = sitk.GetArrayViewFromImage(mask)
    if not arr.size:
        return
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0:
        n_neg = int(np.count_nonzero(arr < 0))
        raise ImageReadError(
            f"the mask holds negative values ({n_neg} voxels, down to {lo}): a label map has "
            "none, so this looks like an image (a CT in HU?), not a mask",
            path=path,
            fix=_SWAP_FIX,
        )
    n_values = _count_values(arr, lo, hi)
    if n_values > MAX_LABELS:
        raise ImageReadError(
            f"the mask holds {n_values} distinct values (from {lo} to {hi}): a label map holds "
            f"a few labels (at most {MAX_LABELS} here), so this looks like an image, not a mask",
            path=path,
            fix=_SWAP_FIX,
        )


def _count_values(arr: np.ndarray, lo: int, hi: int) -> int:
    """Number of distinct values of a non-negative integer array (slab by slab: bounded memory)."""
    if hi - lo >= 1 << 24:
        return len(np.unique(arr))
    counts = np.zeros(hi - lo + 1, dtype=np.int64)
    step = max(1, (1 << 22) // max(1, arr[0].size))
    for k in range(0, arr.shape[0], step):
        counts += np.bincount(
            np.ravel(arr[k : k + step]).astype(np.int64) - lo, minlength=len(counts)
        )
    return int(np.count_nonzero(counts))


def _sidecar_names(path: Path) -> dict[int, str]:
    sidecar = label_sidecar_path(path)
    if sidecar.is_file():
        try:
            raw = json.loads(sidecar.read_text(encoding="utf-8"))
            return {int(k): str(v) for k, v in raw.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise ImageReadError(
                f"the label-name sidecar is not a JSON object of label number -> name ({exc})",
                path=sidecar,
                fix='write it as {"1": "tumour", "2": "necrosis"} (write_mask does this)',
            ) from exc
    return {}


def _nrrd_segment_names(image: sitk.Image) -> dict[int, str]:
    """Label names stored by 3D Slicer in ``.seg.nrrd`` headers (``SegmentN_Name`` keys)."""
    names = {}
    for key in image.GetMetaDataKeys():
        if key.startswith("Segment") and key.endswith("_Name"):
            prefix = key[: -len("_Name")]
            value_key = prefix + "_LabelValue"
            if image.HasMetaDataKey(value_key):
                try:
                    names[int(image.GetMetaData(value_key))] = image.GetMetaData(key)
                except ValueError:
                    continue
    return names


def _present_labels(mask: sitk.Image) -> list[int]:
    return [int(v) for v in np.unique(sitk.GetArrayViewFromImage(mask)) if v != 0]


def _label_names_for(
    path: Path, mask: sitk.Image, present: list[int] | None = None
) -> dict[int, str]:
    """Names of the labels present in a label-map mask (number as text when unnamed);
    ``present``: the labels present, when the caller has found them already."""
    declared = _nrrd_segment_names(mask)
    declared.update(_sidecar_names(path))
    if present is None:
        present = _present_labels(mask)
    return {v: declared.get(v, str(v)) for v in present}


def mask_labels(path: PathLikeStr) -> dict[int, str]:
    """Label numbers and names of a mask file.

    Parameters
    ----------
    path
        A label map (NIfTI, NRRD, MHA/MHD), a DICOM-SEG or an RTSTRUCT file.

    Returns
    -------
    dict of int to str
        Label maps: the non-zero labels present in the voxels, named from the
        ``<mask>.labels.json`` sidecar (or a 3D Slicer ``.seg.nrrd`` header), else the number as
        text. DICOM-SEG: segment number -> segment label. RTSTRUCT: ROI number -> ROI name.
    """
    path = Path(path)
    _require_exists(path, "mask")
    if path.is_file() and dicom.is_dicom_file(path):
        modality = dicom.dicom_modality(path)
        if modality == "RTSTRUCT":
            return dicom.rtstruct_rois(path)
        if modality == "SEG":
            return dicom.seg_segments(path)
    if path.is_dir():
        raise ImageReadError(
            "a mask must be a file, not a folder",
            path=path,
            fix="pass a NIfTI/NRRD/MHA label map, a DICOM-SEG or an RTSTRUCT file",
        )
    mask = _as_label_map(_read_sitk(path, "mask"), path)
    _check_plausible_labels(mask, path)
    return _label_names_for(path, mask)


def read_mask(
    path: PathLikeStr,
    reference: sitk.Image | None = None,
    *,
    label: int | str | None = None,
    on_mismatch: Literal["raise", "resample"] = "raise",
    tolerance: float = 1e-4,
) -> sitk.Image:
    """Read a mask and check it against its image.

    Parameters
    ----------
    path
        A label map (NIfTI, NRRD, MHA/MHD), a DICOM-SEG file or an RTSTRUCT file.
    reference
        The image the mask belongs to. Required for RTSTRUCT (the contours are rasterised on its
        grid and must lie on its slice planes); for other masks the geometry is checked
        against it. A DICOM-SEG that stores only
        some slices of the series is pasted onto the reference grid.
    label
        Label number or name (label-map sidecar name, DICOM-SEG segment label, RTSTRUCT ROI
        name). When given, the result is a binary UInt8 mask (0/1) of that label; when ``None``,
        the label map.
    on_mismatch
        What to do when the mask's grid differs from the reference's: ``"raise"`` a
        :class:`~radiopredict.errors.GeometryMismatchError` that prints both grids, or
        ``"resample"`` the mask onto the reference (nearest neighbour; for RTSTRUCT, contours
        between slice planes go to the nearest slice).
    tolerance
        Grid tolerance, see :func:`~radiopredict.imaging.geometry_differences`.

    Returns
    -------
    SimpleITK.Image
        Integer mask, on the reference grid when a reference is given.

    Raises
    ------
    InputFileNotFoundError
        The file does not exist.
    ImageReadError
        The file cannot be read as a mask.
    LabelNotFoundError
        ``label`` is absent (the message lists the labels present / the ROI names).
    GeometryMismatchError
        The grids differ and ``on_mismatch="raise"``.
    """
    path = Path(path)
    _require_exists(path, "mask")
    if on_mismatch not in ("raise", "resample"):
        raise ConfigError(
            f"on_mismatch must be 'raise' or 'resample', got {on_mismatch!r}",
            fix="pass on_mismatch='raise' (default) or on_mismatch='resample'",
        )
    if path.is_dir():
        raise ImageReadError(
            "a mask must be a file, not a folder",
            path=path,
            fix="pass a NIfTI/NRRD/MHA label map, a DICOM-SEG or an RTSTRUCT file",
        )
    modality = dicom.dicom_modality(path) if dicom.is_dicom_file(path) else ""
    if modality == "RTSTRUCT":
        if reference is None:
            raise ConfigError(
                "an RTSTRUCT holds contours, not voxels: it needs the image it was drawn on",
                path=path,
                fix="pass reference=read_image('<DICOM series folder>')",
            )
        return dicom.read_rtstruct(path, reference, label, on_mismatch=on_mismatch)
    if modality == "SEG":
        if reference is not None:
            dicom.check_frame_of_reference(
                {dicom.dicom_frame_of_reference(path)}, reference, path, "DICOM-SEG"
            )
        mask = dicom.read_dicom_seg(path, label)
        # highdicom orders the volume's axes its own way: give the mask the axis order of the
        # reference (or LPS), a pure permutation / flip of the voxels
        target = "LPS"
        if reference is not None and reference.GetDimension() == 3:
            target = sitk.DICOMOrientImageFilter_GetOrientationFromDirectionCosines(
                reference.GetDirection()
            )
        mask = sitk.DICOMOrient(mask, target)
        if reference is not None:
            mask = check_geometry(
                mask,
                reference,
                on_mismatch=on_mismatch,
                tolerance=tolerance,
                path=path,
                allow_subgrid=True,
            )
        return mask

    mask = _as_label_map(_read_sitk(path, "mask"), path)
    _check_plausible_labels(mask, path)
    if reference is not None:
        mask = check_geometry(
            mask, reference, on_mismatch=on_mismatch, tolerance=tolerance, path=path
        )
    if label is None:
        return mask
    names = _label_names_for(path, mask)
    number = _resolve_label(label, names, path)
    return sitk.Cast(mask == number, sitk.sitkUInt8)


def _resolve_label(label: int | str, names: dict[int, str], path: Path) -> int:
    try:
        return dicom._resolve_name(label, names, what="label", path=path)
    except LabelNotFoundError as exc:
        present = ", ".join(f"{n} ({v!r})" for n, v in sorted(names.items())) or "none (empty)"
        raise LabelNotFoundError(
            f"label {label!r} has no voxel in the mask; labels present: {present}",
            path=path,
            fix=exc.fix,
        ) from None


def _check_write_path(path: Path) -> None:
    if not path.name.lower().endswith(_WRITE_EXTENSIONS):
        raise ConfigError(
            f"cannot tell the file format from {path.name!r}",
            path=path,
            fix="end the file name with .nii.gz, .nii, .nrrd, .mha or .mhd",
        )
    path.parent.mkdir(parents=True, exist_ok=True)


def write_image(image: sitk.Image, path: PathLikeStr, *, compress: bool = True) -> Path:
    """Write an image as NIfTI, NRRD or MHA/MHD (format from the extension).

    Parameters
    ----------
    image
        The image.
    path
        Output file (``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha``, ``.mhd``); folders are created.
    compress
        Compress the voxel data where the format allows it.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    _check_write_path(path)
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


def write_mask(
    mask: sitk.Image,
    path: PathLikeStr,
    label_names: dict[int, str] | None = None,
    *,
    compress: bool = True,
) -> Path:
    """Write a label map (NIfTI, NRRD, MHA/MHD) and its label names.

    Parameters
    ----------
    mask
        Integer label map (0 = background). Float masks with integer values are cast.
    path
        Output file; folders are created.
    label_names
        ``{label number: name}``; written to the sidecar ``<mask>.labels.json``
        (:func:`label_sidecar_path`). A stale sidecar is removed when ``None``.
    compress
        Compress the voxel data where the format allows it.

    Returns
    -------
    pathlib.Path
        The written mask file.
    """
    path = Path(path)
    _check_write_path(path)
    try:
        mask = _as_label_map(mask, path)
    except ImageReadError as exc:
        raise ConfigError(exc.problem, path=path, fix=exc.fix) from None
    if mask.GetPixelID() not in (
        sitk.sitkUInt8,
        sitk.sitkUInt16,
        sitk.sitkInt8,
        sitk.sitkInt16,
        sitk.sitkUInt32,
        sitk.sitkInt32,
        sitk.sitkUInt64,
        sitk.sitkInt64,
    ):
        raise ConfigError(
            f"a mask must hold integer labels, got {mask.GetPixelIDTypeAsString()}",
            path=path,
            fix="cast the mask to an integer type (e.g. sitk.Cast(mask, sitk.sitkUInt8))",
        )
    sidecar = label_sidecar_path(path)
    if label_names:
        bad = [k for k in label_names if not isinstance(k, (int, np.integer)) or int(k) == 0]
        if bad:
            raise ConfigError(
                f"label_names keys must be non-zero label numbers, got {bad}",
                path=path,
                fix="pass {1: 'tumour', 2: 'necrosis'} (0 is the background)",
            )
    sitk.WriteImage(mask, str(path), useCompression=compress)
    if label_names:
        payload = {str(int(k)): str(v) for k, v in sorted(label_names.items())}
        sidecar.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    elif sidecar.exists():
        sidecar.unlink()
    return path
