"""safetensors files read with their header checked first (truncated, corrupt or unexpected files end in one
:class:`~videoflextok.errors.CheckpointError` sentence) and written from any state dict (tied or strided tensors
are copied); nothing is ever unpickled."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from videoflextok.errors import CheckpointError

# safetensors dtype names <-> torch dtypes (the ones a model can hold)
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


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
