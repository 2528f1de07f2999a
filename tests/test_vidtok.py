"""VidTok causal VAE (videoflextok.compressors.vidtok): official weight import and its errors, parity with the
official code's outputs (tests/fixtures/official_parity, a shrunk VAE), shapes, time causality, bf16 autocast."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from official_fixture import description, io_tensors, official_state
from videoflextok.compressors.vidtok import CausalConv, VidTokVAE
from videoflextok.compressors.vidtok_import import infer_vidtok_widths, vidtok_state_from_official
from videoflextok.errors import CheckpointError

PREFIX = "video_tokenizer.vae.vidtok."


@pytest.fixture(scope="module")
def vae() -> VidTokVAE:
    state = official_state()
    model = VidTokVAE(*infer_vidtok_widths(state, PREFIX))
    model.load_state_dict(vidtok_state_from_official(state, PREFIX), strict=True)
    return model


@pytest.fixture(scope="module")
def small() -> VidTokVAE:
    torch.manual_seed(0)
    return VidTokVAE(base_channels=4, channel_mults=(1, 2, 2, 2), num_res_blocks=1)


def encoder_input(two_chunks: bool) -> torch.Tensor:
    """The clips the official VAE encoded, [chunks, 3, 17, H, W] (two chunks sharing frame 16: one batch)."""
    video = io_tensors(two_chunks)["video"]
    if not two_chunks:
        return video
    spans = description()["two_chunk_case"]["chunking"]["chunk_frames"]
    return torch.cat([video[:, :, a:b] for a, b in spans])


def clip(t: int, hw: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, hw, hw, generator=g) * 2 - 1


def test_widths_inferred_from_weight_shapes() -> None:
    cfg = description()["vae"]
    widths = infer_vidtok_widths(official_state(), PREFIX)
    assert widths == (4, (1, 2, 4, 4), 2) == (cfg["ch"], tuple(cfg["ch_mult"]), cfg["num_res_blocks"])
    model = VidTokVAE(*widths)
    assert (model.temporal_factor, model.spatial_factor, model.latent_channels, model.is_causal) == (4, 8, 16, True)
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


@pytest.mark.parametrize("two_chunks", [False, True])
def test_encoder_moments_match_official(vae: VidTokVAE, two_chunks: bool) -> None:
    ref = io_tensors(two_chunks)["vae_moments"]  # [chunks, 32, 5, h, w], logvar not yet clamped
    with torch.no_grad():
        mean, logvar = vae.moments(encoder_input(two_chunks))
    assert mean.shape == logvar.shape == (ref.shape[0], 16, *ref.shape[2:])
    assert mean.dtype == logvar.dtype == torch.float32
    assert (mean - ref[:, :16]).abs().max() <= 1e-4  # measured ~5e-6
    assert (logvar - ref[:, 16:].clamp(-30, 20)).abs().max() <= 1e-4  # measured ~7e-6
    assert torch.equal(vae.encode(encoder_input(two_chunks)), mean)


@pytest.mark.parametrize("two_chunks", [False, True])
def test_decode_matches_official(vae: VidTokVAE, two_chunks: bool) -> None:
    io = io_tensors(two_chunks)
    ref = io["vae_decoded"]  # [chunks, 3, 17, H, W]
    with torch.no_grad():
        out = vae.decode(io["vae_latents"])
        exact = copy.deepcopy(vae).double().decode(io["vae_latents"].double())
    assert out.shape == ref.shape and out.dtype == torch.float32
    # The shrunk decoder is ill-conditioned (LayerNorms over 4 channels of nearly equal values): a 1e-7 relative
    # change of the latents moves its fp64 output by up to ~2e-4, and the official fp32 output itself is up to
    # 5e-4 away from the fp64 one, so max-abs parity is bounded by fp32 rounding (measured 8e-4 and 2e-4).
    err = (out - ref).abs()
    assert err.max() <= 2e-3 and err.mean() <= 1e-5  # mean measured ~2.7e-6
    assert (exact - ref).abs().max() <= 1e-3  # the same function: fp64 vs the official fp32 (measured 5e-4)
    # our fp32 rounding is no worse than the official one (mean distance to fp64 1.9e-6 vs 2.1e-6)
    assert (out - exact).abs().mean() <= 1.5 * (ref - exact).abs().mean()


def test_posterior_sample_reproduces_official_latents(vae: VidTokVAE, monkeypatch: pytest.MonkeyPatch) -> None:
    io = io_tensors()
    with torch.no_grad():
        mean, std = vae.posterior(io["video"])
    assert (mean + std * io["vae_eps"] - io["vae_latents"]).abs().max() <= 1e-4  # our moments: measured ~6e-6
    # with the official encoder output only the last bit of exp() (SIMD kernel of this CPU) can differ
    raw = io["vae_moments"].permute(0, 2, 3, 4, 1)  # our encoder's [B, T', h, w, 2C] layout
    monkeypatch.setattr(vae.encoder, "forward", lambda x: raw)
    mean, std = vae.posterior(io["video"])
    assert torch.equal(mean, io["vae_mean"])
    assert (mean + std * io["vae_eps"] - io["vae_latents"]).abs().max() <= 1e-6  # measured 4.8e-7 (1 ulp)


@pytest.mark.parametrize("frames,latent_frames", [(1, 1), (5, 2), (17, 5)])
def test_shapes(small: VidTokVAE, frames: int, latent_frames: int) -> None:
    with torch.no_grad():
        z = small.encode(clip(frames))
        assert z.shape == (1, 16, latent_frames, 2, 2)
        assert small.decode(z).shape == (1, 3, frames, 16, 16)


def test_time_causality(small: VidTokVAE) -> None:
    video = clip(17)
    edited = video.clone()
    edited[:, :, 9] = -edited[:, :, 9]
    with torch.no_grad():
        z, z_edit = small.encode(video), small.encode(edited)
        assert torch.allclose(z[:, :, :3], z_edit[:, :, :3], rtol=0, atol=1e-6)  # latent j sees frames <= 4j
        assert (z[:, :, 3] - z_edit[:, :, 3]).abs().max() > 1e-3
        z_edit = z.clone()
        z_edit[:, :, 3] += 1.0
        x, x_edit = small.decode(z), small.decode(z_edit)
        assert torch.allclose(x[:, :, :9], x_edit[:, :, :9], rtol=0, atol=1e-6)  # frames <= 4j see latents <= j
        assert (x[:, :, 9] - x_edit[:, :, 9]).abs().max() > 1e-3


@pytest.mark.parametrize("frames", [1, 2, 5])
@pytest.mark.parametrize("spatial,stride,repeat", [(False, 1, 1), (True, 1, 1), (True, 2, 1), (True, 1, 2)])
def test_causal_conv_equals_a_padded_conv3d(frames: int, spatial: bool, stride: int, repeat: int) -> None:
    """Values and gradients against torch's conv3d on the zero-padded (and frame-repeated) input, in float64."""
    torch.manual_seed(frames)
    conv = CausalConv(4, 5, 3, 3, time_stride=stride, spatial=spatial).double()
    x = torch.randn(2, frames * stride, 6, 6, 4, dtype=torch.float64, requires_grad=True)
    weight = conv.weight if spatial else conv.weight[..., None, None]
    ref_in = x.permute(0, 4, 1, 2, 3).repeat_interleave(repeat, dim=2)
    space = weight.shape[-1] // 2
    ref = F.conv3d(F.pad(ref_in, (space, space, space, space, 3 - stride, 0)), weight, conv.bias, stride=(stride, 1, 1))
    out = conv(x, repeat=repeat)
    assert out.shape == (2, frames * repeat, 6, 6, 5)
    assert torch.allclose(out, ref.permute(0, 2, 3, 4, 1), rtol=0, atol=1e-12)
    grads = torch.autograd.grad(out.square().sum(), (x, conv.weight, conv.bias))
    expected = torch.autograd.grad(ref.square().sum(), (x, conv.weight, conv.bias))
    assert all(torch.allclose(g, e, rtol=0, atol=1e-10) for g, e in zip(grads, expected))


