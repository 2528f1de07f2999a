"""Tile several clips into one grid video (for previews)."""

from __future__ import annotations

import math

import torch


def tile_videos(videos: list[torch.Tensor], cols: int | None = None, gap: int = 2) -> torch.Tensor:
    """``videos``: clips ``[3, T, H, W]`` in [-1, 1] of one size -> ``[3, T, rows*(H+gap)-gap, cols*(W+gap)-gap]``.

    Tiles fill row by row; ``cols`` defaults to ``ceil(sqrt(n))`` (16 clips -> 4 x 4). Gaps and empty
    tiles are black.
    """
    if not videos:
        raise ValueError("tile_videos needs at least one clip")
    c, t, h, w = videos[0].shape
    if any(v.shape != videos[0].shape for v in videos):
        raise ValueError("all clips of a grid must have the same shape")
    cols = cols or math.ceil(math.sqrt(len(videos)))
    rows = math.ceil(len(videos) / cols)
    grid = torch.full((c, t, rows * (h + gap) - gap, cols * (w + gap) - gap), -1.0)
    for i, video in enumerate(videos):
        r, k = divmod(i, cols)
        grid[:, :, r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = video
    return grid
