"""Initial values of the register mixing maps (``register_mixing``): how register k of a latent frame starts out
tied to that frame's patches, and each patch to the registers.

``"random"``: Gaussian maps (rows of norm ~1). ``"pyramid"``: the first registers are the cells of a spatial
pyramid over the patch grid, coarse first: register 0 covers the whole frame, the next 4 the 2x2 quadrants, the next
16 the cells of a 4x4 grid, and so on while a whole level fits into K; the registers left over start random.
The encoder's register of a cell starts as the (norm-1) average of the patches in it, and each patch starts reading
the registers of the cells that contain it, so a token carries its place from step 0 and the first tokens the
coarse picture, as nested dropout orders them.
"""

from __future__ import annotations

import math

import torch

MIXING_INITS = ("random", "pyramid")


def pyramid_cells(K: int, side: int) -> list[list[int]]:
    """The patch indices (raster order over a ``side`` x ``side`` grid) of each pyramid register, coarse first:
    levels of 1, 4, 16, ... cells while a whole level fits into ``K`` and its cells are not finer than one patch."""
    cells: list[list[int]] = []
    s = 1
    while len(cells) + s * s <= K and s <= side:
        bounds = [round(i * side / s) for i in range(s + 1)]
        for row in range(s):
            for col in range(s):
                rows = range(bounds[row], bounds[row + 1])
                cols = range(bounds[col], bounds[col + 1])
                cells.append([r * side + c for r in rows for c in cols])
        s *= 2
    return cells


def encoder_mixing(K: int, num_patches: int, init: str) -> torch.Tensor:
    """The encoder's map [K, N] to start from: register k += sum_n map[k, n] * patch_n."""
    mix = torch.randn(K, num_patches) / math.sqrt(num_patches)
    if init == "pyramid":
        for k, cell in enumerate(pyramid_cells(K, math.isqrt(num_patches))):
            mix[k] = 0.0
            mix[k, cell] = 1.0 / math.sqrt(len(cell))
    return mix


def decoder_mixing(K: int, num_patches: int, init: str) -> torch.Tensor:
    """The decoder's map [N, K] to start from: patch n += sum_k map[n, k] * register_k."""
    mix = torch.randn(num_patches, K) / math.sqrt(K)
    if init == "pyramid":
        cells = pyramid_cells(K, math.isqrt(num_patches))
        depth = len({len(cell) for cell in cells}) or 1  # pyramid levels: each patch lies in one cell per level
        for k, cell in enumerate(cells):
            mix[:, k] = 0.0
            mix[cell, k] = 1.0 / math.sqrt(depth)
    return mix
