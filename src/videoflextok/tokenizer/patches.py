"""Latent <-> patch tokens. latent [B, C, T, h, w] <-> patches [B, T, N, C * p * p], N = (h / p) * (w / p)."""

from __future__ import annotations

import torch
from einops import rearrange


def patchify(latent: torch.Tensor, patch_size: int) -> torch.Tensor:
    """latent: [B, C, T, h, w] -> [B, T, (h/p)(w/p), C p p], row-major over the patch grid."""
    return rearrange(latent, "b c t (h p) (w q) -> b t (h w) (c p q)", p=patch_size, q=patch_size)


def unpatchify(patches: torch.Tensor, patch_size: int, grid: int) -> torch.Tensor:
    """patches: [B, T, grid * grid, C p p] -> latent [B, C, T, grid * p, grid * p]."""
    return rearrange(patches, "b t (h w) (c p q) -> b c t (h p) (w q)", h=grid, w=grid, p=patch_size, q=patch_size)
