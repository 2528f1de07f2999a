"""Pre-LayerNorm transformer block (LayerNorm without affine, QK-norm attention, SwiGLU, no biases)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from videoflextok.nn.attention import Attention
from videoflextok.nn.mlp import SwiGLU
from videoflextok.nn.norms import PlainLayerNorm


@dataclass(frozen=True)
class BlockStyle:
    """The numerics a transformer trunk is built with (shared by plain and adaLN blocks).

    qk_norm: "rms" (RMSNorm with a learned scale) | "layernorm" (no affine, fp32) | "none";
    eps: of every LayerNorm (and of the QK-norm); scale: attention score scale, None = 1 / sqrt(head_dim).
    """

    qk_norm: str = "rms"
    eps: float = 1e-6
    scale: float | None = None

    def attention(self, dim: int, num_heads: int) -> Attention:
        return Attention(dim, num_heads, qk_norm=self.qk_norm, eps=self.eps, scale=self.scale)

    def norm(self, dim: int) -> PlainLayerNorm:
        return PlainLayerNorm(dim, eps=self.eps)


DEFAULT_STYLE = BlockStyle()


class TransformerBlock(nn.Module):
    """x: [B, N, dim] -> [B, N, dim]; x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, dim: int, num_heads: int, style: BlockStyle = DEFAULT_STYLE) -> None:
        super().__init__()
        self.norm1 = style.norm(dim)
        self.attn = style.attention(dim, num_heads)
        self.norm2 = style.norm(dim)
        self.mlp = SwiGLU(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask=mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of :class:`TransformerBlock` and a final LayerNorm. x: [B, N, dim] -> [B, N, dim]."""

    def __init__(self, dim: int, depth: int, num_heads: int, style: BlockStyle = DEFAULT_STYLE) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(dim, num_heads, style) for _ in range(depth))
        self.norm = style.norm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.norm(x)
