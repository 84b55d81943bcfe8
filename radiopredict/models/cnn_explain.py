"""Image explanations of a fitted CNN: Grad-CAM and occlusion sensitivity (MONAI).

:func:`explain_case` computes a saliency map on a case's ROI crop, resamples it from the crop
grid back onto the image grid (linear interpolation, 0 outside the crop) and writes

* ``<patient>_<method>.nii.gz``: the map on the image grid (same size, spacing, origin and
  direction as the image, so it overlays in any viewer);
* ``<patient>_<method>.png``: the axial slice through the ROI centre of the crop with the map
  over it and the ROI outline.

Grad-CAM (Selvaraju et al. 2017) weights the last residual stage's feature maps by their
spatially averaged gradients of the output, :math:`L = \\mathrm{ReLU}(\\sum_k \\alpha_k A^k)`,
upsampled to the crop and scaled to [0, 1]. Occlusion sensitivity slides a Gaussian-weighted
patch over the crop and records how much the output drops,
:math:`s(v) = f(x) - f(x_{\\setminus v})` (positive: the region supports the prediction).
Only ``mode="3d"`` networks are explained.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from radiopredict._torch import require_monai, require_torch
from radiopredict.errors import ConfigError

__all__ = ["saliency_maps", "explain_case"]

METHODS = ("gradcam", "occlusion")


def saliency_maps(
    model: Any, crop: np.ndarray, methods: tuple[str, ...] = METHODS, *, mask_size: int = 8
) -> dict[str, np.ndarray]:
    """Saliency maps ``(z, y, x)`` of one crop ``(channels, z, y, x)`` for a fitted CNN."""
    torch = require_torch("CNN explanations")
    require_monai("CNN explanations")
    from monai.visualize import GradCAM, OcclusionSensitivity
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "net_")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"unknown explanation method(s) {unknown}", fix=f"use {METHODS}")
    if model.mode != "3d":
        raise ConfigError(
            "image explanations need a 3-D network (mode='3d')",
            fix="fit the CNN with mode='3d' to explain it on the crop",
        )
    arr = model._crops(np.asarray(crop)[None], fitting=False)
    x = torch.from_numpy(arr)
    net = model.net_.cpu().eval()
    out: dict[str, np.ndarray] = {}
    if "gradcam" in methods:
        cam = GradCAM(nn_module=net, target_layers=model.target_layer_)
        with torch.enable_grad():
            out["gradcam"] = cam(x.clone().requires_grad_(True), class_idx=0)[0, 0].detach().numpy()
    if "occlusion" in methods:
        occ = OcclusionSensitivity(
            nn_module=net, mask_size=mask_size, n_batch=8, verbose=False, activate=False
        )
        with torch.no_grad(), warnings.catch_warnings():
            # MONAI 1.6 indexes with lists, which torch deprecates; nothing to act on here
            warnings.simplefilter("ignore", UserWarning)
            base = float(net(x)[0, 0])
            occ_map, _ = occ(x)
        # occ_map: (1, classes, z, y, x) output with the region occluded
        out["occlusion"] = (base - occ_map[0, 0]).numpy()
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def _overlay_png(path: Path, crop: np.ndarray, heat: np.ndarray, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    z = crop.shape[1] // 2
    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=100)
    ax.imshow(crop[0, z], cmap="gray", origin="lower")
    h = heat[z]
    span = float(np.abs(h).max()) or 1.0
    ax.imshow(h, cmap="jet", alpha=0.4, origin="lower", vmin=min(0.0, -span), vmax=span)
    if crop.shape[0] > 1:
        ax.contour(crop[1, z], levels=[0.5], colors="white", linewidths=0.8, origin="lower")
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def explain_case(
    model: Any,
    case: Any,
    crop_settings: Any,
    out_dir: str | os.PathLike[str],
    methods: tuple[str, ...] = METHODS,
    *,
    mask_size: int = 8,
) -> dict[str, Path]:
    """Saliency maps of one case, written as NIfTI maps on the image grid and overlay PNGs.

    Parameters
    ----------
    model
        A fitted :class:`~radiopredict.models.CNNClassifier` or
        :class:`~radiopredict.models.CNNSurvival` (``mode="3d"``).
    case
        A :class:`~radiopredict.cohort.Case` (or ``(image, mask)`` pair) with its ROI mask.
    crop_settings
        The :class:`~radiopredict.embed.CropSettings` the model was trained with.
    out_dir
        Output folder (created).
    methods
        ``"gradcam"`` and/or ``"occlusion"``.
    mask_size
        Occlusion patch side in crop voxels.

    Returns
    -------
    dict
        ``{"<method>_nifti": path, "<method>_png": path}``.
    """
    from radiopredict.embed.crops import case_crop, roi_centre, roi_crop
    from radiopredict.imaging.cases import as_cases, read_case_image, read_case_mask

    (case,) = as_cases([case])
    crop = case_crop(case, crop_settings)
    maps = saliency_maps(model, crop, methods, mask_size=mask_size)
    image = read_case_image(case)
    centre = roi_centre(read_case_mask(case, image))
    grid = roi_crop(image, centre, crop_settings)  # the crop's geometry
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pid = str(case.patient_id)
    paths: dict[str, Path] = {}
    for method, heat in maps.items():
        m = sitk.GetImageFromArray(heat.astype(np.float32))
        m.CopyInformation(grid)
        on_image = sitk.Resample(m, image, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        nii = out / f"{pid}_{method}.nii.gz"
        sitk.WriteImage(on_image, str(nii), useCompression=True)
        png = out / f"{pid}_{method}.png"
        _overlay_png(png, crop, heat, f"{pid} {method}")
        paths[f"{method}_nifti"] = nii
        paths[f"{method}_png"] = png
    return paths
