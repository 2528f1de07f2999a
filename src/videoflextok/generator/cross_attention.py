"""Cross-attention from the generator's tokens to a text context (no biases, optional QK-norm, SDPA).

The context keys/values can be computed once per generation (:meth:`CrossAttention.context_kv`) and
reused for every decoding step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videoflextok.nn.linear import Linear
from videoflextok.nn.norms import RMSNorm


class CrossAttention(nn.Module):
    """x: [B, N, dim], context: [B, L, dim], context_mask: [B, L] bool (True = real token) -> [B, N, dim]."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = Linear(dim, dim, bias=False)
        self.kv = Linear(dim, 2 * dim, bias=False)
        self.proj = Linear(dim, dim, bias=False)
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()

    def context_kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """context: [B, L, dim] -> keys, values: [B, heads, L, head_dim] (keys normalised)."""
        k, v = rearrange(self.kv(context), "b l (two h d) -> two b h l d", two=2, h=self.num_heads)
        return self.k_norm(k), v

    def forward(
        self,
        x: torch.Tensor,
        context_mask: torch.Tensor,
        context: torch.Tensor | None = None,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Give either ``context`` or precomputed ``kv`` from :meth:`context_kv`."""
        if kv is None:
            if context is None:
                raise ValueError("CrossAttention needs either context or kv")
            kv = self.context_kv(context)
        k, v = kv
        q = self.q_norm(rearrange(self.q(x), "b n (h d) -> b h n d", h=self.num_heads))
        mask = context_mask[:, None, None, :]  # [B, 1, 1, L]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))
