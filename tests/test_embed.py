"""ROI crops, encoders, checkpoints, self-supervised training and cached embedding extraction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiopredict.cohort import Case, Cohort
from radiopredict.embed.crops import CropSettings, case_crop, roi_centre, roi_crop
from radiopredict.errors import ConfigError, EmptyMaskError, ImageReadError

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from radiopredict.embed import (  # noqa: E402
    AutoencoderSettings,
    ResNetConfig,
    ResNetEncoder,
    UNetEncoder,
    extract_embeddings,
    load_encoder,
    train_autoencoder,
)

SPACING = (0.8, 0.9, 2.5)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: on a shared, loaded CPU OpenMP barriers make 2+ threads far slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


SMALL = ResNetConfig(base_width=4, blocks=(1, 1, 1))
CROP = CropSettings(size_mm=(40.0, 40.0, 40.0), shape=(16, 16, 16))


def _write_case(folder, name, rng, radius=6.0, bright=120.0):
    shape = (20, 40, 40)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    phys = np.stack([x * SPACING[0], y * SPACING[1], z * SPACING[2]])
    centre = np.array([16.0, 18.0, 25.0]) + rng.uniform(-2, 2, 3)
    d = np.sqrt(((phys - centre[:, None, None, None]) ** 2).sum(0))
    m = (d < radius).astype(np.uint8)
    img = (rng.normal(0, 20, shape) + m * bright).astype(np.int16)
    image = sitk.GetImageFromArray(img)
    image.SetSpacing(SPACING)
    mask = sitk.GetImageFromArray(m)
    mask.CopyInformation(image)
    ip, mp = folder / f"{name}.nii.gz", folder / f"{name}_mask.nii.gz"
    sitk.WriteImage(image, str(ip))
    sitk.WriteImage(mask, str(mp))
    return ip, mp


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Cohort:
    folder = tmp_path_factory.mktemp("embed")
    rng = np.random.default_rng(1)
    rows = []
    for i in range(6):
        ip, mp = _write_case(folder, f"E{i}", rng, radius=4.0 + i, bright=60.0 + 20 * i)
        rows.append({"patient_id": f"E{i}", "image": ip.name, "mask": mp.name})
    return Cohort.from_dataframe(pd.DataFrame(rows), root=folder)


# ---------------------------------------------------------------- crops
def test_crop_has_the_physical_size_and_centre():
    size = (30, 20, 12)
    ramp = np.fromfunction(lambda z, y, x: 2.0 * x + 3.0 * y + 5.0 * z, size[::-1])
    image = sitk.GetImageFromArray(ramp.astype(np.float32))
    image.SetSpacing((0.7, 1.1, 3.0))
    image.SetOrigin((10.0, -20.0, 5.0))
    theta = np.deg2rad(20)
    rot = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    image.SetDirection(rot.ravel().tolist())
    mask = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(image)
    for idx in [(14, 9, 5), (15, 9, 5), (14, 10, 6), (15, 10, 6)]:
        mask[idx] = 1
    centre = roi_centre(mask)
    expected = np.mean(
        [
            image.TransformIndexToPhysicalPoint(i)
            for i in [(14, 9, 5), (15, 9, 5), (14, 10, 6), (15, 10, 6)]
        ],
        axis=0,
    )
    np.testing.assert_allclose(centre, expected, atol=1e-6)
    settings = CropSettings(size_mm=(8.0, 6.0, 9.0), shape=(8, 6, 3))
    crop = roi_crop(image, centre, settings)
    assert crop.GetSize() == (8, 6, 3)
    np.testing.assert_allclose(crop.GetSpacing(), (1.0, 1.0, 3.0))
    extent = np.array(crop.GetSize()) * np.array(crop.GetSpacing())
    np.testing.assert_allclose(extent, (8.0, 6.0, 9.0))
    # the crop's centre is the ROI centre
    mid = crop.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in crop.GetSize()])
    np.testing.assert_allclose(mid, centre, atol=1e-6)
    # values are the ramp at the crop's physical points (linear interpolation is exact on a ramp)
    arr = sitk.GetArrayFromImage(crop)
    for idx in [(0, 0, 0), (7, 5, 2), (3, 2, 1)]:
        p = crop.TransformIndexToPhysicalPoint(idx)
        ci = image.TransformPhysicalPointToContinuousIndex(p)
        assert arr[idx[::-1]] == pytest.approx(2 * ci[0] + 3 * ci[1] + 5 * ci[2], abs=1e-3)


def test_case_crop_channels_and_normalisation(cohort):
    case = cohort.cases()[0]
    x = case_crop(case, CROP)
    assert x.shape == (1, 16, 16, 16) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    big = cohort.cases()[5]  # radius 9 mm; crop voxels are 2.5 mm
    two = case_crop(big, CropSettings(**{**CROP.__dict__, "include_mask": True}))
    assert two.shape == (2, 16, 16, 16)
    assert set(np.unique(two[1])) == {0.0, 1.0}
    # the ROI sits in the centre of the crop: voxels within 3.75 mm of the centre are inside
    assert two[1][6:10, 6:10, 6:10].all()
    assert not two[1][0].any() and not two[1][:, 0].any()
    win = case_crop(
        case, CropSettings(**{**CROP.__dict__, "intensity": "window", "window": (0, 100)})
    )
    assert win.min() >= 0.0 and win.max() <= 1.0


def test_empty_mask_names_the_patient(cohort, tmp_path):
    case = cohort.cases()[0]
    empty = sitk.Image(sitk.ReadImage(str(case.mask)).GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(sitk.ReadImage(str(case.mask)))
    sitk.WriteImage(empty, str(tmp_path / "empty.nii.gz"))
    bad = Case(patient_id="EMPTY1", image=case.image, mask=tmp_path / "empty.nii.gz")
    with pytest.raises(EmptyMaskError, match="EMPTY1"):
        case_crop(bad, CROP)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size_mm": (10.0, 10.0)},
        {"shape": (0, 4, 4)},
        {"intensity": "robust"},
        {"intensity": "window", "window": (5, 1)},
    ],
)
def test_bad_crop_settings(kwargs):
    with pytest.raises(ConfigError):
        CropSettings(**kwargs)


# ---------------------------------------------------------------- encoders
def test_resnet_encoder_is_deterministic_for_a_seed():
    x = np.random.default_rng(0).normal(size=(3, 1, 16, 16, 16)).astype(np.float32)
    a = ResNetEncoder(SMALL, seed=3).embed(x, device="cpu")
    b = ResNetEncoder(SMALL, seed=3).embed(x, device="cpu")
    c = ResNetEncoder(SMALL, seed=4).embed(x, device="cpu")
    assert a.shape == (3, SMALL.embedding_dim) == (3, 16)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert ResNetEncoder(SMALL, seed=3).fingerprint() == ResNetEncoder(SMALL, seed=3).fingerprint()
    assert ResNetEncoder(SMALL, seed=3).fingerprint() != ResNetEncoder(SMALL, seed=4).fingerprint()


def test_encoder_rejects_wrong_inputs():
    enc = ResNetEncoder(SMALL)
    with pytest.raises(ConfigError, match="expects crops"):
        enc.embed(np.zeros((1, 2, 16, 16, 16)))
    with pytest.raises(ConfigError, match="multiples of 4"):
        enc.embed(np.zeros((1, 1, 16, 16, 10)))
    with pytest.raises(ConfigError):
        ResNetConfig(blocks=(1, 0))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_user_checkpoints_load_without_unpickling(tmp_path):
    src = ResNetEncoder(SMALL, seed=7)
    x = np.random.default_rng(1).normal(size=(2, 1, 16, 16, 16)).astype(np.float32)
    ref = src.embed(x, device="cpu")
    torch.save(src.module.state_dict(), tmp_path / "w.pt")
    torch.save({"state_dict": src.module.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth")
    from safetensors.torch import save_file

    save_file(src.module.state_dict(), str(tmp_path / "w.safetensors"))
    for name in ("w.pt", "wrapped.pth", "w.safetensors"):
        got = ResNetEncoder(SMALL, seed=0, weights=tmp_path / name).embed(x, device="cpu")
        np.testing.assert_array_equal(got, ref)
    # a checkpoint of another architecture: clear shape error
    with pytest.raises(
        ConfigError,
        match=r"27 shape mismatch.*stages\.0\.0\.conv1\.weight: checkpoint \(4, 4, 3, 3, 3\) vs model \(8, 8",
    ):
        ResNetEncoder(ResNetConfig(base_width=8, blocks=(1, 1, 1)), weights=tmp_path / "w.pt")
    with pytest.raises(ConfigError, match="unexpected parameter"):
        ResNetEncoder(ResNetConfig(base_width=4, blocks=(1, 1)), weights=tmp_path / "w.pt")
    # corrupted file
    (tmp_path / "bad.pt").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ImageReadError, match="bad.pt"):
        ResNetEncoder(SMALL, weights=tmp_path / "bad.pt")
    # a pickled arbitrary object is refused (weights_only=True)
    torch.save({"obj": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ImageReadError, match="cannot read weights"):
        ResNetEncoder(SMALL, weights=tmp_path / "evil.pt")
    # a file of tensors that is not a name -> tensor mapping
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(ImageReadError, match="mapping of parameter names"):
        ResNetEncoder(SMALL, weights=tmp_path / "list.pt")


class _Evil:
    pass


def test_encoder_save_and_load_round_trip(tmp_path):
    enc = ResNetEncoder(SMALL, seed=2)
    enc.save(tmp_path / "enc")
    back = load_encoder(tmp_path / "enc.json")
    assert back.fingerprint() == enc.fingerprint()


# ---------------------------------------------------------------- extraction
def test_extract_embeddings_table_cache_and_determinism(cohort, tmp_path):
    enc = ResNetEncoder(SMALL, seed=0)
    a = extract_embeddings(cohort, enc, CROP, device="cpu", progress=False)
    assert list(a.columns) == [f"emb_{k:03d}" for k in range(16)]
    assert list(a.index.names) == ["patient_id", "modality", "timepoint", "label"]
    assert [k[0] for k in a.index] == [f"E{i}" for i in range(6)]
    assert np.isfinite(a.to_numpy()).all()
    assert a.attrs["fingerprint"] == enc.fingerprint() and a.attrs["failures"] == []
    b = extract_embeddings(cohort, ResNetEncoder(SMALL, seed=0), CROP, progress=False)
    pd.testing.assert_frame_equal(a, b)
    # different tumours give different embeddings
    assert not np.allclose(a.iloc[0], a.iloc[5])
    cache = tmp_path / "cache"
    c = extract_embeddings(cohort, enc, CROP, cache_dir=cache, batch_size=4, progress=False)
    pd.testing.assert_frame_equal(a, c, check_exact=False, rtol=1e-5)
    files = sorted(cache.glob("*.npy"))
    assert len(files) == 6
    # the cache is read: tamper with one entry and see it come back
    case0 = cohort.cases()[0]
    from radiopredict.embed import case_cache_key

    key_file = cache / f"{case_cache_key(case0, CROP, enc.fingerprint())}.npy"
    np.save(key_file, np.full(16, 7.0, np.float32))
    d = extract_embeddings(cohort, enc, CROP, cache_dir=cache, progress=False)
    assert (d.iloc[0] == 7.0).all()
    # another encoder or crop gets other cache entries
    extract_embeddings(cohort, ResNetEncoder(SMALL, seed=1), CROP, cache_dir=cache, progress=False)
    assert len(list(cache.glob("*.npy"))) == 12
    # a corrupted cache entry is recomputed
    key_file.write_bytes(b"junk")
    e = extract_embeddings(cohort, enc, CROP, cache_dir=cache, progress=False)
    np.testing.assert_allclose(e.iloc[0], a.iloc[0], rtol=1e-5)


def test_extract_embeddings_errors(cohort, tmp_path):
    enc = ResNetEncoder(SMALL)
    with pytest.raises(ConfigError, match="2 channel"):
        extract_embeddings(cohort, enc, CropSettings(include_mask=True, shape=(16, 16, 16)))
    with pytest.raises(ConfigError, match="multiples of 4"):
        extract_embeddings(cohort, enc, CropSettings(shape=(16, 16, 10)))
    cases = cohort.cases()[:2] + [Case(patient_id="GONE", image=tmp_path / "x.nii.gz", mask=None)]
    with pytest.raises(FileNotFoundError, match="GONE|x.nii.gz"):
        extract_embeddings(cases, enc, CROP, progress=False)
    rec = extract_embeddings(cases, enc, CROP, progress=False, on_error="record")
    assert len(rec) == 2 and [f["patient_id"] for f in rec.attrs["failures"]] == ["GONE"]
    with pytest.raises(ConfigError, match="on_error"):
        extract_embeddings(cases, enc, CROP, on_error="skip")


def test_unet_encoder_embeds_with_the_bottleneck(cohort):
    from radiopredict.segment import SegmentationModel, UNetConfig

    model = SegmentationModel(UNetConfig(base_filters=4, depth=2), patch_size=(16, 16, 16))
    enc = UNetEncoder(model)
    table = extract_embeddings(cohort, enc, CROP, progress=False)
    assert table.shape == (6, 16)
    x = torch.from_numpy(case_crop(cohort.cases()[0], CROP))[None]
    with torch.no_grad():
        expected = model.net.encode(x).mean(dim=(2, 3, 4)).numpy()[0]
    np.testing.assert_allclose(table.iloc[0].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    two_d = SegmentationModel(
        UNetConfig(spatial_dims=2, base_filters=4, depth=2), patch_size=(16, 16)
    )
    assert extract_embeddings(cohort, UNetEncoder(two_d), CROP, progress=False).shape == (6, 16)


def test_autoencoder_learns_and_is_deterministic(cohort):
    settings = AutoencoderSettings(epochs=3, batch_size=3, seed=0, device="cpu", num_threads=1)
    enc = train_autoencoder(cohort, CROP, SMALL, settings, progress=False)
    losses = [h["loss"] for h in enc.history]
    assert losses[-1] < losses[0]
    again = train_autoencoder(cohort, CROP, SMALL, settings, progress=False)
    a = extract_embeddings(cohort, enc, CROP, progress=False)
    b = extract_embeddings(cohort, again, CROP, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert enc.fingerprint() != ResNetEncoder(SMALL, seed=0).fingerprint()
    two = train_autoencoder(
        cohort,
        CropSettings(**{**CROP.__dict__, "include_mask": True}),
        SMALL,
        AutoencoderSettings(epochs=1, device="cpu"),
        progress=False,
    )
    assert two.in_channels == 2
