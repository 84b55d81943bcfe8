"""Image embeddings: ROI-centred crops of fixed physical size, CNN encoders, cached extraction.

Crops need only SimpleITK; encoders and extraction need the ``deep`` extra (torch) and raise
:class:`~radiopredict.errors.MissingDependencyError` naming it when it is absent. Names are
imported lazily, so ``import radiopredict.embed`` always works.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "CropSettings": "radiopredict.embed.crops",
    "roi_centre": "radiopredict.embed.crops",
    "roi_crop": "radiopredict.embed.crops",
    "case_crop": "radiopredict.embed.crops",
    "Encoder": "radiopredict.embed.encoders",
    "ResNetConfig": "radiopredict.embed.encoders",
    "ResNet3D": "radiopredict.embed.encoders",
    "ResNetEncoder": "radiopredict.embed.encoders",
    "UNetEncoder": "radiopredict.embed.encoders",
    "load_encoder": "radiopredict.embed.encoders",
    "extract_embeddings": "radiopredict.embed.extract",
    "case_cache_key": "radiopredict.embed.extract",
    "AutoencoderSettings": "radiopredict.embed.selfsupervised",
    "train_autoencoder": "radiopredict.embed.selfsupervised",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'radiopredict.embed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
