"""The PSNR of this package (and the MSE it rests on): videos ``[B, 3, T, H, W]`` in [-1, 1] compared on the [0, 1]
scale (data range 1) in float64, per frame. Training logs, evaluation, the demo, the adaptive token budget and the
benchmarks all use it (averaged over frames and clips)."""

from __future__ import annotations

import torch
from einops import reduce

PSNR_MAX_DB = 100.0  # PSNR of identical frames (mse clamped to 1e-10)


def _to_unit(video: torch.Tensor) -> torch.Tensor:
    """[B, 3, T, H, W] in [-1, 1] -> float64 in [0, 1]."""
    if video.ndim != 5:
        raise ValueError(f"Expected video [B, C, T, H, W], got {tuple(video.shape)}.")
    return (video.double() + 1.0) / 2.0


def unit_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two videos of the same shape [B, C, T, H, W] in [-1, 1] -> both in float64 on the [0, 1] scale."""
    if pred.shape != target.shape:
        raise ValueError(f"Prediction and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}.")
    return _to_unit(pred), _to_unit(target.to(pred.device))


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per frame. pred, target: [B, C, T, H, W] in [-1, 1] -> [B, T] (on [0, 1] scale)."""
    p, t = unit_pair(pred, target)
    return reduce((p - t) ** 2, "b c t h w -> b t", "mean")


def psnr_from_mse(mse_value: torch.Tensor | float) -> torch.Tensor:
    """PSNR in dB of a mean squared error on the [0, 1] scale: 10 log10(1 / mse), at most PSNR_MAX_DB."""
    value = torch.as_tensor(mse_value, dtype=torch.float64)
    return 10.0 * torch.log10(1.0 / value.clamp_min(10 ** (-PSNR_MAX_DB / 10)))


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per frame, 10 log10(1 / mse) with data range 1 (the one PSNR of this package: training logs,
    evaluation, the demo and the benchmarks average it over frames and clips). [B, C, T, H, W] -> [B, T]."""
    return psnr_from_mse(mse(pred, target))
