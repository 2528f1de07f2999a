"""adaLN-Zero transformer blocks with separate modulation per token group (DiT-style conditioning).

Token layout: ``S`` slots (e.g. latent frames), each holding contiguous segments of tokens, one segment per
group (here: ``P`` latent patches = group 0, then ``K`` registers = group 1), so ``x: [B, S * (P + K), dim]``.
The conditioning is one vector per slot, ``c: [B, S, dim]`` (e.g. the timestep embedding of each latent
frame). Every group has its own modulation linear, computed once per slot and broadcast over the segment's
tokens, so modulation costs O(S) and never materialises a per-token [B, N, 6 * dim] tensor.
Modulation linears start at zero, so each block starts as the identity. Their parameters live in modules
named ``adaln`` so they can be counted apart.
"""

from __future__ import annotations

import torch
from torch import nn

from videoflextok.nn.blocks import DEFAULT_STYLE, BlockStyle
from videoflextok.nn.mlp import SwiGLU


class GroupModulation(nn.Module):
    """c: [B, S, dim] -> per group a tuple of ``chunks`` tensors [B, S, 1, dim] (zero-initialised linears)."""

    def __init__(self, dim: int, chunks: int, groups: int = 2) -> None:
        super().__init__()
        self.chunks = chunks
        self.linears = nn.ModuleList(nn.Linear(dim, chunks * dim, bias=True) for _ in range(groups))
        for linear in self.linears:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, c: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        c = nn.functional.silu(c)
        return [linear(c).unsqueeze(2).chunk(self.chunks, dim=-1) for linear in self.linears]


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x * (1 + scale) + shift (broadcasting)."""
    return x * (1 + scale) + shift


def _per_segment(x: torch.Tensor, slots: int, segments: tuple[int, ...], fn) -> torch.Tensor:
    """Apply fn(group, tokens [B, S, n_g, dim]) to every segment of x [B, S * sum(segments), dim]; re-join."""
    parts = x.unflatten(1, (slots, -1)).split(list(segments), dim=2)
    return torch.cat([fn(g, part) for g, part in enumerate(parts)], dim=2).flatten(1, 2)


class AdaLNBlock(nn.Module):
    """x: [B, S * sum(segments), dim], c: [B, S, dim] -> same shape as x.

    Gated pre-LN attention and SwiGLU, modulated per (slot, group); ``segments`` = tokens per group in a slot.
    """

    def __init__(self, dim: int, num_heads: int, groups: int = 2, style: BlockStyle = DEFAULT_STYLE) -> None:
        super().__init__()
        self.norm1 = style.norm(dim)
        self.attn = style.attention(dim, num_heads)
        self.norm2 = style.norm(dim)
        self.mlp = SwiGLU(dim)
        self.adaln = GroupModulation(dim, 6, groups)

    def forward(
        self, x: torch.Tensor, c: torch.Tensor, segments: tuple[int, ...], mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        mods = self.adaln(c)  # per group: shift1, scale1, gate1, shift2, scale2, gate2
        slots = c.shape[1]
        h = _per_segment(self.norm1(x), slots, segments, lambda g, t: modulate(t, mods[g][0], mods[g][1]))
        x = x + _per_segment(self.attn(h, mask=mask), slots, segments, lambda g, t: mods[g][2] * t)
        h = _per_segment(self.norm2(x), slots, segments, lambda g, t: modulate(t, mods[g][3], mods[g][4]))
        return x + _per_segment(self.mlp(h), slots, segments, lambda g, t: mods[g][5] * t)


class AdaLNFinal(nn.Module):
    """Final layer: x: [B, S, n, dim], c: [B, S, dim] -> [B, S, n, out_dim].

    Modulated LN then a zero-initialised linear (with an optional zero-initialised bias; one group: apply it to
    the latent tokens only).
    """

    def __init__(self, dim: int, out_dim: int, style: BlockStyle = DEFAULT_STYLE, bias: bool = False) -> None:
        super().__init__()
        self.norm = style.norm(dim)
        self.adaln = GroupModulation(dim, 2, groups=1)
        self.linear = nn.Linear(dim, out_dim, bias=bias)
        nn.init.zeros_(self.linear.weight)
        if bias:
            nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaln(c)[0]
        return self.linear(modulate(self.norm(x), shift, scale))
