"""Official VidTok checkpoint import: the only code that knows the official VidTok parameter names.

```python
vae = VidTokVAE(*infer_vidtok_widths(state, "video_tokenizer.vae.vidtok."))
vae.load_state_dict(vidtok_state_from_official(state, "video_tokenizer.vae.vidtok."))
```
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping

import torch
from torch import Tensor

from videoflextok.compressors.vidtok import VidTokVAE
from videoflextok.errors import CheckpointError

_RENAMES = [  # applied in order to each official name without the prefix
    (r"\.(?:norm|conv)\.(weight|bias)$", r".\1"),  # drop the LayerNorm / causal-conv wrapper modules
    (r"\.mix_factor$", ".mix"),
    (r"\.nin_shortcut\.", ".skip."),
    (r"\.mid\.block_(\d)\.", r".mid.res\1."),
    (r"\.mid\.attn_1\.", ".mid.attn."),
    (r"\.attn\.proj_out\.", ".attn.proj."),
]
for _side, _verb in (("encoder", "down"), ("decoder", "up")):
    _RENAMES += [
        (rf"^{_side}\.{_verb}\.(\d+)\.block\.", rf"{_side}.levels.\1.spatial."),
        (rf"^{_side}\.{_verb}_temporal\.(\d+)\.block\.", rf"{_side}.levels.\1.temporal."),
        (rf"^{_side}\.{_verb}\.(\d+)\.{_verb}sample\.", rf"{_side}.levels.\1.spatial_resample."),
        (rf"^{_side}\.{_verb}_temporal\.(\d+)\.{_verb}sample\.", rf"{_side}.levels.\1.temporal_resample."),
    ]
_POINTWISE = re.compile(r"\.attn\.(?:q|k|v|proj)\.weight$")  # official [C, C, 1, 1, 1], ours [C, C]


def _width(state: Mapping[str, Tensor], prefix: str, name: str, ndim: int) -> int:  # output channels of a weight
    tensor = state.get(prefix + name)
    if tensor is None:
        raise CheckpointError(f"the VidTok weights lack the tensor '{prefix}{name}'.")
    if tensor.dim() != ndim:
        raise CheckpointError(f"the VidTok tensor '{prefix}{name}' has shape {tuple(tensor.shape)}, expected {ndim}D.")
    return tensor.shape[0]


def infer_vidtok_widths(state: Mapping[str, Tensor], prefix: str) -> tuple[int, tuple[int, ...], int]:
    """(base_channels, channel_mults, num_res_blocks) of the official VidTok weights under ``prefix`` (from shapes)."""
    ch = _width(state, prefix, "encoder.conv_in.conv.weight", 5)
    num_levels = next(i for i in itertools.count() if f"{prefix}encoder.down.{i}.block.0.conv1.weight" not in state)
    if num_levels < 3:
        raise CheckpointError(f"the VidTok weights under '{prefix}' have {num_levels} encoder levels, expected >= 3.")
    counts = {  # residual blocks per level
        next(j for j in itertools.count() if f"{prefix}encoder.down.{i}.block.{j}.conv1.weight" not in state)
        for i in range(num_levels)
    }
    if len(counts) != 1:
        raise CheckpointError(f"the VidTok encoder levels under '{prefix}' hold different numbers of blocks {counts}.")
    mults = []
    for i in range(num_levels):
        width = _width(state, prefix, f"encoder.down.{i}.block.0.conv1.weight", 4)
        if width % ch:
            raise CheckpointError(f"the VidTok level {i} width {width} is not a multiple of the base width {ch}.")
        mults.append(width // ch)
    return ch, tuple(mults), counts.pop()


def vidtok_state_from_official(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Official VidTok tensors under ``prefix`` -> a state dict for ``VidTokVAE(*infer_vidtok_widths(...))``.

    Keys outside the prefix are ignored. Raises CheckpointError unless every official tensor under the prefix
    fills exactly one parameter with the expected shape and every parameter is filled.
    """
    ch, mults, num_blocks = infer_vidtok_widths(state, prefix)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in VidTokVAE(ch, mults, num_blocks).state_dict().items()}
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if not name.startswith(prefix):
            continue
        ours = functools.reduce(lambda key, rule: re.sub(*rule, key), _RENAMES, name[len(prefix) :])
        if ours not in expected or ours in out:
            raise CheckpointError(f"the VidTok weights hold an unexpected tensor '{name}'.")
        shape = expected[ours] + ((1, 1, 1) if _POINTWISE.search(ours) else ())
        if tuple(tensor.shape) != shape:
            raise CheckpointError(f"the VidTok tensor '{name}' has shape {tuple(tensor.shape)}, expected {shape}.")
        out[ours] = tensor.reshape(expected[ours])
    missing = [k for k in expected if k not in out]
    if missing:
        raise CheckpointError(f"the VidTok weights under '{prefix}' lack {len(missing)} tensors (ours: {missing[0]}).")
    return out
