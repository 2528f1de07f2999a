"""Clip-shape transforms shared by the video reader and the datasets.

- :func:`resize_center_crop`: shorter side -> target with antialiasing, then a center crop.
- :func:`usable_frames` / :func:`apply_frame_policy`: the tokenizer wants ``T = 1 + 16n`` frames
  (17-frame chunks overlapping by one frame); a clip is trimmed down to that, or padded up by repeating its
  last frame.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange

CHUNK_STRIDE = 16  # frames added per extra chunk: valid lengths are 1, 17, 33, 49, 65, 81, ...


def usable_frames(num_frames: int, policy: str = "trim") -> int:
    """Length after the frame policy: ``"trim"`` -> largest ``1 + 16n <= T``; ``"pad"`` -> smallest
    ``1 + 16n >= T``; ``"none"`` -> ``T``."""
    if num_frames < 1:
        return 0
    if policy == "none":
        return num_frames
    n = (num_frames - 1) / CHUNK_STRIDE
    if policy == "trim":
        return 1 + CHUNK_STRIDE * math.floor(n)
    if policy == "pad":
        return 1 + CHUNK_STRIDE * math.ceil(n)
    raise ValueError(f"frame policy must be 'trim', 'pad' or 'none', got {policy!r}")


def apply_frame_policy(video: torch.Tensor, policy: str, target: int | None = None) -> torch.Tensor:
    """``video: [C, T, H, W]`` -> ``[C, T', H, W]`` with ``T' = usable_frames(T, policy)``, or ``T' = target``.

    Padding repeats the last frame; trimming keeps the first frames.
    """
    t = video.shape[1]
    length = usable_frames(t, policy) if target is None else target
    if length <= t:
        return video[:, :length]
    pad = video[:, -1:].expand(-1, length - t, -1, -1)
    return torch.cat([video, pad], dim=1)


def _target_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def resize_center_crop(video: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """``video: [C, T, H, W]`` float -> ``[C, T, h, w]``: scale (antialiased bilinear) so the frame covers
    ``(h, w)`` (for an int ``size``: the shorter side becomes ``size``), then crop the center."""
    out_h, out_w = _target_hw(size)
    c, t, h, w = video.shape
    scale = max(out_h / h, out_w / w)
    new_h, new_w = max(out_h, round(h * scale)), max(out_w, round(w * scale))
    if (new_h, new_w) != (h, w):
        frames = rearrange(video, "c t h w -> t c h w")
        frames = F.interpolate(frames.float(), size=(new_h, new_w), mode="bilinear", antialias=True,
                               align_corners=False)
        video = rearrange(frames, "t c h w -> c t h w").clamp(-1.0, 1.0)
    top, left = (new_h - out_h) // 2, (new_w - out_w) // 2
    return video[:, :, top : top + out_h, left : left + out_w]
