"""Checks on token input given by a user, each failing with one TokenError sentence."""

from __future__ import annotations

import torch

from videoflextok.errors import TokenError
from videoflextok.tokenizer.config import TokenizerConfig


def check_tokens(tokens: object, cfg: TokenizerConfig, keep_k: int | None = None) -> torch.Tensor:
    """tokens: a non-empty list of LongTensor [T', K'] (same shape), 1 <= K' <= K -> stacked [B, T', K'].

    Raises TokenError on a wrong container, dtype, rank, shape, id range, token count or length.
    """
    if isinstance(tokens, torch.Tensor) or not isinstance(tokens, (list, tuple)):
        raise TokenError("tokens must be a list of LongTensor [T', K], one per video")
    if len(tokens) == 0:
        raise TokenError("tokens is an empty list; give one LongTensor [T', K] per video")
    for i, t in enumerate(tokens):
        if not isinstance(t, torch.Tensor):
            raise TokenError(f"tokens[{i}] is a {type(t).__name__}, not a LongTensor")
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TokenError(f"tokens[{i}] has dtype {t.dtype}; token ids must be an integer tensor (int64)")
        if t.ndim != 2:
            raise TokenError(f"tokens[{i}] must have shape [T', K], got {tuple(t.shape)}")
    shape = tuple(tokens[0].shape)
    for i, t in enumerate(tokens):
        if tuple(t.shape) != shape:
            raise TokenError(
                f"all videos' tokens must have the same shape; tokens[{i}] is {tuple(t.shape)}, not {shape}"
            )
    rows, k = shape
    if k < 1 or k > cfg.K:
        raise TokenError(f"tokens have {k} tokens per latent frame; this model takes 1 to {cfg.K}")
    if keep_k is not None and not 1 <= keep_k <= k:
        raise TokenError(f"keep_k must be between 1 and {k} (tokens per latent frame), got {keep_k}")
    max_rows = cfg.latent_frames(cfg.max_frames)
    if rows > max_rows:
        raise TokenError(f"tokens have {rows} latent frames; this model supports at most {max_rows}")
    if not cfg.supports_latent_frames(rows):
        step = cfg.chunk_latent_frames - 1
        raise TokenError(
            f"tokens have {rows} latent frames; supported are 1 to {cfg.chunk_latent_frames}, or 1 + {step}n "
            f"up to {max_rows}"
        )
    ids = torch.stack([t.long() for t in tokens])
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= cfg.vocab_size):
        raise TokenError(
            f"token ids must be in [0, {cfg.vocab_size}), got values from {int(ids.min())} to {int(ids.max())}"
        )
    return ids
