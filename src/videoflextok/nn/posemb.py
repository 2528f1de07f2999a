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


def sinusoidal_embedding(s: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """s: [...] (any float, e.g. a flow time in [0, 1]) -> [..., dim] fp32 sin/cos features.

    The time is scaled by 1000 so that [0, 1] spans the frequencies like integer diffusion steps do.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=s.device, dtype=torch.float32) / half)
    args = (s.float() * 1000.0)[..., None] * freqs
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[..., :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """Flow time s: [...] -> conditioning vector [..., dim] (sinusoidal features then a 2-layer MLP)."""

    def __init__(self, dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim, bias=False), nn.SiLU(), nn.Linear(dim, dim, bias=False))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        emb = sinusoidal_embedding(s, self.freq_dim)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))
