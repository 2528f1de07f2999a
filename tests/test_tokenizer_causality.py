"""Truncation invariance of the encoder and time causality of encoder and decoder."""

from __future__ import annotations

import pytest
import torch

from tokenizer_helpers import random_video, small_model
from videoflextok.tokenizer.patches import patchify


def encoder_inputs(model, video):
    patches = patchify(model.compressor.encode(video), model.config.patch_size)
    registers = model.encoder.initial_registers(video.shape[0], patches.shape[1]).clone()
    return patches, registers


@pytest.mark.parametrize("mixing", ["false", "true"])
@torch.no_grad()
def test_tokens_up_to_k_ignore_registers_after_k(mixing):
    model = small_model("K=6", f"register_mixing={mixing}")
    patches, registers = encoder_inputs(model, random_video(2, 17))
    feats = model.encoder.features(patches, registers)
    _, ids = model.encoder.quantize(feats)
    T, K = ids.shape[1:]
    for t in range(T):
        for k in range(1, K):
            perturbed = registers.clone()
            perturbed[:, t, k:] += torch.randn_like(perturbed[:, t, k:]) * 3
            feats2 = model.encoder.features(patches, perturbed)
            _, ids2 = model.encoder.quantize(feats2)
            torch.testing.assert_close(feats2[:, t, :k], feats[:, t, :k], atol=1e-6, rtol=0)
            assert torch.equal(ids2[:, t, :k], ids[:, t, :k])
            assert torch.equal(ids2[:, :t], ids[:, :t])  # earlier frames untouched too
            assert not torch.allclose(feats2[:, t, k:], feats[:, t, k:])  # the perturbation does reach k..K


@pytest.mark.parametrize("mixing", ["false", "true"])
@torch.no_grad()
def test_tokens_of_a_frame_ignore_later_frames(mixing):
    model = small_model(f"register_mixing={mixing}")
    for frames in (17, 33):
        video = random_video(1, frames)
        tokens = model.tokenize(video)[0]
        for t in range(1, tokens.shape[0] - 1):
            last_frame_of_t = 4 * t  # latent frame t covers frames 4t-3 .. 4t (frame 0 alone for t = 0)
            changed = video.clone()
            changed[:, :, last_frame_of_t + 1 :] = random_video(1, frames, seed=t)[:, :, last_frame_of_t + 1 :]
            tokens2 = model.tokenize(changed)[0]
            assert torch.equal(tokens2[: t + 1], tokens[: t + 1])
            assert not torch.equal(tokens2[t + 1 :], tokens[t + 1 :])


@pytest.mark.parametrize("mixing", ["false", "true"])
@torch.no_grad()
def test_decoder_output_ignores_registers_of_later_frames(mixing):
    model = small_model(f"register_mixing={mixing}")
    cfg = model.config
    b, T = 2, cfg.chunk_latent_frames
    x = torch.randn(b, T, cfg.num_patches, cfg.patch_dim)
    s = torch.rand(b, T)
    regs = torch.randn(b, T, cfg.K, cfg.decoder_dim)
    v = model.decoder(x, s, regs)
    for t in range(T - 1):
        perturbed = regs.clone()
        perturbed[:, t + 1 :] = torch.randn_like(perturbed[:, t + 1 :])
        v2 = model.decoder(x, s, perturbed)
        torch.testing.assert_close(v2[:, : t + 1], v[:, : t + 1], atol=1e-6, rtol=0)
        assert not torch.allclose(v2[:, t + 1 :], v[:, t + 1 :])


@torch.no_grad()
def test_detokenized_frames_ignore_tokens_of_later_frames():
    model = small_model()
    tokens = model.tokenize(random_video(1, 17))[0]
    changed = tokens.clone()
    changed[3:] = (changed[3:] + 7) % model.config.vocab_size
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = model.detokenize([tokens], guidance=2.0, generator=g())
    b = model.detokenize([changed], guidance=2.0, generator=g())
    assert torch.equal(a[:, :, : 1 + 4 * 2], b[:, :, : 1 + 4 * 2])  # latent frames 0..2 = frames 0..8
    assert not torch.equal(a[:, :, 9:], b[:, :, 9:])
