"""Normalisation layers: LayerNorm without affine/bias (pre-LN of the tokenizer) and RMSNorm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PlainLayerNorm(nn.Module):
    """LayerNorm over the last dim with no learnable scale or bias. x: [..., dim] -> [..., dim]."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), eps=self.eps)


class RMSNorm(nn.Module):
    """RMSNorm with an optional learnable scale. x: [..., dim] -> [..., dim]."""

    def __init__(self, dim: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.to(x.dtype)  # bf16 activations under autocast
        return F.rms_norm(x, (self.dim,), weight, self.eps)
