"""DICOM input and output: image series, RTSTRUCT rasterisation, DICOM-SEG read and write.

Image series are read with SimpleITK (GDCM); RTSTRUCT contours are rasterised here with
scikit-image (voxel centres inside the polygon, even-odd rule for holes); DICOM-SEG objects are
read and written with highdicom.
"""

from __future__ import annotations

import difflib
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiopredict.errors import (
    ConfigError,
    EmptyMaskError,
    GeometryMismatchError,
    ImageReadError,
    InputFileNotFoundError,
    LabelNotFoundError,
)
from radiopredict.imaging.geometry import describe_geometry, geometry_differences

__all__ = [
    "SeriesInfo",
    "is_dicom_file",
    "list_series",
    "read_dicom_series",
    "dicom_modality",
    "dicom_frame_of_reference",
    "check_frame_of_reference",
    "rtstruct_rois",
    "read_rtstruct",
    "seg_segments",
    "read_dicom_seg",
    "write_dicom_seg",
]

#: DICOM tag of the Frame of Reference UID, kept on images read from a series.
FRAME_OF_REFERENCE_TAG = "0020|0052"
# Modalities that are not images: never read as an image series.
_NON_IMAGE_MODALITIES = {"RTSTRUCT", "SEG", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "REG"}


@contextmanager
def _quiet_itk():
    """Silence ITK's stderr warnings (no series found, uneven slices): we report these ourselves."""
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a DICOM Part-10 file (``DICM`` magic after the 128-byte preamble)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def dicom_modality(path: Path) -> str:
    """The Modality (0008,0060) of a DICOM file, read without its pixel data."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    return str(ds.get("Modality", "")).upper()


def dicom_frame_of_reference(path: Path) -> str:
    """The Frame of Reference UID (0020,0052) of a DICOM file ("" when absent)."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["FrameOfReferenceUID"])
    return str(ds.get("FrameOfReferenceUID", "")).strip()


@dataclass(frozen=True)
class SeriesInfo:
    """One image series found in a DICOM folder."""

    series_uid: str
    description: str
    modality: str
    n_slices: int
    files: tuple[str, ...]

    def __str__(self) -> str:
        desc = self.description or "(no description)"
        return f"{self.series_uid}  {self.modality}  {desc!r}  {self.n_slices} slices"


def list_series(folder: Path) -> list[SeriesInfo]:
    """The image series in a DICOM folder (not recursive), non-image objects left out.

    Parameters
    ----------
    folder
        A folder of DICOM files.

    Returns
    -------
    list of SeriesInfo
        Series UID, description, modality, number of slices and sorted file names per series.
    """
    import pydicom

    reader = sitk.ImageSeriesReader()
    out = []
    with _quiet_itk():
        uids = reader.GetGDCMSeriesIDs(str(folder))
    for uid in uids:
        files = tuple(reader.GetGDCMSeriesFileNames(str(folder), uid))
        if not files:
            continue
        try:
            ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        except Exception:  # an unreadable header: keep the series, without details
            ds = {}
        modality = str(ds.get("Modality", "")).upper()
        if modality in _NON_IMAGE_MODALITIES:
            continue
        out.append(
            SeriesInfo(
                series_uid=uid,
                description=str(ds.get("SeriesDescription", "")),
                modality=modality,
                n_slices=len(files),
                files=files,
            )
        )
    return out


