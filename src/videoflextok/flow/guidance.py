"""Guidance for the flow decoder: classifier-free guidance (CFG) and adaptive projected guidance (APG).

Both combine a conditional and an unconditional velocity prediction. :func:`guided_velocity` evaluates
both in ONE batched forward pass (conditional half first).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def cfg_combine(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """v_uncond + scale * (v_cond - v_uncond); scale 1 returns v_cond."""
    return v_uncond + scale * (v_cond - v_uncond)


def apg_combine(
    v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float, eta: float = 0.0, norm_threshold: float = 0.0
) -> torch.Tensor:
    """Adaptive projected guidance (Sadat et al., 2024), applied to the velocity prediction.

    The guidance update d = v_cond - v_uncond is (optionally) clipped to ``norm_threshold`` per sample, split
    into its part parallel to v_cond and the orthogonal rest, and the parallel part is down-weighted by
    ``eta``: result = v_cond + (scale - 1) * (d_orth + eta * d_par). With eta = 1 and no clipping it equals CFG.
    All tensors [B, ...]; computed in fp32.
    """
    v_cond32, diff = v_cond.float(), (v_cond - v_uncond).float()
    dims = tuple(range(1, diff.ndim))
    if norm_threshold > 0:
        norm = diff.norm(dim=dims, keepdim=True)
        diff = diff * torch.clamp(norm_threshold / norm.clamp_min(1e-12), max=1.0)
    unit = v_cond32 / v_cond32.norm(dim=dims, keepdim=True).clamp_min(1e-12)
    parallel = (diff * unit).sum(dim=dims, keepdim=True) * unit
    update = (diff - parallel) + eta * parallel
    return (v_cond32 + (scale - 1) * update).to(v_cond.dtype)


def guided_velocity(
    model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    s: torch.Tensor,
    cond: torch.Tensor,
    null: torch.Tensor,
    scale: float,
    mode: str = "cfg",
    apg_eta: float = 0.0,
    apg_norm_threshold: float = 0.0,
) -> torch.Tensor:
    """Guided velocity with one batched forward.

    model: (x [B', ...], s [B'], cond [B', ...]) -> v [B', ...]. x: [B, ...], s: [B], cond/null: [B, ...].
    scale 1 runs the conditional branch only.
    """
    if scale == 1.0:
        return model(x, s, cond)
    v = model(torch.cat([x, x]), torch.cat([s, s]), torch.cat([cond, null]))
    v_cond, v_uncond = v.chunk(2)
    if mode == "cfg":
        return cfg_combine(v_cond, v_uncond, scale)
    if mode == "apg":
        return apg_combine(v_cond, v_uncond, scale, eta=apg_eta, norm_threshold=apg_norm_threshold)
    raise ValueError(f"guidance mode must be 'cfg' or 'apg', got {mode!r}")
