"""Case handling shared by segmentation and embeddings: reading, binarising, preprocessing.

Works with a :class:`~radiopredict.cohort.Cohort`, a list of
:class:`~radiopredict.cohort.Case`, or a list of ``(image_path, mask_path)`` pairs. No torch here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from radiopredict.cohort import Case, Cohort
from radiopredict.errors import (
    ConfigError,
    GeometryMismatchError,
    ImageReadError,
    InputFileNotFoundError,
    LabelNotFoundError,
)

__all__ = [
    "Preprocessing",
    "as_cases",
    "case_name",
    "read_case_image",
    "read_case_mask",
    "file_hash",
    "write_mask_file",
]


def as_cases(cases: Cohort | Iterable[Any]) -> list[Case]:
    """Normalise a Cohort, Cases or ``(image, mask)`` / ``(image,)`` pairs to a list of Case."""
    if isinstance(cases, Cohort):
        return cases.cases()
    if isinstance(cases, (str, os.PathLike)):
        raise ConfigError(
            f"expected a Cohort or a list of cases, got the path {str(cases)!r}",
            fix="load the manifest first with Cohort.read(path)",
        )
    out: list[Case] = []
    for item in cases:
        if isinstance(item, Case):
            out.append(item)
            continue
        if isinstance(item, (str, os.PathLike)):
            item = (item, None)
        if not isinstance(item, Sequence) or not 1 <= len(item) <= 2:
            raise ConfigError(
                f"cannot interpret {item!r} as a case",
                fix="pass a Cohort, Case objects or (image_path, mask_path) pairs",
            )
        image = Path(item[0])
        mask = Path(item[1]) if len(item) > 1 and item[1] is not None else None
        name = image.name.split(".")[0]
        out.append(Case(patient_id=name, image=image, mask=mask))
    return out


def case_name(case: Case) -> str:
    """A file-name-safe name for a case (patient, modality, timepoint)."""
    parts = [case.patient_id]
    if case.modality != "default":
        parts.append(case.modality)
    if case.timepoint != "baseline":
        parts.append(case.timepoint)
    safe = "_".join(parts)
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in safe)


def _imaging():
    try:
        from radiopredict import imaging

        if hasattr(imaging, "read_image") and hasattr(imaging, "read_mask"):
            return imaging
    except ImportError:
        pass
    return None


def read_case_image(case: Case) -> sitk.Image:
    """Read the case's image (via ``radiopredict.imaging`` when available)."""
    imaging = _imaging()
    if imaging is not None:
        return imaging.read_image(case.image)
    if not case.image.exists():
        raise InputFileNotFoundError(
            "image file not found", patient=case.patient_id, path=case.image, fix="fix the path"
        )
    try:
        return sitk.ReadImage(str(case.image))
    except RuntimeError as exc:
        raise ImageReadError(
            f"cannot read image ({exc})".splitlines()[0],
            patient=case.patient_id,
            path=case.image,
            fix="check the file is a NIfTI/NRRD/MHA image",
        ) from exc


def read_case_mask(case: Case, reference: sitk.Image, *, require: bool = True) -> sitk.Image | None:
    """Binary UInt8 mask (0/1) of the case's label on the reference grid.

    Returns None when the case has no mask and ``require`` is False.
    """
    if case.mask is None:
        if not require:
            return None
        raise InputFileNotFoundError(
            "the case has no mask",
            patient=case.patient_id,
            fix="add a mask column to the manifest, or segment first with predict_masks()",
        )
    imaging = _imaging()
    if imaging is not None:
        mask = imaging.read_mask(case.mask, reference, label=case.label)
        if case.label is None:
            mask = sitk.Cast(mask > 0, sitk.sitkUInt8)
        return mask
    if not case.mask.exists():
        raise InputFileNotFoundError(
            "mask file not found", patient=case.patient_id, path=case.mask, fix="fix the path"
        )
    try:
        mask = sitk.ReadImage(str(case.mask))
    except RuntimeError as exc:
        raise ImageReadError(
            f"cannot read mask ({exc})".splitlines()[0],
            patient=case.patient_id,
            path=case.mask,
            fix="check the file is a NIfTI/NRRD/MHA label map",
        ) from exc
    if mask.GetSize() != reference.GetSize() or not np.allclose(
        mask.GetSpacing(), reference.GetSpacing(), atol=1e-4
    ):
        raise GeometryMismatchError(
            f"mask grid {mask.GetSize()} @ {mask.GetSpacing()} differs from the image grid "
            f"{reference.GetSize()} @ {reference.GetSpacing()}",
            patient=case.patient_id,
            path=case.mask,
            fix="resample the mask onto the image grid",
        )
    arr = sitk.GetArrayViewFromImage(mask)
    if case.label is None:
        binary = arr > 0
    elif isinstance(case.label, int):
        binary = arr == case.label
        if not binary.any():
            raise LabelNotFoundError(
                f"label {case.label} is absent from the mask (labels: {np.unique(arr)[:10]})",
                patient=case.patient_id,
                path=case.mask,
                fix="use one of the labels present in the mask",
            )
    else:
        raise LabelNotFoundError(
            f"label name {case.label!r} needs radiopredict.imaging to be resolved",
            patient=case.patient_id,
            path=case.mask,
            fix="use an integer label value",
        )
    out = sitk.GetImageFromArray(binary.astype(np.uint8))
    out.CopyInformation(reference)
    return out


