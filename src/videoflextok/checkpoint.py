"""Model checkpoints on disk: a folder with safetensors weights and a JSON config.

Folder layout (format version 1)::

    config.json          {"format_version": 1, "kind": "<model kind>", "config": {...model config...},
                          "files": {"model.safetensors": {"bytes": n, "sha256": "..."}, ...}, ...}
    model.safetensors    the raw weights (model.state_dict())
    ema.safetensors      optional: the same tensors with every parameter replaced by its EMA value

A model is rebuilt only from our own config dataclass (``from_dict(cls.config_class, ...)``); the
``kind`` string in the file is compared against the class, never used to pick one. Nothing is unpickled.
A truncated, tampered or mismatched folder raises :class:`~videoflextok.errors.CheckpointError` with one
sentence. Folders are written atomically (:func:`videoflextok.atomic.atomic_folder`); the weights are read through
:mod:`videoflextok.safetensors_io`, which checks a file's header before loading it.

This module sits below the models (tokenizer/vae/generator call it from thin ``save_pretrained`` /
``from_pretrained`` methods); the training-state half of a training checkpoint lives in ``train/``.
"""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from videoflextok.atomic import atomic_folder, file_digest
from videoflextok.config import from_dict, to_dict
from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.safetensors_io import read_safetensors, write_safetensors

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"

M = TypeVar("M", bound=nn.Module)

