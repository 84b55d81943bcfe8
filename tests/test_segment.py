"""U-Net, training, checkpoints, inference, post-processing, QC and CLI of radiopredict.segment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiopredict.cohort import Case, Cohort
from radiopredict.errors import (
    ConfigError,
    ImageReadError,
    InputFileNotFoundError,
    MissingDependencyError,
)
from radiopredict.segment import postprocess as pp
from radiopredict.segment.qc import QCThresholds, mask_qc, qc_table

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from radiopredict.segment import (  # noqa: E402
    Preprocessing,
    SegmentationModel,
    TrainSettings,
    UNet,
    UNetConfig,
    build_unet,
    predict_masks,
    train_unet,
)

SPACING = (1.5, 1.5, 2.0)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: on a shared, loaded CPU OpenMP barriers make 2+ threads far slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _sphere_case(folder: Path, name: str, rng, shape=(24, 32, 32), label=1):
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    c = rng.uniform(0.35, 0.65, 3) * np.array(shape)
    r = rng.uniform(4.0, 6.0)
    m = ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < r * r).astype(np.uint8) * label
    img = (rng.normal(0, 25, shape) + (m > 0) * 120).astype(np.int16)
    image = sitk.GetImageFromArray(img)
    image.SetSpacing(SPACING)
    image.SetOrigin((-10.0, 5.0, 3.0))
    mask = sitk.GetImageFromArray(m)
    mask.CopyInformation(image)
    ip, mp = folder / f"{name}.nii.gz", folder / f"{name}_mask.nii.gz"
    sitk.WriteImage(image, str(ip))
    sitk.WriteImage(mask, str(mp))
    return ip, mp


@pytest.fixture(scope="module")
def sphere_cohort(tmp_path_factory) -> Cohort:
    folder = tmp_path_factory.mktemp("spheres")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(5):
        ip, mp = _sphere_case(folder, f"P{i}", rng)
        rows.append({"patient_id": f"P{i}", "image": ip.name, "mask": mp.name, "label": 1})
    return Cohort.from_dataframe(pd.DataFrame(rows), root=folder)


TINY = UNetConfig(spatial_dims=3, base_filters=4, depth=2)
TINY_SETTINGS = TrainSettings(
    patch_size=(16, 16, 16),
    batch_size=2,
    max_epochs=2,
    steps_per_epoch=3,
    val_fraction=0.2,
    device="cpu",
    num_threads=1,
)


@pytest.fixture(scope="module")
def tiny_model(sphere_cohort) -> SegmentationModel:
    return train_unet(sphere_cohort, TINY, TINY_SETTINGS, progress=False)


# ---------------------------------------------------------------- optional dependency
def test_import_without_torch_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['monai'] = None\n"
        "import radiopredict.segment as s, radiopredict.embed as e\n"
        "import SimpleITK as sitk\n"
        "m = sitk.Image(4, 4, 4, sitk.sitkUInt8); m[1, 1, 1] = 1\n"
        "assert sitk.GetArrayFromImage(s.postprocess_mask(m)).sum() == 1\n"
        "e.CropSettings()\n"
        "for mod, name in ((s, 'train_unet'), (s, 'UNet'), (e, 'ResNetEncoder')):\n"
        "    try:\n"
        "        getattr(mod, name)\n"
        "    except ImportError as exc:\n"
        "        assert type(exc).__name__ == 'MissingDependencyError', exc\n"
        "        assert 'radiopredict[deep]' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError(name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert issubclass(MissingDependencyError, ImportError)


# ---------------------------------------------------------------- architecture
@pytest.mark.parametrize(("dims", "size"), [(3, (1, 1, 16, 16, 16)), (2, (3, 1, 32, 32))])
def test_unet_shapes_and_structure(dims, size):
    cfg = UNetConfig(spatial_dims=dims, base_filters=4, depth=3, out_channels=3)
    net = UNet(cfg)
    out = net(torch.zeros(size))
    assert out.shape == (size[0], 3, *size[2:])
    assert len(net.encoders) == 3 and len(net.decoders) == 3
    # filters double per stage; bottleneck = base * 2**depth
    convs = [m for m in net.encoders.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    assert [c.out_channels for c in convs] == [4, 4, 8, 8, 16, 16]
    assert net.encode(torch.zeros(size)).shape[1] == net.bottleneck_channels == 32
    ups = [m for m in net.ups]
    assert all(u.stride == (2,) * dims for u in ups)


def test_width_and_depth_change_parameter_count():
    n = lambda c: sum(p.numel() for p in UNet(c).parameters())  # noqa: E731
    assert n(UNetConfig(base_filters=8, depth=2)) > n(UNetConfig(base_filters=4, depth=2))
    assert n(UNetConfig(base_filters=4, depth=3)) > n(UNetConfig(base_filters=4, depth=2))


def test_build_unet_is_seeded_and_leaves_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_unet(TINY, seed=5), build_unet(TINY, seed=5)
    after = torch.rand(1)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = build_unet(TINY, seed=6)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spatial_dims": 4},
        {"depth": 0},
        {"base_filters": -1},
        {"out_channels": 1},
        {"norm": "group"},
    ],
)
def test_bad_unet_config(kwargs):
    with pytest.raises(ConfigError):
        UNetConfig(**kwargs)


def test_patch_not_divisible_is_an_error():
    with pytest.raises(ConfigError, match="multiples of 2\\*\\*depth = 4"):
        SegmentationModel(TINY, patch_size=(16, 16, 18))
    with pytest.raises(ConfigError, match="sides"):
        SegmentationModel(TINY, patch_size=(16, 16))


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"val_fraction": 1.0}, {"pos_fraction": 2.0}, {"learning_rate": 0.0}],
)
def test_bad_train_settings(kwargs):
    with pytest.raises(ConfigError):
        TrainSettings(**kwargs)


def test_bad_preprocessing():
    with pytest.raises(ConfigError, match="window"):
        Preprocessing(intensity="window")
    with pytest.raises(ConfigError):
        Preprocessing(intensity="minmax")
    with pytest.raises(ConfigError):
        Preprocessing(spacing=(1.0, 0.0, 1.0))


# ---------------------------------------------------------------- training
def test_training_records_history_and_is_deterministic(sphere_cohort, tiny_model):
    hist = tiny_model.history
    assert [h["epoch"] for h in hist] == [1, 2]
    assert all(0.0 <= h["val_dice"] <= 1.0 and h["loss"] > 0 for h in hist)
    assert tiny_model.training["n_train"] == 4 and tiny_model.training["n_val"] == 1
    again = train_unet(sphere_cohort, TINY, TINY_SETTINGS, progress=False)
    for (k, a), b in zip(
        tiny_model.net.state_dict().items(), again.net.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), k
    other = train_unet(
        sphere_cohort,
        TINY,
        TrainSettings(**{**TINY_SETTINGS.__dict__, "seed": 1}),
        progress=False,
    )
    assert not torch.equal(next(tiny_model.net.parameters()), next(other.net.parameters()))


def test_training_without_cases_or_with_a_path_fails(tmp_path):
    with pytest.raises(ConfigError, match="no training cases"):
        train_unet([], TINY, TINY_SETTINGS, progress=False)
    with pytest.raises(ConfigError, match="Cohort.read"):
        train_unet(str(tmp_path / "manifest.csv"), TINY, TINY_SETTINGS, progress=False)


def test_training_on_a_case_without_mask_names_the_patient(sphere_cohort):
    case = sphere_cohort.cases()[0]
    bare = Case(patient_id="NOMASK", image=case.image, mask=None)
    with pytest.raises(InputFileNotFoundError, match="NOMASK.*no mask"):
        train_unet([bare], TINY, TINY_SETTINGS, progress=False)


def test_cuda_request_without_cuda_is_a_clear_error(sphere_cohort):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    settings = TrainSettings(**{**TINY_SETTINGS.__dict__, "device": "cuda"})
    with pytest.raises(ConfigError, match="CUDA is not available"):
        train_unet(sphere_cohort, TINY, settings, progress=False)


def test_2d_unet_trains_and_predicts(sphere_cohort, tmp_path):
    cfg = UNetConfig(spatial_dims=2, base_filters=4, depth=2)
    settings = TrainSettings(
        patch_size=(16, 16),
        batch_size=4,
        max_epochs=1,
        steps_per_epoch=2,
        device="cpu",
        num_threads=1,
    )
    model = train_unet(sphere_cohort, cfg, settings, progress=False)
    image = sitk.ReadImage(str(sphere_cohort.cases()[0].image))
    labels = model.predict_image(image, device="cpu")
    assert labels.GetSize() == image.GetSize()
    assert set(np.unique(sitk.GetArrayFromImage(labels))) <= {0, 1}


# ---------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_gives_identical_outputs(tiny_model, sphere_cohort, tmp_path):
    w, c = tiny_model.save(tmp_path / "model")
    assert w.name == "model.safetensors" and c.name == "model.json"
    cfg = json.loads(c.read_text())
    assert cfg["unet"] == TINY.to_dict() and len(cfg["weights_sha256"]) == 64
    image = sitk.ReadImage(str(sphere_cohort.cases()[1].image))
    arr = Preprocessing().normalise(sitk.GetArrayFromImage(image))
    for path in (tmp_path / "model", w, c):
        loaded = SegmentationModel.load(path)
        a = tiny_model.predict_array(arr, device="cpu", return_probabilities=True)
        b = loaded.predict_array(arr, device="cpu", return_probabilities=True)
        np.testing.assert_array_equal(a, b)
        assert loaded.history == tiny_model.history


def test_corrupted_weights_are_a_clear_error(tiny_model, tmp_path):
    w, _ = tiny_model.save(tmp_path / "m")
    w.write_bytes(w.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="cannot read weights.*corrupted"):
        SegmentationModel.load(w)


def test_modified_weights_fail_the_hash_check(tiny_model, tmp_path):
    from safetensors.torch import load_file, save_file

    w, _ = tiny_model.save(tmp_path / "m")
    state = load_file(str(w))
    first = sorted(state)[0]
    state[first] = state[first] + 1.0
    save_file(state, str(w))
    with pytest.raises(ImageReadError, match="do not match the hash"):
        SegmentationModel.load(w)


def test_mismatched_config_lists_shapes(tiny_model, tmp_path):
    _, c = tiny_model.save(tmp_path / "m")
    cfg = json.loads(c.read_text())
    cfg["unet"]["base_filters"] = 8
    c.write_text(json.dumps(cfg))
    with pytest.raises(
        ConfigError,
        match=r"shape mismatch.*bottleneck\.0\.weight: checkpoint \(16, 8, 3, 3, 3\) vs model \(32",
    ):
        SegmentationModel.load(c)
    cfg["unet"]["depth"] = 3
    cfg["unet"]["base_filters"] = 4
    c.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="missing parameter"):
        SegmentationModel.load(c)


def test_missing_or_garbled_checkpoint_files(tiny_model, tmp_path):
    w, c = tiny_model.save(tmp_path / "m")
    c.write_text("{not json")
    with pytest.raises(ImageReadError, match="not valid JSON"):
        SegmentationModel.load(w)
    c.write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(ImageReadError, match="not a radiopredict segmentation checkpoint"):
        SegmentationModel.load(w)
    c.unlink()
    with pytest.raises(InputFileNotFoundError, match="m.json"):
        SegmentationModel.load(w)


# ---------------------------------------------------------------- inference
def test_predict_masks_returns_a_cohort_with_new_masks(tiny_model, sphere_cohort, tmp_path):
    tiny_model.save(tmp_path / "model")
    new = predict_masks(
        sphere_cohort,
        tmp_path / "model.json",
        tmp_path / "pred",
        device="cpu",
        progress=False,
    )
    assert isinstance(new, Cohort) and len(new) == len(sphere_cohort)
    assert new.failures.empty
    for old, case in zip(sphere_cohort.cases(), new.cases(), strict=True):
        assert case.key == old.key
        assert case.mask == tmp_path / "pred" / f"{old.patient_id}_seg.nii.gz"
        mask = sitk.ReadImage(str(case.mask))
        image = sitk.ReadImage(str(case.image))
        assert mask.GetSize() == image.GetSize()
        assert mask.GetOrigin() == image.GetOrigin() and mask.GetSpacing() == image.GetSpacing()
        assert set(np.unique(sitk.GetArrayFromImage(mask))) <= {0, 1}
    # existing files are reused unless overwrite=True
    stamp = new.cases()[0].mask.stat().st_mtime_ns
    predict_masks(sphere_cohort, tiny_model, tmp_path / "pred", progress=False)
    assert new.cases()[0].mask.stat().st_mtime_ns == stamp


def test_predict_masks_on_pairs_and_errors(tiny_model, sphere_cohort, tmp_path):
    pairs = [(c.image, None) for c in sphere_cohort.cases()[:2]]
    pairs.append((tmp_path / "missing.nii.gz", None))
    with pytest.raises(InputFileNotFoundError, match="missing.nii.gz"):
        predict_masks(pairs, tiny_model, tmp_path / "p", device="cpu", progress=False)
    out = predict_masks(
        pairs, tiny_model, tmp_path / "p", device="cpu", progress=False, on_error="record"
    )
    assert [c.mask is not None for c in out] == [True, True, False]
    assert list(out.failures["patient_id"]) == ["missing"]
    with pytest.raises(ConfigError, match="on_error"):
        predict_masks(pairs, tiny_model, tmp_path / "p", on_error="ignore")


def test_resampling_preprocessing_predicts_on_the_native_grid(tiny_model, sphere_cohort):
    model = SegmentationModel(
        TINY, Preprocessing(spacing=(3.0, 3.0, 3.0)), (16, 16, 16), net=tiny_model.net
    )
    image = sitk.ReadImage(str(sphere_cohort.cases()[0].image))
    labels = model.predict_image(image, device="cpu")
    assert labels.GetSize() == image.GetSize() and labels.GetSpacing() == image.GetSpacing()


# ---------------------------------------------------------------- post-processing
def _img(arr, spacing=(1.0, 1.0, 1.0)):
    im = sitk.GetImageFromArray(arr.astype(np.uint8))
    im.SetSpacing(spacing)
    return im


def test_postprocess_largest_min_size_and_holes():
    a = np.zeros((12, 12, 12), np.uint8)
    a[1:6, 1:6, 1:6] = 1  # 125 voxels, with a hole
    a[3, 3, 3] = 0
    a[8:10, 8:10, 8:10] = 1  # 8 voxels
    m = _img(a, (2.0, 1.0, 1.0))  # voxel = 2 mm^3
    big = sitk.GetArrayFromImage(pp.largest_component(m))
    assert big.sum() == 124 and big[9, 9, 9] == 0
    kept = sitk.GetArrayFromImage(pp.remove_small_components(m, 16.0))  # 8 vox = 16 mm^3 stays
    assert kept.sum() == 132
    gone = sitk.GetArrayFromImage(pp.remove_small_components(m, 17.0))
    assert gone.sum() == 124
    out = sitk.GetArrayFromImage(pp.postprocess_mask(m))
    assert out.sum() == 125 and out[3, 3, 3] == 1
    keep_all = sitk.GetArrayFromImage(pp.postprocess_mask(m, largest=False, holes=False))
    np.testing.assert_array_equal(keep_all, a)
    assert sitk.GetArrayFromImage(pp.postprocess_mask(_img(np.zeros((4, 4, 4))))).sum() == 0
    with pytest.raises(ConfigError):
        pp.remove_small_components(m, -1)


# ---------------------------------------------------------------- QC
def test_mask_qc_measures_known_values():
    a = np.zeros((20, 20, 20), np.uint8)
    a[5:10, 5:10, 5:10] = 1
    ref = np.zeros_like(a)
    ref[5:10, 5:10, 7:12] = 1  # shifted by 2 voxels along x (spacing 1.5 mm)
    sp = (1.5, 1.0, 1.0)
    row = mask_qc(_img(a, sp), _img(ref, sp))
    assert row["volume_mm3"] == pytest.approx(125 * 1.5)
    assert row["n_components"] == 1 and row["touches_border"] is False
    assert row["dice"] == pytest.approx(2 * 75 / 250)
    assert row["hausdorff_mm"] == pytest.approx(3.0)
    assert row["ok"] is False and row["flags"] == "low_dice"
    row = mask_qc(_img(a, sp), _img(a, sp))
    assert row["dice"] == 1.0 and row["hausdorff_mm"] == 0.0 and row["ok"] is True


def test_mask_qc_flags_and_thresholds():
    a = np.zeros((10, 10, 10), np.uint8)
    a[0:3, 0:3, 0:3] = 1
    a[6:8, 6:8, 6:8] = 1
    row = mask_qc(_img(a))
    assert row["n_components"] == 2 and row["touches_border"] is True
    assert row["largest_fraction"] == pytest.approx(27 / 35)
    assert row["flags"] == "small;fragmented;border"
    relaxed = QCThresholds(min_volume_mm3=None, max_components=2, flag_border=False)
    assert mask_qc(_img(a), thresholds=relaxed)["ok"] is True
    assert (
        mask_qc(
            _img(a),
            thresholds=QCThresholds(
                max_volume_mm3=10.0, min_volume_mm3=None, max_components=None, flag_border=False
            ),
        )["flags"]
        == "large"
    )
    empty = mask_qc(_img(np.zeros((4, 4, 4))), _img(a[:4, :4, :4]))
    assert empty["flags"].startswith("empty") and empty["dice"] == 0.0
    assert empty["hausdorff_mm"] is None


def test_qc_table_against_reference_and_errors(sphere_cohort, tmp_path):
    table = qc_table(sphere_cohort, reference=sphere_cohort)
    assert list(table.index.names) == ["patient_id", "modality", "timepoint", "label"]
    assert (table["dice"] == 1.0).all() and (table["hausdorff_mm"] == 0.0).all()
    assert table.attrs["thresholds"]["min_dice"] == 0.7
    broken = [(sphere_cohort.cases()[0].image, tmp_path / "nope.nii.gz")]
    rec = qc_table(broken)
    assert rec["ok"].tolist() == [False] and "nope.nii.gz" in rec["error"].iloc[0]
    with pytest.raises(InputFileNotFoundError):
        qc_table(broken, on_error="raise")


# ---------------------------------------------------------------- CLI
def test_cli_train_and_predict(sphere_cohort, tmp_path):
    from typer.testing import CliRunner

    from radiopredict.segment.cli import app

    manifest = tmp_path / "manifest.csv"
    sphere_cohort.to_dataframe().to_csv(manifest, index=False)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "train",
            str(manifest),
            str(tmp_path / "m"),
            "--patch-size",
            "16,16,16",
            "--base-filters",
            "4",
            "--depth",
            "2",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.safetensors").is_file()
    res = runner.invoke(
        app,
        [
            "predict",
            str(manifest),
            str(tmp_path / "m.json"),
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    new = Cohort.read(tmp_path / "out" / "manifest.csv")
    assert all(c.mask.parent == tmp_path / "out" for c in new.cases())
    qc = pd.read_csv(tmp_path / "out" / "qc.csv")
    assert len(qc) == len(sphere_cohort) and qc["dice"].notna().all()
    res = runner.invoke(app, ["train", str(manifest), str(tmp_path / "x"), "--patch-size", "a,b"])
    assert res.exit_code != 0


# ---------------------------------------------------------------- case reading
def test_case_masks_by_value_name_and_errors_name_the_patient(sphere_cohort, tmp_path):
    from radiopredict.errors import LabelNotFoundError
    from radiopredict.imaging import write_mask
    from radiopredict.imaging.cases import read_case_image, read_case_mask

    case = sphere_cohort.cases()[0]
    image = read_case_image(case)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(case.mask)))
    labelled = sitk.ReadImage(str(case.mask)) * 3
    write_mask(labelled, tmp_path / "named.nii.gz", label_names={3: "gtv"})
    for label in (3, "gtv", None):
        c = Case(patient_id="Q1", image=case.image, mask=tmp_path / "named.nii.gz", label=label)
        got = sitk.GetArrayFromImage(read_case_mask(c, image))
        np.testing.assert_array_equal(got, ref)
    with pytest.raises(LabelNotFoundError, match="patient Q2"):
        read_case_mask(Case("Q2", case.image, tmp_path / "named.nii.gz", label=5), image)
    with pytest.raises(InputFileNotFoundError, match="patient Q3.*nothere"):
        read_case_image(Case("Q3", tmp_path / "nothere.nii.gz", None))


def test_predict_masks_with_a_relative_folder_writes_a_manifest_relative_to_itself(
    tiny_model, sphere_cohort, tmp_path, monkeypatch
):
    # The README's demo runs with a relative --out: masks written under a folder given relative
    # to the working directory must be found again, and a written manifest must hold paths
    # relative to its own folder so the folder can be moved.
    monkeypatch.chdir(tmp_path)
    new = predict_masks(sphere_cohort, tiny_model, Path("rel") / "pred", progress_bar=False)
    for case in new.cases():
        assert case.mask.is_absolute() and case.mask.exists(), case.mask
    written = new.write(Path("rel") / "manifest.csv")
    table = pd.read_csv(written, dtype=str)
    assert all(m.startswith("pred/") for m in table["mask"]), table["mask"].tolist()
    moved = tmp_path / "moved"
    (tmp_path / "rel").rename(moved)
    again = Cohort.read(moved / "manifest.csv")
    assert all(c.mask.exists() and c.mask.parent == moved / "pred" for c in again.cases())
