"""Streaming tokenizer (videoflextok.tokenizer.streaming): token rows pushed out while frames arrive equal
``tokenize`` exactly, for uneven pushes and across chunk boundaries, with the pixel and the VidTok compressor; the
streaming decoder equals ``detokenize``; what the streams keep stays within one chunk."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tokenizer_helpers import random_video, small_model
from videoflextok.compressors.base import PixelCompressor
from videoflextok.compressors.vidtok_stream import VidTokDecodeStream, VidTokEncodeStream
from videoflextok.errors import ConfigError, TokenError, VideoShapeError
from videoflextok.tokenizer.compressor_stream import RecomputeEncodeStream
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.nested_dropout import apply_nested_dropout

# the VidTok VAE with random weights at its smallest: 32x32 frames -> 16 channels on a 4x4 grid
VIDTOK = ("resolution=32", "compressor.kind=vidtok", "compressor.spatial_factor=8", "compressor.channels=16",
          "compressor.base_channels=4", "compressor.channel_mults=[1,2,2,2]", "compressor.num_res_blocks=1")


def uneven_push(encoder, video: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """Push ``video`` [1, 3, T, H, W] in random pieces of 0..6 frames; all the rows that come out."""
    g = torch.Generator().manual_seed(seed)
    rows, t = [], 0
    while t < video.shape[2]:
        n = int(torch.randint(0, 7, (1,), generator=g))
        rows += encoder.push(video[:, :, t : t + n])
        t += n
    return rows


@pytest.mark.parametrize("frames", [1, 5, 13, 17, 33, 49])
def test_stream_encoder_equals_tokenize_pixel(frames: int) -> None:
    model = small_model("max_frames=49")
    video = random_video(1, frames, seed=frames)
    rows = uneven_push(model.stream_encoder(), video, seed=frames)
    assert all(r.dtype == torch.long and r.shape == (model.config.K,) for r in rows)
    assert torch.equal(torch.stack(rows), model.tokenize(video)[0])


def test_rows_come_out_as_soon_as_their_frames_arrive() -> None:
    model = small_model("max_frames=33")
    video = random_video(1, 33, seed=1)
    encoder = model.stream_encoder()
    counts = [len(encoder.push(video[:, :, t : t + 1])) for t in range(33)]
    assert counts == [1] + [0, 0, 0, 1] * 8  # frame 0, then every 4th frame completes a latent frame


@pytest.mark.parametrize("frames", [17, 33])
def test_stream_encoder_equals_tokenize_vidtok(frames: int) -> None:
    model = small_model(*VIDTOK, "max_frames=33", seed=1)
    video = random_video(1, frames, resolution=32, seed=frames)
    rows = uneven_push(model.stream_encoder(), video, seed=frames + 1)
    assert torch.equal(torch.stack(rows), model.tokenize(video)[0])


def test_vidtok_streams_equal_whole_clip() -> None:
    """Latents pushed out piece by piece equal encode(); frames equal decode() (float rounding only)."""
    model = small_model(*VIDTOK, seed=2)
    vae = model.compressor
    video = random_video(1, 17, resolution=32, seed=3)
    with torch.no_grad():
        encoder = VidTokEncodeStream(vae)
        latents = torch.cat([encoder.push(video[:, :, :1]), encoder.push(video[:, :, 1:9]),
                             encoder.push(video[:, :, 9:13]), encoder.push(video[:, :, 13:])], dim=2)
        whole = vae.encode(video)
        torch.testing.assert_close(latents, whole, atol=1e-5, rtol=1e-5)
        decoder = VidTokDecodeStream(vae)
        pieces = [decoder.push(whole[:, :, :1]), decoder.push(whole[:, :, 1:3]), decoder.push(whole[:, :, 3:])]
        assert [p.shape[2] for p in pieces] == [1, 8, 8]
        torch.testing.assert_close(torch.cat(pieces, dim=2), vae.decode(whole), atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="groups of 4"):
            encoder.push(video[:, :, :3])


def test_long_video_beyond_max_frames_and_bounded_state() -> None:
    """161 frames stream through a model whose offline limit is 49 frames; the rows equal tokenize of a model
    allowed 161 frames (max_frames is only a guard), and the streams never hold more than one chunk."""
    model = small_model("max_frames=49")
    video = random_video(1, 161, seed=4)
    encoder = model.stream_encoder()
    rows, held = [], []
    for t in range(0, 161, 7):
        rows += encoder.push(video[:, :, t : t + 7])
        stream = encoder.chunk.compressor
        assert isinstance(stream, RecomputeEncodeStream)
        held.append(stream.frames.shape[2])
        assert all(cache.length <= cache.k.shape[2] for cache in encoder.chunk.caches)
    assert max(held) <= model.config.chunk_frames
    unlimited = VideoFlexTok(dataclasses.replace(model.config, max_frames=161)).eval()
    unlimited.load_state_dict(model.state_dict())
    assert torch.equal(torch.stack(rows), unlimited.tokenize(video)[0])


@pytest.mark.parametrize(("frames", "guidance"), [(17, 1.0), (33, 2.0)])
def test_stream_decoder_equals_detokenize(frames: int, guidance: float) -> None:
    model = small_model("max_frames=33")
    tokens = model.tokenize(random_video(1, frames, seed=5))[0]
    full = model.detokenize([tokens], keep_k=3, guidance=guidance, generator=torch.Generator().manual_seed(7))
    decoder = model.stream_decoder(keep_k=3, guidance=guidance, generator=torch.Generator().manual_seed(7))
    pieces = [decoder.push(tokens[:2]), decoder.push(list(tokens[2:3])), decoder.push(tokens[3:]), decoder.flush()]
    assert [p.shape[2] for p in pieces] == [5, 4, frames - 9, 0]
    torch.testing.assert_close(torch.cat(pieces, dim=2), full, atol=1e-4, rtol=0)


def test_stream_decoder_vidtok_equals_detokenize() -> None:
    model = small_model(*VIDTOK, "max_frames=33", seed=3)
    tokens = model.tokenize(random_video(1, 33, resolution=32, seed=6))[0]
    full = model.detokenize([tokens], generator=torch.Generator().manual_seed(1))
    decoder = model.stream_decoder(generator=torch.Generator().manual_seed(1))
    out = torch.cat([decoder.push(tokens[i : i + 3]) for i in range(0, 9, 3)], dim=2)
    torch.testing.assert_close(out, full, atol=1e-4, rtol=0)


def test_apg_decodes_whole_chunks() -> None:
    """APG normalises over the whole chunk, so a chunk's frames come out with its last row (or at flush)."""
    model = small_model("max_frames=33")
    tokens = model.tokenize(random_video(1, 33, seed=8))[0]
    options = {"guidance": 2.0, "guidance_mode": "apg"}
    full = model.detokenize([tokens], generator=torch.Generator().manual_seed(2), **options)
    decoder = model.stream_decoder(generator=torch.Generator().manual_seed(2), **options)
    pieces = [decoder.push(tokens[:3]), decoder.push(tokens[3:6]), decoder.push(tokens[6:]), decoder.flush()]
    assert [p.shape[2] for p in pieces] == [0, 17, 16, 0]
    torch.testing.assert_close(torch.cat(pieces, dim=2), full, atol=1e-4, rtol=0)
    early = model.stream_decoder(generator=torch.Generator().manual_seed(2), **options)
    assert early.push(tokens[:2]).shape[2] == 0 and early.flush().shape[2] == 5


