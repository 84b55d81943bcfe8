"""pyradiomics backend: same names and numbers as ``RadiomicsFeatureExtractor.execute``.

The fast tests use brain2 and breast1 (small); the five-case parity and the baseline CSVs are
``slow``.
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("radiomics")
sitk = pytest.importorskip("SimpleITK")

from radiomics.featureextractor import RadiomicsFeatureExtractor  # noqa: E402

from radiopredict.errors import ConfigError  # noqa: E402
from radiopredict.features.engines import PyradiomicsBackend  # noqa: E402
from radiopredict.features.engines.pyradiomics import (  # noqa: E402
    PyradiomicsEngine,
    crop_groups,
    crop_region,
)

CASES = ["brain1", "brain2", "breast1", "lung1", "lung2"]
FILTERED = {
    "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 2.0, 3.0]}, "Wavelet": {}},
    "featureClass": {
        "shape": None,
        "firstorder": None,
        "glcm": None,
        "glrlm": None,
        "glszm": None,
        "gldm": None,
        "ngtdm": None,
    },
    "setting": {"binWidth": 25, "label": 1},
}
SMALL = {
    "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 3.0]}, "Wavelet": {}},
    "featureClass": {"shape": None, "firstorder": None, "glcm": None},
    "setting": {"binWidth": 25},
}


def _paths(shared_data, case):
    root = shared_data / "pyradiomics-cases"
    return str(root / f"{case}_image.nrrd"), str(root / f"{case}_label.nrrd")


def _max_rel_diff(ours, ref) -> float:
    assert list(ours) == list(ref), "feature names or order differ"
    worst = 0.0
    for key, value in ref.items():
        if key.startswith("diagnostics_"):
            assert str(ours[key]) == str(value), key
            continue
        a, b = float(ours[key]), float(value)
        if a != b:
            worst = max(worst, abs(a - b) / max(abs(b), 1e-300))
    return worst


def _multilabel(shared_data, case="brain2"):
    """The real tumour (1) plus a box in the middle (2) and a box at the image border (3)."""
    image, label = _paths(shared_data, case)
    mask = sitk.ReadImage(label)
    arr = sitk.GetArrayFromImage(mask).astype(np.uint8)
    arr[8:14, 100:115, 60:80] = np.where(
        arr[8:14, 100:115, 60:80] == 0, 2, arr[8:14, 100:115, 60:80]
    )
    arr[0:4, 0:12, 240:256] = 3
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(mask)
    return image, out


def test_multilabel_filter_once_equals_full_image_execute(shared_data):
    image, mask = _multilabel(shared_data)
    ours = PyradiomicsEngine(SMALL).execute(image, [(mask, 1), (mask, 2), (mask, 3)])
    reference = RadiomicsFeatureExtractor(SMALL)
    for label, result in zip((1, 2, 3), ours):
        assert not isinstance(result, Exception), result
        ref = reference.execute(image, mask, label=label)
        assert _max_rel_diff(result, ref) < 1e-6, label


def test_single_case_identical_to_execute(shared_data):
    image, label = _paths(shared_data, "breast1")
    ours = PyradiomicsEngine(FILTERED).execute(image, [(label, 1)])[0]
    ref = RadiomicsFeatureExtractor(FILTERED).execute(image, label)
    assert _max_rel_diff(ours, ref) == 0.0


def test_yaml_file_used_unchanged(shared_data, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "imageType:\n  Original: {}\n  LoG:\n    sigma: [2.0]\n"
        "featureClass:\n  firstorder:\n  glszm:\nsetting:\n  binWidth: 10\n"
    )
    image, label = _paths(shared_data, "breast1")
    ours = PyradiomicsEngine(params).execute(image, [(label, 1)])[0]
    ref = RadiomicsFeatureExtractor(str(params)).execute(image, label)
    assert _max_rel_diff(ours, ref) == 0.0
    assert "log-sigma-2-0-mm-3D_glszm_ZoneEntropy" in ours


def test_resampling_settings_fall_back_to_execute(shared_data):
    params = {
        "setting": {"resampledPixelSpacing": [2, 2, 2], "interpolator": "sitkBSpline"},
        "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}},
        "featureClass": {"firstorder": None},
    }
    image, label = _paths(shared_data, "breast1")
    ours = PyradiomicsEngine(params).execute(image, [(label, 1)])[0]
    assert _max_rel_diff(ours, RadiomicsFeatureExtractor(params).execute(image, label)) == 0.0


def test_bad_label_recorded_others_finish(shared_data):
    image, label = _paths(shared_data, "breast1")
    out = PyradiomicsEngine(SMALL).execute(image, [(label, 7), (label, 1)])
    assert isinstance(out[0], ValueError) and "Label (7) not present" in str(out[0])
    assert isinstance(out[1], dict) and "original_firstorder_Mean" in out[1]


def test_bad_labels_of_a_label_map_give_executes_errors(shared_data):
    """Absent and single-voxel labels: execute's own error; the others stay bit-identical."""
    image, mask = _multilabel(shared_data)
    arr = sitk.GetArrayFromImage(mask)
    arr[20, 5, 5] = 4  # one voxel: pyradiomics refuses it
    bad = sitk.GetImageFromArray(arr)
    bad.CopyInformation(mask)
    ours = PyradiomicsEngine(SMALL).execute(image, [(bad, 9), (bad, 4), (bad, 2), (bad, 1)])
    reference = RadiomicsFeatureExtractor(SMALL)
    for result, label in zip(ours[:2], (9, 4), strict=True):
        with pytest.raises(ValueError) as info:
            reference.execute(image, bad, label=label)
        assert type(result) is type(info.value) and str(result) == str(info.value)
    for result, label in zip(ours[2:], (2, 1), strict=True):
        assert _max_rel_diff(result, reference.execute(image, bad, label=label)) == 0.0


