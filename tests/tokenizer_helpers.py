"""Shared helpers of the tokenizer tests: a very small config and weight randomisation."""

from __future__ import annotations

import torch

from videoflextok.tokenizer.model import VideoFlexTok

# 16x16 pixels -> 4x4 latent grid (pixel compressor, 4x4 cells) -> 2x2 patches of 2x2 cells; K = 4.
SMALL = (
    "resolution=16",
    "K=4",
    "encoder_depth=1",
    "encoder_dim=32",
    "encoder_heads=2",
    "decoder_depth=2",
    "decoder_dim=32",
    "decoder_heads=2",
    "sample_steps=2",
)


def small_model(*overrides: str, seed: int = 0, randomize: bool = True) -> VideoFlexTok:
    """A tiny VideoFlexTok; with ``randomize`` every parameter (zero-initialised adaLN too) is random."""
    torch.manual_seed(seed)
    model = VideoFlexTok.from_preset("tiny", [*SMALL, *overrides]).eval()
    if randomize:
        with torch.no_grad():
            for param in model.parameters():
                param.copy_(torch.randn_like(param) * 0.2)
    return model


def random_video(batch: int, frames: int, resolution: int = 16, seed: int = 0) -> torch.Tensor:
    """A random video [B, 3, T, H, W] in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, resolution, resolution, generator=g) * 2 - 1