def read_dicom_series(folder: Path, series_uid: str | None = None) -> sitk.Image:
    """Read one image series from a DICOM folder into a SimpleITK image.

    Parameters
    ----------
    folder
        Folder holding the series' files (other series and non-image objects may be present).
    series_uid
        Series Instance UID to read; required when the folder holds several image series.

    Returns
    -------
    SimpleITK.Image
        The volume with rescale slope / intercept applied (Hounsfield units for CT).

    Raises
    ------
    ImageReadError
        No image series in the folder, several without ``series_uid`` (the message lists them
        with description and number of slices), an unknown ``series_uid``, unevenly spaced
        slices (a missing slice), or a series GDCM cannot read.
    """
    series = list_series(folder)
    if not series:
        raise ImageReadError(
            "the folder holds no DICOM image series",
            path=folder,
            fix="point to the folder that holds the image slices (.dcm files of one series)",
        )
    listing = "; ".join(str(s) for s in series)
    if series_uid is None:
        if len(series) > 1:
            raise ImageReadError(
                f"the folder holds {len(series)} image series: {listing}",
                path=folder,
                fix="choose one with series_uid='<Series Instance UID>' "
                "(or put each series in its own folder)",
            )
        chosen = series[0]
    else:
        match = [s for s in series if s.series_uid == series_uid]
        if not match:
            raise ImageReadError(
                f"series {series_uid!r} is not in the folder; it holds: {listing}",
                path=folder,
                fix="pass one of the listed Series Instance UIDs",
            )
        chosen = match[0]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(chosen.files))
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        with _quiet_itk():
            image = reader.Execute()
    except RuntimeError as exc:
        raise ImageReadError(
            f"cannot read DICOM series {chosen.series_uid}: {_first_line(exc)}",
            path=folder,
            fix="check that the slices are complete, uncompressed or in a transfer syntax "
            "GDCM supports, and of one size",
        ) from exc
    _check_slice_spacing(chosen, image, folder, reader)
    for tag in (FRAME_OF_REFERENCE_TAG, "0020|000e"):  # kept to check RTSTRUCT / SEG against
        if reader.HasMetaDataKey(0, tag):
            image.SetMetaData(tag, reader.GetMetaData(0, tag).strip().rstrip("\0"))
    return image


def check_frame_of_reference(uids: set[str], reference: sitk.Image, path: Path, what: str) -> None:
    """Raise when a structure set / segmentation was drawn in another Frame of Reference than
    the reference image's (known when the image was read from its DICOM series)."""
    uids = {u.strip() for u in uids if u and u.strip()}
    if not uids or not reference.HasMetaDataKey(FRAME_OF_REFERENCE_TAG):
        return
    image_uid = reference.GetMetaData(FRAME_OF_REFERENCE_TAG).strip()
    if image_uid and image_uid not in uids:
        raise GeometryMismatchError(
            f"the {what} belongs to Frame of Reference {', '.join(sorted(uids))}, but the image "
            f"series to Frame of Reference {image_uid}: it was drawn on another scan (or another "
            "registration of it), so its voxels would land in the wrong place",
            path=path,
            fix=f"pair the {what} with the image series it was drawn on (same Frame of "
            "Reference UID (0020,0052)), or register the image to that series first",
        )


