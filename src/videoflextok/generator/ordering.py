"""Token orders between a per-video grid ``[T', K]`` (latent frames x coarse-to-fine tokens) and the 1-D
sequence an autoregressive model reads.

- ``time_first``: token 1 of every latent frame, then token 2 of every frame, ... Sequence position
  ``p = j * T' + t`` holds token ``j`` of frame ``t``. Stopping after ``k * T'`` positions leaves exactly
  the first ``k`` tokens of every frame, so one model serves every token budget.
- ``raster``: frame by frame (``p = t * K + j``), the 3D-grid baseline.

All functions are pure; the position ids ``(frame, token index)`` feed the model's position embeddings.
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import rearrange

Order = Literal["time_first", "raster"]
ORDERS: tuple[str, ...] = ("time_first", "raster")


def _check(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(f"unknown token order {order!r}; expected one of {ORDERS}")


def to_sequence(tokens: torch.Tensor, order: Order) -> torch.Tensor:
    """tokens: [B, T', K] -> sequence [B, T' * K] in ``order``."""
    _check(order)
    if order == "time_first":
        return rearrange(tokens, "b t k -> b (k t)")
    return rearrange(tokens, "b t k -> b (t k)")


def from_sequence(seq: torch.Tensor, order: Order, num_frames: int) -> torch.Tensor:
    """sequence [B, T' * K] in ``order`` -> tokens [B, T', K]; the exact inverse of :func:`to_sequence`."""
    _check(order)
    if seq.shape[1] % num_frames:
        raise ValueError(f"sequence length {seq.shape[1]} is not a multiple of num_frames {num_frames}")
    if order == "time_first":
        return rearrange(seq, "b (k t) -> b t k", t=num_frames)
    return rearrange(seq, "b (t k) -> b t k", t=num_frames)


def positions(order: Order, num_frames: int, tokens_per_frame: int, device=None) -> torch.Tensor:
    """(frame, token index) of every sequence position: LongTensor [T' * K, 2].

    ``positions(...)[p]`` is the grid cell that ``to_sequence`` puts at sequence position ``p``.
    """
    _check(order)
    frame = torch.arange(num_frames, device=device)[:, None].expand(num_frames, tokens_per_frame)
    index = torch.arange(tokens_per_frame, device=device)[None, :].expand(num_frames, tokens_per_frame)
    grid = torch.stack([frame, index], dim=-1)  # [T', K, 2]
    return to_sequence(grid.permute(2, 0, 1), order).transpose(0, 1).contiguous()  # [T'*K, 2]
