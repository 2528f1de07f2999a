"""Reconstruction metrics between videos: MAE, MSE, PSNR, SSIM (per frame, then averaged).

Videos are `[B, 3, T, H, W]` in [-1, 1]; every metric is computed on pixel values mapped to [0, 1]
(data range 1), in float64. The per-frame functions return `[B, T]`; `reconstruction_metrics` averages them
over frames and videos.

SSIM follows Wang et al. (2004) as in `skimage.metrics.structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)`: an 11x11 Gaussian window (sigma 1.5, truncated at
3.5 sigma), K1 = 0.01, K2 = 0.03, each channel separately, the SSIM map averaged over the pixels whose window
lies fully inside the frame, then over channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, reduce

from videoflextok.psnr import PSNR_MAX_DB, mse, psnr, psnr_from_mse, unit_pair

__all__ = ["PSNR_MAX_DB", "gaussian_window", "mae", "mse", "psnr", "psnr_from_mse", "reconstruction_metrics", "ssim"]

SSIM_SIGMA = 1.5  # Gaussian window standard deviation (pixels)
SSIM_TRUNCATE = 3.5  # window radius in standard deviations (radius = int(3.5 * 1.5 + 0.5) = 5)
SSIM_K1, SSIM_K2 = 0.01, 0.03  # stability constants of Wang et al.


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per frame. pred, target: [B, C, T, H, W] in [-1, 1] -> [B, T] (on [0, 1] scale)."""
    p, t = unit_pair(pred, target)
    return reduce((p - t).abs(), "b c t h w -> b t", "mean")


def gaussian_window(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> torch.Tensor:
    """Normalised 1D Gaussian [2r + 1] with r = int(truncate * sigma + 0.5), float64."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _blur_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter without padding. x: [N, 1, H, W] -> [N, 1, H - 2r, W - 2r]."""
    k = window.to(x)
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return F.conv2d(x, k.view(1, 1, 1, -1))


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Structural similarity per frame. pred, target: [B, C, T, H, W] in [-1, 1] -> [B, T].

    Needs H, W >= 11 (the window size).
    """
    p, t = unit_pair(pred, target)
    b, c, n_t = p.shape[:3]
    window = gaussian_window()
    if min(p.shape[-2:]) < window.numel():
        raise ValueError(f"SSIM needs frames of at least {window.numel()}x{window.numel()} pixels.")
    p = rearrange(p, "b c t h w -> (b c t) 1 h w")
    t = rearrange(t, "b c t h w -> (b c t) 1 h w")
    mu_p, mu_t = _blur_valid(p, window), _blur_valid(t, window)
    var_p = _blur_valid(p * p, window) - mu_p**2
    var_t = _blur_valid(t * t, window) - mu_t**2
    cov = _blur_valid(p * t, window) - mu_p * mu_t
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # (K * data_range)^2 with data_range = 1
    num = (2 * mu_p * mu_t + c1) * (2 * cov + c2)
    den = (mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2)
    per_channel = reduce(num / den, "n 1 h w -> n", "mean")
    return reduce(per_channel, "(b c t) -> b t", "mean", b=b, c=c, t=n_t)


def frame_mean_color(video: torch.Tensor) -> torch.Tensor:
    """The trivial baseline: every frame of ``video`` [..., C, T, H, W] replaced by its own mean color (same shape)."""
    return video.mean(dim=(-2, -1), keepdim=True).expand_as(video)


def reconstruction_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """MAE, MSE, PSNR (dB) and SSIM, each per frame then averaged over frames and videos.

    pred, target: [B, C, T, H, W] in [-1, 1] -> {"mae", "mse", "psnr", "ssim"} floats.
    """
    return {
        "mae": float(mae(pred, target).mean()),
        "mse": float(mse(pred, target).mean()),
        "psnr": float(psnr(pred, target).mean()),
        "ssim": float(ssim(pred, target).mean()),
    }
