"""``nn.Linear`` that can multiply by a row-major copy of its weight during CPU sampling.

One input row times ``nn.Linear``'s ``[out, in]`` weight runs much slower on CPU than times the same weight stored
``[in, out]``, above all for a large output layer and for weights that are not in cache (as in token-by-token
sampling, where the output layer evicts the blocks' weights every token; the README's performance section has the
measurements). :func:`row_major_weights` makes those copies for the length of a sampling run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, init and state dict) that uses ``weight_t`` [in, out] when it is set.

    ``weight_t`` is a detached copy set by :func:`row_major_weights`: inference only, no gradients reach
    ``weight`` through it.
    """

    weight_t: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight_t is None:
            return super().forward(x)
        out = x @ self.weight_t
        return out if self.bias is None else out + self.bias.to(out.dtype)


@contextmanager
def row_major_weights(module: nn.Module) -> Iterator[None]:
    """Within the block, every :class:`Linear` of ``module`` on a CPU multiplies by an ``[in, out]`` copy of its
    weight, made here once (in the autocast dtype when autocast is on, so no per-call cast is needed).

    The copies cost one extra set of those weights in memory while the block runs. On other devices this
    does nothing (their matmul libraries handle both layouts alike).
    """
    linears = [m for m in module.modules() if isinstance(m, Linear) and m.weight.device.type == "cpu"]
    try:
        for linear in linears:
            weight = linear.weight.detach()
            if torch.is_autocast_enabled("cpu"):
                weight = weight.to(torch.get_autocast_dtype("cpu"))
            linear.weight_t = weight.t().contiguous()
        yield
    finally:
        for linear in linears:
            linear.weight_t = None
