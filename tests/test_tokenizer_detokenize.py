"""Detokenize: keep_k equals truncation, any length; token counts of long videos."""

from __future__ import annotations

import pytest
import torch

from tokenizer_helpers import random_video, small_model


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.mark.parametrize("frames", [17, 33, 81])
@torch.no_grad()
def test_keep_k_equals_truncated_tokens(model, frames):
    video = random_video(2 if frames < 81 else 1, frames)
    tokens = model.tokenize(video)
    assert [t.shape for t in tokens] == [(model.config.latent_frames(frames), model.config.K)] * video.shape[0]
    for k in range(1, model.config.K + 1):
        a = model.detokenize(tokens, keep_k=k, steps=2, guidance=1.5, generator=torch.Generator().manual_seed(k))
        b = model.detokenize(
            [t[:, :k] for t in tokens], steps=2, guidance=1.5, generator=torch.Generator().manual_seed(k)
        )
        assert a.shape == video.shape
        assert torch.equal(a, b)
        assert a.abs().max() <= 1
    # with the same noise, the number of kept tokens changes the output
    one, full = (model.detokenize(tokens, keep_k=k, generator=torch.Generator().manual_seed(0)) for k in (1, 4))
    assert not torch.equal(one, full)


@torch.no_grad()
def test_same_generator_seed_reproduces_and_other_seed_differs(model):
    tokens = model.tokenize(random_video(1, 17))
    a = model.detokenize(tokens, generator=torch.Generator().manual_seed(1))
    b = model.detokenize(tokens, generator=torch.Generator().manual_seed(1))
    c = model.detokenize(tokens, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


@torch.no_grad()
def test_81_frames_give_21_latent_frames_and_672_tokens_at_keep_32():
    model = small_model("K=64", randomize=False)
    tokens = model.tokenize(random_video(1, 81))
    assert tokens[0].shape == (21, 64)
    kept = tokens[0][:, :32]
    assert kept.numel() == 672
    video = model.detokenize([kept], steps=1)
    assert video.shape == (1, 3, 81, 16, 16)
    assert model.config.latent_frames(81) == 21 and model.config.latent_frames(17) == 5


@torch.no_grad()
def test_long_video_tokens_are_the_chunks_tokens_without_the_shared_frame(model):
    video = random_video(1, 33)
    whole = model.tokenize(video)[0]
    first = model.tokenize(video[:, :, :17])[0]
    second = model.tokenize(video[:, :, 16:])[0]
    assert torch.equal(whole, torch.cat([first, second[1:]]))
