"""Checks on token input given by a user, each failing with one TokenError sentence."""

from __future__ import annotations

import numbers

import torch

from videoflextok.checkpoint import weights_fingerprint
from videoflextok.checks import check_float, check_int
from videoflextok.errors import CheckpointError, ConfigError, TokenError
from videoflextok.flow.guidance import GUIDANCE_MODES
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
    if keep_k is not None and (isinstance(keep_k, bool) or not isinstance(keep_k, numbers.Integral)):
        raise TokenError(f"keep_k must be an integer, got {keep_k!r}")
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


def decode_options(cfg: TokenizerConfig, steps: object, guidance: object, mode: object) -> tuple[int, float, str]:
    """(Euler steps, guidance scale, guidance mode) of one ``detokenize`` call: the config's defaults for None;
    steps an integer of at least 1, guidance a finite number of at least 0 (1 = conditional only, 0 =
    unconditional), mode "cfg" or "apg"."""
    steps = cfg.sample_steps if steps is None else check_int("steps", steps, 1)
    scale = cfg.guidance_scale if guidance is None else check_float("guidance", guidance, 0.0)
    mode = mode or cfg.guidance_mode
    if mode not in GUIDANCE_MODES:
        raise ConfigError(f"guidance_mode must be one of {', '.join(GUIDANCE_MODES)}, got {mode!r}")
    return steps, scale, mode


def token_fingerprint(model: torch.nn.Module) -> str:
    """16 hex digits naming what a tokenizer's token ids mean: its FSQ levels, K, patch size and the weights of its
    compressor and encoder (:func:`~videoflextok.checkpoint.weights_fingerprint`). The decoder is left out:
    retraining it keeps the meaning of the tokens."""
    cfg = model.config
    return weights_fingerprint(model, ("compressor", "encoder"), [list(cfg.fsq_levels), cfg.K, cfg.patch_size])


def check_same_tokenizer(generator_config, tokenizer: torch.nn.Module, what: str = "the generator") -> None:
    """Raise CheckpointError when ``generator_config.tokenizer_id`` names another tokenizer than ``tokenizer`` (a
    generator speaks the ids of the tokenizer its token folder was made with); no check when it is not recorded."""
    want = getattr(generator_config, "tokenizer_id", "")
    if want and want != token_fingerprint(tokenizer):
        raise CheckpointError(
            f"{what} was trained on the tokens of another tokenizer (fingerprint {want}, this one "
            f"{token_fingerprint(tokenizer)}); give the --tokenizer that made its token folder"
        )