def write_mask_file(
    mask: sitk.Image, path: Path, label_names: dict[int, str] | None = None
) -> Path:
    """Write a label map (NIfTI) via ``radiopredict.imaging`` when available."""
    path.parent.mkdir(parents=True, exist_ok=True)
    imaging = _imaging()
    if imaging is not None and hasattr(imaging, "write_mask"):
        imaging.write_mask(mask, path, label_names=label_names)
    else:
        sitk.WriteImage(mask, str(path), useCompression=True)
    return path


def file_hash(path: Path, h: Any | None = None) -> Any:
    """Update (or create) a SHA-256 with a file's bytes, or every file of a folder (sorted)."""
    h = h or hashlib.sha256()
    files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h


@dataclass(frozen=True)
class Preprocessing:
    """Image preparation shared by training and inference (saved with the model).

    Parameters
    ----------
    spacing
        Resample images to this voxel spacing in mm (x, y, z) before the network, or None to keep
        the native grid. Predictions are resampled back to the native grid (nearest neighbour).
    intensity
        ``"zscore"``: :math:`(x - \\mu) / \\sigma` over the volume;
        ``"window"``: clip to ``window = (lo, hi)`` and scale to :math:`(x - lo) / (hi - lo)`.
    window
        Intensity window for ``intensity="window"`` (e.g. ``(-200, 300)`` HU for soft tissue).
    """

    spacing: tuple[float, float, float] | None = None
    intensity: str = "zscore"
    window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.intensity not in ("zscore", "window"):
            raise ConfigError(
                f"intensity must be 'zscore' or 'window', got {self.intensity!r}",
                fix="use intensity='zscore' or intensity='window' with window=(lo, hi)",
            )
        if self.intensity == "window":
            if self.window is None or len(self.window) != 2 or self.window[1] <= self.window[0]:
                raise ConfigError(
                    f"intensity='window' needs window=(lo, hi) with lo < hi, got {self.window!r}",
                    fix="pass e.g. window=(-200, 300)",
                )
        if self.spacing is not None and (
            len(self.spacing) != 3 or any(float(s) <= 0 for s in self.spacing)
        ):
            raise ConfigError(
                f"spacing must be three positive numbers (mm), got {self.spacing!r}", fix=""
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spacing"] = None if self.spacing is None else [float(s) for s in self.spacing]
        d["window"] = None if self.window is None else [float(w) for w in self.window]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        unknown = sorted(set(d) - {"spacing", "intensity", "window"})
        if unknown:
            raise ConfigError(f"unknown preprocessing setting(s) {unknown}", fix="")
        return cls(
            spacing=None if d.get("spacing") is None else tuple(d["spacing"]),
            intensity=d.get("intensity", "zscore"),
            window=None if d.get("window") is None else tuple(d["window"]),
        )

    def resample(self, image: sitk.Image, *, is_mask: bool = False) -> sitk.Image:
        """Resample to :attr:`spacing` (no-op when None)."""
        if self.spacing is None:
            return image
        return resample_to_spacing(image, self.spacing, is_mask=is_mask)

    def normalise(self, array: np.ndarray) -> np.ndarray:
        """Intensity-normalised float32 copy of ``array``."""
        a = array.astype(np.float32)
        if self.intensity == "window":
            lo, hi = self.window
            return (np.clip(a, lo, hi) - lo) / (hi - lo)
        std = float(a.std())
        return (a - float(a.mean())) / (std if std > 0 else 1.0)


def resample_to_spacing(
    image: sitk.Image, spacing: Sequence[float], *, is_mask: bool = False
) -> sitk.Image:
    """Resample ``image`` to ``spacing`` keeping its physical extent, origin and direction."""
    old_sp = np.array(image.GetSpacing(), dtype=float)
    new_sp = np.array(spacing, dtype=float)
    size = np.maximum(1, np.round(np.array(image.GetSize()) * old_sp / new_sp)).astype(int)
    interp = sitk.sitkNearestNeighbor if is_mask else sitk.sitkLinear
    return sitk.Resample(
        image,
        [int(s) for s in size],
        sitk.Transform(),
        interp,
        image.GetOrigin(),
        [float(s) for s in new_sp],
        image.GetDirection(),
        0,
        image.GetPixelID() if is_mask else sitk.sitkFloat32,
    )


def load_training_case(case: Case, prep: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image (float32) and binary mask (uint8) arrays (z, y, x) of a case.

    An empty mask is allowed (a tumour-free case teaches the network background).
    """
    image = read_case_image(case)
    mask = read_case_mask(case, image)
    image, mask = prep.resample(image), prep.resample(mask, is_mask=True)
    m = sitk.GetArrayFromImage(mask).astype(np.uint8)
    return prep.normalise(sitk.GetArrayFromImage(image)), m
