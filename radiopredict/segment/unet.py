"""The U-Net of the seed paper, in 2D or 3D, with configurable depth and width.

Architecture (Ronneberger et al. 2015; Çiçek et al. 2016 for 3D):

* encoder stage :math:`s = 0 .. D-1`: two 3x3(x3) convolutions with ReLU (optional batch or
  instance normalisation before each ReLU) producing :math:`F_s = F_0 \\cdot 2^s` channels,
  followed by 2x2(x2) max-pooling;
* bottleneck: two 3x3(x3) convolutions with :math:`F_D = F_0 \\cdot 2^D` channels;
* decoder stage :math:`s = D-1 .. 0`: a 2x2(x2) transposed convolution with stride 2 halving the
  channels to :math:`F_s`, concatenation with the encoder output of stage :math:`s` (skip
  connection), two 3x3(x3) convolutions with ReLU;
* a 1x1(x1) convolution to ``out_channels`` logits.

Convolutions are zero-padded ("same"), so a patch whose sides are multiples of :math:`2^D` keeps
its size; :class:`UNetConfig` checks this for the training patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from radiopredict._settings import Settings, option
from radiopredict._torch import require_torch

torch = require_torch("the U-Net")
nn = torch.nn

__all__ = ["UNetConfig", "UNet", "build_unet"]

_NORMS = ("batch", "instance", "none")


@dataclass(frozen=True)
class UNetConfig(Settings):
    """Architecture of a :class:`UNet`.

    Parameters
    ----------
    spatial_dims
        2 (slice-wise) or 3 (volumetric).
    in_channels
        Number of input channels (1 for a single image).
    out_channels
        Number of output classes including background (2 for tumour vs background).
    base_filters
        :math:`F_0`, channels of the first encoder stage; doubled at each stage.
    depth
        :math:`D`, number of pooling steps (encoder stages before the bottleneck).
    norm
        ``"batch"``, ``"instance"`` or ``"none"`` (the original U-Net has none).
    """

    spatial_dims: int = option(
        3, choices=(2, 3), fix="use 2 for a slice-wise U-Net or 3 for a volumetric one"
    )
    in_channels: int = option(1, ge=1)
    out_channels: int = option(
        2, ge=2, fix="use out_channels=2 (background + tumour) for a binary segmentation"
    )
    base_filters: int = option(16, ge=1)
    depth: int = option(3, ge=1)
    norm: str = option("instance", choices=_NORMS)

    @property
    def divisor(self) -> int:
        """Patch sides must be multiples of this (:math:`2^D`)."""
        return 2**self.depth


def _conv_block(cfg: UNetConfig, cin: int, cout: int):
    conv = nn.Conv3d if cfg.spatial_dims == 3 else nn.Conv2d
    layers: list[Any] = []
    for c_in in (cin, cout):
        layers.append(conv(c_in, cout, kernel_size=3, padding=1, bias=cfg.norm == "none"))
        if cfg.norm == "batch":
            layers.append((nn.BatchNorm3d if cfg.spatial_dims == 3 else nn.BatchNorm2d)(cout))
        elif cfg.norm == "instance":
            norm = nn.InstanceNorm3d if cfg.spatial_dims == 3 else nn.InstanceNorm2d
            layers.append(norm(cout, affine=True))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """U-Net (see the module docstring for the architecture).

    Parameters
    ----------
    config
        A :class:`UNetConfig`.

    Examples
    --------
    >>> net = UNet(UNetConfig(spatial_dims=3, base_filters=8, depth=2))   # doctest: +SKIP
    >>> net(torch.zeros(1, 1, 32, 32, 32)).shape                          # doctest: +SKIP
    torch.Size([1, 2, 32, 32, 32])
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        widths = [c.base_filters * 2**s for s in range(c.depth + 1)]
        pool = nn.MaxPool3d if c.spatial_dims == 3 else nn.MaxPool2d
        up = nn.ConvTranspose3d if c.spatial_dims == 3 else nn.ConvTranspose2d
        out = nn.Conv3d if c.spatial_dims == 3 else nn.Conv2d
        self.encoders = nn.ModuleList()
        cin = c.in_channels
        for s in range(c.depth):
            self.encoders.append(_conv_block(c, cin, widths[s]))
            cin = widths[s]
        self.pool = pool(kernel_size=2, stride=2)
        self.bottleneck = _conv_block(c, widths[c.depth - 1], widths[c.depth])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for s in reversed(range(c.depth)):
            self.ups.append(up(widths[s + 1], widths[s], kernel_size=2, stride=2))
            self.decoders.append(_conv_block(c, 2 * widths[s], widths[s]))
        self.head = out(widths[0], c.out_channels, kernel_size=1)

    @property
    def bottleneck_channels(self) -> int:
        """Channels of the bottleneck (the embedding size of :meth:`encode`)."""
        return self.config.base_filters * 2**self.config.depth

    def _encode(self, x):
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = self.pool(x)
        return self.bottleneck(x), skips

    def encode(self, x):
        """Bottleneck feature map of ``x`` (the encoder path only)."""
        return self._encode(x)[0]

    def forward(self, x):
        """Logits of shape ``(N, out_channels, *spatial)``."""
        x, skips = self._encode(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = up(x)
            x = dec(torch.cat([skip, x], dim=1))
        return self.head(x)


def build_unet(config: UNetConfig | None = None, *, seed: int | None = 0) -> UNet:
    """Build a :class:`UNet` with weights initialised from ``seed`` (global RNG untouched)."""
    from radiopredict._torch import seeded

    with seeded(seed):
        return UNet(config or UNetConfig())
