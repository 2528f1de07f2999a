"""Rectified-flow noising: x_s = s * eps + (1 - s) * x0, target v = eps - x0, logit-normal training times."""

from __future__ import annotations

import torch


def shift_time(s: torch.Tensor, shift: float) -> torch.Tensor:
    """Timestep shift s -> shift * s / (1 + (shift - 1) * s); shift > 1 moves time toward noise, 1 is identity."""
    if shift == 1.0:
        return s
    return shift * s / (1 + (shift - 1) * s)


def sample_times(
    shape: tuple[int, ...] | torch.Size,
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Logit-normal flow times: s = shift_time(sigmoid(N(mean, std**2))), fp32 tensor of ``shape`` in (0, 1)."""
    normal = torch.randn(shape, device=device, generator=generator, dtype=torch.float32)
    return shift_time(torch.sigmoid(mean + std * normal), shift)


def add_noise(x0: torch.Tensor, eps: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """x0, eps: [B, ...]; s broadcastable to them (e.g. [B, 1, 1, ...]) -> x_s = s * eps + (1 - s) * x0."""
    return s * eps + (1 - s) * x0


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The regression target of the velocity network: v = eps - x0."""
    return eps - x0
