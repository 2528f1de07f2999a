"""Euler sampler for rectified flow, from s = 1 (noise) to s = 0 (data), with the update computed in fp32."""

from __future__ import annotations

from collections.abc import Callable

import torch

from videoflextok.flow.schedule import shift_time

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sampling_times(steps: int, shift: float = 1.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """steps + 1 fp32 times from 1 down to 0 (uniform, then shifted): [steps + 1]."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1, device=device, dtype=torch.float32), shift)


def euler_sample(
    velocity: VelocityFn,
    noise: torch.Tensor,
    steps: int,
    shift: float = 1.0,
    clamp: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Integrate dx/ds = velocity(x, s) from s = 1 to 0.

    velocity: (x [B, ...] fp32, s [B] fp32) -> v [B, ...] (any dtype; cast to fp32).
    noise: x at s = 1, [B, ...]. ``clamp`` (optional) is applied to x after every step, e.g. to pin a
    clean prefix. Returns x at s = 0 in fp32.
    """
    x = noise.float()
    if clamp is not None:
        x = clamp(x)
    times = sampling_times(steps, shift, device=x.device)
    for i in range(steps):
        s, s_next = times[i], times[i + 1]
        v = velocity(x, s.expand(x.shape[0])).float()
        x = x + (s_next - s) * v
        if clamp is not None:
            x = clamp(x)
    return x
