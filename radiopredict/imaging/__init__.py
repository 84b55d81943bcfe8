"""Images and masks: read and write NIfTI, NRRD, MHA/MHD, DICOM series, DICOM-SEG and RTSTRUCT,
and check that a mask shares its image's voxel grid.

See the "Images and masks" page of the documentation for the formats, the label-name convention
and the geometry rules.
"""

from __future__ import annotations

from radiopredict.imaging.dicom import write_dicom_seg
from radiopredict.imaging.geometry import describe_geometry, geometry_differences
from radiopredict.imaging.io import (
    label_sidecar_path,
    mask_labels,
    read_image,
    read_mask,
    write_image,
    write_mask,
)

__all__ = [
    "describe_geometry",
    "geometry_differences",
    "label_sidecar_path",
    "mask_labels",
    "read_image",
    "read_mask",
    "write_dicom_seg",
    "write_image",
    "write_mask",
]
