"""Exponential moving average of model parameters (fp32 shadows, updated after each optimizer step).

The shadows have the same type as the parameters: plain tensors, or DTensor shards under FSDP2 (then
:meth:`EMA.full_state_dict` gathers them; every rank must call it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import nn


def _full(t: torch.Tensor) -> torch.Tensor:
    """A DTensor gathered to a full local tensor; plain tensors pass through."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


class EMA:
    """``shadow = d * shadow + (1 - d) * param`` with ``d = min(decay, (1 + n) / (10 + n))``."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.num_updates = 0
        self.shadow: dict[str, torch.Tensor] = {
            name: p.detach().clone().float() for name, p in model.named_parameters() if p.requires_grad
        }

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        names, shadows, params = [], [], []
        for name, p in model.named_parameters():
            if name in self.shadow:
                names.append(name)
                shadows.append(self.shadow[name])
                params.append(p.detach().float())
        if shadows:
            torch._foreach_lerp_(shadows, params, 1.0 - d)
        self.num_updates += 1

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """{param name: full fp32 CPU tensor} (collective under FSDP2)."""
        return {name: _full(t).detach().cpu() for name, t in self.shadow.items()}

    @torch.no_grad()
    def load_full_state_dict(self, state: Mapping[str, torch.Tensor], num_updates: int) -> None:
        """Load full tensors into the shadows (each rank keeps its own shard under FSDP2)."""
        missing = sorted(set(self.shadow) - set(state))
        if missing:
            raise KeyError(f"EMA state lacks '{missing[0]}'")
        for name, t in self.shadow.items():
            src = state[name]
            if hasattr(t, "device_mesh"):
                from torch.distributed.tensor import distribute_tensor

                src = distribute_tensor(src.to(t.device, t.dtype), t.device_mesh, t.placements)
                t.to_local().copy_(src.to_local())
            else:
                t.copy_(src.to(t.device, t.dtype))
        self.num_updates = int(num_updates)

    @contextlib.contextmanager
    @torch.no_grad()
    def swapped_in(self, model: nn.Module) -> Iterator[None]:
        """Temporarily put the EMA weights into ``model`` (e.g. for validation); restores on exit."""
        backup = {}
        for name, p in model.named_parameters():
            if name in self.shadow:
                backup[name] = p.detach().clone()
                p.copy_(self.shadow[name].to(p.dtype))
        try:
            yield
        finally:
            for name, p in model.named_parameters():
                if name in backup:
                    p.copy_(backup[name])
