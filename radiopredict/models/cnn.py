"""Supervised CNNs on ROI crops with the scikit-learn API (``pip install 'radiopredict[deep]'``).

:class:`CNNClassifier` (binary: diagnosis normal/abnormal, treatment response) and
:class:`CNNSurvival` (Cox partial likelihood) train a small ResNet on ROI-centred crops.

**What X is.** ``X`` is an array of crops, either 5-D ``(n, channels, z, y, x)`` as returned by
:func:`cohort_crops` (itself :func:`radiopredict.embed.case_crop` over a cohort), or 2-D
``(n, channels * z * y * x)`` (the same crops flattened, with ``input_shape`` set), so the
estimators work in :func:`sklearn.model_selection.cross_val_predict`, ``Pipeline`` and
``GridSearchCV``: scikit-learn only indexes the first axis. The crops are computed once per
cohort; every fit (each outer and inner fold) trains on its own rows only.

**Network.** ``architecture="resnet"`` is MONAI's ResNet (basic blocks, ``blocks`` per stage,
stem stride 2) in 3D; ``mode="2.5d"`` runs the same network in 2D on the ``n_slices`` adjacent
axial slices through the crop centre stacked as channels. ``architecture="resnet3d"`` is the
project's :class:`~radiopredict.embed.ResNet3D` (full-resolution stem, slower), whose weights
can come from a :class:`~radiopredict.embed.ResNetEncoder` checkpoint, e.g. one trained by
:func:`~radiopredict.embed.train_autoencoder`. A dropout + linear head gives one logit
(classifier) or one log-hazard (survival); :meth:`transform` returns the penultimate (pooled)
embedding for intermediate fusion.

**Training.** Adam with weight decay on mini-batches; MONAI augmentation (random flips, small
rotations, intensity shifts); an inner validation split (``validation_fraction``, stratified)
with early stopping on the validation loss (``patience`` epochs), keeping the best weights; a
CPU-time budget (``time_budget_s``, process CPU seconds, all threads); ``device="auto"`` uses
CUDA when available. With the same ``random_state`` a CPU fit is deterministic.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from radiopredict._torch import require_torch
from radiopredict.errors import ConfigError, RadiopredictError
from radiopredict.models._baseline import BreslowBaseline
from radiopredict.models.survival import SurvivalMixin
from radiopredict.targets import check_binary_target, check_survival_target

__all__ = ["CNNClassifier", "CNNSurvival", "cohort_crops", "cox_partial_likelihood"]

_ARCHITECTURES = ("resnet", "resnet3d")
_MODES = ("3d", "2.5d")

torch = require_torch("the CNN estimators")


class _Net(torch.nn.Module):
    """Backbone (pooled features) -> dropout -> one linear output."""

    def __init__(self, backbone, dim: int, dropout: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.drop = torch.nn.Dropout(float(dropout))
        self.head = torch.nn.Linear(int(dim), 1)

    def embed(self, x):
        return self.backbone(x)

    def forward(self, x):
        return self.head(self.drop(self.backbone(x)))


def cohort_crops(
    cases: Any,
    crop: Any = None,
    *,
    on_error: str = "raise",
) -> np.ndarray:
    """The ROI crops of a cohort stacked into ``X`` for the CNN estimators.

    Parameters
    ----------
    cases
        A :class:`~radiopredict.cohort.Cohort`, or an iterable of Cases / ``(image, mask)``
        pairs; every case needs a mask (the ROI).
    crop
        :class:`~radiopredict.embed.CropSettings` (default: 64 mm, 32^3 voxels).
    on_error
        ``"raise"`` stops at the first failing case. ``"record"`` fills the failing case's crop
        with NaN and lists the failures in the error raised at the end, after every good case is
        cropped; the CNN estimators reject NaN crops.

    Returns
    -------
    numpy.ndarray
        ``(n_cases, channels, z, y, x)`` float32, in the order of the cases.
    """
    from radiopredict.embed.crops import CropSettings, case_crop
    from radiopredict.imaging.cases import as_cases

    crop = crop or CropSettings()
    if on_error not in ("raise", "record"):
        raise ConfigError(
            f"on_error must be 'raise' or 'record', got {on_error!r}",
            fix="use on_error='record' to collect failing cases, or 'raise' to stop at the first",
        )
    case_list = as_cases(cases)
    out = np.full((len(case_list), crop.channels, *crop.shape[::-1]), np.nan, np.float32)
    failures = []
    for i, case in enumerate(case_list):
        try:
            out[i] = case_crop(case, crop)
        except RadiopredictError as exc:
            if on_error == "raise":
                raise
            failures.append(f"{case.patient_id}: {exc}")
    if failures:
        raise ConfigError(
            f"{len(failures)} of {len(case_list)} case(s) could not be cropped: "
            + " | ".join(failures[:5]),
            fix="fix or drop these cases (see each message), then crop again",
        )
    return out


def cox_partial_likelihood(log_hazard, event, time):
    """Negative Breslow partial log-likelihood of a batch (torch tensors), mean over events.

    .. math::
        \\ell = -\\frac{1}{\\sum_i \\delta_i} \\sum_{i: \\delta_i = 1} \\left[ g_i
        - \\log \\sum_{j: T_j \\ge T_i} e^{g_j} \\right]

    With tied times the risk set of :math:`i` holds every :math:`j` with :math:`T_j \\ge T_i`
    (Breslow). Returns 0 (with a gradient) when the batch has no event.
    """
    import torch

    order = torch.argsort(time, descending=True, stable=True)
    g, ev, t = log_hazard[order], event[order].to(log_hazard.dtype), time[order]
    # index of the last member of each tie group in descending order: its prefix is the risk set
    last = torch.searchsorted(-t, -t, right=True) - 1
    log_risk = torch.logcumsumexp(g, dim=0)[last]
    n_events = ev.sum()
    if float(n_events) == 0:
        return (g * 0.0).sum()
    return -((g - log_risk) * ev).sum() / n_events


class _CNNBase(BaseEstimator):
    """Shared parameters, network, data handling and training loop."""

    _task = "binary"

    def __init__(
        self,
        *,
        architecture: str = "resnet",
        mode: str = "3d",
        n_slices: int = 5,
        base_width: int = 8,
        blocks: Sequence[int] = (1, 1, 1, 1),
        norm: str = "batch",
        dropout: float = 0.2,
        epochs: int = 40,
        batch_size: int = 16,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.2,
        patience: int = 8,
        augment: bool = True,
        time_budget_s: float | None = 300.0,
        device: str = "auto",
        init_weights: str | os.PathLike[str] | None = None,
        input_shape: Sequence[int] | None = None,
        num_threads: int | None = 1,
        random_state: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.architecture = architecture
        self.mode = mode
        self.n_slices = n_slices
        self.base_width = base_width
        self.blocks = blocks
        self.norm = norm
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.augment = augment
        self.time_budget_s = time_budget_s
        self.device = device
        self.init_weights = init_weights
        self.input_shape = input_shape
        self.num_threads = num_threads
        self.random_state = random_state
        self.verbose = verbose

    # --- parameters and data ---------------------------------------------------------------

    def _check_params(self) -> None:
        problems = []
        if self.architecture not in _ARCHITECTURES:
            problems.append(
                f"architecture must be one of {_ARCHITECTURES}, got {self.architecture!r}"
            )
        if self.mode not in _MODES:
            problems.append(f"mode must be one of {_MODES}, got {self.mode!r}")
        if self.mode == "2.5d" and self.architecture != "resnet":
            problems.append("mode='2.5d' needs architecture='resnet' (MONAI's ResNet in 2D)")
        if int(self.n_slices) < 1 or int(self.n_slices) % 2 == 0:
            problems.append(f"n_slices must be an odd integer >= 1, got {self.n_slices!r}")
        if int(self.base_width) < 1 or not len(self.blocks) or min(self.blocks) < 1:
            problems.append("base_width must be >= 1 and blocks a non-empty list of ints >= 1")
        if self.architecture == "resnet" and len(self.blocks) != 4:
            problems.append(f"architecture='resnet' has 4 stages, got blocks={self.blocks!r}")
        if self.norm not in ("batch", "instance"):
            problems.append(f"norm must be 'batch' or 'instance', got {self.norm!r}")
        if not 0 <= float(self.dropout) < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        if int(self.epochs) < 1 or int(self.batch_size) < 2:
            problems.append("epochs must be >= 1 and batch_size >= 2")
        if not 0 <= float(self.validation_fraction) < 0.5:
            problems.append(
                f"validation_fraction must be in [0, 0.5), got {self.validation_fraction!r}"
            )
        if int(self.patience) < 1:
            problems.append(f"patience must be >= 1, got {self.patience!r}")
        if self.time_budget_s is not None and float(self.time_budget_s) <= 0:
            problems.append(f"time_budget_s must be > 0 or None, got {self.time_budget_s!r}")
        if problems:
            raise ConfigError(
                "invalid CNN settings: " + "; ".join(problems),
                fix="see the parameters of CNNClassifier / CNNSurvival",
            )

    def _crops(self, X, *, fitting: bool) -> np.ndarray:
        """``X`` as a float32 array ``(n, C, z, y, x)``; checks it against the fitted shape."""
        arr = np.asarray(X, dtype=np.float32)
        if arr.ndim == 2:
            if self.input_shape is None:
                raise ConfigError(
                    f"X is 2-D {arr.shape}: flattened crops need input_shape=(channels, z, y, x)",
                    fix="pass the 5-D crops from cohort_crops(), or set input_shape",
                )
            shape = tuple(int(v) for v in self.input_shape)
            if len(shape) != 4 or int(np.prod(shape)) != arr.shape[1]:
                raise ConfigError(
                    f"input_shape {self.input_shape!r} does not fit rows of {arr.shape[1]} values",
                    fix="input_shape must be (channels, z, y, x) with product = columns of X",
                )
            arr = arr.reshape((arr.shape[0], *shape))
        if arr.ndim != 5:
            raise ConfigError(
                f"X must hold crops (n, channels, z, y, x), got an array of shape {arr.shape}",
                fix="build X with radiopredict.models.cohort_crops(cohort, CropSettings(...))",
            )
        if arr.shape[0] == 0:
            raise ConfigError("X holds no crop", fix="pass at least one case")
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
            raise ConfigError(
                f"crops at rows {bad[:10].tolist()} hold NaN or infinite values",
                fix="recompute the crops of these cases (cohort_crops) or drop them",
            )
        if self.mode == "2.5d" and arr.shape[2] < int(self.n_slices):
            raise ConfigError(
                f"mode='2.5d' takes {self.n_slices} axial slices but the crops have {arr.shape[2]}",
                fix="lower n_slices or use crops with more z voxels",
            )
        if not fitting and tuple(arr.shape[1:]) != self.crop_shape_:
            raise ConfigError(
                f"crops of shape {tuple(arr.shape[1:])} but the network was trained on "
                f"{self.crop_shape_}",
                fix="crop the new cases with the CropSettings used for training",
            )
        return arr

    def _network_input(self, torch, x):
        """3-D crops, or the ``n_slices`` central axial slices as channels (2.5D)."""
        if self.mode == "3d":
            return x
        k = int(self.n_slices)
        c = x.shape[2] // 2
        sl = x[:, :, c - k // 2 : c + k // 2 + 1]  # (n, C, k, y, x)
        return sl.reshape(x.shape[0], x.shape[1] * k, x.shape[3], x.shape[4])

    # --- network ---------------------------------------------------------------------------

    def _build(self, torch, channels: int):
        if self.architecture == "resnet":
            from radiopredict._torch import require_monai

            require_monai("the CNN estimators")
            from monai.networks.nets import ResNet

            w = int(self.base_width)
            in_ch = channels * (int(self.n_slices) if self.mode == "2.5d" else 1)
            backbone = ResNet(
                "basic",
                [int(b) for b in self.blocks],
                [w, 2 * w, 4 * w, 8 * w],
                spatial_dims=3 if self.mode == "3d" else 2,
                n_input_channels=in_ch,
                conv1_t_size=3,
                conv1_t_stride=2,
                no_max_pool=True,
                feed_forward=False,
                norm=("instance", {"affine": True}) if self.norm == "instance" else "batch",
            )
            dim = 8 * w
            target_layer = "backbone.layer4"
        else:
            from radiopredict.embed.encoders import ResNet3D, ResNetConfig

            cfg = ResNetConfig(
                in_channels=channels,
                base_width=int(self.base_width),
                blocks=tuple(int(b) for b in self.blocks),
            )
            backbone = ResNet3D(cfg)
            dim = cfg.embedding_dim
            target_layer = "backbone.stages"

        net = _Net(backbone, dim, float(self.dropout))
        if self.init_weights is not None:
            self._load_init(net)
        return net, dim, target_layer

    def _load_init(self, net) -> None:
        from radiopredict._torch import load_state_dict_file, load_weights_into

        state = load_state_dict_file(self.init_weights)
        if set(state) == set(net.state_dict()):
            load_weights_into(net, state, source=str(self.init_weights))
        else:  # a backbone-only checkpoint, e.g. ResNetEncoder.save() for architecture="resnet3d"
            load_weights_into(net.backbone, state, source=str(self.init_weights))

    def _augmenter(self):
        from monai.transforms import Compose, RandFlip, RandRotate, RandShiftIntensity

        angle = 0.26  # about 15 degrees
        aug = Compose(
            [
                RandFlip(prob=0.5, spatial_axis=2),  # left-right
                RandFlip(prob=0.5, spatial_axis=1),
                RandRotate(
                    range_x=angle, range_y=angle, range_z=angle, prob=0.5, padding_mode="border"
                ),
                RandShiftIntensity(offsets=0.1, prob=0.5),
            ]
        )
        aug.set_random_state(seed=None if self.random_state is None else int(self.random_state))
        return aug

    # --- training --------------------------------------------------------------------------

    def _split(self, n: int, strata: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(n)
        frac = float(self.validation_fraction)
        if frac == 0 or n < 10:
            return idx, idx[:0]
        try:
            tr, va = train_test_split(
                idx, test_size=frac, stratify=strata, random_state=self.random_state
            )
        except ValueError:  # a class too small to stratify
            tr, va = train_test_split(idx, test_size=frac, random_state=self.random_state)
        return np.sort(tr), np.sort(va)

    def _loss(self, torch, out, target):
        raise NotImplementedError

    def _fit(self, X, targets: np.ndarray, strata: np.ndarray):
        """Train on crops ``X`` with per-row ``targets`` (float, shape (n,) or (n, 2))."""
        from radiopredict._torch import require_torch, resolve_device, seeded, torch_threads

        torch = require_torch("the CNN estimators")
        self._check_params()
        crops = self._crops(X, fitting=True)
        self.crop_shape_ = tuple(int(s) for s in crops.shape[1:])
        dev = resolve_device(self.device)
        tr, va = self._split(len(crops), strata)
        rng = np.random.default_rng(self.random_state)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        budget = None if self.time_budget_s is None else float(self.time_budget_s)
        history: list[dict[str, float]] = []
        stopped_by = "epochs"
        with seeded(self.random_state), torch_threads(self.num_threads):
            net, dim, layer = self._build(torch, crops.shape[1])
            net = net.to(dev)
            opt = torch.optim.Adam(
                net.parameters(),
                lr=float(self.learning_rate),
                weight_decay=float(self.weight_decay),
            )
            aug = self._augmenter() if self.augment else None
            y_all = torch.as_tensor(targets, dtype=torch.float32)
            best, best_state, wait = np.inf, None, 0
            bs = int(self.batch_size)
            for epoch in range(int(self.epochs)):
                net.train()
                order = rng.permutation(tr)
                if len(order) > bs and len(order) % bs == 1:
                    order = order[:-1]  # batch norm needs >= 2 samples per batch
                losses = []
                for start in range(0, len(order), bs):
                    b = order[start : start + bs]
                    xb = crops[b]
                    if aug is not None:
                        xb = np.stack([np.asarray(aug(x), dtype=np.float32) for x in xb])
                    x = self._network_input(torch, torch.from_numpy(np.ascontiguousarray(xb)))
                    opt.zero_grad()
                    loss = self._loss(torch, net(x.to(dev)).squeeze(1), y_all[b].to(dev))
                    loss.backward()
                    opt.step()
                    losses.append(float(loss.detach()))
                    if budget is not None and time.process_time() - cpu0 > budget:
                        stopped_by = "time_budget"
                        break
                record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses))}
                if len(va):
                    out = self._predict_raw(torch, net, crops[va], dev)
                    val = float(self._loss(torch, torch.from_numpy(out), y_all[va]))
                    record["val_loss"] = val
                    if val < best - 1e-4:
                        best, wait = val, 0
                        best_state = copy.deepcopy(net.state_dict())
                    else:
                        wait += 1
                history.append(record)
                if self.verbose:
                    print(record, flush=True)
                if not np.isfinite(record["train_loss"]):
                    raise ConfigError(
                        "CNN training diverged (loss is not finite)",
                        fix="lower learning_rate or check the crops' intensity normalisation",
                    )
                if stopped_by == "time_budget":
                    break
                if len(va) and wait >= int(self.patience):
                    stopped_by = "early_stopping"
                    break
            if best_state is not None:
                net.load_state_dict(best_state)
            net = net.cpu().eval()
        self.net_ = net
        self.embedding_dim_ = int(dim)
        self.target_layer_ = layer
        self.history_ = history
        self.stopped_by_ = stopped_by
        self.n_epochs_ = len(history)
        self.fit_cpu_seconds_ = time.process_time() - cpu0
        self.fit_wall_seconds_ = time.perf_counter() - wall0
        self.validation_indices_ = va
        return crops

    def _predict_raw(self, torch, net, crops: np.ndarray, dev, *, embed: bool = False):
        was_training = net.training
        net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(crops), 64):
                x = self._network_input(
                    torch, torch.from_numpy(np.ascontiguousarray(crops[start : start + 64]))
                ).to(dev)
                y = net.embed(x) if embed else net(x).squeeze(1)
                out.append(y.float().cpu().numpy())
        net.train(was_training)
        return np.concatenate(out).astype(np.float64)

    def _forward(self, X, *, embed: bool = False) -> np.ndarray:
        from radiopredict._torch import require_torch, resolve_device, torch_threads

        torch = require_torch("the CNN estimators")
        check_is_fitted(self, "net_")
        crops = self._crops(X, fitting=False)
        dev = resolve_device(self.device)
        with torch_threads(self.num_threads):
            net = self.net_.to(dev)
            try:
                return self._predict_raw(torch, net, crops, dev, embed=embed)
            finally:
                self.net_.cpu()

    def transform(self, X) -> np.ndarray:
        """Penultimate-layer embedding (pooled backbone features), ``(n, embedding_dim_)``."""
        return self._forward(X, embed=True)

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit, then the training embeddings (intermediate fusion in a ``Pipeline``)."""
        return self.fit(X, y, **fit_params).transform(X)

    def save_weights(self, path: str | os.PathLike[str]):
        """Write the trained network as ``<path>.safetensors`` + ``<path>.json``.

        The ``.safetensors`` file can be passed back as ``init_weights`` (same architecture).
        """
        from radiopredict._torch import save_checkpoint

        check_is_fitted(self, "net_")
        config = {
            "kind": f"radiopredict.{type(self).__name__}",
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._cfg().items()},
            "crop_shape": list(self.crop_shape_),
        }
        return save_checkpoint(path, self.net_.state_dict(), config)

    def _cfg(self) -> dict[str, Any]:
        keys = ("architecture", "mode", "n_slices", "base_width", "blocks", "dropout")
        return {k: getattr(self, k) for k in keys}


