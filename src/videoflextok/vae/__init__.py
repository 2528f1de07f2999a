"""Causal video VAE: the learned (4, 8, 8) compressor the tokenizer can work on (``compressor.kind: vae`` with
``compressor.path`` naming a trained VAE folder)."""

from __future__ import annotations

from videoflextok.errors import FrameCountError, VideoShapeError
from videoflextok.vae.config import VAEConfig
from videoflextok.vae.model import VideoVAE

__all__ = ["FrameCountError", "VAEConfig", "VideoShapeError", "VideoVAE"]