def test_crop_groups_merge_neighbours_and_keep_distant_rois_apart():
    size = (400, 400, 40)
    boxes = [
        np.array([100, 120, 100, 120, 10, 15]),
        np.array([125, 140, 100, 118, 10, 14]),  # touches the first one: same crop
        np.array([350, 360, 350, 360, 30, 32]),  # far away: a crop of its own
    ]
    groups = crop_groups(boxes, size, (10, 10, 2))
    assert sorted(m for g in groups for m in g[0]) == [0, 1, 2]
    assert [g[0] for g in groups] == [[0, 1], [2]]
    for members, lo, hi in groups:
        for m in members:  # every member's own padded region lies inside its group's crop
            own_lo, own_hi = crop_region([boxes[m]], size, (10, 10, 2))
            assert np.all(lo <= own_lo) and np.all(own_hi <= hi)
    merged = crop_groups(boxes, size, (10, 10, 2), overhead=10**9)
    assert len(merged) == 1
    whole = crop_groups(boxes, size, None)
    assert whole[0][0] == [0, 1, 2] and list(whole[0][2]) == list(size)


def test_backend_numeric_features_and_text_label(shared_data):
    image, label = _paths(shared_data, "breast1")
    out = PyradiomicsBackend(SMALL).compute(image, [(label, 1), (label, "GTV")])
    assert all(isinstance(v, float) for v in out[0].values())
    ref = RadiomicsFeatureExtractor(SMALL).execute(image, label)
    assert out[0] == {k: float(v) for k, v in ref.items() if not k.startswith("diagnostics_")}
    assert isinstance(out[1], ConfigError)


def test_missing_parameter_file_and_schema_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        PyradiomicsEngine(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="pyradiomics rejected"):
        PyradiomicsEngine({"setting": {"binWidht": 25}})


def test_crop_region_clips_and_keeps_full_axis_for_periodic():
    box = [np.array([5, 10, 50, 60, 3, 4])]
    lo, hi = crop_region(box, (100, 100, 8), (3, 3, 3))
    assert lo.tolist() == [2, 47, 0] and hi.tolist() == [14, 64, 8]
    lo, hi = crop_region(box, (100, 100, 20), (6, 3, 3), full_axis_at_border=True)
    assert lo.tolist() == [0, 47, 0] and hi.tolist() == [100, 64, 20]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_five_cases_identical_to_execute(shared_data, case):
    image, label = _paths(shared_data, case)
    ours = PyradiomicsEngine(FILTERED).execute(image, [(label, 1)])[0]
    ref = RadiomicsFeatureExtractor(FILTERED).execute(image, label)
    assert _max_rel_diff(ours, ref) == 0.0


def _baseline_columns(shared_data):
    root = shared_data / "pyradiomics-cases" / "baseline"
    for path in sorted(root.glob("baseline_*.csv")):
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        head, table = rows[0], {r[0]: r[1:] for r in rows[1:]}
        yield path.stem.replace("baseline_", ""), head, table


@pytest.mark.slow
def test_matches_pyradiomics_baseline_csvs(shared_data):
    """Every baseline value within rel 1e-6, or (where pyradiomics 3.1.4 itself moved away
    from its old baseline) identical to in-process ``execute``."""
    n_checked, own_drift = 0, []
    for cls, head, table in _baseline_columns(shared_data):
        for j, column in enumerate(head[1:]):
            case = table["diagnostics_Configuration_TestCase"][j]
            params = {
                "setting": ast.literal_eval(table["diagnostics_Configuration_Settings"][j]),
                "imageType": ast.literal_eval(
                    table["diagnostics_Configuration_EnabledImageTypes"][j]
                ),
                "featureClass": {cls: None},
            }
            image, label = _paths(shared_data, case)
            if not Path(image).is_file():  # the 2D cases of baseline_shape2D.csv are not shipped
                continue
            out = PyradiomicsEngine(params).execute(image, [(label, None)])[0]
            assert not isinstance(out, Exception), (column, out)
            ref_execute = None
            for key, values in table.items():
                if key.startswith("diagnostics_") or values[j] == "":
                    continue
                ours, ref = float(out[key]), float(values[j])
                n_checked += 1
                if ours == pytest.approx(ref, rel=1e-6, abs=1e-9):
                    continue
                if ref_execute is None:
                    ref_execute = RadiomicsFeatureExtractor(params).execute(image, label)
                assert ours == float(ref_execute[key]), (column, key)
                own_drift.append((column, key))
    assert n_checked > 1000
    # pyradiomics 3.1.4 differs from the 2.0 baseline only in brain1's mesh-based shape values
    assert {key for _, key in own_drift} <= {
        "original_shape_Sphericity",
        "original_shape_SurfaceVolumeRatio",
        "original_shape_MeshVolume",
        "original_shape_SurfaceArea",
    }
