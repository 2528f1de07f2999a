"""VideoVAE: shape arithmetic, the 1 + 4n framing, time causality, chunked/tiled encode-decode, presets,
checkpoints, freezing and the training objective (tiny configs, CPU)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.vae import FrameCountError, VAEConfig, VideoShapeError, VideoVAE
from videoflextok.vae.tiling import tiled_apply


def tiny(**kw) -> VideoVAE:
    base = dict(base_channels=8, channel_mults=(1, 2, 2, 2), num_res_blocks=1, latent_channels=4, chunk_frames=4)
    base.update(kw)
    torch.manual_seed(0)
    return VideoVAE(VAEConfig(**base)).eval()


def clip(t: int, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize(
    "factors,mults,t,hw",
    [((4, 8), (1, 2, 2, 2), 1, 32), ((4, 8), (1, 2, 2, 2), 9, 32), ((4, 8), (1, 2, 2, 2), 17, 16),
     ((4, 16), (1, 1, 2, 2, 2), 9, 32), ((8, 8), (1, 2, 2, 2), 17, 16), ((2, 4), (1, 2, 2), 7, 16)],
)  # fmt: skip
def test_shapes_for_1_plus_fn_frames(factors, mults, t, hw) -> None:
    ft, fs = factors
    vae = tiny(temporal_factor=ft, spatial_factor=fs, channel_mults=mults, chunk_frames=ft)
    with torch.no_grad():
        z = vae.encode(clip(t, hw, hw))
        assert z.shape == (1, 4, 1 + (t - 1) // ft, hw // fs, hw // fs)
        assert vae.latent_shape(t, hw, hw) == tuple(z.shape[1:])
        assert vae.decode(z).shape == (1, 3, t, hw, hw)


@pytest.mark.parametrize("t", [0, 2, 4, 6, 16])
def test_bad_frame_count_is_a_clear_value_error(t: int) -> None:
    vae = tiny()
    with pytest.raises(ValueError, match=r"1 \+ 4\*n frames") as info:
        vae.encode(torch.zeros(1, 3, t, 16, 16))
    assert isinstance(info.value, FrameCountError)
    assert "\n" not in str(info.value)


def test_bad_spatial_size_and_rank() -> None:
    vae = tiny()
    with pytest.raises(VideoShapeError, match="divisible by 8"):
        vae.encode(torch.zeros(1, 3, 5, 20, 16))
    with pytest.raises(VideoShapeError, match=r"\[B, 3, T, H, W\]"):
        vae.encode(torch.zeros(3, 5, 16, 16))
    with pytest.raises(ValueError, match="latents"):
        vae.decode(torch.zeros(1, 7, 2, 2, 2))


def test_bad_configs_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="power of two"):
        VAEConfig(spatial_factor=6)
    with pytest.raises(ConfigError, match="downsamplings"):
        VAEConfig(channel_mults=(1, 2), spatial_factor=8)
    with pytest.raises(ConfigError, match="chunk_frames"):
        VAEConfig(chunk_frames=6)


@pytest.mark.parametrize("cut", [1, 3, 5, 8, 13])
def test_encoder_is_time_causal(cut: int) -> None:
    """Latent frame j covers frames <= 4j: it must not change when frames >= cut change (4j < cut)."""
    vae = tiny()
    x = clip(17)
    y = x.clone()
    y[:, :, cut:] = clip(17 - cut, seed=1)
    with torch.no_grad():
        zx, zy = vae.encode(x, chunked=False), vae.encode(y, chunked=False)
    for j in range(zx.shape[2]):
        if 4 * j < cut:
            torch.testing.assert_close(zx[:, :, j], zy[:, :, j], rtol=0, atol=1e-6)
        else:
            assert (zx[:, :, j] - zy[:, :, j]).abs().max() > 1e-4  # later latents do see the change


@pytest.mark.parametrize("j", [1, 2, 4])
def test_decoder_is_time_causal(j: int) -> None:
    """Decoded frames 4(j-1) and earlier depend only on latents < j."""
    vae = tiny()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 4, 5, 4, 4, generator=g)
    z2 = z.clone()
    z2[:, :, j:] = torch.randn(1, 4, 5 - j, 4, 4, generator=g)
    with torch.no_grad():
        a, b = vae.decode(z, chunked=False), vae.decode(z2, chunked=False)
    keep = 4 * (j - 1) + 1
    torch.testing.assert_close(a[:, :, :keep], b[:, :, :keep], rtol=0, atol=1e-6)
    assert (a[:, :, keep:] - b[:, :, keep:]).abs().amax(dim=(0, 1, 3, 4)).min() > 1e-5


def test_frame_zero_is_encoded_alone() -> None:
    vae = tiny()
    x = clip(9)
    with torch.no_grad():
        z = vae.encode(x, chunked=False)
        z0 = vae.encode(x[:, :, :1], chunked=False)
    torch.testing.assert_close(z[:, :, :1], z0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("chunk", [4, 8])
def test_chunked_encode_decode_match_full(chunk: int) -> None:
    """Streaming in time chunks with causal caches equals the one-shot pass (tolerance 1e-5)."""
    vae = tiny(chunk_frames=chunk)
    x = clip(25)
    with torch.no_grad():
        z_full, z_chunk = vae.encode(x, chunked=False), vae.encode(x, chunked=True)
        torch.testing.assert_close(z_chunk, z_full, rtol=0, atol=1e-5)
        v_full, v_chunk = vae.decode(z_full, chunked=False), vae.decode(z_full, chunked=True)
        torch.testing.assert_close(v_chunk, v_full, rtol=0, atol=1e-5)
    # gradients off -> chunked by default
    with torch.no_grad():
        torch.testing.assert_close(vae.encode(x), z_full, rtol=0, atol=1e-5)


def test_streaming_state_is_cleared_between_calls() -> None:
    vae = tiny()
    with torch.no_grad():
        first = vae.encode(clip(17, seed=3), chunked=True)
        vae.encode(clip(17, seed=4), chunked=True)
        again = vae.encode(clip(17, seed=3), chunked=True)
    torch.testing.assert_close(first, again, rtol=0, atol=0)


def test_tiled_apply_is_exact_for_local_maps() -> None:
    x = torch.randn(2, 3, 5, 48, 40)
    pooled = tiled_apply(x, lambda t: F.avg_pool3d(t, (1, 8, 8)), 16, 8, Fraction(1, 8))
    torch.testing.assert_close(pooled, F.avg_pool3d(x, (1, 8, 8)))
    up = tiled_apply(x, lambda t: t.repeat_interleave(2, -1).repeat_interleave(2, -2), 16, 8, Fraction(2))
    torch.testing.assert_close(up, x.repeat_interleave(2, -1).repeat_interleave(2, -2))


def test_tiled_vae_shapes_and_single_tile_equality() -> None:
    vae = tiny(tile_size=32, tile_overlap=16)
    x = clip(5, 48, 64)
    with torch.no_grad():
        z = vae.encode(x)
        assert z.shape == (1, 4, 2, 6, 8)
        assert vae.decode(z).shape == (1, 3, 5, 48, 64)
        small = clip(5, 32, 32)
        torch.testing.assert_close(vae.encode(small), vae.encode(small, chunked=False), rtol=0, atol=1e-5)


def test_posterior_sample_uses_generator() -> None:
    vae = tiny()
    with torch.no_grad():
        post = vae.encode_dist(clip(5))
        a = post.sample(torch.Generator().manual_seed(1))
        b = post.sample(torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert post.mean.shape == post.logvar.shape == (1, 4, 2, 4, 4)
    assert float(post.kl()) >= 0


def test_training_losses_decrease_on_a_fixed_clip() -> None:
    vae = tiny().train()
    x = F.interpolate(clip(5, 2, 2), size=(5, 16, 16), mode="trilinear")  # smooth content
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        out = vae.training_losses({"video": x})
        assert set(out) >= {"loss", "l1", "kl"}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert min(losses[-3:]) < 0.5 * losses[0]
    assert int(vae.num_updates) == 30


def test_adversarial_term_starts_after_warmup_and_trains_only_its_player() -> None:
    vae = tiny(adversarial_weight=0.5, adversarial_start=3, disc_channels=8, disc_layers=2).train()
    x = clip(5, 16, 16)
    before = vae.training_losses(x, step=2)
    assert "g_adv" not in before and "d_adv" not in before
    after = vae.training_losses(x, step=3)
    # generator term alone: gradients reach the VAE, not the discriminator
    vae.zero_grad()
    after["g_adv"].backward(retain_graph=True)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in vae.losses.discriminator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.decoder.parameters())
    # discriminator term alone: gradients reach the discriminator, not the VAE
    vae.zero_grad()
    after["d_adv"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in vae.decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.losses.discriminator.parameters())


def test_from_preset_and_overrides() -> None:
    vae = VideoVAE.from_preset("tiny", ["latent_channels=8", "model.base_channels=8"])
    assert (vae.temporal_factor, vae.spatial_factor, vae.latent_channels, vae.is_causal) == (4, 8, 8, True)
    with pytest.raises(ConfigError, match="unknown"):
        VideoVAE.from_preset("tiny", ["no_such_key=1"])
    with pytest.raises(ConfigError, match="unknown vae preset"):
        VideoVAE.from_preset("nope")


def test_save_and_load_round_trip(tmp_path) -> None:
    vae = tiny()
    vae.save_pretrained(tmp_path / "vae")
    loaded = VideoVAE.from_pretrained(tmp_path / "vae")
    assert loaded.config == vae.config
    x = clip(5)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(x), vae.encode(x), rtol=0, atol=0)
    (tmp_path / "vae" / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(CheckpointError):
        VideoVAE.from_pretrained(tmp_path / "vae")


def test_frozen_vae_stays_in_eval_mode_without_gradients() -> None:
    vae = tiny().freeze()
    vae.train()
    assert not vae.training and not any(m.training for m in vae.modules())
    x = clip(5).requires_grad_(True)
    z = vae.encode(x)
    assert not z.requires_grad and all(not p.requires_grad for p in vae.parameters())
