"""Finite scalar quantization (FSQ): each of D code dims is bounded and rounded to one of L_i levels.

Codes live in [-1, 1]; ids are the mixed-radix number of the level digits, int64 in [0, prod(L)).
Quantization runs in fp32 with autocast off, so ids do not depend on the surrounding precision.
Rounding uses a straight-through estimator, so gradients reach the encoder.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FSQ(nn.Module):
    """z: [..., D] -> (codes [..., D] fp32 in [-1, 1], ids [...] int64). D = len(levels); no parameters."""

    def __init__(self, levels: tuple[int, ...] | list[int], eps: float = 1e-3) -> None:
        super().__init__()
        self.levels_list = [int(level) for level in levels]
        self.eps = eps
        levels_t = torch.tensor(self.levels_list, dtype=torch.int64)
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.int64), levels_t[:-1]]), dim=0)
        self.register_buffer("levels", levels_t, persistent=False)
        self.register_buffer("basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        """Code dimensions D."""
        return len(self.levels_list)

    @property
    def vocab_size(self) -> int:
        """Number of distinct ids, prod(levels)."""
        return math.prod(self.levels_list)

    def _half_width(self) -> torch.Tensor:
        return (self.levels // 2).float()

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """z [..., D] fp32 -> values in the open interval around [-(L//2), (L-1) - L//2] per dim."""
        levels = self.levels.float()
        half_l = (levels - 1) * (1 + self.eps) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(device_type=z.device.type, enabled=False):
            bounded = self.bound(z.float())
            rounded = bounded + (torch.round(bounded) - bounded).detach()  # straight-through
            half_width = self._half_width()
            codes = rounded / half_width
            digits = torch.round(bounded).long() + half_width.long()
            ids = (digits * self.basis).sum(dim=-1)
        return codes, ids

    def ids_to_codes(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [...] int64 -> codes [..., D] fp32 in [-1, 1]."""
        digits = (ids[..., None] // self.basis) % self.levels
        half_width = self._half_width()
        return (digits.float() - half_width) / half_width

    def codes_to_ids(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [..., D] (on the grid) -> ids [...] int64."""
        half_width = self._half_width()
        digits = torch.round(codes.float() * half_width).long() + half_width.long()
        return (digits * self.basis).sum(dim=-1)
