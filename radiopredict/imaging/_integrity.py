"""Check that an image file holds what its header promises, before and after SimpleITK reads it.

SimpleITK (ITK) zero-fills the voxels a truncated NIfTI file lacks, reads the NaN voxels of a
NIfTI file as 0, and reports a truncated MetaImage as "No such file or directory". These checks
read the header themselves and compare it with the data actually present:

* NIfTI-1/-2 (``.nii``, ``.nii.gz``): the voxel bytes present (after decompression) against
  ``vox_offset + prod(dim) * bitpix / 8``, and float voxels for NaN / inf (streamed in chunks, so
  memory does not grow with the image);
* MetaImage (``.mha``, ``.mhd``): a detached ``ElementDataFile`` that is missing is named, and
  uncompressed voxel bytes are counted against ``DimSize`` and ``ElementType``;
* NRRD with a detached header (``.nhdr``): a missing ``data file`` is named;
* every format, after reading: the dimension (2-D and 4-D images are refused or reduced
  explicitly), the spacing, and non-finite float voxels.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiopredict.errors import ImageReadError, InputFileNotFoundError

__all__ = ["check_file_complete", "check_volume", "check_finite"]

_CHUNK = 1 << 22  # bytes per read; a multiple of every voxel size
#: NIfTI datatype codes of the float types (checked for NaN / inf), as numpy kinds and sizes.
_NIFTI_FLOATS = {16: ("f", 4), 64: ("f", 8)}
#: MetaImage element types and their sizes in bytes.
_MET_SIZES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
_INCOMPLETE_FIX = (
    "copy the file again from its source (it was cut short, e.g. by an interrupted download or "
    "a full disk) and check its size against the original"
)


def check_file_complete(path: Path, what: str, *, thorough: bool = False) -> None:
    """Raise when the file's data is shorter than its header promises (or, for NIfTI, holds
    NaN / inf voxels, which ITK would read as 0); a missing detached data file is named.

    An integer NIfTI is checked from its size alone (``.nii``: the file's size; ``.nii.gz``:
    the uncompressed size in the gzip trailer, which a truncated file lacks) unless
    ``thorough``; float NIfTI data, and any file whose trailer disagrees, is decompressed and
    counted (and scanned for NaN / inf)."""
    name = path.name.lower()
    if path.is_file() and path.stat().st_size == 0:
        raise ImageReadError(
            f"the {what} file is empty (0 bytes)",
            path=path,
            fix=_INCOMPLETE_FIX,
        )
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti(path, what, thorough)
    elif name.endswith((".mha", ".mhd")):
        _check_metaimage(path, what)
    elif name.endswith(".nhdr"):
        _check_nhdr(path, what)


# ---------------------------------------------------------------------------------- NIfTI


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _nifti_header(head: bytes):
    """``(vox_offset, shape, bitpix, datatype, byte order)`` or None when not NIfTI-1/-2."""
    if len(head) < 348:
        return None
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348:
            dim = struct.unpack(order + "8h", head[40:56])
            datatype, bitpix = struct.unpack(order + "2h", head[70:74])
            vox_offset = int(struct.unpack(order + "f", head[108:112])[0])
            if head[344:347] != b"n+1":  # a .hdr/.img pair: data lives elsewhere
                return None
            break
        if size == 540 and len(head) >= 540:
            datatype, bitpix = struct.unpack(order + "2h", head[12:16])
            dim = struct.unpack(order + "8q", head[16:80])
            vox_offset = int(struct.unpack(order + "q", head[168:176])[0])
            break
    else:
        return None
    ndim = int(dim[0])
    if not 1 <= ndim <= 7 or any(d <= 0 for d in dim[1 : ndim + 1]) or bitpix <= 0:
        return None  # malformed: SimpleITK reports it
    shape = tuple(int(d) for d in dim[1 : ndim + 1])
    return vox_offset, shape, int(bitpix), int(datatype), order


def _size_says_complete(path: Path, gzipped: bool, total: int) -> bool:
    """Whether the file's size (or a gzip file's trailer, ISIZE: the uncompressed size modulo
    2**32) shows ``total`` bytes of header and data. A truncated gzip file has no trailer: its
    last 4 bytes are compressed data, equal to the size by chance only (2**-32)."""
    size = path.stat().st_size
    if not gzipped:
        return size >= total
    if size < 18:
        return False
    with open(path, "rb") as fh:
        fh.seek(-4, 2)
        isize = struct.unpack("<I", fh.read(4))[0]
    return isize == total % (1 << 32)


def _check_nifti(path: Path, what: str, thorough: bool = False) -> None:
    try:
        with _open_maybe_gzip(path) as fh:
            head = fh.read(540)
            if len(head) < 348:
                raise EOFError(f"the file ends after {len(head)} bytes, inside its header")
            header = _nifti_header(head)
            if header is None:
                return
            vox_offset, shape, bitpix, datatype, order = header
            n_voxels = int(np.prod(shape, dtype=np.int64))
            expected = n_voxels * bitpix // 8
            kind = _NIFTI_FLOATS.get(datatype)
            gzipped = isinstance(fh, gzip.GzipFile)
            if not (thorough or kind) and _size_says_complete(path, gzipped, vox_offset + expected):
                return  # integer voxels (no NaN possible), all bytes present
            dtype = np.dtype(f"{order}{kind[0]}{kind[1]}") if kind else None
            if len(head) < vox_offset:
                head += fh.read(vox_offset - len(head))
            pending = head[vox_offset:]
            got = nonfinite = 0
            first = None
            while got < expected:
                data = fh.read(_CHUNK)
                chunk = (pending + data)[: expected - got]
                usable = len(chunk) - (len(chunk) % dtype.itemsize if dtype is not None else 0)
                pending = chunk[usable:]
                if dtype is not None and usable:
                    bad = ~np.isfinite(np.frombuffer(chunk[:usable], dtype=dtype))
                    if bad.any():
                        if first is None:
                            first = got // dtype.itemsize + int(np.flatnonzero(bad)[0])
                        nonfinite += int(bad.sum())
                got += usable
                if not data:
                    break  # end of the file
            got += len(pending)
    except EOFError as exc:
        raise ImageReadError(
            f"the {what} file is incomplete ({exc}): it was cut short",
            path=path,
            fix=_INCOMPLETE_FIX,
        ) from exc
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise ImageReadError(
            f"the {what} file is damaged: its compressed data cannot be decompressed ({exc})",
            path=path,
            fix=_INCOMPLETE_FIX,
        ) from exc
    if got < expected:
        _raise_truncated(path, what, got, expected)
    if nonfinite:
        index = np.unravel_index(first, shape, order="F")  # NIfTI stores x fastest
        where = "voxel (x, y, z) = (" + ", ".join(str(int(i)) for i in index[:3]) + ")"
        _raise_nonfinite(path, what, nonfinite, n_voxels, where)


def _raise_truncated(path: Path, what: str, got: int, expected: int) -> None:
    share = 100.0 * got / expected if expected else 0.0
    raise ImageReadError(
        f"the {what} file is incomplete: it holds {got} of the {expected} voxel bytes its header "
        f"promises ({share:.1f} %); the reader would fill the rest with zeros",
        path=path,
        fix=_INCOMPLETE_FIX,
    )


def _raise_nonfinite(path: Path, what: str, count: int, total: int, where: str) -> None:
    raise ImageReadError(
        f"the {what} holds {count} NaN or infinite voxel(s) of {total} (first at {where})",
        path=path,
        fix="replace the NaN / inf voxels by a real value (for padding, the background value, "
        "e.g. -1024 HU for CT) and save the file again: "
        "arr[~numpy.isfinite(arr)] = value",
    )


# ------------------------------------------------------------------------------ MetaImage


def _metaimage_header(path: Path) -> tuple[dict[str, str], int]:
    """Header fields of a MetaImage file and the byte offset of its local data."""
    fields: dict[str, str] = {}
    offset = 0
    with open(path, "rb") as fh:
        for raw in iter(lambda: fh.readline(4096), b""):
            offset += len(raw)
            line = raw.decode("latin-1").strip()
            if "=" not in line:
                if line:
                    break
                continue
            key, value = (s.strip() for s in line.split("=", 1))
            fields[key] = value
            if key == "ElementDataFile":
                break
            if offset > 1 << 16:  # no header ends this late: not a MetaImage
                break
    return fields, offset


def _check_metaimage(path: Path, what: str) -> None:
    fields, offset = _metaimage_header(path)
    data_file = fields.get("ElementDataFile")
    if data_file is None:
        return
    if data_file.upper() == "LOCAL":
        data_path, available = path, path.stat().st_size - offset
    elif data_file.upper().startswith("LIST") or "%" in data_file or " " in data_file:
        return  # one file per slice: SimpleITK reports what is missing
    else:
        data_path = (path.parent / data_file).resolve()
        if not data_path.is_file():
            raise InputFileNotFoundError(
                f"the {what} header names the data file {data_file!r} (ElementDataFile), "
                f"which does not exist at {str(data_path)!r}",
                path=path,
                fix=f"put {data_file!r} next to {path.name!r} (a .mhd header and its .raw data "
                "travel together), or write the image as one .mha / .nii.gz file",
            )
        available = data_path.stat().st_size
    if fields.get("CompressedData", "False").lower() == "true":
        expected = int(fields.get("CompressedDataSize", "0") or 0)
    else:
        size = _MET_SIZES.get(fields.get("ElementType", ""))
        try:
            dims = [int(v) for v in fields.get("DimSize", "").split()]
            channels = int(fields.get("ElementNumberOfChannels", "1"))
        except ValueError:
            return
        if size is None or not dims:
            return
        expected = int(np.prod(dims, dtype=np.int64)) * size * channels
    if expected and available < expected:
        share = 100.0 * available / expected
        raise ImageReadError(
            f"the {what} file is incomplete: its data ({data_path.name}) holds {available} of "
            f"the {expected} bytes its header promises ({share:.1f} %)",
            path=data_path,
            fix=_INCOMPLETE_FIX,
        )


def _check_nhdr(path: Path, what: str) -> None:
    with open(path, "rb") as fh:
        text = fh.read(1 << 16).decode("latin-1")
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("data file", "datafile"):
            value = value.strip()
            if value.upper().startswith("LIST") or "%" in value or " " in value:
                return
            data_path = (path.parent / value).resolve()
            if not data_path.is_file():
                raise InputFileNotFoundError(
                    f"the {what} header names the data file {value!r} ('data file'), which "
                    f"does not exist at {str(data_path)!r}",
                    path=path,
                    fix=f"put {value!r} next to {path.name!r}, or write the image as one "
                    ".nrrd / .nii.gz file",
                )
            return


# ------------------------------------------------------------------------------ any format


def check_volume(image: sitk.Image, path: Path, what: str) -> sitk.Image:
    """A 3-D image: refuse 2-D and many-volume 4-D images, take the volume of a one-volume
    4-D image (size 1 along the 4th axis), refuse non-positive or non-finite spacing."""
    dim = image.GetDimension()
    size = image.GetSize()
    if dim == 2:
        raise ImageReadError(
            f"the {what} is 2-D (one slice of {size[0]} x {size[1]} voxels): it has no slice "
            "thickness, and radiopredict computes 3-D features",
            path=path,
            fix="pass the whole 3-D volume (all slices, or the DICOM series folder); for a "
            "single slice of known thickness t mm, make it a one-slice volume: "
            "vol = SimpleITK.JoinSeries(image); vol.SetSpacing((sx, sy, t)); save vol",
        )
    if dim == 4 and size[3] == 1:
        image = sitk.Extract(
            image,
            [*size[:3], 0],
            [0, 0, 0, 0],
            sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX,
        )
    elif dim != 3:
        extra = " x ".join(str(s) for s in size[3:])
        raise ImageReadError(
            f"the {what} is {dim}-D (size {size}): it holds {extra} volumes (a time series, "
            "several b-values, echoes or phases), and radiopredict reads one 3-D volume",
            path=path,
            fix="save the volume you want as its own 3-D file, e.g. "
            "SimpleITK.WriteImage(image[:, :, :, k], 'volume_k.nii.gz')",
        )
    spacing = image.GetSpacing()
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ImageReadError(
            f"the {what} has voxel spacing {spacing} mm: every spacing must be a positive number",
            path=path,
            fix="correct the voxel size in the file's header (NIfTI pixdim, NRRD space "
            "directions, MetaImage ElementSpacing) and save it again",
        )
    return image


def check_finite(image: sitk.Image, path: Path, what: str) -> None:
    """Raise when a float image holds NaN or infinite voxels (any format)."""
    if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return
    arr = sitk.GetArrayViewFromImage(image)
    bad = ~np.isfinite(arr)
    if bad.any():
        z, y, x = (int(v) for v in np.argwhere(bad)[0][:3])
        _raise_nonfinite(path, what, int(bad.sum()), arr.size, f"voxel (x, y, z) = ({x}, {y}, {z})")
