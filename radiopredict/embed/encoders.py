"""Image encoders: crops ``(N, C, z, y, x)`` -> embeddings ``(N, F)``.

* :class:`ResNetEncoder`: a small 3D ResNet (basic residual blocks, global average pooling),
  randomly initialised from a seed, trained self-supervised
  (:func:`~radiopredict.embed.selfsupervised.train_autoencoder`) or loaded from a local checkpoint.
* :class:`UNetEncoder`: the encoder path + bottleneck of a trained
  :class:`~radiopredict.segment.SegmentationModel`, global-average pooled.

Every encoder has a :meth:`Encoder.fingerprint` (config + weights hash) used as cache key.
Weights are loaded from ``.safetensors`` or from ``.pt``/``.pth`` with
``torch.load(weights_only=True)``, never by unpickling objects; a checkpoint that does not fit
raises :class:`~radiopredict.errors.ConfigError` listing the mismatched shapes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radiopredict._settings import Settings, option
from radiopredict._torch import (
    load_checkpoint,
    load_state_dict_file,
    load_weights_into,
    require_torch,
    resolve_device,
    save_checkpoint,
    seeded,
    state_dict_hash,
)
from radiopredict.errors import ConfigError, ImageReadError

torch = require_torch("image embeddings")
nn = torch.nn

__all__ = ["Encoder", "ResNetConfig", "ResNet3D", "ResNetEncoder", "UNetEncoder", "load_encoder"]


@dataclass(frozen=True)
class ResNetConfig(Settings):
    """Architecture of :class:`ResNet3D`.

    Parameters
    ----------
    in_channels
        Input channels (1 image, 2 with the mask channel).
    base_width
        Channels of the first stage; doubled at every following stage.
    blocks
        Residual blocks per stage; every stage after the first halves the resolution.
    norm
        ``"batch"``, ``"instance"`` or ``"none"``.
    """

    in_channels: int = option(1, ge=1)
    base_width: int = option(16, ge=1)
    blocks: tuple[int, ...] = option((1, 1, 1, 1), ge=1)
    norm: str = option("instance", choices=("batch", "instance", "none"))

    def validate(self) -> None:
        """At least one stage."""
        if not self.blocks:
            raise ConfigError("blocks must not be empty", fix="e.g. blocks=(1, 1, 1, 1)")

    @property
    def embedding_dim(self) -> int:
        """Channels of the last stage (the embedding length)."""
        return self.base_width * 2 ** (len(self.blocks) - 1)


def _norm(kind: str, ch: int):
    if kind == "batch":
        return nn.BatchNorm3d(ch)
    if kind == "instance":
        return nn.InstanceNorm3d(ch, affine=True)
    return nn.Identity()


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.n1 = _norm(norm, cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
        self.n2 = _norm(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(
                nn.Conv3d(cin, cout, 1, stride=stride, bias=False), _norm(norm, cout)
            )
        )

    def forward(self, x):
        y = self.relu(self.n1(self.conv1(x)))
        y = self.n2(self.conv2(y))
        return self.relu(y + self.skip(x))


class ResNet3D(nn.Module):
    """Small 3D ResNet: stem 3x3x3 conv, residual stages, global average pooling.

    ``features(x)`` is the last stage's feature map; ``forward(x)`` its spatial mean,
    :math:`e_k = \\frac{1}{|\\Omega|} \\sum_{v \\in \\Omega} f_k(v)`.
    """

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config
        w = config.base_width
        self.stem = nn.Sequential(
            nn.Conv3d(config.in_channels, w, 3, padding=1, bias=False),
            _norm(config.norm, w),
            nn.ReLU(inplace=True),
        )
        stages = []
        cin = w
        for s, n in enumerate(config.blocks):
            cout = w * 2**s
            blocks = [_Block(cin, cout, 1 if s == 0 else 2, config.norm)]
            blocks += [_Block(cout, cout, 1, config.norm) for _ in range(int(n) - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)

    def features(self, x):
        return self.stages(self.stem(x))

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3, 4))


class _UNetPooled(nn.Module):
    """Global-average-pooled U-Net bottleneck; 2D U-Nets run slice by slice and average."""

    def __init__(self, unet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x):
        if self.unet.config.spatial_dims == 3:
            return self.unet.encode(x).mean(dim=(2, 3, 4))
        n, c, z, y, w = x.shape
        slices = x.permute(0, 2, 1, 3, 4).reshape(n * z, c, y, w)
        f = self.unet.encode(slices).mean(dim=(2, 3))
        return f.reshape(n, z, -1).mean(dim=1)


class Encoder:
    """Base class: a torch module mapping ``(N, C, z, y, x)`` to ``(N, F)`` plus its config."""

    kind = "encoder"
    module: Any
    in_channels: int
    embedding_dim: int
    divisor: int = 1

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description of the architecture."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """SHA-256 of the config and the weights (changes whenever either changes)."""
        h = hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode())
        h.update(state_dict_hash(self.module.state_dict()).encode())
        return h.hexdigest()

    def embed(self, batch: np.ndarray, *, device: str = "auto", batch_size: int = 8) -> np.ndarray:
        """Embeddings (float32, ``(N, F)``) of crops ``batch`` of shape ``(N, C, z, y, x)``."""
        arr = np.asarray(batch, dtype=np.float32)
        if arr.ndim != 5 or arr.shape[1] != self.in_channels:
            raise ConfigError(
                f"{self.kind} expects crops (N, {self.in_channels}, z, y, x), got {arr.shape}",
                fix="use CropSettings(include_mask=True) for 2 channels, False for 1",
            )
        bad = [s for s in arr.shape[2:] if s % self.divisor]
        if bad:
            raise ConfigError(
                f"{self.kind} needs crop sides that are multiples of {self.divisor}, got "
                f"{arr.shape[2:]}",
                fix=f"set CropSettings(shape=...) to multiples of {self.divisor}",
            )
        dev = resolve_device(device)
        module = self.module.to(dev).eval()
        out = []
        with torch.inference_mode():
            for i in range(0, len(arr), batch_size):
                x = torch.from_numpy(arr[i : i + batch_size]).to(dev)
                out.append(module(x).float().cpu().numpy())
        self.module.cpu()
        return np.concatenate(out) if out else np.zeros((0, self.embedding_dim), np.float32)

    def load_weights(self, path: str | os.PathLike[str]) -> Encoder:
        """Load a local checkpoint (safetensors, or ``.pt`` with ``weights_only=True``)."""
        load_weights_into(self.module, load_state_dict_file(path), source=str(path))
        return self

    def save(self, path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``<path>.safetensors`` + ``<path>.json``; reload with :func:`load_encoder`."""
        return save_checkpoint(path, self.module.state_dict(), self.config())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.embedding_dim}, fingerprint={self.fingerprint()[:12]})"


