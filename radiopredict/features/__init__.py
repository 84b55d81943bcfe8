"""Native IBSI-1 radiomics feature engine.

>>> from radiopredict.features import FeatureSettings, compute_features
>>> series = compute_features(image, mask, FeatureSettings.preset("ct"))  # doctest: +SKIP
"""

from __future__ import annotations

from radiopredict.features.engine import compute_features, compute_features_many
from radiopredict.features.registry import FeatureDef, all_features, features_table, get_feature
from radiopredict.features.settings import ALL_FAMILIES, PRESETS, FeatureSettings

__all__ = [
    "FeatureSettings",
    "compute_features",
    "compute_features_many",
    "FeatureDef",
    "all_features",
    "get_feature",
    "features_table",
    "ALL_FAMILIES",
    "PRESETS",
]
