"""Multi-head self-attention on ``F.scaled_dot_product_attention`` with fused QKV, optional QK-norm (RMSNorm with
a learned scale, or LayerNorm without parameters), an optional score scale, optional rotary embedding and an
optional KV cache. No biases.

Mask convention everywhere in this package: a bool tensor, True = may attend, broadcastable to
``[B, heads, N_query, N_key]`` (usually ``[N_query, N_key]``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from videoflextok.nn.linear import Linear
from videoflextok.nn.masks import TimeBlocks, causal_tail_mask
from videoflextok.nn.norms import RMSNorm

QK_NORMS = ("rms", "layernorm", "none")  # RMSNorm with a learned scale per head channel / LayerNorm, no affine / off

# Largest score matrix (batch x heads x queries x keys) for which bf16 attention on CPU runs as two matmuls and a
# softmax instead of the fused kernel: faster that way (forward and backward) for the small blocks of CPU training;
# the fused kernel wins from a few million scores on (the blocks of the paper-size tokenizers), and in fp32.
CPU_BF16_EXPLICIT_MAX_SCORES = 1 << 21


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | TimeBlocks | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v, mask, is_causal, scale)`` for q, k, v ``[B, heads, N, head_dim]``;
    ``scale`` multiplies the scores (None: 1 / sqrt(head_dim)). A :class:`TimeBlocks` mask runs as
    :func:`time_block_attention` (the same result without the masked-out work).

    bf16 on CPU up to :data:`CPU_BF16_EXPLICIT_MAX_SCORES` scores: q k^T in bf16, softmax in fp32, then the
    value matmul in bf16 (every query must be allowed at least one key, as with all masks of this package).
    """
    if isinstance(mask, TimeBlocks):
        return time_block_attention(q, k, v, mask, scale)
    scores = q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2]
    if q.device.type != "cpu" or q.dtype != torch.bfloat16 or scores > CPU_BF16_EXPLICIT_MAX_SCORES:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal and mask is None, scale=scale
        )
    logits = (q * (q.shape[-1] ** -0.5 if scale is None else scale)) @ k.transpose(-1, -2)
    if mask is None and is_causal:
        n_q, n_k = q.shape[2], k.shape[2]
        mask = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(diagonal=n_k - n_q)
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return logits.softmax(dim=-1, dtype=torch.float32).to(v.dtype) @ v


def time_block_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, blocks: TimeBlocks, scale: float | None = None
) -> torch.Tensor:
    """Attention under a :class:`TimeBlocks` mask, block by block: the queries of block t against the keys of
    blocks <= t (a dense call each; the encoder's causal registers get a small mask of their own), so about half of
    the masked work of one big call is never done. q, k, v: [B, heads, T * block, head_dim]."""
    size, n = blocks.block, blocks.patches
    outs = []
    for t in range(blocks.frames):
        start, end = t * size, (t + 1) * size
        if not blocks.registers_causal:
            outs.append(attention(q[:, :, start:end], k[:, :, :end], v[:, :, :end], scale=scale))
            continue
        seen = start + n  # every query of block t sees the blocks before and the block's patches
        outs.append(attention(q[:, :, start:seen], k[:, :, :seen], v[:, :, :seen], scale=scale))
        tail = causal_tail_mask(seen, blocks.registers, q.device)
        outs.append(attention(q[:, :, seen:end], k[:, :, :end], v[:, :, :end], mask=tail, scale=scale))
    return torch.cat(outs, dim=2)


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer. Tensors [B, heads, N, head_dim].

    Preallocates ``max_len`` positions so that appending costs no reallocation.
    """

    def __init__(self, batch: int, heads: int, head_dim: int, max_len: int, device, dtype) -> None:
        self.k = torch.empty(batch, heads, max_len, head_dim, device=device, dtype=dtype)
        self.v = torch.empty_like(self.k)
        self.length = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = k.shape[2]
        if self.length + n > self.k.shape[2]:
            raise RuntimeError(f"KV cache overflow: {self.length + n} > {self.k.shape[2]}")
        end = self.length + n
        self.k[:, :, self.length : end] = k  # copy_ casts to the cache's dtype
        self.v[:, :, self.length : end] = v
        self.length = end
        return self.k[:, :, : self.length], self.v[:, :, : self.length]


class Attention(nn.Module):
    """x: [B, N, dim] -> [B, N, dim].

    ``rope`` is an optional function applied to q and k (shape [B, heads, N, head_dim]) after QK-norm.
    With ``cache`` the new keys/values are appended and attention runs over everything cached.
    """

    def __init__(
        self, dim: int, num_heads: int, qk_norm: bool | str = True, eps: float = 1e-6, scale: float | None = None
    ) -> None:
        """qk_norm: one of :data:`QK_NORMS` (True = "rms", False = "none"); eps: of that norm; scale: of the
        attention scores (None: 1 / sqrt(head_dim))."""
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        kind = ("rms" if qk_norm else "none") if isinstance(qk_norm, bool) else qk_norm
        if kind not in QK_NORMS:
            raise ValueError(f"qk_norm must be one of {QK_NORMS}, got {qk_norm!r}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = scale
        self.qkv = Linear(dim, 3 * dim, bias=False)
        self.proj = Linear(dim, dim, bias=False)
        self.qk_norm = kind
        self.eps = eps
        self.q_norm = RMSNorm(self.head_dim, eps=eps) if kind == "rms" else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim, eps=eps) if kind == "rms" else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        rope: Callable[[torch.Tensor], torch.Tensor] | None = None,
        cache: KVCache | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim)
        qk = self.norm_qk(qkv[:, :, :2]).permute(2, 0, 3, 1, 4)  # [2, B, heads, N, head_dim]
        if rope is not None:
            qk = rope(qk)  # queries and keys in one call
        q, k = qk.unbind(0)
        v = qkv[:, :, 2].transpose(1, 2)
        if cache is not None:
            k, v = cache.append(k, v)
        out = attention(q, k, v, mask=mask, is_causal=is_causal, scale=self.scale)
        return self.proj(out.transpose(1, 2).flatten(2))

    def norm_qk(self, qk: torch.Tensor) -> torch.Tensor:
        """QK-norm of queries and keys side by side, qk: [..., 2, heads, head_dim] -> same shape (one
        normalisation, then each half times its own scale for "rms"; "layernorm" runs in fp32)."""
        if self.qk_norm == "none":
            return qk
        if self.qk_norm == "layernorm":
            return F.layer_norm(qk.float(), (self.head_dim,), eps=self.eps).to(qk.dtype)
        scale = torch.stack([self.q_norm.weight, self.k_norm.weight])[:, None].to(qk.dtype)  # [2, 1, head_dim]
        return F.rms_norm(qk, (self.head_dim,), None, self.q_norm.eps) * scale