def test_rows_with_different_k() -> None:
    """Per-row budgets: a row's k changes only its own and later frames (the decoder is causal), and rows cut to
    one k equal keep_k."""
    model = small_model("max_frames=17")
    tokens = model.tokenize(random_video(1, 17, seed=9))[0]
    mixed = [tokens[0], tokens[1, :1], tokens[2, :3], tokens[3], tokens[4, :2]]
    out = model.stream_decoder(generator=torch.Generator().manual_seed(0)).push(mixed)
    full = model.stream_decoder(generator=torch.Generator().manual_seed(0)).push(tokens)
    assert torch.equal(out[:, :, :1], full[:, :, :1]) and not torch.allclose(out[:, :, 1:], full[:, :, 1:])
    cut = model.stream_decoder(keep_k=2, generator=torch.Generator().manual_seed(0)).push(tokens)
    ref = model.detokenize([tokens[:, :2]], generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(cut, ref, atol=1e-4, rtol=0)


def test_nested_dropout_per_frame_keep() -> None:
    regs, mask = torch.randn(2, 3, 4, 5), torch.zeros(5)
    per_frame = torch.tensor([[1, 4, 2], [3, 3, 3]])
    out = apply_nested_dropout(regs, per_frame, mask)
    for b in range(2):
        for t in range(3):
            ref = apply_nested_dropout(regs[b : b + 1, t : t + 1], per_frame[b, t : t + 1], mask)
            assert torch.equal(out[b : b + 1, t : t + 1], ref)
    assert torch.equal(apply_nested_dropout(regs, torch.tensor([1, 3]), mask)[1], out[1])  # one k per video


def test_bad_input_is_refused() -> None:
    model = small_model()
    with pytest.raises(VideoShapeError, match=r"\[1, 3, t, 16, 16\]"):
        model.stream_encoder().push(random_video(2, 5))
    with pytest.raises(VideoShapeError):
        model.stream_encoder().push(torch.zeros(1, 3, 5, 16, 16, dtype=torch.long))
    decoder = model.stream_decoder()
    with pytest.raises(TokenError, match="ids must be in"):
        decoder.push(torch.full((2, 4), model.config.vocab_size))
    with pytest.raises(TokenError, match="1 to 4"):
        decoder.push([torch.zeros(5, dtype=torch.long)])
    with pytest.raises(TokenError, match="keep_k"):
        model.stream_decoder(keep_k=9)

    class Acausal(PixelCompressor):
        is_causal = False

    acausal = VideoFlexTok(model.config, compressor=Acausal(4, 4))
    with pytest.raises(ConfigError, match="not causal"):
        acausal.stream_encoder()
    with pytest.raises(ConfigError, match="not causal"):
        acausal.stream_decoder()


def test_learned_vae_compressor_streams_by_recomputing_within_the_chunk() -> None:
    """The learned causal VAE (no causal-conv tails of its own here) re-runs on the chunk's frames so far: the rows
    still equal tokenize, and the decoder equals detokenize (float rounding)."""
    from videoflextok.tokenizer.model import preset_config
    from videoflextok.vae import VAEConfig, VideoVAE

    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig(base_channels=8, channel_mults=(1, 2, 2, 2), num_res_blocks=1, latent_channels=4))
    cfg = preset_config("tiny", ["resolution=32", "K=4", "compressor.kind=vae", "compressor.spatial_factor=8",
                                 "compressor.channels=4", "patch_size=1", "encoder_depth=1", "decoder_depth=1",
                                 "encoder_dim=32", "decoder_dim=32", "max_frames=33", "sample_steps=2"])
    model = VideoFlexTok(cfg, compressor=vae.freeze()).eval()
    video = random_video(1, 33, resolution=32, seed=11)
    tokens = model.tokenize(video)[0]
    assert torch.equal(torch.stack(uneven_push(model.stream_encoder(), video, seed=12)), tokens)
    full = model.detokenize([tokens], generator=torch.Generator().manual_seed(3))
    out = model.stream_decoder(generator=torch.Generator().manual_seed(3)).push(tokens)
    torch.testing.assert_close(out, full, atol=1e-4, rtol=0)
