"""FeatureSettings: presets, validation, YAML round trip, closest-key errors."""

from __future__ import annotations

import dataclasses

import pytest

from radiopredict.errors import ConfigError, InputFileNotFoundError
from radiopredict.features import PRESETS, FeatureSettings


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_round_trips(name, tmp_path):
    s = FeatureSettings.preset(name)
    path = tmp_path / "s.yaml"
    s.to_yaml(path)
    assert FeatureSettings.from_yaml(path) == s
    assert FeatureSettings.from_dict(s.to_dict()) == s
    hash(s)  # frozen and hashable


def test_ibsi_presets_follow_the_configuration_table():
    a, b, c = (FeatureSettings.preset(f"ibsi-{k}") for k in "abc")
    d, e = FeatureSettings.preset("ibsi-d"), FeatureSettings.preset("ibsi-e")
    assert a.new_spacing is None and a.texture_dims == ("2D", "2_5D")
    assert (a.discretisation, a.bin_width, a.reseg_range) == ("fbs", 25.0, (-500.0, 400.0))
    assert b.interpolation_dims == "2D" and b.new_spacing == (2.0, 2.0)
    assert (b.discretisation, b.bin_number) == ("fbn", 32)
    assert c.new_spacing == (2.0, 2.0, 2.0) and c.reseg_range == (-1000.0, 400.0)
    assert (c.ivh_discretisation, c.ivh_bin_width) == ("fbs", 2.5)
    assert d.reseg_range is None and d.reseg_outlier_sigma == 3.0
    assert e.interpolator == "cubic" and e.reseg_range == (-1000.0, 400.0)
    assert e.reseg_outlier_sigma == 3.0 and e.ivh_bin_number == 1000
    assert all(x.round_intensities for x in (a, b, c, d, e))


def test_unknown_preset_names_the_closest():
    with pytest.raises(ConfigError, match="ibsi-c"):
        FeatureSettings.preset("ibsi_c")


def test_unknown_key_names_the_closest_key():
    with pytest.raises(ConfigError, match="did you mean 'bin_width'"):
        FeatureSettings.from_dict({"bin_widht": 10})
    with pytest.raises(ConfigError, match="did you mean 'glcm_distance'"):
        FeatureSettings.preset("ct").replace(glcm_dist=2)


def test_yaml_with_preset_and_override(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("preset: ibsi-c\nbin_width: 10\ntexture_dims: ['3D', '2.5D']\n")
    s = FeatureSettings.from_yaml(path)
    assert s.bin_width == 10 and s.reseg_range == (-1000.0, 400.0)
    assert s.texture_dims == ("3D", "2_5D")


def test_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        FeatureSettings.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("bin_width: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        FeatureSettings.from_yaml(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("interpolater: linear\n")
    with pytest.raises(ConfigError, match="typo.yaml.*interpolator"):
        FeatureSettings.from_yaml(typo)
    with pytest.raises(ConfigError, match="mapping"):
        FeatureSettings.from_dict(["bin_width"])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"interpolator": "lineer"}, "linear"),
        ({"discretisation": "fbz"}, "fbs"),
        ({"texture_dims": ["4D"]}, "texture_dims"),
        ({"texture_dims": "3D"}, "list"),
        ({"texture_aggregations": ["mean"]}, "texture_aggregations"),
        ({"families": ["glcm", "glrm"]}, "glrlm"),
        ({"new_spacing": [1.0, 1.0]}, "new_spacing"),
        ({"new_spacing": [1.0, 0.0, 1.0]}, "positive"),
        ({"reseg_range": [400, -1000]}, "exceeds"),
        ({"reseg_range": [1, 2, 3]}, "lower, upper"),
        ({"reseg_outlier_sigma": -3}, "positive"),
        ({"bin_number": 0}, "bin_number"),
        ({"bin_number": 2.5}, "bin_number"),
        ({"bin_width": 0}, "bin_width"),
        ({"ivh_bin_width": float("nan")}, "ivh_bin_width"),
        ({"mask_threshold": 1.5}, "mask_threshold"),
        ({"glcm_distance": 0}, "glcm_distance"),
        ({"ngldm_alpha": -1}, "ngldm_alpha"),
        ({"ngldm_alpha": 0.5}, "ngldm_alpha"),
        ({"gldzm_distance_metric": "manhatan"}, "manhattan"),
        ({"interpolation_dims": "2.5D"}, "interpolation_dims"),
    ],
)
def test_bad_values_raise_config_error(changes, match):
    with pytest.raises(ConfigError, match=match):
        FeatureSettings().replace(**changes)
    with pytest.raises(ValueError):  # ConfigError is also a ValueError
        FeatureSettings.from_dict(changes)


def test_frozen_and_replace_returns_new_object():
    s = FeatureSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.bin_width = 3.0
    t = s.replace(bin_width=3.0, reseg_range=[None, 400])
    assert t.bin_width == 3.0 and s.bin_width == 25.0
    assert t.reseg_range == (None, 400)


def test_2d_interpolation_accepts_in_plane_spacing_only():
    s = FeatureSettings(new_spacing=[2.0, 2.0], interpolation_dims="2D")
    assert s.new_spacing == (2.0, 2.0)
    assert FeatureSettings(families=["glcm"]).texture_families == ("glcm",)
