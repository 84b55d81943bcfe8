"""Every feature the engine computes has a registry entry with its IBSI code."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

SimpleITK = pytest.importorskip("SimpleITK")

from radiopredict.features import FeatureSettings, compute_features  # noqa: E402
from radiopredict.features.registry import all_features, get_feature  # noqa: E402


def test_registry_is_complete_without_loading_families_first():
    code = "from radiopredict.features.registry import all_features; print(len(all_features()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(all_features())
    assert len(all_features()) >= 239


def test_every_computed_feature_has_a_registry_entry_with_its_ibsi_code():
    rng = np.random.default_rng(3)
    arr = rng.normal(40, 20, size=(12, 14, 16)).round()
    image = SimpleITK.GetImageFromArray(arr)
    image.SetSpacing((1.0, 1.0, 2.0))
    m = np.zeros(arr.shape, np.uint8)
    m[2:10, 3:12, 3:13] = 1
    mask = SimpleITK.GetImageFromArray(m)
    mask.CopyInformation(image)
    settings = FeatureSettings.preset("ibsi-c").replace(
        texture_dims=("2D", "2_5D", "3D"), diagnostics=True
    )
    series = compute_features(image, mask, settings)
    assert len(series) > 400
    missing, no_code = [], []
    for tag in series.index:
        try:
            d = get_feature(tag)
        except KeyError:
            missing.append(tag)
            continue
        if d.family != "diagnostics" and len(d.ibsi_code) != 4:
            no_code.append(tag)
    assert missing == [] and no_code == []
    families = {get_feature(t).family for t in series.index}
    assert families >= set(settings.families)
