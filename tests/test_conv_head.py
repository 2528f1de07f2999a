"""The decoder's conv head (``decoder_head=conv``): it starts as the linear head, reaches only nearby cells of the
same latent frame, keeps the decoder time-causal, and can be added to a trained model that has none."""

from __future__ import annotations

import torch

from tokenizer_helpers import random_video, small_model
from videoflextok.tokenizer.decoder import ConvRefine
from videoflextok.tokenizer.patches import patchify, unpatchify
from videoflextok.train.tokenizer_task import init_model


def test_a_fresh_conv_head_is_the_identity():
    head = ConvRefine(channels=6, hidden=8, patch_size=2, grid=3)
    patches = torch.randn(2, 4, 9, 24)
    assert torch.equal(head(patches), patches)


@torch.no_grad()
def test_a_cell_reaches_cells_within_three_steps_of_its_own_frame():
    torch.manual_seed(0)
    head = ConvRefine(channels=3, hidden=5, patch_size=1, grid=12)
    for p in head.parameters():
        p.copy_(torch.randn_like(p) * 0.3)
    latent = torch.randn(1, 3, 2, 12, 12)
    out = unpatchify(head(patchify(latent, 1)), 1, 12)
    changed = latent.clone()
    changed[0, :, 1, 6, 6] += 5.0
    diff = (unpatchify(head(patchify(changed, 1)), 1, 12) - out).abs().amax(dim=1)[0]  # [T, h, w]
    assert torch.equal(diff[0], torch.zeros(12, 12))  # the other latent frame is untouched
    reached = diff[1] > 0
    rows, cols = torch.nonzero(reached, as_tuple=True)
    assert (rows - 6).abs().max() == 3 and (cols - 6).abs().max() == 3  # three 3x3 convolutions: radius 3
    assert reached[3, 3] and reached[9, 9]


@torch.no_grad()
def test_the_decoder_with_a_conv_head_stays_time_causal():
    model = small_model("decoder_head=conv")
    cfg = model.config
    x = torch.randn(2, cfg.chunk_latent_frames, cfg.num_patches, cfg.patch_dim)
    s = torch.rand(2, cfg.chunk_latent_frames)
    regs = torch.randn(2, cfg.chunk_latent_frames, cfg.K, cfg.decoder_dim)
    v = model.decoder(x, s, regs)
    perturbed = regs.clone()
    perturbed[:, 2:] = torch.randn_like(perturbed[:, 2:])
    v2 = model.decoder(x, s, perturbed)
    torch.testing.assert_close(v2[:, :2], v[:, :2], atol=1e-6, rtol=0)
    assert not torch.allclose(v2[:, 2:], v[:, 2:])


@torch.no_grad()
def test_a_trained_model_gains_a_conv_head_that_starts_as_its_own_function(tmp_path):
    source = small_model()
    source.save_pretrained(tmp_path / "src")
    config = small_model("decoder_head=conv", randomize=False).config
    model = init_model(tmp_path / "src", config).eval()
    assert model.config.decoder_head == "conv"
    video = random_video(1, 17)
    tokens = source.tokenize(video)
    assert torch.equal(model.tokenize(video)[0], tokens[0])
    a = source.detokenize(tokens, keep_k=2, steps=2, generator=torch.Generator().manual_seed(0))
    b = model.detokenize(tokens, keep_k=2, steps=2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(b, a, atol=1e-6, rtol=0)


def test_a_conv_head_model_refuses_a_linear_run_config_with_one_sentence(tmp_path, capsys):
    from videoflextok.cli.main import main

    small_model("decoder_head=conv", "resolution=32").save_pretrained(tmp_path / "conv")
    out = tmp_path / "run"
    args = ["train", "tokenizer", "--init", str(tmp_path / "conv"), "--out", str(out), "model.decoder_head=linear",
            "train.steps=1", "train.progress=false"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "decoder.refine" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_init_warns_which_preset_model_settings_it_does_not_take(tmp_path, capsys):
    from videoflextok.tokenizer.model import VideoFlexTok
    from videoflextok.train.tokenizer_task import load_run_config

    VideoFlexTok.from_preset("tiny", ["decoder_head=conv"]).save_pretrained(tmp_path / "conv")
    cfg = load_run_config("tiny", [], init=tmp_path / "conv")
    assert cfg.model.decoder_head == "conv"  # the checkpoint's settings are kept
    err = capsys.readouterr().err
    assert err.startswith("warning: --init keeps") and "decoder_head" in err and len(err.strip().splitlines()) == 1
    cfg = load_run_config("tiny", ["model.decoder_head=linear"], init=tmp_path / "conv")
    assert cfg.model.decoder_head == "linear" and capsys.readouterr().err == ""
    load_run_config(None, [], init=tmp_path / "conv")  # no preset named: nothing to compare with
    assert capsys.readouterr().err == ""
