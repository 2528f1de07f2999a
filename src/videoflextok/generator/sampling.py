"""Turning next-token logits into token ids: temperature, top-k, top-p (guidance: ``flow.cfg_combine``).

All functions work in fp32 on ``logits: [B, V]`` and are pure except for the seeded draw in
:func:`sample`.
"""

from __future__ import annotations

import torch

from videoflextok.checks import check_float, check_int, check_optional


def filter_top_k(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Keep the ``k`` largest logits per row (ties at the k-th value are kept), set the rest to -inf."""
    if k is None or k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: torch.Tensor, p: float | None) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of tokens whose probability mass reaches ``p`` (at least one)."""
    if p is None or p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # mass of strictly more likely tokens
    drop_sorted = mass_before >= p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """logits: [B, V] -> token ids [B]. Temperature 0 is greedy (argmax)."""
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(dim=-1)
    if temperature != 1.0:  # a full pass over the vocabulary saved per token otherwise
        logits = logits / temperature
    logits = filter_top_p(filter_top_k(logits, top_k), top_p)
    return draw(logits.softmax(dim=-1), generator)


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One id per row of ``probs [B, V]`` (rows need not sum to 1), by inverse CDF: one uniform per row.

    The same distribution as ``torch.multinomial(probs, 1)``, which draws one exponential per vocabulary
    entry (64,000 per token here) and was ~20% of a KV-cached sampling step. The cumulative sum is in fp64 so
    rounding cannot move mass between neighbouring ids; zero-probability ids have empty intervals.
    """
    cdf = probs.double().cumsum(dim=-1)
    u = torch.rand(probs.shape[0], 1, dtype=torch.float64, device=probs.device, generator=generator)
    ids = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
    return ids[:, 0].clamp_max(probs.shape[-1] - 1)


def check_sampling(temperature: object, top_k: object, top_p: object, cfg_scale: object) -> None:
    """Raise ConfigError (one sentence) unless temperature >= 0, top_k >= 1 (or None), top_p in (0, 1] (or None)
    and the CFG scale >= 0 (1 = off, 0 = unconditional), every one a finite number."""
    check_float("temperature", temperature, 0.0)
    check_optional(check_int, "top_k", top_k, 1)
    check_optional(check_float, "top_p", top_p, 0.0, 1.0, low_open=True)
    check_float("cfg scale", cfg_scale, 0.0)
