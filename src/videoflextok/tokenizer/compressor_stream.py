"""Compressors fed a few frames (or latent frames) at a time, for the streaming tokenizer.

A stream covers one chunk at most (the tokenizer compresses every chunk on its own), so whatever it keeps is
bounded by the chunk length. Interface of both directions:

``EncodeStream.push(frames [B, 3, t, H, W]) -> latents [B, C, n, h, w]``: the first push holds frame 0 alone
(latent frame 0), every later push ``temporal_factor * n`` frames (n more latent frames).
``DecodeStream.push(latents [B, C, n, h, w]) -> frames [B, 3, t, H, W]``: latent frame 0 gives frame 0, every
later latent frame ``temporal_factor`` frames.

:func:`encode_stream` / :func:`decode_stream` pick the stream of a compressor: the VidTok VAE carries the tails
of its causal convolutions from push to push (:mod:`videoflextok.compressors.vidtok_stream`); any other causal
compressor (the pixel compressor, the learned VAE) re-runs on what the current stream holds so far and returns the
new part. A compressor that is not causal cannot be streamed.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from videoflextok.errors import ConfigError


class CompressorStream(Protocol):
    """One direction of a compressor, fed piece by piece (see the module docstring)."""

    def push(self, x: torch.Tensor) -> torch.Tensor: ...


class RecomputeEncodeStream:
    """Keeps the frames pushed so far (one chunk at most) and encodes all of them at every push."""

    def __init__(self, compressor: nn.Module) -> None:
        self.compressor = compressor
        self.frames: torch.Tensor | None = None  # [B, 3, F, H, W]
        self.done = 0  # latent frames returned so far

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        self.frames = frames if self.frames is None else torch.cat([self.frames, frames], dim=2)
        latent = self.compressor.encode(self.frames)
        new = latent[:, :, self.done :]
        self.done = latent.shape[2]
        return new


class RecomputeDecodeStream:
    """Keeps the latent frames pushed so far (one chunk at most) and decodes all of them at every push."""

    def __init__(self, compressor: nn.Module) -> None:
        self.compressor = compressor
        self.latents: torch.Tensor | None = None  # [B, C, T', h, w]
        self.done = 0  # frames returned so far

    def push(self, latents: torch.Tensor) -> torch.Tensor:
        self.latents = latents if self.latents is None else torch.cat([self.latents, latents], dim=2)
        video = self.compressor.decode(self.latents)
        new = video[:, :, self.done :]
        self.done = video.shape[2]
        return new


def _vidtok(compressor: nn.Module) -> bool:
    from videoflextok.compressors.vidtok import VidTokVAE

    return isinstance(compressor, VidTokVAE)


def check_streamable(compressor: nn.Module) -> None:
    """Raise ConfigError (one sentence) unless ``compressor`` can be streamed: it must be causal in time."""
    if not getattr(compressor, "is_causal", False):
        raise ConfigError(f"the compressor {type(compressor).__name__} is not causal in time, so it cannot be streamed")


def encode_stream(compressor: nn.Module) -> CompressorStream:
    """A fresh encoding stream of ``compressor`` (one per chunk); raises ConfigError for a non-causal one."""
    check_streamable(compressor)
    if _vidtok(compressor):
        from videoflextok.compressors.vidtok_stream import VidTokEncodeStream

        return VidTokEncodeStream(compressor)
    return RecomputeEncodeStream(compressor)


def decode_stream(compressor: nn.Module) -> CompressorStream:
    """A fresh decoding stream of ``compressor`` (one per chunk); raises ConfigError for a non-causal one."""
    check_streamable(compressor)
    if _vidtok(compressor):
        from videoflextok.compressors.vidtok_stream import VidTokDecodeStream

        return VidTokDecodeStream(compressor)
    return RecomputeDecodeStream(compressor)
