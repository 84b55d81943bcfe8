"""The one settings base: conversion from annotations, constraints, unknown keys, round trips."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass

import pytest

import radiopredict
from radiopredict._settings import Settings, closest, option
from radiopredict.errors import ConfigError


@dataclass(frozen=True)
class Toy(Settings):
    size: tuple[float, float, float] = option((1.0, 1.0, 1.0), gt=0)
    count: int = option(2, ge=1)
    mode: str = option("fast", choices=("fast", "exact"))
    limit: float | None = None
    flag: bool = False


def test_values_are_converted_from_the_annotations():
    t = Toy(size=[1, 2, 3], count=4.0, limit="1e-3")
    assert t.size == (1.0, 2.0, 3.0) and all(type(v) is float for v in t.size)
    assert type(t.count) is int and t.limit == 1e-3
    hash(t)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count": 2.5}, "Toy.count must be an integer"),
        ({"count": True}, "Toy.count must be an integer"),
        ({"count": 0}, "Toy.count must be >= 1"),
        ({"size": (1.0, 0.0, 1.0)}, "positive"),
        ({"size": (1.0, 1.0)}, "3 values"),
        ({"size": "1,1,1"}, "list"),
        ({"mode": "exakt"}, "did you mean 'exact'"),
        ({"flag": "yes"}, "true or false"),
        ({"limit": [1]}, "Toy.limit"),
    ],
)
def test_bad_values_name_the_field(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Toy(**kwargs)


def test_unknown_keys_everywhere_name_the_nearest_key():
    for build in (
        lambda: Toy(cuont=3),
        lambda: Toy.from_dict({"cuont": 3}),
        lambda: Toy().replace(cuont=3),
    ):
        with pytest.raises(ConfigError, match="did you mean 'count'"):
            build()


def test_far_words_get_no_suggestion():
    assert closest("zzzz", ["gldzm_distance_metric", "bin_width", "norm", "fbn", "2D"]) is None
    assert closest("bin_widht", ["bin_width", "bin_number"]) == "bin_width"
    assert closest("glcm_dist", ["glcm_distance", "ngtdm_distance"]) == "glcm_distance"
    assert closest("2d", ["2D", "3D"]) == "2D"
    with pytest.raises(ConfigError) as info:
        radiopredict.FeatureSettings.from_dict({"zzzz": 1})
    assert "did you mean" not in str(info.value)


def test_dict_and_yaml_round_trip(tmp_path):
    t = Toy(size=(2, 2, 2), mode="exact", limit=3)
    assert Toy.from_dict(t.to_dict()) == t
    t.to_yaml(tmp_path / "t.yaml")
    assert Toy.from_yaml(tmp_path / "t.yaml") == t
    (tmp_path / "bad.yaml").write_text("count: 0\n")
    with pytest.raises(ConfigError, match="bad.yaml.*count"):
        Toy.from_yaml(tmp_path / "bad.yaml")


def test_native_engine_refuses_a_misspelt_key():
    from radiopredict.features.engines import NativeEngine

    with pytest.raises(ConfigError, match="did you mean 'bin_width'"):
        NativeEngine({"bin_widht": 10})
    assert NativeEngine({"bin_width": 10}).settings.bin_width == 10.0


def test_texture_families_use_the_feature_settings_defaults():
    import numpy as np

    from radiopredict.features.families import glcm

    q = np.random.default_rng(0).integers(1, 4, size=(4, 5, 6))
    roi = np.ones_like(q, dtype=bool)
    out = glcm.compute(q, roi, 3, spacing=(1.0, 1.0, 1.0), settings=None)
    dims = radiopredict.FeatureSettings().texture_dims
    assert out and all(any(f"_{d}_" in tag for d in dims) for tag in out)


#: Dataclasses whose names look like settings but are data records, with the reason.
NOT_SETTINGS = {
    "radiopredict.datasets._phantom.TumourSpec": "one drawn tumour's parameters (generated data)",
}


def _settings_classes():
    """Every dataclass named *Settings / *Config / *Thresholds / *Spec in the package."""
    found = {}
    for mod in pkgutil.walk_packages(radiopredict.__path__, "radiopredict."):
        if mod.name.startswith(("radiopredict.study", "radiopredict.federated")):
            continue
        try:
            module = importlib.import_module(mod.name)
        except ImportError:  # optional extras
            continue
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__ == mod.name
                and obj.__name__.endswith(
                    ("Settings", "Config", "Thresholds", "Spec", "Model", "Preprocessing")
                )
                and obj.__name__ != "Settings"
                and f"{mod.name}.{obj.__name__}" not in NOT_SETTINGS
            ):
                found[f"{mod.name}.{obj.__name__}"] = obj
    return found


def test_every_settings_class_uses_the_base():
    classes = _settings_classes()
    assert {"FeatureSettings", "CropSettings", "TrainSettings", "UNetConfig"} <= {
        name.rsplit(".", 1)[-1] for name in classes
    }
    not_settings = sorted(n for n, c in classes.items() if not issubclass(c, Settings))
    assert not_settings == []


@pytest.mark.parametrize("name", sorted(_settings_classes()))
def test_every_settings_class_round_trips(name):
    cls = _settings_classes()[name]
    try:
        obj = cls()
    except TypeError:  # a required field (FilterSpec.kind)
        obj = cls(kind="log", sigma_mm=1.5)
    assert cls.from_dict(obj.to_dict()) == obj
    with pytest.raises(ConfigError, match="unknown key 'zzzz'"):
        cls.from_dict({**obj.to_dict(), "zzzz": 1})


def test_feature_extraction_refuses_a_mask_with_a_flipped_direction():
    import numpy as np
    import SimpleITK as sitk

    from radiopredict.errors import GeometryMismatchError
    from radiopredict.features import compute_features
    from radiopredict.features.engines import NativeEngine

    arr = np.random.default_rng(0).integers(0, 100, size=(8, 9, 10)).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    m = np.zeros(arr.shape, np.uint8)
    m[2:6, 2:7, 2:8] = 1
    mask = sitk.GetImageFromArray(m)
    mask.CopyInformation(image)
    mask.SetDirection((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    settings = radiopredict.FeatureSettings(families=("intensity_stats",))
    with pytest.raises(GeometryMismatchError, match="direction"):
        compute_features(image, mask, settings)
    (result,) = NativeEngine(settings).compute(image, [(mask, 1)])
    assert isinstance(result, GeometryMismatchError) and "direction" in str(result)