def weights_fingerprint(model: nn.Module, parts: tuple[str, ...] = (), extra: Any = None) -> str:
    """16 hex digits naming a model's weights: SHA-256 over ``extra`` (as JSON) and the floating-point tensors of
    ``model.state_dict()`` whose first name part is in ``parts`` (all when empty), each as float32 and at most 4096
    evenly spaced values of it, so it takes milliseconds at every size."""
    digest = hashlib.sha256(json.dumps(extra).encode())
    for name, tensor in sorted(model.state_dict().items()):
        if (not parts or name.split(".")[0] in parts) and tensor.is_floating_point():
            flat = tensor.detach().reshape(-1)
            values = flat[:: max(1, flat.numel() // 4096)][:4096].float().cpu().contiguous()
            digest.update(name.encode())
            digest.update(values.numpy().tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------
# config.json


def model_kind(obj: Any) -> str:
    """The kind string stored in config.json: ``checkpoint_kind`` of the class, else its class name."""
    cls = obj if isinstance(obj, type) else type(obj)
    return getattr(cls, "checkpoint_kind", None) or cls.__name__


def config_class_of(cls: type) -> type:
    """The config dataclass of a model class: ``cls.config_class``, else the annotation of ``__init__(config)``."""
    found = getattr(cls, "config_class", None)
    if found is None:
        found = typing.get_type_hints(cls.__init__).get("config")
    if found is None:
        raise TypeError(f"{cls.__name__} has no config_class and no annotated 'config' argument")
    return found


def read_checkpoint_config(folder: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a checkpoint folder (format version, kind, config, files)."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"'{folder}' is not a checkpoint folder (no {CONFIG_FILE}).")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"checkpoint config '{path}' is not valid JSON.") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"checkpoint config '{path}' lacks the model config.")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{folder}' has format version {version!r}; this code reads version {FORMAT_VERSION}."
        )
    return meta


def verify_files(folder: str | Path, meta: Mapping[str, Any], names: list[str], full: bool = True) -> None:
    """Check sizes (always) and SHA-256 digests (when ``full``) of files listed in config.json."""
    folder = Path(folder)
    files = meta.get("files", {})
    for name in names:
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint '{folder}' is missing '{name}'.")
        ref = files.get(name)
        if not isinstance(ref, dict):
            raise CheckpointError(f"checkpoint '{folder}' does not list '{name}' in its {CONFIG_FILE}.")
        if path.stat().st_size != ref.get("bytes"):
            raise CheckpointError(f"checkpoint file '{path}' has the wrong size (truncated or modified).")
        if full and file_digest(path)["sha256"] != ref.get("sha256"):
            raise CheckpointError(f"checkpoint file '{path}' does not match its recorded SHA-256 (modified).")


# ----------------------------------------------------------------------------------------------------
# save / load


def write_model_files(
    folder: Path,
    model: nn.Module,
    state: Mapping[str, torch.Tensor] | None = None,
    ema: Mapping[str, torch.Tensor] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write model.safetensors (+ ema.safetensors) and config.json into an existing (temp) folder.

    ``state`` defaults to ``model.state_dict()``; ``ema`` maps parameter names to EMA values (buffers and
    missing names are taken from ``state``). Raises CheckpointError when a tensor is not finite.
    """
    state = dict(model.state_dict() if state is None else state)
    _check_finite(state, "weights")
    write_safetensors(state, folder / MODEL_FILE)
    files = [MODEL_FILE]
    if ema:
        _check_finite(ema, "EMA weights")
        write_safetensors({k: ema.get(k, v) for k, v in state.items()}, folder / EMA_FILE)
        files.append(EMA_FILE)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": model_kind(model),
        "config": to_dict(model.config),
        "files": {name: file_digest(folder / name) for name in files},
        **(dict(extra) if extra else {}),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2))


def _check_finite(state: Mapping[str, torch.Tensor], what: str) -> None:
    for name, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"refusing to save non-finite {what}: tensor '{name}' holds NaN or Inf.")


def save_pretrained(
    model: nn.Module, folder: str | Path, ema: Mapping[str, torch.Tensor] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and optional EMA weights) to ``folder`` atomically; returns the folder path.

    ``model`` needs a dataclass ``.config``. ``ema``: {param name: tensor} (e.g. ``EMA.state_dict()``).
    """
    folder = Path(folder)
    with atomic_folder(folder) as tmp:
        write_model_files(tmp, model, ema=ema, extra=extra)
    return folder


def resolve_checkpoint_folder(folder: str | Path) -> Path:
    """A checkpoint folder, or a training run folder (then its latest complete checkpoint)."""
    folder = Path(folder)
    if not folder.exists():
        raise CheckpointError(f"checkpoint folder '{folder}' does not exist.")
    if (folder / CONFIG_FILE).is_file():
        return folder
    ckpts = folder / "checkpoints"
    if ckpts.is_dir():  # step_* folders appear only when complete (atomic rename); the newest wins
        done = sorted(p for p in ckpts.glob("step_*") if (p / CONFIG_FILE).is_file())
        if done:
            return done[-1]
    raise CheckpointError(f"'{folder}' is neither a checkpoint folder nor a run folder with checkpoints.")


def load_pretrained(
    cls: type[M], folder: str | Path, use_ema: bool = True, device: str | torch.device = "cpu", verify: bool = True
) -> M:
    """Build ``cls(config)`` from config.json and load its weights (EMA weights when present and ``use_ema``).

    ``folder``: a checkpoint folder or a run folder (its latest checkpoint is used). ``verify``: check the
    SHA-256 digests recorded in config.json (file sizes are always checked). Works offline.
    """
    folder = resolve_checkpoint_folder(folder)
    meta = read_checkpoint_config(folder)
    if meta.get("kind") != model_kind(cls):
        raise CheckpointError(f"checkpoint '{folder}' holds a '{meta.get('kind')}' model, not a '{model_kind(cls)}'.")
    try:
        config = from_dict(config_class_of(cls), meta["config"])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint '{folder}' has an invalid model config: {exc}") from None
    model = cls(config)
    name = EMA_FILE if use_ema and (folder / EMA_FILE).is_file() else MODEL_FILE
    verify_files(folder, meta, [name], full=verify)
    state = read_safetensors(folder / name, expected=model.state_dict(), device="cpu")
    model.load_state_dict(state, strict=True)
    return model.to(device)
