"""radiopredict: IBSI radiomics, CNN embeddings and explainable survival / treatment-benefit models.

The public API is listed in ``__all__``; names are imported lazily on first use so that
``import radiopredict`` stays fast and optional extras are only needed when used.
"""

from __future__ import annotations

import importlib
from typing import Any

from radiopredict._version import __version__

# public name -> module that defines it
_LAZY = {
    "Case": "radiopredict.cohort",
    "Cohort": "radiopredict.cohort",
    "read_image": "radiopredict.imaging",
    "read_mask": "radiopredict.imaging",
    "mask_labels": "radiopredict.imaging",
    "write_image": "radiopredict.imaging",
    "write_mask": "radiopredict.imaging",
    "write_dicom_seg": "radiopredict.imaging",
    "geometry_differences": "radiopredict.imaging",
    "make_survival_target": "radiopredict.targets",
    "check_survival_target": "radiopredict.targets",
    "check_binary_target": "radiopredict.targets",
    "binary_target": "radiopredict.targets",
    "make_synthetic_cohort": "radiopredict.datasets",
    "FeatureSettings": "radiopredict.features",
    "compute_features": "radiopredict.features",
    "extract_features": "radiopredict.features.extract:extract",
    "design_matrix": "radiopredict.fuse",
    "Study": "radiopredict.study",
    "StudyModel": "radiopredict.study",
    "save_bundle": "radiopredict.bundle",
    "load_bundle": "radiopredict.bundle",
}

__all__ = ["__version__", "errors", *_LAZY]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("radiopredict.errors")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'radiopredict' has no attribute {name!r}")
    module, _, attr = module.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
