"""Model checkpoints on disk: a folder with safetensors weights and a JSON config.

Folder layout (format version 1)::

    config.json          {"format_version": 1, "kind": "<model kind>", "config": {...model config...},
                          "files": {"model.safetensors": {"bytes": n, "sha256": "..."}, ...}, ...}
    model.safetensors    the raw weights (model.state_dict())
    ema.safetensors      optional: the same tensors with every parameter replaced by its EMA value

A model is rebuilt only from our own config dataclass (``from_dict(cls.config_class, ...)``); the
``kind`` string in the file is compared against the class, never used to pick one. Nothing is unpickled.
A truncated, tampered or mismatched folder raises :class:`~videoflextok.errors.CheckpointError` with one
sentence. Folders are written atomically: into a temp folder beside the target, files fsynced, renamed.

This module sits below the models (tokenizer/vae/generator call it from thin ``save_pretrained`` /
``from_pretrained`` methods); the training-state half of a training checkpoint lives in ``train/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import struct
import tempfile
import typing
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from videoflextok.atomic import TMP_PREFIX, fsync_path, umask
from videoflextok.config import from_dict, to_dict
from videoflextok.errors import CheckpointError, ConfigError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"

M = TypeVar("M", bound=nn.Module)

# safetensors dtype names <-> torch dtypes (the ones a model can hold)
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


# ----------------------------------------------------------------------------------------------------
# atomic file system helpers


@contextlib.contextmanager
def atomic_folder(final: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside ``final``; on success fsync its files and rename it to ``final``.

    An existing ``final`` is replaced (moved aside, then deleted). On any error the temp folder is
    removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{final.name}-", dir=final.parent))
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp creates 0700; give the folder the usual permissions
        yield tmp
        for f in tmp.iterdir():
            f.chmod(0o666 & ~umask())
            fsync_path(f)
        fsync_path(tmp)
        if final.exists():
            old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        fsync_path(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of one file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


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
# safetensors with validation


def _unshared(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors; tensors that share storage (tied weights) are cloned."""
    out, seen = {}, set()
    for name, t in state.items():
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key in seen or not t.is_contiguous():
            t = t.contiguous().clone()
        seen.add(key)
        out[name] = t
    return out


def write_safetensors(state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    from safetensors.torch import save_file

    save_file(_unshared(state), str(path), metadata={"format": "pt"})


def _raw_safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """(the JSON header of a safetensors file as stored, ``__metadata__`` included; its length in bytes).

    Raises CheckpointError when the file is too short or the header unreadable.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"weights file '{path}' is truncated (no header).")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise CheckpointError(f"weights file '{path}' is truncated or has a corrupt header length.")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"weights file '{path}' has an unreadable header.") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"weights file '{path}' has a malformed header.")
    return header, n


def read_safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata stored in a safetensors header (``{}`` when there is none)."""
    meta = _raw_safetensors_header(Path(path))[0].get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"weights file '{path}' has malformed metadata.")
    return meta


def read_safetensors_header(path: str | Path) -> dict[str, dict[str, Any]]:
    """Parse and check the header of a safetensors file: ``{name: {"dtype", "shape", "data_offsets"}}``.

    Raises CheckpointError when the file is truncated or its header is malformed.
    """
    path = Path(path)
    size = path.stat().st_size
    header, n = _raw_safetensors_header(path)
    header.pop("__metadata__", None)
    data_bytes = size - 8 - n
    end = 0
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = [int(s) for s in info["shape"]]
            start, stop = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"weights file '{path}' has a malformed entry for tensor '{name}'.") from None
        numel = math.prod(shape)
        if stop - start != numel * dtype.itemsize or start < 0 or stop > data_bytes:
            raise CheckpointError(f"weights file '{path}' is truncated or corrupt at tensor '{name}'.")
        end = max(end, stop)
    if end != data_bytes:
        raise CheckpointError(f"weights file '{path}' has {data_bytes - end} unexpected trailing bytes.")
    return header


def read_safetensors(
    path: str | Path, expected: Mapping[str, torch.Tensor] | None = None, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Load a safetensors file after checking its header (and, given ``expected``, names/shapes/dtypes)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file '{path}' is missing.")
    header = read_safetensors_header(path)
    if expected is not None:
        missing = sorted(set(expected) - set(header))
        extra = sorted(set(header) - set(expected))
        if missing:
            raise CheckpointError(f"weights file '{path}' lacks tensor '{missing[0]}' the model needs.")
        if extra:
            raise CheckpointError(f"weights file '{path}' holds tensor '{extra[0]}' the model does not have.")
        for name, ref in expected.items():
            shape = [int(s) for s in header[name]["shape"]]
            if shape != list(ref.shape):
                raise CheckpointError(
                    f"weights file '{path}' has tensor '{name}' of shape {shape}, the model needs {list(ref.shape)}."
                )
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError):
        raise CheckpointError(f"weights file '{path}' cannot be read: the file is truncated or corrupt.") from None


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
