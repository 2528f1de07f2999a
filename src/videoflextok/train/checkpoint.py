"""Training checkpoints: a model checkpoint folder plus ``training_state.pt``, in ``RUN/checkpoints/``.

::

    RUN/checkpoints/step_00000100/   model.safetensors, ema.safetensors, config.json, training_state.pt
    RUN/checkpoints/latest           text file naming the newest folder (replaced atomically; informational)

``training_state.pt`` holds only tensors and builtins (optimizer state, EMA update count, step, data
position, RNG states of torch / numpy / python) and is read with ``torch.load(weights_only=True)``.
A folder appears under its final name only once every file is fsynced, so a crash at any moment
leaves either the previous checkpoint or the new one; leftovers of an interrupted write are ignored
and removed by :func:`remove_partial`. The generic save/load of model weights lives in
:mod:`videoflextok.checkpoint` (re-exported here).
"""

from __future__ import annotations

import pickle
import random
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from videoflextok.atomic import TMP_PREFIX, atomic_folder, atomic_write_text, file_digest
from videoflextok.checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    load_pretrained,
    read_checkpoint_config,
    save_pretrained,
    verify_files,
    write_model_files,
)
from videoflextok.errors import CheckpointError
from videoflextok.safetensors_io import read_safetensors

__all__ = [
    "STATE_FILE", "save_pretrained", "load_pretrained", "save_training_checkpoint", "latest_checkpoint",
    "load_training_state", "load_checkpoint_weights", "remove_partial", "capture_rng", "restore_rng",
]

STATE_FILE = "training_state.pt"
CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"


def step_folder_name(step: int) -> str:
    return f"step_{step:08d}"


# ----------------------------------------------------------------------------------------------------
# RNG states as weights_only-loadable values


def capture_rng() -> dict[str, Any]:
    """RNG states of torch (CPU and CUDA), numpy and python as tensors and builtins."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------------
# writing


def save_training_checkpoint(
    run_dir: str | Path,
    step: int,
    model: nn.Module,
    model_state: Mapping[str, torch.Tensor],
    ema_state: Mapping[str, torch.Tensor] | None,
    training_state: Mapping[str, Any],
    keep_last: int,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``RUN/checkpoints/step_<step>/`` atomically, point ``latest`` at it, prune to ``keep_last``.

    ``model`` supplies ``.config`` and its kind; ``model_state`` the full weights (gathered under FSDP).
    Raises CheckpointError (and writes nothing) when weights or EMA are not finite.
    """
    root = Path(run_dir) / CHECKPOINT_DIR
    final = root / step_folder_name(step)
    with atomic_folder(final) as tmp:
        torch.save(dict(training_state), tmp / STATE_FILE)
        digest = {"state_files": {STATE_FILE: file_digest(tmp / STATE_FILE)}}
        write_model_files(tmp, model, state=model_state, ema=ema_state, extra={**(extra or {}), **digest})
    atomic_write_text(root / LATEST, final.name + "\n")
    prune(root, keep_last)
    return final


def prune(root: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` complete checkpoints (renamed away first, then removed)."""
    done = complete_checkpoints(root)
    for old in done[:-keep_last]:
        trash = root / f".old-{old.name}"
        old.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)


def remove_partial(run_dir: str | Path) -> None:
    """Remove temp folders left by an interrupted checkpoint write or deletion."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if root.is_dir():
        for p in root.glob(".*"):
            if p.name.startswith((TMP_PREFIX, ".old-")):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------
# reading


def complete_checkpoints(root: Path) -> list[Path]:
    """Checkpoint folders with every file present, oldest first."""
    if not root.is_dir():
        return []
    needed = (CONFIG_FILE, MODEL_FILE, STATE_FILE)
    found = [p for p in root.glob("step_*") if p.is_dir() and all((p / f).is_file() for f in needed)]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None.

    A folder gets its ``step_*`` name only after all its files are fsynced, so the newest one is always
    whole. (The ``latest`` file names the same folder for people and scripts; a crash between the rename
    and the pointer update can leave it one checkpoint behind, which is why it is not trusted here.)
    """
    done = complete_checkpoints(Path(run_dir) / CHECKPOINT_DIR)
    return done[-1] if done else None


def load_training_state(folder: str | Path) -> dict[str, Any]:
    """``training_state.pt`` of a checkpoint folder, loaded with ``weights_only=True``."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{folder}' has no {STATE_FILE}; it cannot be resumed.")
    meta = read_checkpoint_config(folder)
    verify_files(folder, {"files": {**meta.get("files", {}), **meta.get("state_files", {})}}, [STATE_FILE])
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"training state '{path}' cannot be read: it holds objects other than tensors and plain values."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile):
        raise CheckpointError(f"training state '{path}' cannot be read: the file is truncated or corrupt.") from None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"training state '{path}' is malformed.")
    return state


def load_checkpoint_weights(
    folder: str | Path, expected: Mapping[str, torch.Tensor], ema: bool = False
) -> dict[str, torch.Tensor]:
    """Raw (or EMA) weights of a checkpoint, validated against ``expected`` names and shapes."""
    from videoflextok.checkpoint import EMA_FILE

    meta = read_checkpoint_config(folder)
    name = EMA_FILE if ema else MODEL_FILE
    verify_files(folder, meta, [name])
    return read_safetensors(Path(folder) / name, expected=expected)
