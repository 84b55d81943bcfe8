"""Training a U-Net on a cohort: patch sampling, augmentation, validation Dice, early stopping."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radiopredict._settings import Settings, option
from radiopredict._torch import require_monai, resolve_device, seeded, torch_threads
from radiopredict.cohort import Case, Cohort
from radiopredict.errors import ConfigError
from radiopredict.imaging.cases import as_cases
from radiopredict.parallel import resolve_progress, track
from radiopredict.segment._data import Preprocessing, load_training_case
from radiopredict.segment.model import SegmentationModel
from radiopredict.segment.unet import UNetConfig, build_unet, torch

__all__ = ["TrainSettings", "train_unet", "PatchSampler"]


@dataclass(frozen=True)
class TrainSettings(Settings):
    """Training settings (saved in the model's history).

    Parameters
    ----------
    patch_size
        Patch (z, y, x) for a 3D U-Net or (y, x) for a 2D one; sides multiple of ``2**depth``.
    batch_size
        Patches per optimiser step.
    max_epochs, steps_per_epoch
        An epoch is ``steps_per_epoch`` optimiser steps on freshly sampled patches.
    learning_rate, weight_decay
        Adam optimiser settings.
    pos_fraction
        Probability that a patch is centred on a tumour voxel (else anywhere in the volume).
    augment
        Random flips along each axis and random intensity scale/shift.
    val_fraction
        Fraction of cases held out for validation Dice (0 disables validation and early stopping).
    val_every
        Validate every this many epochs.
    patience
        Stop after this many validations without a Dice improvement (the best weights are kept).
    time_budget_s
        Stop after this many seconds of training (wall clock, checked after every epoch).
    cpu_budget_s
        Stop after this many seconds of process CPU time (all threads; checked after every
        epoch). Useful on shared machines where wall time says little.
    seed
        Seed of weight initialisation, patch sampling, augmentation and the validation split.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    num_threads
        torch CPU threads during training (None keeps torch's setting, which honours
        ``OMP_NUM_THREADS``).
    sw_overlap
        Sliding-window overlap for validation.
    """

    patch_size: tuple[int, ...] = option((64, 64, 64), ge=1)
    batch_size: int = option(2, ge=1)
    max_epochs: int = option(50, ge=1)
    steps_per_epoch: int = option(25, ge=1)
    learning_rate: float = option(1e-3, gt=0)
    weight_decay: float = option(1e-5, ge=0)
    pos_fraction: float = option(0.67, ge=0, le=1)
    augment: bool = True
    val_fraction: float = option(0.2, ge=0, lt=1)
    val_every: int = option(1, ge=1)
    patience: int = option(10, ge=1)
    time_budget_s: float | None = option(None, gt=0)
    cpu_budget_s: float | None = option(None, gt=0)
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = option(None, ge=1)
    sw_overlap: float = option(0.25, ge=0, lt=1)


@dataclass
class PatchSampler:
    """Random patches from in-memory volumes (numpy, seeded).

    For a 3D U-Net a patch is a (z, y, x) block; for a 2D U-Net an axial (y, x) window of one
    slice. Volumes smaller than the patch are padded (image with its minimum, mask with 0).
    """

    images: list[np.ndarray]
    masks: list[np.ndarray]
    patch_size: tuple[int, ...]
    pos_fraction: float = 0.67
    augment: bool = True
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def __post_init__(self) -> None:
        full = tuple(self.patch_size) if len(self.patch_size) == 3 else (1, *self.patch_size)
        self._full = full
        imgs, msks, fgs = [], [], []
        for img, msk in zip(self.images, self.masks, strict=True):
            pad = [(0, max(0, p - s)) for p, s in zip(full, img.shape, strict=True)]
            if any(b for _, b in pad):
                img = np.pad(img, pad, constant_values=float(img.min()))
                msk = np.pad(msk, pad, constant_values=0)
            imgs.append(img)
            msks.append(msk)
            fgs.append(np.argwhere(msk > 0))
        self.images, self.masks, self._fg = imgs, msks, fgs

    def sample(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch ``(x, y)`` of shapes ``(B, 1, *patch_size)``."""
        xs, ys = [], []
        for _ in range(batch_size):
            i = int(self.rng.integers(len(self.images)))
            img, msk, fg = self.images[i], self.masks[i], self._fg[i]
            shape = np.array(img.shape)
            if len(fg) and self.rng.random() < self.pos_fraction:
                centre = fg[int(self.rng.integers(len(fg)))]
            else:
                centre = np.array([self.rng.integers(s) for s in shape])
            p = np.array(self._full)
            start = np.clip(centre - p // 2, 0, shape - p)
            sl = tuple(slice(int(a), int(a + b)) for a, b in zip(start, p, strict=True))
            x, y = img[sl], msk[sl]
            if len(self.patch_size) == 2:
                x, y = x[0], y[0]
            if self.augment:
                for ax in range(x.ndim):
                    if self.rng.random() < 0.5:
                        x, y = np.flip(x, ax), np.flip(y, ax)
                x = x * self.rng.uniform(0.9, 1.1) + self.rng.uniform(-0.1, 0.1)
            xs.append(np.ascontiguousarray(x, dtype=np.float32))
            ys.append(np.ascontiguousarray(y, dtype=np.int64))
        return np.stack(xs)[:, None], np.stack(ys)[:, None]


def _split(cases: list[Case], fraction: float, rng: np.random.Generator):
    """Split by patient so a patient's cases are all on one side."""
    patients = list(dict.fromkeys(c.patient_id for c in cases))
    n_val = int(round(fraction * len(patients)))
    if fraction > 0 and len(patients) >= 2:
        n_val = min(max(n_val, 1), len(patients) - 1)
    else:
        n_val = 0
    order = rng.permutation(len(patients))
    val_ids = {patients[i] for i in order[:n_val]}
    return [c for c in cases if c.patient_id not in val_ids], [
        c for c in cases if c.patient_id in val_ids
    ]


def _dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice of two binary arrays via MONAI's DiceMetric (1.0 when both are empty)."""
    require_monai("the Dice metric")
    from monai.metrics import DiceMetric

    metric = DiceMetric(include_background=False, reduction="mean", ignore_empty=False)
    p = torch.from_numpy(pred > 0)[None, None]
    r = torch.from_numpy(ref > 0)[None, None]
    return float(metric(torch.cat([~p, p], 1).float(), torch.cat([~r, r], 1).float()).item())


def train_unet(
    cases: Cohort | Iterable[Any],
    config: UNetConfig | None = None,
    settings: TrainSettings | None = None,
    *,
    preprocessing: Preprocessing | None = None,
    validation: Cohort | Iterable[Any] | None = None,
    progress: bool = True,
    progress_bar: bool | None = None,
    verbose: bool = False,
) -> SegmentationModel:
    """Train a U-Net to segment the cases' masks (label of each case, or any non-zero voxel).

    Loss: Dice + cross-entropy (MONAI ``DiceCELoss``) on softmax outputs. After every
    ``val_every`` epochs the model predicts the validation volumes with Gaussian-blended
    sliding windows and the mean foreground Dice

    .. math:: \\mathrm{Dice} = \\frac{2 |P \\cap R|}{|P| + |R|}

    decides early stopping; the weights of the best validation epoch are returned.

    Parameters
    ----------
    cases
        A :class:`~radiopredict.cohort.Cohort`, Cases, or ``(image, mask)`` pairs.
    config
        Architecture (default: 3D, 16 base filters, depth 3, instance norm).
    settings
        :class:`TrainSettings`.
    preprocessing
        Intensity normalisation and resampling (:class:`Preprocessing`).
    validation
        Explicit validation cases; when omitted ``settings.val_fraction`` of the patients of
        ``cases`` are held out.
    progress
        Show a progress bar per epoch.
    progress_bar
        Deprecated spelling of ``progress``.
    verbose
        Print one line per epoch.

    Returns
    -------
    SegmentationModel
        With ``history`` (one dict per epoch: epoch, loss, val_dice, seconds) and ``training``
        (settings, numbers of cases, best validation Dice) recorded.
    """
    show_progress = resolve_progress(progress, progress_bar, where="train_unet")
    require_monai("U-Net training")
    from monai.losses import DiceCELoss

    settings = settings or TrainSettings()
    config = config or UNetConfig()
    prep = preprocessing or Preprocessing()
    all_cases = as_cases(cases)
    if not all_cases:
        raise ConfigError("no training cases were given", fix="pass a non-empty cohort")
    rng = np.random.default_rng(settings.seed)
    if validation is None:
        train_cases, val_cases = _split(all_cases, settings.val_fraction, rng)
    else:
        train_cases, val_cases = all_cases, as_cases(validation)
    net = build_unet(config, seed=settings.seed)
    model = SegmentationModel(config, prep, settings.patch_size, net=net)

    def load(cs: list[Case]):
        pairs = [load_training_case(c, prep) for c in cs]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    train_imgs, train_msks = load(train_cases)
    val_imgs, val_msks = load(val_cases)
    sampler = PatchSampler(
        train_imgs,
        train_msks,
        tuple(settings.patch_size),
        pos_fraction=settings.pos_fraction,
        augment=settings.augment,
        rng=rng,
    )
    device = resolve_device(settings.device)
    history: list[dict[str, Any]] = []
    with torch_threads(settings.num_threads), seeded(settings.seed):
        net = net.to(device)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        opt = torch.optim.Adam(
            net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        best_dice, best_state, bad = -1.0, None, 0
        t0, c0 = time.perf_counter(), time.process_time()
        for epoch in range(1, settings.max_epochs + 1):
            net.train()
            losses = []
            steps = track(
                range(settings.steps_per_epoch),
                total=settings.steps_per_epoch,
                description=f"epoch {epoch}/{settings.max_epochs}",
                enabled=show_progress,
            )
            for _ in steps:
                xb, yb = sampler.sample(settings.batch_size)
                x = torch.from_numpy(xb).to(device)
                y = torch.from_numpy(yb).to(device)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(x), y)
                loss.backward()
                opt.step()
                losses.append(float(loss.item()))
            row: dict[str, Any] = {"epoch": epoch, "loss": float(np.mean(losses))}
            if val_imgs and epoch % settings.val_every == 0:
                dices = [
                    _dice(
                        model.predict_array(img, device=str(device), overlap=settings.sw_overlap),
                        msk,
                    )
                    for img, msk in zip(val_imgs, val_msks, strict=True)
                ]
                row["val_dice"] = float(np.mean(dices))
                if row["val_dice"] > best_dice:
                    best_dice, bad = row["val_dice"], 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    bad += 1
            row["seconds"] = round(time.perf_counter() - t0, 3)
            row["cpu_seconds"] = round(time.process_time() - c0, 3)
            history.append(row)
            if verbose:
                print(row)
            if val_imgs and bad >= settings.patience:
                break
            if settings.time_budget_s is not None and row["seconds"] >= settings.time_budget_s:
                break
            if settings.cpu_budget_s is not None and row["cpu_seconds"] >= settings.cpu_budget_s:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
    net.cpu().eval()
    model.history = history
    model.training = {
        "settings": settings.to_dict(),
        "n_train": len(train_cases),
        "n_val": len(val_cases),
        "best_val_dice": None if best_state is None else best_dice,
        "epochs": len(history),
        "seconds": history[-1]["seconds"] if history else 0.0,
        "cpu_seconds": history[-1]["cpu_seconds"] if history else 0.0,
    }
    return model
