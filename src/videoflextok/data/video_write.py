"""Writing videos: ``write_video(path, video, fps)`` picks the format from the extension.

- ``.mp4``: H.264 (yuv420p, CRF 18), for people to watch (odd sizes are padded to even by repeating the
  last row / column);
- ``.mkv``: lossless FFV1 in ``bgr0`` (RGB without chroma subsampling), so a write -> read round trip is
  exact on uint8 frames;
- ``.gif``: an animated GIF preview (palette by Pillow; GIF stores delays in 10 ms steps).

Writes are atomic: a temporary file in the same folder, fsync, then rename; a failed write leaves any
existing file untouched.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from videoflextok.atomic import atomic_file
from videoflextok.checks import MAX_FPS, check_float
from videoflextok.errors import VideoError


def to_uint8(video: torch.Tensor | np.ndarray) -> np.ndarray:
    """``video: [3, T, H, W]`` float in [-1, 1] (or uint8) -> ``[T, H, W, 3]`` uint8 numpy frames."""
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(video)
    if video.ndim != 4 or video.shape[0] != 3:
        raise ValueError(f"video must be [3, T, H, W], got shape {tuple(video.shape)}")
    video = video.detach().cpu()
    if video.dtype != torch.uint8:
        video = ((video.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return video.permute(1, 2, 3, 0).contiguous().numpy()


def write_video(path: str | Path, video: torch.Tensor | np.ndarray, fps: float) -> Path:
    """Write ``video: [3, T, H, W]`` (float in [-1, 1], or uint8 0..255) to ``path`` atomically.

    The extension picks the format: ``.mp4`` H.264, ``.mkv`` lossless FFV1, ``.gif`` animated GIF.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".mkv", ".gif"):
        raise VideoError(f"cannot write '{path}': the extension must be .mp4, .mkv or .gif")
    check_float("fps", fps, 0.0, MAX_FPS, low_open=True)
    frames = to_uint8(video)
    if frames.shape[0] == 0:
        raise ValueError("cannot write a video with zero frames")
    if not path.parent.exists():
        raise VideoError(f"cannot write '{path}': the folder '{path.parent}' does not exist")
    with atomic_file(path) as tmp:
        if suffix == ".gif":
            _write_gif(tmp, frames, fps)
        else:
            _write_av(tmp, frames, fps, suffix)
    return path


def _write_av(tmp: Path, frames: np.ndarray, fps: float, suffix: str) -> None:
    rate = Fraction(fps).limit_denominator(1001)
    if suffix == ".mp4":
        # yuv420p needs even sizes: repeat the last row / column when odd
        t, h, w, _ = frames.shape
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        codec, pix_fmt, fmt, options = "libx264", "yuv420p", "mp4", {"crf": "18", "preset": "veryfast"}
    else:
        codec, pix_fmt, fmt, options = "ffv1", "bgr0", "matroska", {}
    with av.open(str(tmp), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _write_gif(tmp: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration_ms = max(20, int(math.floor(1000.0 / fps / 10.0 + 0.5)) * 10)  # GIF stores 10 ms units
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
