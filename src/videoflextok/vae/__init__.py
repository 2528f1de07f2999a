"""Causal video VAE: the learned (4, 8, 8) compressor in front of the tokenizer.

Importing this package registers the compressor kind ``"vae"`` with the tokenizer, so a tokenizer config
with ``compressor.kind: vae`` and ``compressor.path: <VAE folder>`` loads a frozen trained VAE.
"""

from __future__ import annotations

from videoflextok.tokenizer.compressor import register_compressor
from videoflextok.tokenizer.config import CompressorConfig
from videoflextok.vae.config import FrameCountError, VAEConfig, VideoShapeError
from videoflextok.vae.model import VideoVAE

__all__ = ["FrameCountError", "VAEConfig", "VideoShapeError", "VideoVAE", "load_frozen_vae"]


def load_frozen_vae(cfg: CompressorConfig) -> VideoVAE:
    """The trained VAE at ``cfg.path``, frozen (eval mode, no gradients), as a tokenizer compressor."""
    return VideoVAE.from_pretrained(cfg.path).freeze()


register_compressor("vae", load_frozen_vae)