def _check_slice_spacing(
    info: SeriesInfo, image: sitk.Image, folder: Path, reader: sitk.ImageSeriesReader
) -> None:
    """Raise when slice positions are not evenly spaced (a missing or duplicated slice)."""
    if len(info.files) < 3 or image.GetDimension() != 3:
        return
    normal = np.asarray(image.GetDirection()).reshape(3, 3)[:, 2]
    pos = []
    for i in range(len(info.files)):
        if not reader.HasMetaDataKey(i, "0020|0032"):
            return  # no Image Position (Patient): nothing to check
        try:
            xyz = [float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")]
        except ValueError:
            return
        pos.append(float(np.dot(np.asarray(xyz), normal)))
    gaps = np.diff(np.sort(pos))
    med = float(np.median(gaps))
    bad = np.abs(gaps - med) > 0.01 * max(med, 1e-6) + 1e-3
    if med <= 0 or bad.any():
        where = ", ".join(f"{g:.4g} mm" for g in gaps[bad][:5])
        unread = _unreadable_dicom_files(folder)
        damaged = (
            f"; {len(unread)} DICOM file(s) of the folder could not be read (damaged or "
            f"truncated?): {', '.join(unread[:5])}"
            if unread
            else ""
        )
        raise ImageReadError(
            f"DICOM series {info.series_uid} has unevenly spaced slices (usual gap {med:.4g} mm, "
            f"but also {where or 'zero gaps'}): a slice is missing or duplicated{damaged}",
            path=folder,
            fix="restore the complete series (copy the damaged files again, or remove "
            "duplicate files) before reading",
        )


def _unreadable_dicom_files(folder: Path) -> list[str]:
    """Names of the DICOM files (``DICM`` magic) of ``folder`` that belong to no series GDCM
    could read: files cut short or damaged, which GDCM leaves out of the series silently."""
    reader = sitk.ImageSeriesReader()
    with _quiet_itk():
        listed = {
            Path(f).name
            for uid in reader.GetGDCMSeriesIDs(str(folder))
            for f in reader.GetGDCMSeriesFileNames(str(folder), uid)
        }
    out = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name in listed or not is_dicom_file(p):
            continue
        try:
            if dicom_modality(p) in _NON_IMAGE_MODALITIES:
                continue  # an RTSTRUCT, SEG... beside the slices: not part of the series
        except Exception:  # not even its header reads
            pass
        out.append(p.name)
    return out


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # SimpleITK messages start with a source location; the description is the last line
    return lines[-1] if lines else type(exc).__name__


# ----------------------------------------------------------------------------------- RTSTRUCT


def _read_dataset(path: Path):
    import pydicom

    try:
        return pydicom.dcmread(path)
    except Exception as exc:
        raise ImageReadError(
            f"cannot read the DICOM file: {exc}",
            path=path,
            fix="check that the file is a complete DICOM object",
        ) from exc


def rtstruct_rois(path: Path) -> dict[int, str]:
    """ROI numbers and names of an RTSTRUCT file: ``{ROI number: ROI name}``."""
    ds = _read_dataset(path)
    return {int(r.ROINumber): str(r.ROIName) for r in ds.get("StructureSetROISequence", [])}


def _resolve_name(label: int | str, names: dict[int, str], *, what: str, path: Path) -> int:
    """Map a label given as number or name to its number, or raise LabelNotFoundError."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if int(label) in names:
            return int(label)
    else:
        text = str(label)
        exact = [n for n, name in names.items() if name == text]
        if len(exact) == 1:
            return exact[0]
        folded = [n for n, name in names.items() if name.strip().lower() == text.strip().lower()]
        if len(folded) == 1:
            return folded[0]
        if text.strip().lstrip("-").isdigit() and int(text) in names:
            return int(text)
    available = ", ".join(f"{n} ({name!r})" for n, name in sorted(names.items())) or "none"
    close = difflib.get_close_matches(str(label), list(names.values()), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise LabelNotFoundError(
        f"{what} {label!r} is not in the file; available: {available}",
        path=path,
        fix=f"{hint}pass one of the available {what}s (by number or name)",
    )


def read_rtstruct(
    path: Path,
    reference: sitk.Image,
    label: int | str | None,
    *,
    on_mismatch: str = "raise",
) -> sitk.Image:
    """Rasterise RTSTRUCT ROIs on the grid of ``reference``.

    A voxel belongs to an ROI when its centre lies inside a closed planar contour on its slice;
    several contours on one slice combine with the even-odd rule, so an inner contour cuts a
    hole. Each contour must lie on a slice plane of the reference (within 5 % of the slice
    spacing); otherwise a :class:`~radiopredict.errors.GeometryMismatchError` is raised, or,
    with ``on_mismatch="resample"``, the contour is drawn on the nearest slice.

    Parameters
    ----------
    path
        The RTSTRUCT file.
    reference
        The image the structure set refers to (its DICOM series).
    label
        ROI name or ROI number. ``None``: every ROI that covers voxels, as a label map valued by
        ROI number (they must not overlap).
    on_mismatch
        ``"raise"`` or ``"resample"`` (nearest slice) for contours between slice planes.

    Returns
    -------
    SimpleITK.Image
        UInt8 (or UInt16 for ROI numbers above 255) mask on the reference grid.
    """
    ds = _read_dataset(path)
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.get("StructureSetROISequence", [])}
    frames = {
        str(f.get("FrameOfReferenceUID", ""))
        for f in ds.get("ReferencedFrameOfReferenceSequence", [])
    }
    frames |= {
        str(r.get("ReferencedFrameOfReferenceUID", ""))
        for r in ds.get("StructureSetROISequence", [])
    }
    check_frame_of_reference(frames, reference, path, "RTSTRUCT")
    if label is None:
        numbers = sorted(names)
        if not numbers:
            raise LabelNotFoundError(
                "the RTSTRUCT holds no ROI", path=path, fix="check the structure set"
            )
    else:
        numbers = [_resolve_name(label, names, what="ROI", path=path)]
    contours_of = {
        int(c.ReferencedROINumber): list(c.get("ContourSequence", []))
        for c in ds.get("ROIContourSequence", [])
    }
    size = reference.GetSize()
    if reference.GetDimension() != 3:
        raise GeometryMismatchError(
            f"RTSTRUCT needs a 3-D reference image, got {reference.GetDimension()}-D",
            path=path,
            fix="pass the image series the structure set was drawn on",
        )
    dtype = np.uint8 if max(numbers) <= 255 else np.uint16
    out = np.zeros(size[::-1], dtype=dtype)
    for number in numbers:
        roi, n_on_image = _rasterise_roi(
            contours_of.get(number, []),
            reference,
            nearest_slice=on_mismatch == "resample",
            what=f"ROI {number} ({names[number]!r})",
            path=path,
        )
        if label is None and (roi is None or not roi.any()):
            continue  # a label map of all ROIs holds those that have voxels
        if roi is None:
            raise LabelNotFoundError(
                f"ROI {number} ({names[number]!r}) has no closed planar contour",
                path=path,
                fix="choose an ROI that has contours; available: "
                + ", ".join(f"{n} ({v!r})" for n, v in sorted(names.items())),
            )
        if n_on_image and not roi.any():
            raise EmptyMaskError(
                f"ROI {number} ({names[number]!r}) contains no voxel centre of the reference "
                "image (its contours are smaller than a voxel)",
                path=path,
                fix="check the contours, or use a finer reference image",
            )
        if not roi.any():
            raise GeometryMismatchError(
                f"ROI {number} ({names[number]!r}) lies outside the reference image "
                f"({describe_geometry(reference)})",
                path=path,
                fix="pass the image series the RTSTRUCT refers to (its Referenced Series UID)",
            )
        if label is None and (out[roi] != 0).any():
            raise ConfigError(
                f"ROIs overlap (ROI {number} {names[number]!r} overlaps another ROI), so they "
                "cannot form one label map",
                path=path,
                fix="read one ROI at a time with label='<ROI name>'",
            )
        out[roi] = number if label is None else 1
    if label is None and not out.any():
        raise EmptyMaskError(
            "no ROI of the RTSTRUCT covers a voxel of the reference image "
            f"({describe_geometry(reference)})",
            path=path,
            fix="pass the image series the RTSTRUCT refers to (its Referenced Series UID)",
        )
    mask = sitk.GetImageFromArray(out)
    mask.CopyInformation(reference)
    return mask


def _rasterise_roi(
    contours, reference: sitk.Image, *, nearest_slice: bool, what: str, path: Path
) -> tuple[np.ndarray | None, int]:
    """Boolean mask of one ROI and the number of its contours on the reference's slices."""
    from skimage.draw import polygon2mask

    size = reference.GetSize()
    matrix = np.asarray(reference.GetDirection()).reshape(3, 3) @ np.diag(reference.GetSpacing())
    to_index = np.linalg.inv(matrix)
    origin = np.asarray(reference.GetOrigin())
    out = np.zeros(size[::-1], dtype=bool)
    n_closed = n_on_image = 0
    for contour in contours:
        if str(contour.get("ContourGeometricType", "CLOSED_PLANAR")).upper() != "CLOSED_PLANAR":
            continue
        points = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
        if len(points) < 3:
            continue
        n_closed += 1
        index = (points - origin) @ to_index.T  # continuous (x, y, z) indices
        k = np.rint(index[:, 2])
        if np.ptp(k) > 0:
            raise GeometryMismatchError(
                f"a contour of {what} is not parallel to the slices of the reference image "
                f"({describe_geometry(reference)})",
                path=path,
                fix="pass the image series the structure set was drawn on",
            )
        if not 0 <= k[0] < size[2]:
            continue  # a slice the reference image does not cover
        n_on_image += 1
        off = float(np.max(np.abs(index[:, 2] - k)))
        if off > 0.05 and not nearest_slice:
            z_mm = float(np.mean(points[:, 2]))
            raise GeometryMismatchError(
                f"a contour of {what} (z = {z_mm:.4g} mm) lies {off:.2f} slice between two "
                f"slices of the reference image ({describe_geometry(reference)})",
                path=path,
                fix="pass the image series the structure set was drawn on, or "
                "on_mismatch='resample' to draw each contour on its nearest slice",
            )
        k = int(k[0])
        out[k] ^= polygon2mask((size[1], size[0]), index[:, [1, 0]])
    return (out if n_closed else None), n_on_image


# ---------------------------------------------------------------------------------- DICOM-SEG


def _read_seg(path: Path):
    import highdicom as hd

    try:
        return hd.seg.segread(path)
    except Exception as exc:
        raise ImageReadError(
            f"cannot read the DICOM-SEG object: {exc}",
            path=path,
            fix="check that the file is a valid DICOM Segmentation",
        ) from exc


def seg_segments(path: Path) -> dict[int, str]:
    """Segment numbers and labels of a DICOM-SEG file: ``{segment number: segment label}``."""
    ds = _read_dataset(path)
    return {
        int(s.SegmentNumber): str(s.get("SegmentLabel", s.SegmentNumber))
        for s in ds.get("SegmentSequence", [])
    }


def read_dicom_seg(path: Path, label: int | str | None) -> sitk.Image:
    """Read a DICOM-SEG as a SimpleITK mask in its own geometry.

    Parameters
    ----------
    path
        The SEG file.
    label
        Segment number or segment label; ``None`` for a label map valued by segment number
        (segments must not overlap).

    Returns
    -------
    SimpleITK.Image
        UInt8 mask (UInt16 beyond 255 segments). It may cover only part of the source series
        (SEG objects may omit empty slices); :func:`radiopredict.imaging.read_mask` pastes it
        onto the reference grid.
    """
    seg = _read_seg(path)
    names = {
        int(n): str(seg.get_segment_description(n).SegmentLabel) for n in seg.get_segment_numbers()
    }
    if str(seg.SegmentationType).upper() == "FRACTIONAL" and label is None:
        warnings.warn(
            f"{path}: fractional DICOM-SEG read as a label map (fractions > 0.5 kept)",
            stacklevel=3,
        )
    numbers = None if label is None else [_resolve_name(label, names, what="segment", path=path)]
    dtype = np.uint8 if max(names, default=1) <= 255 else np.uint16
    try:
        volume = seg.get_volume(segment_numbers=numbers, combine_segments=True, dtype=dtype)
    except Exception as exc:
        overlap = "overlap" in str(exc).lower()
        raise (ConfigError if overlap else ImageReadError)(
            f"cannot assemble the DICOM-SEG frames into a volume: {exc}",
            path=path,
            fix="read one segment at a time with label=<segment number or label>"
            if overlap
            else "the SEG frames must form a regular 3-D grid",
        ) from exc
    if volume is None:
        raise ImageReadError(
            "the DICOM-SEG frames do not form a regular 3-D grid",
            path=path,
            fix="convert the SEG with a tool that keeps the source geometry",
        )
    arr = np.asarray(volume.array)
    if label is not None:
        arr = (arr != 0).astype(np.uint8)
        volume = volume.with_array(arr)
    image = volume.to_simpleitk()
    if image.GetPixelID() not in (sitk.sitkUInt8, sitk.sitkUInt16):
        image = sitk.Cast(image, sitk.sitkUInt8 if dtype == np.uint8 else sitk.sitkUInt16)
    return image


def write_dicom_seg(
    mask: sitk.Image,
    source_dicom_folder: str | Path,
    path: str | Path,
    *,
    label_names: dict[int, str] | None = None,
    series_uid: str | None = None,
    series_description: str = "radiopredict segmentation",
    algorithm_name: str | None = None,
    tolerance: float = 1e-4,
) -> Path:
    """Write a mask as a binary DICOM-SEG that references its source DICOM series.

    Each non-zero label becomes one segment. Segment numbers are the label values when these are
    1, 2, ..., N; otherwise labels are renumbered in increasing order (a warning gives the
    mapping), since DICOM numbers segments from 1 without gaps.

    Parameters
    ----------
    mask
        Label map on the grid of the source series (checked, see
        :func:`~radiopredict.imaging.geometry_differences`).
    source_dicom_folder
        Folder of the DICOM image series the mask was drawn on.
    path
        Output ``.dcm`` file; parent folders are created.
    label_names
        ``{label value: name}`` stored as each segment's label; default ``"label <value>"``.
    series_uid
        Source series to use when the folder holds several.
    series_description
        Series Description of the SEG.
    algorithm_name
        Name of the algorithm that produced the mask (segment algorithm type AUTOMATIC); when
        ``None`` the segments are declared MANUAL.
    tolerance
        Geometry tolerance between mask and series.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    from radiopredict._version import __version__

    folder = Path(source_dicom_folder)
    if not folder.is_dir():
        raise InputFileNotFoundError(
            "the source DICOM folder does not exist",
            path=folder,
            fix="pass the folder of the image series the mask was drawn on",
        )
    image = read_dicom_series(folder, series_uid)
    diffs = geometry_differences(mask, image, tolerance)
    if diffs:
        raise GeometryMismatchError(
            "the mask is not on the grid of the source series: "
            + "; ".join(diffs)
            + f". Mask: {describe_geometry(mask)}. Series: {describe_geometry(image)}",
            path=folder,
            fix="resample the mask onto the series first (read_mask(..., reference=series, "
            "on_mismatch='resample'))",
        )
    info = [s for s in list_series(folder) if series_uid in (None, s.series_uid)][0]
    datasets = [pydicom.dcmread(f) for f in info.files]
    normal = np.asarray(image.GetDirection()).reshape(3, 3)[:, 2]
    datasets.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal)))

    arr = sitk.GetArrayFromImage(mask)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(arr == np.round(arr)):
        raise ConfigError(
            "the mask holds non-integer values, so it is not a label map",
            fix="threshold the mask into integer labels first",
        )
    values = [int(v) for v in np.unique(arr) if v != 0]
    if not values:
        raise EmptyMaskError(
            "the mask is empty: a DICOM-SEG needs at least one labelled voxel",
            path=path,
            fix="check the segmentation",
        )
    if min(values) < 0:
        raise ConfigError(
            f"the mask holds negative labels {[v for v in values if v < 0]}",
            fix="use positive label values",
        )
    numbering = {v: i + 1 for i, v in enumerate(values)}
    if any(v != n for v, n in numbering.items()):
        warnings.warn(
            "DICOM-SEG segment numbers run 1..N; labels renumbered "
            + ", ".join(f"{v} -> {n}" for v, n in numbering.items()),
            stacklevel=2,
        )
    label_map = np.zeros(arr.shape, dtype=np.uint16 if len(values) > 255 else np.uint8)
    for v, n in numbering.items():
        label_map[arr == v] = n
    names = dict(label_names or {})
    if algorithm_name:
        algorithm_type = hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        algorithm = hd.AlgorithmIdentificationSequence(
            name=algorithm_name,
            family=codes.cid7162.ArtificialIntelligence,
            version=__version__,
        )
    else:
        algorithm_type, algorithm = hd.seg.SegmentAlgorithmTypeValues.MANUAL, None
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=str(names.get(v, f"label {v}")),
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=algorithm_type,
            algorithm_identification=algorithm,
        )
        for v, n in numbering.items()
    ]
    with warnings.catch_warnings():
        # highdicom warns about single-component patient names copied from the source series
        warnings.filterwarnings("ignore", message=".*intended person name.*")
        seg = _build_seg(hd, datasets, label_map, descriptions, series_description, __version__)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out)
    return out


def _build_seg(hd, datasets, label_map, descriptions, series_description, version):
    return hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=label_map,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(getattr(datasets[0], "SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="radiopredict",
        manufacturer_model_name="radiopredict",
        software_versions=version,
        device_serial_number="0",
        series_description=series_description,
        omit_empty_frames=False,
    )
