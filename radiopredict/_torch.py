"""Shared torch helpers: lazy import, device choice, seeding, threads and safe checkpoint I/O.

Everything that touches torch imports it through :func:`require_torch`, so that the core
package imports without the ``deep`` extra and fails with a message naming the extra only when a
deep-learning feature is used.

Checkpoints are never unpickled: weights are stored as safetensors next to a JSON config, and
user ``.pt``/``.pth`` files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from radiopredict._optional import optional_import
from radiopredict.errors import ConfigError, ImageReadError, InputFileNotFoundError
from radiopredict.parallel import track

__all__ = [
    "require_torch",
    "require_monai",
    "resolve_device",
    "seeded",
    "torch_threads",
    "save_checkpoint",
    "load_checkpoint",
    "load_state_dict_file",
    "load_weights_into",
    "state_dict_hash",
    "progress",
]

CONFIG_SUFFIX = ".json"
WEIGHTS_SUFFIX = ".safetensors"


def require_torch(purpose: str = "deep-learning features"):
    """Import torch or raise :class:`~radiopredict.errors.MissingDependencyError` (extra ``deep``)."""
    return optional_import("torch", extra="deep", purpose=purpose)


def require_monai(purpose: str = "deep-learning features"):
    """Import MONAI or raise :class:`~radiopredict.errors.MissingDependencyError`."""
    return optional_import("monai", extra="deep", purpose=purpose)


def resolve_device(device: str | Any = "auto"):
    """Return a ``torch.device``: ``"auto"`` picks CUDA when available, else CPU.

    Parameters
    ----------
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``.
    """
    torch = require_torch()
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was requested but CUDA is not available",
            fix="use device='auto' or device='cpu'",
        )
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(
            f"unknown device {device!r} ({exc})", fix="use 'auto', 'cpu' or 'cuda'"
        ) from exc


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the previous RNG state afterwards."""
    torch = require_torch()
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Limit torch's intra-op CPU threads to ``n`` inside the block (``None``: leave as is)."""
    torch = require_torch()
    if n is None:
        yield
        return
    if int(n) < 1:
        raise ConfigError(f"num_threads must be >= 1, got {n}", fix="pass a positive integer")
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


progress = track  # the one progress bar (radiopredict.parallel.track)


def state_dict_hash(state_dict: Mapping[str, Any]) -> str:
    """SHA-256 of a state dict's names, shapes, dtypes and values (stable across runs)."""
    torch = require_torch()
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (CONFIG_SUFFIX, WEIGHTS_SUFFIX):
        p = p.with_suffix("")
    return p.with_suffix(WEIGHTS_SUFFIX), p.with_suffix(CONFIG_SUFFIX)


def save_checkpoint(
    path: str | os.PathLike[str], state_dict: Mapping[str, Any], config: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write ``<path>.safetensors`` (weights) and ``<path>.json`` (config + weights hash).

    Returns
    -------
    (weights_path, config_path)
    """
    from safetensors.torch import save_file

    weights_path, config_path = _paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    save_file(tensors, str(weights_path))
    payload = dict(config)
    payload["weights_sha256"] = state_dict_hash(tensors)
    config_path.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return weights_path, config_path


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`; check files and weights hash.

    Returns
    -------
    (state_dict, config)

    Raises
    ------
    InputFileNotFoundError
        When the weights or config file is missing.
    ImageReadError
        When a file is corrupted or the weights do not match the hash stored in the config.
    """
    weights_path, config_path = _paths(path)
    for p in (weights_path, config_path):
        if not p.is_file():
            raise InputFileNotFoundError(
                "checkpoint file not found",
                path=p,
                fix="a checkpoint is a pair <name>.safetensors + <name>.json written by "
                "model.save(); pass the path of either file",
            )
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImageReadError(
            f"checkpoint config is not valid JSON ({exc})",
            path=config_path,
            fix="restore the file from the training run or retrain the model",
        ) from exc
    state_dict = load_state_dict_file(weights_path)
    expected = config.get("weights_sha256")
    if expected is not None and state_dict_hash(state_dict) != expected:
        raise ImageReadError(
            "checkpoint weights do not match the hash recorded in its config (the file was "
            "modified, truncated or paired with another model's config)",
            path=weights_path,
            fix="use the .safetensors and .json files written together by the same save()",
        )
    return state_dict, config


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load tensors from ``.safetensors`` or a ``.pt``/``.pth`` file without unpickling code.

    ``.pt`` files are read with ``torch.load(weights_only=True)``; a file holding a dict with a
    ``"state_dict"`` or ``"model"`` entry is unwrapped.
    """
    torch = require_torch()
    p = Path(path)
    if not p.is_file():
        raise InputFileNotFoundError(
            "weights file not found", path=p, fix="check the path of the checkpoint"
        )
    try:
        if p.suffix == WEIGHTS_SUFFIX:
            from safetensors.torch import load_file

            state = load_file(str(p), device="cpu")
        else:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors/pickle raise many types on corrupted files
        raise ImageReadError(
            f"cannot read weights ({type(exc).__name__}: {exc})",
            path=p,
            fix="the file is corrupted or not a weights file; weights must be a safetensors "
            "file or a plain state dict saved with torch.save(model.state_dict(), path)",
        ) from exc
    if isinstance(state, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in state and isinstance(state[key], Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ImageReadError(
            "the weights file does not hold a mapping of parameter names to tensors",
            path=p,
            fix="save weights with torch.save(model.state_dict(), path) or safetensors",
        )
    return dict(state)


def load_weights_into(module, state_dict: Mapping[str, Any], *, source: str | None = None) -> None:
    """Copy ``state_dict`` into ``module``, failing with every missing, extra or misshapen name.

    Raises
    ------
    ConfigError
        Listing missing and unexpected parameter names and shape mismatches.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state_dict))
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es): " + "; ".join(shapes[:5]))
        if missing:
            parts.append(f"{len(missing)} missing parameter(s): {missing[:5]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected parameter(s): {unexpected[:5]}")
        raise ConfigError(
            "checkpoint does not fit the network: " + " | ".join(parts),
            path=source,
            fix="build the network with the configuration the checkpoint was trained with "
            "(depth, width, channels, spatial dims)",
        )
    module.load_state_dict(state_dict, strict=True)
