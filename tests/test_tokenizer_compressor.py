"""Compressors: pixel round trip and causal framing, the unloaded learned compressor, config checks."""

from __future__ import annotations

import pytest
import torch

from tokenizer_helpers import random_video
from videoflextok.compressors.base import PixelCompressor, UnloadedCompressor, build_compressor
from videoflextok.errors import ConfigError
from videoflextok.tokenizer.config import CompressorConfig
from videoflextok.tokenizer.patches import patchify, unpatchify


@pytest.mark.parametrize("frames", [1, 5, 17])
def test_pixel_compressor_is_lossless_with_causal_framing(frames):
    comp = PixelCompressor(4, 4)
    video = random_video(2, frames)
    latent = comp.encode(video)
    assert latent.shape == (2, 192, 1 + (frames - 1) // 4, 4, 4)
    assert torch.equal(comp.decode(latent), video)
    # latent frame 0 holds frame 0 only; later latent frames hold groups of 4 frames
    changed = video.clone()
    changed[:, :, 1:] = 0
    assert torch.equal(comp.encode(changed)[:, :, 0], latent[:, :, 0])


def test_patchify_round_trip():
    latent = torch.randn(2, 12, 3, 8, 8)
    patches = patchify(latent, 2)
    assert patches.shape == (2, 3, 16, 48)
    assert torch.equal(unpatchify(patches, 2, 4), latent)


def test_learned_compressor_without_weights_knows_shapes_but_cannot_encode():
    cfg = CompressorConfig(kind="vae", spatial_factor=8, channels=16)
    comp = build_compressor(cfg)
    assert isinstance(comp, UnloadedCompressor)
    assert (comp.temporal_factor, comp.spatial_factor, comp.latent_channels) == (4, 8, 16)
    with pytest.raises(ConfigError, match="compressor.path"):
        comp.encode(torch.zeros(1, 3, 17, 64, 64))
    with pytest.raises(ConfigError, match="channels"):
        CompressorConfig(kind="pixel", spatial_factor=8, channels=16)
