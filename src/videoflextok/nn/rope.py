"""Rotary position embedding (RoPE) over one or several integer position axes.

With several axes (e.g. latent frame index and token index) the head dimension is split into equal
parts, one per axis, and each part rotates with its own coordinate ("axial" RoPE). One axis is the
usual 1-D Llama RoPE. Rotations use the "rotate half" pairing: channel i pairs with channel i + d/2
inside each part.
"""

from __future__ import annotations

import torch
from torch import nn


class AxialRoPE(nn.Module):
    """Rotary embedding for integer positions with ``num_axes`` coordinates.

    ``head_dim`` must be divisible by ``2 * num_axes``. Frequencies follow ``base ** (-2i / part_dim)``.
    """

    def __init__(self, head_dim: int, num_axes: int = 1, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % (2 * num_axes):
            raise ValueError(f"head_dim {head_dim} is not divisible by 2 * num_axes = {2 * num_axes}")
        self.head_dim = head_dim
        self.num_axes = num_axes
        part = head_dim // num_axes
        inv_freq = base ** (-torch.arange(0, part, 2, dtype=torch.float64) / part)
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)
        # rotate-half as a matrix: (x @ half_turn) == the rotated half of x (used for one position at a time)
        idx = torch.arange(head_dim).view(num_axes, 2, part // 2)
        first, second = idx[:, 0].flatten(), idx[:, 1].flatten()
        half_turn = torch.zeros(head_dim, head_dim)
        half_turn[second, first] = -1.0
        half_turn[first, second] = 1.0
        self.register_buffer("half_turn", half_turn, persistent=False)

    def cos_sin(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions: [N, num_axes] (or [N] for one axis) integers -> cos, sin: [N, head_dim] in fp32."""
        if positions.dim() == 1:
            positions = positions[:, None]
        if positions.shape[-1] != self.num_axes:
            raise ValueError(f"positions have {positions.shape[-1]} axes, expected {self.num_axes}")
        inv_freq = self.inv_freq.to(positions.device)
        # angles per axis: [N, num_axes, part/2]; each axis part is laid out as (half, half) for rotate-half
        angles = positions.float()[..., None] * inv_freq
        angles = torch.cat([angles, angles], dim=-1)  # [N, num_axes, part]
        angles = angles.flatten(1)  # [N, head_dim]
        return angles.cos(), angles.sin()

    def rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x: [B, heads, N, head_dim]; cos/sin: [N, head_dim] -> rotated x, same shape and dtype."""
        xf = x.float()  # a no-op for fp32 input
        first, second = xf.unflatten(-1, (self.num_axes, 2, -1)).unbind(-2)  # [..., axes, part/2] each
        rotated_half = torch.stack([-second, first], dim=-2).flatten(-3)  # [..., head_dim]
        return torch.addcmul(xf * cos, rotated_half, sin).to(x.dtype)

    def function(self, positions: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None):
        """A callable ``x -> rotated x`` for ``Attention(rope=...)``, for the given positions [N, num_axes].

        cos_sin: the :meth:`cos_sin` of these positions if already computed (e.g. sliced from a table made once
        per sampling run), on the device of the tensors to rotate.
        """
        cos, sin = self.cos_sin(positions) if cos_sin is None else cos_sin
        if cos.shape[0] == 1:  # one position (a KV-cached sampling step): the rotation is one small matmul
            turn = self.half_turn.to(cos.device)
            rotation = torch.diag(cos[0]) + turn * sin[0]  # [head_dim, head_dim]: x @ rotation

            def apply_one(x: torch.Tensor) -> torch.Tensor:
                return (x.float() @ rotation.to(x.device)).to(x.dtype)

            return apply_one

        def apply(x: torch.Tensor) -> torch.Tensor:
            return self.rotate(x, cos.to(x.device), sin.to(x.device))

        return apply
