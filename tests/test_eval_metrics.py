"""Reconstruction metrics against references: skimage SSIM and PSNR, numpy MAE/MSE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from videoflextok.eval import mae, mse, psnr, reconstruction_metrics, ssim
from videoflextok.eval.metrics import gaussian_window


def _pair(seed: int = 0, shape=(2, 3, 4, 32, 40), noise: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # a smooth target (structure for SSIM) and a noisy prediction
    base = torch.rand(shape[:3] + (shape[3] // 4, shape[4] // 4), generator=g, dtype=torch.float64)
    target = torch.nn.functional.interpolate(base.flatten(0, 1), size=shape[3:], mode="bilinear").view(shape)
    target = target * 2 - 1
    pred = (target + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(-1, 1)
    return pred, target


def _frames01(video: torch.Tensor, b: int, t: int) -> np.ndarray:
    """One frame [H, W, C] in [0, 1]."""
    return ((video[b, :, t].permute(1, 2, 0).numpy()) + 1) / 2


@pytest.mark.parametrize("noise", [0.05, 0.3, 1.0])
def test_ssim_matches_skimage(noise):
    pred, target = _pair(noise=noise)
    ours = ssim(pred, target)
    assert ours.shape == (2, 4)
    for b in range(2):
        for t in range(4):
            ref = structural_similarity(
                _frames01(pred, b, t), _frames01(target, b, t), channel_axis=-1, data_range=1.0,
                gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            )
            assert ours[b, t].item() == pytest.approx(ref, abs=1e-9)


def test_ssim_float32_input_close_to_skimage():
    pred, target = _pair(seed=3, shape=(1, 3, 2, 64, 64))
    ours = ssim(pred.float(), target.float())
    ref = structural_similarity(
        _frames01(pred.float().double(), 0, 1), _frames01(target.float().double(), 0, 1), channel_axis=-1,
        data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    )
    assert ours[0, 1].item() == pytest.approx(ref, abs=1e-6)


def test_psnr_matches_skimage_and_formula():
    pred, target = _pair(seed=1)
    ours = psnr(pred, target)
    for b in range(2):
        for t in range(4):
            ref = peak_signal_noise_ratio(_frames01(target, b, t), _frames01(pred, b, t), data_range=1.0)
            assert ours[b, t].item() == pytest.approx(ref, abs=1e-9)
    # constant error e on [0, 1] scale -> PSNR = -20 log10(e)
    x = torch.zeros(1, 3, 2, 16, 16)
    assert psnr(x + 0.2, x).mean().item() == pytest.approx(-20 * np.log10(0.1), abs=1e-6)


def test_mae_mse_match_numpy():
    pred, target = _pair(seed=2)
    diff = ((pred.numpy() + 1) / 2) - ((target.numpy() + 1) / 2)
    np.testing.assert_allclose(mae(pred, target).numpy(), np.abs(diff).mean(axis=(1, 3, 4)), rtol=1e-12)
    np.testing.assert_allclose(mse(pred, target).numpy(), (diff**2).mean(axis=(1, 3, 4)), rtol=1e-12)


def test_identical_videos():
    _, target = _pair(seed=4)
    m = reconstruction_metrics(target, target.clone())
    assert set(m) == {"mae", "mse", "psnr", "ssim"}
    assert m["mae"] == 0.0 and m["mse"] == 0.0
    assert m["psnr"] == pytest.approx(100.0)
    assert m["ssim"] == pytest.approx(1.0, abs=1e-12)


def test_worse_reconstruction_scores_worse():
    small = reconstruction_metrics(*_pair(seed=5, noise=0.05))
    large = reconstruction_metrics(*_pair(seed=5, noise=0.5))
    assert small["mae"] < large["mae"] and small["mse"] < large["mse"]
    assert small["psnr"] > large["psnr"] and small["ssim"] > large["ssim"]


def test_gaussian_window_is_normalised_and_11_wide():
    w = gaussian_window()
    assert w.numel() == 11
    assert w.sum().item() == pytest.approx(1.0)
    assert torch.equal(w, w.flip(0))


def test_bad_inputs():
    x = torch.zeros(1, 3, 2, 16, 16)
    with pytest.raises(ValueError, match="shapes differ"):
        mse(x, torch.zeros(1, 3, 2, 16, 8))
    with pytest.raises(ValueError, match="11x11"):
        ssim(torch.zeros(1, 3, 2, 8, 8), torch.zeros(1, 3, 2, 8, 8))
