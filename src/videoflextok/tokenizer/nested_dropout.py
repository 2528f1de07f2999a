"""Nested dropout of registers: keep the first k of K per sample, replace the rest by one mask token.

Training draws one k per sample, the same k for all latent frames: uniform over {1, 2, 4, ..., K} (powers of two,
plus K itself; mode "pow2") or over 1..K (mode "uniform"). Inference uses the user's ``keep_k``. The replacement
uses ``torch.where`` (no in-place edits).
"""

from __future__ import annotations

import torch


def keep_choices(K: int) -> list[int]:
    """The k values nested dropout draws from: powers of two below K, and K."""
    choices, k = [], 1
    while k < K:
        choices.append(k)
        k *= 2
    return [*choices, K]


def sample_keep_k(
    batch: int, K: int, device: torch.device | str = "cpu", generator=None, mode: str = "pow2"
) -> torch.Tensor:
    """One k per sample, uniform over :func:`keep_choices` (mode "pow2") or over 1..K ("uniform"): [B] int64."""
    if mode == "uniform":
        return torch.randint(1, K + 1, (batch,), device=device, generator=generator)
    choices = torch.tensor(keep_choices(K), device=device)
    idx = torch.randint(len(choices), (batch,), device=device, generator=generator)
    return choices[idx]


def keep_mask(keep_k: torch.Tensor, K: int) -> torch.Tensor:
    """keep_k: [B] (or [B, T]) -> bool [B, K] (or [B, T, K]), True for registers 0..k-1."""
    return torch.arange(K, device=keep_k.device) < keep_k[..., None]


def apply_nested_dropout(registers: torch.Tensor, keep_k: torch.Tensor, mask_token: torch.Tensor) -> torch.Tensor:
    """registers: [B, T, K, d], keep_k: [B] (one k per video) or [B, T] (one per latent frame), mask_token: [d]
    -> [B, T, K, d] with registers >= k replaced."""
    keep = keep_mask(keep_k if keep_k.ndim == 2 else keep_k[:, None], registers.shape[2])[..., None]
    return torch.where(keep, registers, mask_token.to(registers.dtype))
