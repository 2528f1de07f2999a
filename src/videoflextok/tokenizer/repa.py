"""REPA: align an early decoder layer to the features of a frozen pretrained network (cosine similarity).

Any ``nn.Module`` mapping ``video [B, 3, T, H, W] in [-1, 1] -> features [B, F, T', H', W']`` can serve as the
feature network. Its output is resampled (trilinear) to the decoder's token grid (latent frames x patch grid),
and a small per-token MLP head maps decoder states to F channels. Per-token heads are trivially time-causal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class RepaHead(nn.Module):
    """Decoder states [B, T, N, d] -> predicted features [B, T, N, F]."""

    def __init__(self, dim: int, feature_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.SiLU(), nn.Linear(hidden, feature_dim, bias=False)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h)


def target_features(network: nn.Module, video: torch.Tensor, frames: int, grid: int) -> torch.Tensor:
    """Frozen features of ``video`` resampled to [B, frames, grid * grid, F] (no gradients)."""
    with torch.no_grad():
        feats = network(video).float()
        if feats.ndim != 5:
            raise ValueError(f"REPA feature network must return [B, F, T, H, W], got shape {tuple(feats.shape)}")
        feats = F.interpolate(feats, size=(frames, grid, grid), mode="trilinear", align_corners=False)
    return rearrange(feats, "b f t h w -> b t (h w) f")


def repa_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """1 - cosine similarity per token, averaged (optionally weighted per frame: weight [B, T]).

    pred, target: [B, T, N, F].
    """
    cos = F.cosine_similarity(pred.float(), target.float(), dim=-1).mean(dim=-1)  # [B, T]
    if weight is None:
        return 1 - cos.mean()
    return 1 - (cos * weight).sum() / weight.sum().clamp_min(1e-8)
