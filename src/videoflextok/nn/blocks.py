"""Pre-LayerNorm transformer block (LayerNorm without affine, QK-norm attention, SwiGLU, no biases)."""

from __future__ import annotations

import torch
from torch import nn

from videoflextok.nn.attention import Attention
from videoflextok.nn.mlp import SwiGLU
from videoflextok.nn.norms import PlainLayerNorm


class TransformerBlock(nn.Module):
    """x: [B, N, dim] -> [B, N, dim]; x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm1 = PlainLayerNorm(dim)
        self.attn = Attention(dim, num_heads, qk_norm=True)
        self.norm2 = PlainLayerNorm(dim)
        self.mlp = SwiGLU(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask=mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of :class:`TransformerBlock` and a final LayerNorm. x: [B, N, dim] -> [B, N, dim]."""

    def __init__(self, dim: int, depth: int, num_heads: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(dim, num_heads) for _ in range(depth))
        self.norm = PlainLayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.norm(x)
