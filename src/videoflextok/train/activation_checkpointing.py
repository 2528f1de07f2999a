"""Activation checkpointing: recompute each block's activations in the backward pass.

A model may provide ``set_activation_checkpointing(enabled: bool)``; otherwise every repeated block
(each element of an ``nn.ModuleList``) gets its ``forward`` wrapped in
``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``. Parameter names do not change, so
checkpoints are interchangeable with and without it. RNG state is replayed, so results are identical.
"""

from __future__ import annotations

from torch import nn
from torch.utils.checkpoint import checkpoint

from videoflextok.train.distributed import block_modules


def enable_activation_checkpointing(model: nn.Module) -> int:
    """Turn activation checkpointing on; returns the number of wrapped blocks (-1 = the model's own hook)."""
    hook = getattr(model, "set_activation_checkpointing", None)
    if callable(hook):
        hook(True)
        return -1
    blocks = block_modules(model)
    for block in blocks:
        if getattr(block, "_vft_checkpointed", False):
            continue
        inner = block.forward

        def forward(*args, _inner=inner, **kwargs):
            return checkpoint(_inner, *args, use_reentrant=False, **kwargs)

        block.forward = forward
        block._vft_checkpointed = True
    return len(blocks)
