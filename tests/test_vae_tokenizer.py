"""The VAE as the tokenizer's frozen compressor: passed as a module or loaded by config (compressor.kind=vae),
the tokenizer trains through ``training_losses`` while no gradient or update reaches the VAE."""

from __future__ import annotations

import pytest
import torch

from videoflextok.errors import ConfigError
from videoflextok.tokenizer.model import VideoFlexTok, preset_config
from videoflextok.vae import VAEConfig, VideoVAE

VAE_LATENT = 4
TOKENIZER_OVERRIDES = [
    "resolution=32", "K=4", "compressor.kind=vae", "compressor.temporal_factor=4", "compressor.spatial_factor=8",
    f"compressor.channels={VAE_LATENT}", "patch_size=1", "encoder_depth=1", "decoder_depth=1",
    "encoder_dim=64", "decoder_dim=64", "encoder_heads=1", "decoder_heads=1",
]  # fmt: skip


def tiny_vae() -> VideoVAE:
    torch.manual_seed(0)
    cfg = VAEConfig(base_channels=8, channel_mults=(1, 2, 2, 2), num_res_blocks=1, latent_channels=VAE_LATENT)
    return VideoVAE(cfg)


def video(seed: int = 0) -> torch.Tensor:
    return torch.rand(2, 3, 17, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def train_steps(tok: VideoFlexTok, steps: int = 3) -> list[float]:
    tok.train()
    params = [p for p in tok.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    losses = []
    for i in range(steps):
        out = tok.training_losses(video(i))
        assert torch.isfinite(out["loss"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    return losses


def test_tokenizer_trains_with_vae_module_as_compressor() -> None:
    vae = tiny_vae()
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    tok = VideoFlexTok(preset_config("tiny", TOKENIZER_OVERRIDES), compressor=vae)
    enc_before = [p.detach().clone() for p in tok.encoder.parameters()]
    train_steps(tok)
    assert not vae.training and all(p.grad is None for p in vae.parameters())
    for k, v in vae.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert any(not torch.equal(a, b) for a, b in zip(enc_before, tok.encoder.parameters()))
    assert tok.num_params(exclude_adaln=False) == sum(
        p.numel() for n, p in tok.named_parameters() if not n.startswith("compressor.")
    )
    # the tokenizer's latents are the VAE's posterior means
    with torch.no_grad():
        tokens = tok.tokenize(video())
    assert len(tokens) == 2 and tokens[0].shape == (5, 4)


def test_tokenizer_loads_a_saved_vae_by_config(tmp_path) -> None:
    vae = tiny_vae()
    vae.save_pretrained(tmp_path / "vae")
    cfg = preset_config("tiny", [*TOKENIZER_OVERRIDES, f"compressor.path={tmp_path / 'vae'}"])
    tok = VideoFlexTok(cfg)
    assert isinstance(tok.compressor, VideoVAE) and tok.compressor.frozen
    x = video()
    with torch.no_grad():
        torch.testing.assert_close(tok.compressor.encode(x), vae.eval().encode(x), rtol=0, atol=0)
    losses = train_steps(tok, 2)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert not tok.compressor.training


def test_factor_mismatch_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="compressor has"):
        VideoFlexTok(preset_config("tiny", [*TOKENIZER_OVERRIDES[:-9], "compressor.channels=8",
                                            *TOKENIZER_OVERRIDES[-8:]]), compressor=tiny_vae())  # fmt: skip
