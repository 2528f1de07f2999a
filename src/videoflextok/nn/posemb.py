"""Positional and timestep embeddings."""

from __future__ import annotations

import math

import torch
from torch import nn


def learned_embedding(*shape: int, std: float = 0.02) -> nn.Parameter:
    """A learned embedding table of ``shape``, truncated-normal initialised."""
    param = nn.Parameter(torch.empty(*shape))
    nn.init.trunc_normal_(param, std=std, a=-2 * std, b=2 * std)
    return param


def position_embeddings(
    num_patches: int, frames: int, dim: int, std: float = 0.02
) -> tuple[nn.Parameter, nn.Parameter]:
    """Learned (space [num_patches, dim], time [frames, dim]) position embeddings, truncated normal with ``std``."""
    return learned_embedding(num_patches, dim, std=std), learned_embedding(frames, dim, std=std)


def sinusoidal_embedding(s: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """s: [...] (any float, e.g. a flow time in [0, 1]) -> [..., dim] fp32 sin/cos features.

    The time is scaled by 1000 so that [0, 1] spans the frequencies like integer diffusion steps do.
    """
    half = dim // 2
    freqs = 1000.0 * torch.exp(-math.log(max_period) * torch.arange(half, device=s.device, dtype=torch.float32) / half)
    args = s.float()[..., None] * freqs
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[..., :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """Flow time s: [...] -> conditioning vector [..., dim] (sinusoidal features then a 2-layer MLP).

    max_period: lowest frequency of the features (see :func:`sinusoidal_embedding`); bias: biases in the MLP.
    """

    def __init__(self, dim: int, freq_dim: int = 256, max_period: float = 10000.0, bias: bool = False) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.max_period = max_period
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim, bias=bias), nn.SiLU(), nn.Linear(dim, dim, bias=bias))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        emb = sinusoidal_embedding(s, self.freq_dim, self.max_period)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class AxialPositions(nn.Module):
    """Learned per-axis position tables summed over (t, h, w): ``table [3, max_size, dim]``.

    ``forward(t, h, w)`` -> [t, h * w, dim] (row-major grid), ``pe[t, y, x] = (P_h[y] + P_w[x]) + P_t[t]``; a grid
    smaller than ``max_size`` along an axis uses that table's first rows.
    """

    def __init__(self, dim: int, max_size: int, std: float = 0.02) -> None:
        super().__init__()
        self.max_size = max_size
        self.table = learned_embedding(3, max_size, dim, std=std)

    def forward(self, t: int, h: int, w: int) -> torch.Tensor:
        if max(t, h, w) > self.max_size:
            raise ValueError(f"grid {t}x{h}x{w} exceeds the position tables' {self.max_size} rows per axis")
        p_t, p_h, p_w = self.table[0, :t], self.table[1, :h], self.table[2, :w]
        space = (p_h[:, None] + p_w[None, :]).flatten(0, 1)  # [h * w, dim]
        return space[None] + p_t[:, None]
