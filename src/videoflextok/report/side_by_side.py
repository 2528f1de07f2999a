"""Side-by-side comparison media: the original clip next to its reconstructions, each panel labelled.

``side_by_side(videos, labels, scale)`` builds the frames: every ``video: [3, T, H, W]`` in [-1, 1] is
upscaled with nearest-neighbour by ``scale`` (so a 64x64 clip stays sharp and visible), gets a label strip
on top ("original", "k=1", ...) and the panels are placed in one row with a thin gap. The result is
``[3, T, H', W']`` uint8, which :func:`write_side_by_side` writes as H.264 mp4 (the HTML report's
``<video>``) and as an animated GIF (an ``<img>`` fallback), both atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from einops import rearrange, repeat

from videoflextok.data.video_write import to_uint8, write_video

LABEL_HEIGHT = 18  # pixels of the label strip above each panel
GAP = 4  # pixels between panels
LABEL_BG = (24, 24, 24)  # label strip color
GAP_COLOR = (255, 255, 255)  # separator color
TARGET_PANEL = 160  # auto scale: smallest integer factor that makes a panel at least this many pixels wide
MAX_SCALE = 8  # auto scale never goes above this factor


def auto_scale(size: int) -> int:
    """Nearest-neighbour upscale factor for ``size``-pixel frames: 16 -> 8, 32 -> 5, 64 -> 3, >= 160 -> 1."""
    return max(1, min(MAX_SCALE, math.ceil(TARGET_PANEL / max(1, size))))


def _label_strip(text: str, width: int) -> np.ndarray:
    """A ``[LABEL_HEIGHT, width, 3]`` uint8 strip with ``text`` centred in white."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, LABEL_HEIGHT), LABEL_BG)
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=LABEL_HEIGHT - 5)
    except TypeError:  # Pillow < 10.1: bitmap font only
        font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = max(0, (width - (right - left)) // 2 - left)
    y = max(0, (LABEL_HEIGHT - (bottom - top)) // 2 - top)
    draw.text((x, y), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def side_by_side(videos: Sequence[torch.Tensor], labels: Sequence[str], scale: int | None = None) -> torch.Tensor:
    """Panels in one row. videos: N x ``[3, T, H, W]`` in [-1, 1] (same T, H, W); labels: N strings.

    Returns ``[3, T, LABEL_HEIGHT + H * scale, N * W * scale + (N - 1) * GAP]`` uint8; ``scale`` None = auto.
    """
    if len(videos) != len(labels) or not videos:
        raise ValueError(f"need one label per video, got {len(videos)} videos and {len(labels)} labels")
    shape = videos[0].shape
    if any(v.shape != shape for v in videos):
        raise ValueError(f"all panels need the same [3, T, H, W] shape, got {[tuple(v.shape) for v in videos]}")
    _, t, h, w = shape
    scale = auto_scale(max(h, w)) if scale is None else int(scale)
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    panels = []
    for video, label in zip(videos, labels):
        frames = to_uint8(video)  # [T, H, W, 3]
        frames = repeat(frames, "t h w c -> t (h sh) (w sw) c", sh=scale, sw=scale)
        strip = repeat(_label_strip(label, w * scale), "h w c -> t h w c", t=t)
        panels.append(np.concatenate([strip, frames], axis=1))
    gap = np.empty((t, panels[0].shape[1], GAP, 3), dtype=np.uint8)
    gap[:] = GAP_COLOR
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return torch.from_numpy(rearrange(np.concatenate(row, axis=2), "t h w c -> c t h w").copy())


def write_side_by_side(frames: torch.Tensor, folder: Path, stem: str, fps: float) -> dict[str, Path]:
    """Write ``frames: [3, T, H, W]`` uint8 as ``folder/stem.mp4`` (H.264) and ``folder/stem.gif``, atomically.

    Returns {"mp4": path, "gif": path}.
    """
    folder = Path(folder)
    return {ext: write_video(folder / f"{stem}.{ext}", frames, fps) for ext in ("mp4", "gif")}
