"""Segmentation: the U-Net (2D/3D), training on a cohort, sliding-window inference, mask QC.

Post-processing and QC need only SimpleITK; the U-Net, training and inference need the ``deep``
extra (torch, MONAI) and raise :class:`~radiopredict.errors.MissingDependencyError` naming it when
it is absent. Names are imported lazily, so ``import radiopredict.segment`` always works.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "UNet": "radiopredict.segment.unet",
    "UNetConfig": "radiopredict.segment.unet",
    "build_unet": "radiopredict.segment.unet",
    "SegmentationModel": "radiopredict.segment.model",
    "TrainSettings": "radiopredict.segment.train",
    "train_unet": "radiopredict.segment.train",
    "predict_masks": "radiopredict.segment.infer",
    "predict_image": "radiopredict.segment.infer",
    "Preprocessing": "radiopredict.segment._data",
    "postprocess_mask": "radiopredict.segment.postprocess",
    "largest_component": "radiopredict.segment.postprocess",
    "remove_small_components": "radiopredict.segment.postprocess",
    "fill_holes": "radiopredict.segment.postprocess",
    "QCThresholds": "radiopredict.segment.qc",
    "mask_qc": "radiopredict.segment.qc",
    "qc_table": "radiopredict.segment.qc",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'radiopredict.segment' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
