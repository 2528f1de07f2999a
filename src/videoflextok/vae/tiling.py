"""Spatial tiling with linear blending, for encoding/decoding frames too large to process at once.

``tiled_apply(x, fn, tile, overlap, scale)`` cuts the last two dims of ``x`` into overlapping square
tiles, applies ``fn`` (which maps a tile of size s to one of size s * scale), and blends the outputs with
weights that ramp linearly across each overlap. Tiles see zero padding at their borders instead of
their neighbours, and the VAE's per-frame GroupNorm computes its statistics per tile, so the result
matches the untiled one only approximately (closer for larger tiles and overlaps).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``size`` with at least ``overlap`` shared pixels."""
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return starts


def _ramp(length: int, overlap: int, left: bool, right: bool, device: torch.device) -> torch.Tensor:
    """1D blend weights [length]: rising over the first ``overlap`` items if ``left``, falling at the end."""
    w = torch.ones(length, device=device)
    if overlap > 0:
        r = (torch.arange(overlap, device=device, dtype=torch.float32) + 0.5) / overlap
        if left:
            w[:overlap] = torch.minimum(w[:overlap], r)
        if right:
            w[length - overlap :] = torch.minimum(w[length - overlap :], r.flip(0))
    return w


def tiled_apply(
    x: torch.Tensor,
    fn: Callable[[torch.Tensor], torch.Tensor],
    tile: int,
    overlap: int,
    scale: Fraction,
) -> torch.Tensor:
    """x: [..., H, W] -> fn applied per tile and blended: [..., H * scale, W * scale] (other dims from fn)."""
    h, w = x.shape[-2:]
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    if len(ys) == 1 and len(xs) == 1:
        return fn(x)
    out = weight = None
    ov = int(overlap * scale)
    for y0 in ys:
        for x0 in xs:
            th, tw = min(tile, h), min(tile, w)
            y = fn(x[..., y0 : y0 + th, x0 : x0 + tw])
            oy, ox, oh, ow = int(y0 * scale), int(x0 * scale), y.shape[-2], y.shape[-1]
            if out is None:
                out = y.new_zeros(*y.shape[:-2], int(h * scale), int(w * scale))
                weight = torch.zeros(int(h * scale), int(w * scale), device=y.device)
            wy = _ramp(oh, ov, y0 > 0, y0 + th < h, y.device)
            wx = _ramp(ow, ov, x0 > 0, x0 + tw < w, y.device)
            wt = wy[:, None] * wx[None, :]
            out[..., oy : oy + oh, ox : ox + ow] += y * wt.to(y.dtype)
            weight[oy : oy + oh, ox : ox + ow] += wt
    return out / weight.to(out.dtype)
