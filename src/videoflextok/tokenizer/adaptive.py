"""A per-video token budget: how many of its ordered tokens (k per latent frame) a video keeps.

The tokens are ordered coarse to fine, so a budget is only a cut: every latent frame keeps its first k tokens. Two
ways to choose k:

- ``target_psnr``: the smallest k whose reconstruction reaches a PSNR (dB). A guarantee per video, but a video that
  gains slowly with k is driven to the full budget by a target it barely reaches.
- ``db_per_token``: the price of a token. Each video keeps the k that maximises ``PSNR(k) - db_per_token * k``, i.e.
  it stops where one more token per latent frame buys less than ``db_per_token`` dB. Summed over videos this is
  the Lagrangian rate-distortion allocation: for the mean PSNR it reaches, no other choice among the same
  candidates (every fixed k included) spends fewer tokens on the estimates.

The quality of each candidate k is estimated cheaply: ONE Euler step from the decoder's noise at s = 1 (for either
prediction type that is the decoder's guess of the clean latents given the first k tokens), decoded by the
compressor and compared with the video. ``bench/adaptive_budget.py`` measures how well this estimate agrees with a
full decode and what each criterion saves against fixed budgets.

```python
tokens = model.tokenize(video, target_psnr=22.0)      # list of LongTensor [T', k_b], one k per video
tokens = model.tokenize(video, db_per_token=0.1)      # the same, each video cut where a token buys < 0.1 dB
k, estimate = choose_keep_k(model, video[:1], model.tokenize(video[:1])[0], 22.0)   # the choice for video 0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from videoflextok.errors import ConfigError
from videoflextok.psnr import psnr
from videoflextok.tokenizer.nested_dropout import keep_choices

ESTIMATE_STEPS = 1  # Euler steps of the estimate
ESTIMATE_SEED = 0  # seed of the estimate's noise


@torch.no_grad()
def reconstruct(model, rows: torch.Tensor, k: int, steps: int | None = None, seed: int = ESTIMATE_SEED) -> torch.Tensor:
    """Decode the first k tokens of ``rows`` [T', K] (``steps`` Euler steps, noise drawn on the CPU from ``seed``, so
    every device gives the same estimate; through the streaming decoder, so any length works) -> [1, 3, T, H, W] in
    [-1, 1] on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    decoder = model.stream_decoder(keep_k=k, steps=steps, generator=generator)
    return torch.cat([decoder.push(rows), decoder.flush()], dim=2)


def estimate_psnr(model, video: torch.Tensor, rows: torch.Tensor, k: int, seed: int = ESTIMATE_SEED) -> float:
    """The estimated PSNR (dB, the mean over frames) of decoding ``rows`` [T', K] from k tokens per latent frame;
    video: [1, 3, T, H, W] in [-1, 1], the clip the rows came from."""
    recon = reconstruct(model, rows, k, steps=ESTIMATE_STEPS, seed=seed)
    return float(psnr(recon, video.cpu()).mean())


def choose_keep_k(
    model,
    video: torch.Tensor,
    rows: torch.Tensor,
    target_psnr: float | None = None,
    candidates: Sequence[int] | None = None,
    seed: int = ESTIMATE_SEED,
    db_per_token: float | None = None,
) -> tuple[int, float]:
    """(k, its estimated PSNR) for one video under exactly one criterion (candidates default to 1, 2, 4, ..., K, the
    budgets nested dropout trains):

    - ``target_psnr``: the smallest candidate whose estimate reaches it (tried from small to large, stopping at the
      first that does); when none does, the smallest k with the best estimate;
    - ``db_per_token``: the candidate maximising ``estimate - db_per_token * k`` (the smallest k on ties).

    video: [1, 3, T, H, W] in [-1, 1]; rows: its tokens [T', K].
    """
    check_criterion(target_psnr, db_per_token)
    ks = sorted(set(candidates if candidates is not None else keep_choices(model.config.K)))
    if not ks or ks[0] < 1 or ks[-1] > rows.shape[1]:
        raise ConfigError(f"budget candidates must lie in 1..{rows.shape[1]}, got {list(ks)}")
    estimates = ((k, estimate_psnr(model, video, rows, k, seed)) for k in ks)
    if db_per_token is not None:
        return best_tradeoff(estimates, db_per_token)
    return first_reaching(estimates, target_psnr)


def check_criterion(target_psnr: float | None, db_per_token: float | None) -> None:
    """Exactly one of the two budget criteria, a finite number (``db_per_token`` at least 0)."""
    if (target_psnr is None) == (db_per_token is None):
        raise ConfigError("give exactly one of target_psnr and db_per_token")
    value = target_psnr if target_psnr is not None else db_per_token
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        name = "target_psnr" if target_psnr is not None else "db_per_token"
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if db_per_token is not None and db_per_token < 0:
        raise ConfigError(f"db_per_token must be at least 0, got {db_per_token}")


def first_reaching(estimates: Iterable[tuple[int, float]], target_psnr: float) -> tuple[int, float]:
    """The first (k, estimate) of ``estimates`` (k ascending, consumed lazily) whose estimate reaches the target;
    when none does, the first with the best estimate."""
    best = None
    for k, estimate in estimates:
        if estimate >= target_psnr:
            return k, estimate
        if best is None or estimate > best[1]:
            best = (k, estimate)
    if best is None:
        raise ValueError("no budget candidates")
    return best


def best_tradeoff(estimates: Iterable[tuple[int, float]], db_per_token: float) -> tuple[int, float]:
    """The (k, estimate) of ``estimates`` (k ascending) maximising ``estimate - db_per_token * k``; the first on
    ties."""
    best = None
    for k, estimate in estimates:
        if best is None or estimate - db_per_token * k > best[1] - db_per_token * best[0]:
            best = (k, estimate)
    if best is None:
        raise ValueError("no budget candidates")
    return best


def cut_to_budget(
    model,
    video: torch.Tensor,
    tokens: list[torch.Tensor],
    target_psnr: float | None = None,
    db_per_token: float | None = None,
) -> list[torch.Tensor]:
    """tokens: B LongTensor [T', K] of video [B, 3, T, H, W] -> each cut to its video's :func:`choose_keep_k`."""
    return [
        rows[:, : choose_keep_k(model, clip[None], rows, target_psnr, db_per_token=db_per_token)[0]]
        for clip, rows in zip(video, tokens)
    ]
