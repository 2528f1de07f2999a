"""SwiGLU feed-forward (no biases). Hidden width defaults to 2/3 * 4 * dim, as in the paper."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videoflextok.nn.linear import Linear


def swiglu_hidden(dim: int, multiple_of: int = 1) -> int:
    """Hidden width 2/3 * 4 * dim, rounded up to ``multiple_of``."""
    hidden = int(2 * 4 * dim / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class SwiGLU(nn.Module):
    """x: [..., dim] -> [..., dim]; w_out(silu(w_gate x) * w_up x), gate and up fused in one matmul."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        self.hidden = hidden or swiglu_hidden(dim)
        self.w_in = Linear(dim, 2 * self.hidden, bias=False)
        self.w_out = Linear(self.hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w_in(x).chunk(2, dim=-1)
        return self.w_out(F.silu(gate) * up)
