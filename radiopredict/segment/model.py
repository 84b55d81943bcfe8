"""A trained segmentation model: U-Net + preprocessing + patch size, saved as safetensors + JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from radiopredict._torch import (
    load_checkpoint,
    load_weights_into,
    require_monai,
    resolve_device,
    save_checkpoint,
)
from radiopredict._version import __version__
from radiopredict.errors import ConfigError, ImageReadError
from radiopredict.segment._data import Preprocessing
from radiopredict.segment.unet import UNet, UNetConfig, build_unet, torch

__all__ = ["SegmentationModel"]

FORMAT = "radiopredict.segmentation/1"


class SegmentationModel:
    """A U-Net with the preprocessing and patch size it was trained with.

    Parameters
    ----------
    config
        Architecture.
    preprocessing
        Intensity normalisation and optional resampling, applied identically at inference.
    patch_size
        Training patch (z, y, x) for 3D or (y, x) for 2D; the sliding-window size at inference.
    net
        The network; a fresh one (seed 0) when omitted.
    history
        Training history (one dict per epoch), kept in the saved config.
    training
        Training settings and summary, kept in the saved config.

    Notes
    -----
    Save with :meth:`save` (``<path>.safetensors`` + ``<path>.json``), reload with :meth:`load`.
    No pickle is involved; the JSON records the weights' SHA-256 so a modified file is detected.
    """

    def __init__(
        self,
        config: UNetConfig,
        preprocessing: Preprocessing | None = None,
        patch_size: tuple[int, ...] = (64, 64, 64),
        net: UNet | None = None,
        history: list[dict[str, Any]] | None = None,
        training: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.preprocessing = preprocessing or Preprocessing()
        self.patch_size = tuple(int(p) for p in patch_size)
        if len(self.patch_size) != config.spatial_dims:
            raise ConfigError(
                f"patch_size {self.patch_size} has {len(self.patch_size)} sides but the U-Net "
                f"is {config.spatial_dims}D",
                fix=f"give {config.spatial_dims} patch sides",
            )
        bad = [p for p in self.patch_size if p % config.divisor]
        if bad:
            raise ConfigError(
                f"patch sides {self.patch_size} must be multiples of 2**depth = {config.divisor}",
                fix="round the patch size to a multiple of "
                f"{config.divisor} or reduce the U-Net depth",
            )
        self.net = net if net is not None else build_unet(config)
        self.history = list(history or [])
        self.training = dict(training or {})

    # ------------------------------------------------------------------ persistence
    def to_config(self) -> dict[str, Any]:
        """JSON-serialisable description (without weights)."""
        return {
            "format": FORMAT,
            "radiopredict_version": __version__,
            "unet": self.config.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "patch_size": list(self.patch_size),
            "history": self.history,
            "training": self.training,
        }

    def save(self, path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``<path>.safetensors`` and ``<path>.json``; returns both paths."""
        return save_checkpoint(path, self.net.state_dict(), self.to_config())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SegmentationModel:
        """Load a model saved by :meth:`save` (either file of the pair may be given).

        Raises
        ------
        InputFileNotFoundError
            A file of the pair is missing.
        ImageReadError
            Corrupted weights, invalid JSON, or weights that do not match the recorded hash.
        ConfigError
            The weights do not fit the architecture in the config.
        """
        state, cfg = load_checkpoint(path)
        if cfg.get("format") != FORMAT:
            raise ImageReadError(
                f"not a radiopredict segmentation checkpoint (format={cfg.get('format')!r})",
                path=path,
                fix="pass a model written by SegmentationModel.save()",
            )
        try:
            config = UNetConfig.from_dict(cfg["unet"])
            prep = Preprocessing.from_dict(cfg["preprocessing"])
            patch = tuple(cfg["patch_size"])
        except (KeyError, TypeError) as exc:
            raise ImageReadError(
                f"checkpoint config lacks or mangles {exc}",
                path=path,
                fix="use the .json written by SegmentationModel.save()",
            ) from exc
        model = cls(config, prep, patch, history=cfg.get("history"), training=cfg.get("training"))
        load_weights_into(model.net, state, source=str(path))
        return model

    # ------------------------------------------------------------------ inference
    def predict_array(
        self,
        array: np.ndarray,
        *,
        device: str = "auto",
        overlap: float = 0.5,
        sw_batch_size: int = 4,
        return_probabilities: bool = False,
    ) -> np.ndarray:
        """Sliding-window prediction (Gaussian blending) on a normalised (z, y, x) array.

        Returns the argmax label map (uint8), or the foreground probability (float32) of class 1
        when ``return_probabilities``.
        """
        monai = require_monai("sliding-window inference")
        from monai.inferers import sliding_window_inference

        del monai
        dev = resolve_device(device)
        net = self.net.to(dev).eval()
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if self.config.spatial_dims == 3:
            x = x[None, None]
        else:  # 2D: axial slices are the batch
            x = x[:, None]
        with torch.inference_mode():
            logits = sliding_window_inference(
                x.to(dev),
                roi_size=self.patch_size,
                sw_batch_size=sw_batch_size,
                predictor=net,
                overlap=overlap,
                mode="gaussian",
                device=dev,
            )
            if return_probabilities:
                probs = torch.softmax(logits, dim=1)[:, 1]
                out = probs.float().cpu().numpy()
            else:
                out = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
        return out[0] if self.config.spatial_dims == 3 else out

    def predict_image(self, image: sitk.Image, **kwargs: Any) -> sitk.Image:
        """Predict a label map (UInt8) on the grid of ``image``.

        The image is preprocessed as in training (resampling, normalisation), predicted with
        :meth:`predict_array`, and the labels are resampled back (nearest neighbour) when the
        model works on another spacing.
        """
        work = self.preprocessing.resample(image)
        arr = self.preprocessing.normalise(sitk.GetArrayFromImage(work))
        if arr.ndim != 3:
            raise ConfigError(
                f"expected a 3D image, got an array of shape {arr.shape}",
                fix="segmentation works on 3D volumes (a 2D U-Net runs slice by slice)",
            )
        labels = self.predict_array(arr, **kwargs)
        out = sitk.GetImageFromArray(labels.astype(np.uint8))
        out.CopyInformation(work)
        if work is not image:
            out = sitk.Resample(
                out, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
            )
        return out

    def __repr__(self) -> str:
        c = self.config
        return (
            f"SegmentationModel({c.spatial_dims}D U-Net depth={c.depth} "
            f"base_filters={c.base_filters}, patch={self.patch_size})"
        )

    def describe(self) -> str:
        """The config as pretty JSON."""
        return json.dumps(self.to_config(), indent=2)