def test_runs_under_bf16_autocast(small: VidTokVAE) -> None:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        mean, logvar = small.moments(clip(5))
        out = small.decode(mean)
    assert mean.dtype == logvar.dtype == out.dtype == torch.float32
    assert out.shape == (1, 3, 5, 16, 16) and torch.isfinite(out).all()


def official_vae_state() -> dict[str, torch.Tensor]:
    return {k: v for k, v in official_state().items() if k.startswith(PREFIX)}


@pytest.mark.parametrize(
    "edit,words",
    [
        (lambda s: s.pop(PREFIX + "decoder.mid.block_1.conv1.conv.weight"), "lack 1 tensors"),
        (lambda s: s.update({PREFIX + "decoder.conv_out.conv.weight": torch.zeros(3, 4, 3, 3, 1)}), "has shape"),
        (lambda s: s.update({PREFIX + "decoder.mid.attn_1.q.conv.weight": torch.zeros(16, 16)}), "has shape"),
        (lambda s: s.update({PREFIX + "encoder.extra.weight": torch.zeros(4)}), "unexpected tensor"),
        (lambda s: s.update({PREFIX + "decoder.up.0.block.0.conv1.conv.weight": torch.zeros(4, 8, 3)}), "unexpected"),
        (lambda s: s.pop(PREFIX + "encoder.conv_in.conv.weight"), "lack the tensor"),
        (lambda s: s.update({PREFIX + "encoder.down.1.block.0.conv1.weight": torch.zeros(6, 4, 3, 3)}), "multiple"),
        (lambda s: s.pop(PREFIX + "encoder.down.2.block.1.conv1.weight"), "different numbers of blocks"),
    ],
)  # fmt: skip
def test_import_errors(edit, words: str) -> None:
    state = official_vae_state()
    edit(state)
    with pytest.raises(CheckpointError, match=words) as info:
        vidtok_state_from_official(state, PREFIX)
    message = str(info.value)
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0


def test_import_ignores_keys_outside_the_prefix() -> None:
    state = official_state()
    ours = vidtok_state_from_official(state, PREFIX)
    assert len(ours) == len(official_vae_state()) < len(state)
    official_q = state[PREFIX + "encoder.mid.attn_1.q.conv.weight"]  # [C, C, 1, 1, 1]
    assert torch.equal(ours["encoder.mid.attn.q.weight"], official_q[..., 0, 0, 0])
