"""Guidance for the flow decoder: classifier-free guidance (CFG) and adaptive projected guidance (APG).

Both combine a conditional and an unconditional velocity prediction. :func:`guided_velocity` evaluates both
in ONE batched forward pass (conditional half first); a :class:`Guidance` combines them, keeping the state APG's
momentum carries from one Euler step to the next, so make one per sampling run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

GUIDANCE_MODES = ("cfg", "apg")


def cfg_combine(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """v_uncond + scale * (v_cond - v_uncond); scale 1 returns v_cond."""
    return v_uncond + scale * (v_cond - v_uncond)


class Guidance:
    """How conditional and unconditional predictions are combined in one sampling run.

    "cfg": :func:`cfg_combine`. "apg" (adaptive projected guidance, Sadat et al. 2024): the update
    d = v_cond - v_uncond is accumulated over steps (d <- d + momentum * previous d), scaled down to at most
    ``norm_threshold`` in norm (0 = no clipping), split into its part parallel to v_cond and the orthogonal rest
    (in float64), and v = v_cond + (scale - 1) * (d_orth + eta * d_par). With eta = 1, no clipping and no momentum
    APG is CFG. Norms and projections are taken per (sample, channel) over the last ``norm_dims`` dims: for latents
    [B, C, T, h, w] that is per channel over (T, h, w).
    """

    def __init__(
        self,
        scale: float,
        mode: str = "cfg",
        eta: float = 0.0,
        norm_threshold: float = 0.0,
        momentum: float = 0.0,
        norm_dims: int = 3,
    ) -> None:
        if mode not in GUIDANCE_MODES:
            raise ValueError(f"guidance mode must be one of {', '.join(GUIDANCE_MODES)}, got {mode!r}")
        self.scale, self.mode = float(scale), mode
        self.eta, self.norm_threshold, self.momentum = eta, norm_threshold, momentum
        self.dims = tuple(range(-norm_dims, 0))
        self.running: torch.Tensor | None = None  # APG's accumulated update

    @property
    def active(self) -> bool:
        """False for scale 1: the unconditional branch is not needed."""
        return self.scale != 1.0

    def __call__(self, v_cond: torch.Tensor, v_uncond: torch.Tensor) -> torch.Tensor:
        if self.mode == "cfg":
            return cfg_combine(v_cond, v_uncond, self.scale)
        diff = (v_cond - v_uncond).float()
        if self.momentum:
            diff = diff if self.running is None else diff + self.momentum * self.running
            self.running = diff
        if self.norm_threshold > 0:
            norm = torch.linalg.vector_norm(diff, dim=self.dims, keepdim=True)
            diff = diff * torch.clamp(self.norm_threshold / norm, max=1.0)
        d64, c64 = diff.double(), v_cond.double()
        unit = c64 / torch.linalg.vector_norm(c64, dim=self.dims, keepdim=True).clamp_min(1e-12)
        parallel = (d64 * unit).sum(dim=self.dims, keepdim=True) * unit
        update = ((d64 - parallel).float() + self.eta * parallel.float()).to(v_cond.dtype)
        return v_cond + (self.scale - 1) * update


def guided_velocity(
    model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    s: torch.Tensor,
    cond: torch.Tensor,
    null: torch.Tensor,
    guidance: Guidance,
) -> torch.Tensor:
    """Guided velocity with one batched forward.

    model: (x [B', ...], s [B', ...], cond [B', ...]) -> v [B', ...]. x: [B, ...], s: [B, ...], cond/null: [B, ...].
    An inactive guidance (scale 1) runs the conditional branch only.
    """
    if not guidance.active:
        return model(x, s, cond)
    v = model(torch.cat([x, x]), torch.cat([s, s]), torch.cat([cond, null]))
    v_cond, v_uncond = v.chunk(2)
    return guidance(v_cond, v_uncond)