class ResNetEncoder(Encoder):
    """3D ResNet encoder (see :class:`ResNet3D`).

    Parameters
    ----------
    config
        Architecture.
    seed
        Seed of the random initialisation (embeddings of an untrained network are random
        projections: deterministic, but train or load weights for meaningful features).
    weights
        Optional local checkpoint to load.
    """

    kind = "resnet3d"

    def __init__(
        self,
        config: ResNetConfig | None = None,
        *,
        seed: int = 0,
        weights: str | os.PathLike[str] | None = None,
    ) -> None:
        self.resnet_config = config or ResNetConfig()
        self.seed = seed
        with seeded(seed):
            self.module = ResNet3D(self.resnet_config)
        self.in_channels = self.resnet_config.in_channels
        self.embedding_dim = self.resnet_config.embedding_dim
        self.divisor = 2 ** (len(self.resnet_config.blocks) - 1)
        self.trained_by: str | None = None
        if weights is not None:
            self.load_weights(weights)
            self.trained_by = f"checkpoint {Path(weights).name}"

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resnet": self.resnet_config.to_dict(),
            "trained_by": self.trained_by,
        }


class UNetEncoder(Encoder):
    """Pooled bottleneck of a trained U-Net (:class:`~radiopredict.segment.SegmentationModel`).

    Parameters
    ----------
    model
        A SegmentationModel or the path of a saved one.
    """

    kind = "unet_bottleneck"

    def __init__(self, model: Any) -> None:
        from radiopredict.segment.model import SegmentationModel

        if not isinstance(model, SegmentationModel):
            model = SegmentationModel.load(model)
        self.model = model
        self.module = _UNetPooled(model.net)
        self.in_channels = model.config.in_channels
        self.embedding_dim = model.net.bottleneck_channels
        self.divisor = model.config.divisor

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "unet": self.model.config.to_dict(),
            "preprocessing": self.model.preprocessing.to_dict(),
        }


def load_encoder(path: str | os.PathLike[str]) -> Encoder:
    """Load an encoder saved by :meth:`Encoder.save` (ResNet) or a U-Net checkpoint."""
    state, cfg = load_checkpoint(path)
    kind = cfg.get("kind")
    if kind == ResNetEncoder.kind:
        enc = ResNetEncoder(ResNetConfig.from_dict(cfg["resnet"]))
        load_weights_into(enc.module, state, source=str(path))
        enc.trained_by = cfg.get("trained_by")
        return enc
    if cfg.get("format", "").startswith("radiopredict.segmentation"):
        return UNetEncoder(path)
    raise ImageReadError(
        f"unknown encoder checkpoint kind {kind!r}",
        path=path,
        fix="pass a checkpoint written by Encoder.save() or SegmentationModel.save()",
    )