class CNNClassifier(ClassifierMixin, TransformerMixin, _CNNBase):
    """Binary CNN classifier on ROI crops (diagnosis normal/abnormal, treatment response).

    Trained on the binary cross-entropy of its logit :math:`f_\\theta(x)`,
    :math:`-[y \\log \\sigma(f) + (1 - y) \\log(1 - \\sigma(f))]`.
    ``decision_function`` is the logit, ``predict_proba`` :math:`\\sigma(f)`, ``transform`` the
    penultimate embedding. See the module docstring for ``X`` and the training loop.

    Parameters
    ----------
    architecture
        ``"resnet"`` (MONAI ResNet, stem stride 2; default) or ``"resnet3d"`` (the project's
        :class:`~radiopredict.embed.ResNet3D`, full-resolution stem, slower).
    mode
        ``"3d"`` or ``"2.5d"`` (``n_slices`` adjacent axial slices as channels, 2-D network).
    n_slices
        Odd number of axial slices for ``mode="2.5d"``.
    base_width, blocks
        Channels of the first stage (doubled at each stage) and residual blocks per stage.
    norm
        Normalisation of MONAI's ResNet: ``"batch"`` (default) or ``"instance"`` (affine).
    dropout
        Dropout before the linear head.
    epochs, batch_size, learning_rate, weight_decay
        Adam training settings.
    validation_fraction, patience
        Inner validation split (stratified) and early stopping patience (epochs); the weights of
        the best validation loss are kept. ``validation_fraction=0`` trains for ``epochs``. On
        small cohorts the validation loss is noisy and the network often learns late: on the
        synthetic diagnosis task (one fold, 160 training cases) early stopping stopped at 28-31
        epochs with held-out AUC 0.69, a fixed 40 epochs without it gave 0.95 (docs/cnn.md).
    augment
        MONAI random flips, rotations up to about 15 degrees and intensity shifts.
    time_budget_s
        Process CPU seconds (all threads) after which training stops (``None``: no limit).
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    init_weights
        Local checkpoint (``.safetensors`` or ``.pt`` state dict, never downloaded): the whole
        network (from :meth:`save_weights`) or the backbone only (e.g. a
        :class:`~radiopredict.embed.ResNetEncoder` checkpoint with ``architecture="resnet3d"``).
    input_shape
        ``(channels, z, y, x)`` when ``X`` is 2-D (flattened crops).
    num_threads
        torch CPU threads during fit and predict.
    random_state
        Seed of weights, batches, augmentation and the validation split.
    verbose
        Print one line per epoch.

    Attributes
    ----------
    classes_, net_, history_, stopped_by_, n_epochs_, fit_cpu_seconds_, embedding_dim_
    """

    def fit(self, X, y) -> CNNClassifier:
        y = np.asarray(y)
        classes = np.unique(y)
        if len(classes) != 2:
            raise ConfigError(
                f"CNNClassifier is binary and needs 2 classes in y, got {classes.tolist()}",
                fix="pass a 0/1 target (e.g. cohort.binary_target())",
            )
        if len(y) != len(X):
            raise ConfigError(f"X has {len(X)} rows but y has {len(y)}", fix="align X and y")
        self.classes_ = classes
        y01 = check_binary_target((y == classes[1]).astype(int))
        self._fit(X, y01.astype(np.float32), y01)
        return self

    def _loss(self, torch, out, target):
        return torch.nn.functional.binary_cross_entropy_with_logits(out, target)

    def decision_function(self, X) -> np.ndarray:
        """Logit of the positive class (``classes_[1]``)."""
        return self._forward(X)

    def predict_proba(self, X) -> np.ndarray:
        from scipy.special import expit

        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class CNNSurvival(SurvivalMixin, TransformerMixin, _CNNBase):
    """CNN risk model on ROI crops trained on the Cox partial likelihood.

    Each mini-batch minimises :func:`cox_partial_likelihood` of the network output
    :math:`g_\\theta(x)` (risk sets within the batch); ``predict`` gives the log-hazard
    (higher = worse) and :meth:`predict_survival_function` uses the Breslow baseline
    (:class:`~radiopredict.models._baseline.BreslowBaseline`) fitted on the training
    predictions. Parameters are those of :class:`CNNClassifier`; batches without an event
    add no gradient.

    Attributes
    ----------
    net_, baseline_, history_, stopped_by_, n_epochs_, fit_cpu_seconds_, embedding_dim_
    """

    def fit(self, X, y) -> CNNSurvival:
        event, time_ = check_survival_target(y)
        if len(time_) != len(X):
            raise ConfigError(f"X has {len(X)} rows but y has {len(time_)}", fix="align X and y")
        targets = np.column_stack([event.astype(np.float32), time_.astype(np.float32)])
        crops = self._fit(X, targets, event.astype(int))
        from radiopredict._torch import torch_threads

        with torch_threads(self.num_threads):
            risk = self._predict_raw(torch, self.net_, crops, torch.device("cpu"))
        self.baseline_ = BreslowBaseline().fit(risk, event, time_)
        return self

    def _loss(self, torch, out, target):
        return cox_partial_likelihood(out, target[:, 0], target[:, 1])

    def predict(self, X) -> np.ndarray:
        """Log-hazard :math:`g_\\theta(x)` (higher = worse)."""
        return self._forward(X)
