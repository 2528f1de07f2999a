"""A per-video token budget: the smallest k (tokens per latent frame) whose reconstruction reaches a PSNR target.

The tokens are ordered coarse to fine, so a budget is only a cut: every latent frame keeps its first k tokens. The
quality of each candidate k is estimated cheaply: ONE Euler step from the decoder's noise at s = 1 (for either
prediction type that is the decoder's guess of the clean latents given the first k tokens), decoded by the
compressor and compared with the video. ``bench/adaptive_budget.py`` measures how well this estimate agrees with a
full decode.

```python
tokens = model.tokenize(video, target_psnr=22.0)      # list of LongTensor [T', k_b], one k per video
k, estimate = choose_keep_k(model, video[:1], model.tokenize(video[:1])[0], 22.0)   # the same choice for video 0
```
"""

from __future__ import annotations

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
    target_psnr: float,
    candidates: Sequence[int] | None = None,
    seed: int = ESTIMATE_SEED,
) -> tuple[int, float]:
    """(k, its estimated PSNR): the smallest candidate k whose estimate reaches ``target_psnr``; when none does, the
    smallest k with the best estimate. Candidates are tried from small to large (default: 1, 2, 4, ..., K, the
    budgets nested dropout trains); they stop at the first that reaches the target.

    video: [1, 3, T, H, W] in [-1, 1]; rows: its tokens [T', K].
    """
    ks = sorted(set(candidates if candidates is not None else keep_choices(model.config.K)))
    if not ks or ks[0] < 1 or ks[-1] > rows.shape[1]:
        raise ConfigError(f"budget candidates must lie in 1..{rows.shape[1]}, got {list(ks)}")
    return first_reaching(((k, estimate_psnr(model, video, rows, k, seed)) for k in ks), target_psnr)


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


def cut_to_target(model, video: torch.Tensor, tokens: list[torch.Tensor], target_psnr: float) -> list[torch.Tensor]:
    """tokens: B LongTensor [T', K] of video [B, 3, T, H, W] -> each cut to its video's :func:`choose_keep_k`."""
    return [rows[:, : choose_keep_k(model, clip[None], rows, target_psnr)[0]] for clip, rows in zip(video, tokens)]
