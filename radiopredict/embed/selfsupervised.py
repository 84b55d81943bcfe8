"""Self-supervised encoder training: a denoising autoencoder on ROI crops, no outcome labels.

The encoder is a :class:`~radiopredict.embed.encoders.ResNet3D`; a light decoder of transposed
convolutions reconstructs the crop from the last feature map. The loss is the mean squared
reconstruction error of the clean crop from a noisy, randomly flipped input,

.. math:: L = \\frac{1}{|\\Omega|} \\sum_{v} \\left(D(E(\\tilde x))(v) - x(v)\\right)^2 ,
   \\quad \\tilde x = x + \\epsilon,\\ \\epsilon \\sim \\mathcal N(0, \\sigma^2).

Only images and masks are read, so the encoder may be trained on the whole cohort (training and
test patients) without leaking outcomes into the features.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from radiopredict._settings import Settings, option
from radiopredict._torch import resolve_device, seeded, torch_threads
from radiopredict.cohort import Cohort
from radiopredict.embed.crops import CropSettings, case_crop
from radiopredict.embed.encoders import ResNetConfig, ResNetEncoder, nn, torch
from radiopredict.errors import ConfigError
from radiopredict.imaging.cases import as_cases
from radiopredict.parallel import resolve_progress, track

__all__ = ["AutoencoderSettings", "train_autoencoder"]


@dataclass(frozen=True)
class AutoencoderSettings(Settings):
    """Settings of :func:`train_autoencoder`.

    Parameters
    ----------
    epochs
        Passes over the crops.
    batch_size, learning_rate
        Adam optimiser settings.
    noise_std
        :math:`\\sigma` of the input noise (crops are z-scored, so 0.1 is mild).
    seed
        Seed of initialisation, shuffling, flips and noise.
    device, num_threads
        Where to train and how many CPU threads torch may use.
    """

    epochs: int = option(20, ge=1)
    batch_size: int = option(8, ge=1)
    learning_rate: float = option(1e-3, gt=0)
    noise_std: float = option(0.1, ge=0)
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = option(None, ge=1)


class _Decoder(nn.Module):
    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        layers: list[Any] = []
        ch = cfg.embedding_dim
        for _ in range(len(cfg.blocks) - 1):
            layers += [nn.ConvTranspose3d(ch, ch // 2, 2, stride=2), nn.ReLU(inplace=True)]
            ch //= 2
        layers.append(nn.Conv3d(ch, cfg.in_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, f):
        return self.net(f)


def train_autoencoder(
    cases: Cohort | Iterable[Any],
    crop: CropSettings | None = None,
    config: ResNetConfig | None = None,
    settings: AutoencoderSettings | None = None,
    *,
    progress: bool = True,
    progress_bar: bool | None = None,
) -> ResNetEncoder:
    """Train a ResNet encoder as a denoising autoencoder on the cases' ROI crops.

    Parameters
    ----------
    cases
        Cohort, Cases or ``(image, mask)`` pairs (masks locate the ROI; no outcome is read).
    crop
        Crop settings; their channel count sets the encoder's ``in_channels``.
    config
        Encoder architecture (``in_channels`` is taken from ``crop``).
    settings
        :class:`AutoencoderSettings`.

    Returns
    -------
    ResNetEncoder
        With trained weights; ``encoder.history`` holds the mean loss per epoch.
    """
    show_progress = resolve_progress(progress, progress_bar, where="train_autoencoder")
    crop = crop or CropSettings()
    settings = settings or AutoencoderSettings()
    config = config or ResNetConfig()
    if config.in_channels != crop.channels:
        config = ResNetConfig(
            in_channels=crop.channels,
            base_width=config.base_width,
            blocks=config.blocks,
            norm=config.norm,
        )
    encoder = ResNetEncoder(config, seed=settings.seed)
    bad = [s for s in crop.shape if s % encoder.divisor]
    if bad:
        raise ConfigError(
            f"crop shape {crop.shape} must be multiples of {encoder.divisor} for this encoder",
            fix=f"use CropSettings(shape=...) with multiples of {encoder.divisor}",
        )
    case_list = as_cases(cases)
    if not case_list:
        raise ConfigError("no cases to train the autoencoder on", fix="pass a non-empty cohort")
    data = np.stack(
        [
            case_crop(c, crop)
            for c in track(
                case_list, total=len(case_list), description="crops", enabled=show_progress
            )
        ]
    )
    rng = np.random.default_rng(settings.seed)
    device = resolve_device(settings.device)
    history = []
    t0 = time.perf_counter()
    with torch_threads(settings.num_threads), seeded(settings.seed):
        decoder = _Decoder(config)
        enc, dec = encoder.module.to(device), decoder.to(device)
        opt = torch.optim.Adam(
            list(enc.parameters()) + list(dec.parameters()), lr=settings.learning_rate
        )
        epochs = track(
            range(settings.epochs),
            total=settings.epochs,
            description="autoencoder",
            enabled=show_progress,
        )
        for epoch in epochs:
            enc.train()
            dec.train()
            order = rng.permutation(len(data))
            losses = []
            for i in range(0, len(order), settings.batch_size):
                x = data[order[i : i + settings.batch_size]].copy()
                for ax in (2, 3, 4):
                    if rng.random() < 0.5:
                        x = np.flip(x, ax)
                x = np.ascontiguousarray(x)
                noisy = x + rng.normal(0.0, settings.noise_std, x.shape).astype(np.float32)
                xt = torch.from_numpy(x).to(device)
                nt = torch.from_numpy(noisy).to(device)
                opt.zero_grad(set_to_none=True)
                loss = torch.mean((dec(enc.features(nt)) - xt) ** 2)
                loss.backward()
                opt.step()
                losses.append(float(loss.item()))
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": float(np.mean(losses)),
                    "seconds": round(time.perf_counter() - t0, 3),
                }
            )
    encoder.module.cpu().eval()
    encoder.trained_by = "denoising autoencoder " + str(
        {**asdict(settings), "crop": crop.to_dict(), "n_cases": len(case_list)}
    )
    encoder.history = history
    return encoder
