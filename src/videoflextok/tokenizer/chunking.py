"""Long videos as overlapping chunks: chunks of ``chunk_frames`` (17) frames that share one frame.

Frames of chunk c: [16c, 16c + 17). Each chunk is compressed and tokenized alone; latent frame 0 of chunk
c > 0 encodes the shared frame, and its tokens are dropped, so an 81-frame clip gives 5 + 4 * 4 = 21 token
rows. Token row r of the whole video belongs to chunk 0 for r < 5 and to chunk 1 + (r - 5) // 4 after.
A video not longer than one chunk is one (possibly shorter) chunk.
"""

from __future__ import annotations

import math

import torch

from videoflextok.checks import check_pixels
from videoflextok.errors import VideoShapeError
from videoflextok.tokenizer.config import TokenizerConfig

ENCODE_VOXELS = 17 * 128 * 128  # a batch of chunks goes through the compressor this many input voxels at a time


def encode_in_pieces(encode, video: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """encode(video) for a batch [B, 3, F, H, W], in consecutive groups of rows holding at most ENCODE_VOXELS
    voxels each (at least one row), so that the compressor's activations do not grow with the number of chunks."""
    rows = max(1, ENCODE_VOXELS // math.prod(video.shape[2:]))
    if rows >= video.shape[0]:
        return encode(video)
    parts = [encode(piece) for piece in video.split(rows)]
    return tuple(torch.cat(outputs) for outputs in zip(*parts))


def check_video(video: torch.Tensor, cfg: TokenizerConfig) -> None:
    """Raise VideoShapeError unless video is a float [B, 3, T, H, W] tensor this config supports."""
    if not isinstance(video, torch.Tensor) or not video.is_floating_point():
        raise VideoShapeError("video must be a float tensor [B, 3, T, H, W] with values in [-1, 1]")
    if video.ndim != 5 or video.shape[1] != 3:
        raise VideoShapeError(f"video must have shape [B, 3, T, H, W], got {tuple(video.shape)}")
    b, _, t, h, w = video.shape
    if b < 1:
        raise VideoShapeError("video batch is empty")
    if (h, w) != (cfg.resolution, cfg.resolution):
        raise VideoShapeError(f"video is {h}x{w} but this tokenizer takes {cfg.resolution}x{cfg.resolution}")
    if not cfg.supports_frames(t):
        raise VideoShapeError(f"video has {t} frames; this tokenizer takes {cfg.frames_rule()}")
    check_pixels(video)


def num_chunks(num_frames: int, cfg: TokenizerConfig) -> int:
    """Chunks of a ``num_frames`` video (1 when it fits in one chunk)."""
    if num_frames <= cfg.chunk_frames:
        return 1
    return (num_frames - 1) // (cfg.chunk_frames - 1)


def split_chunks(video: torch.Tensor, cfg: TokenizerConfig) -> torch.Tensor:
    """video: [B, 3, T, H, W] -> chunks [B * C, 3, F, H, W], F = min(T, chunk_frames), chunk-major within a video."""
    t = video.shape[2]
    if t <= cfg.chunk_frames:
        return video
    step = cfg.chunk_frames - 1
    chunks = [video[:, :, c * step : c * step + cfg.chunk_frames] for c in range(num_chunks(t, cfg))]
    return torch.stack(chunks, dim=1).flatten(0, 1)


def merge_chunk_tokens(chunk_rows: torch.Tensor, batch: int) -> torch.Tensor:
    """Per-chunk token rows [B * C, Lc, ...] -> the video's rows [B, Lc + (C - 1)(Lc - 1), ...].

    The first row of every chunk after the first (the shared frame) is dropped.
    """
    rows = chunk_rows.unflatten(0, (batch, -1))
    if rows.shape[1] == 1:
        return rows[:, 0]
    return torch.cat([rows[:, 0], rows[:, 1:, 1:].flatten(1, 2)], dim=1)


def chunk_row_spans(latent_frames: int, cfg: TokenizerConfig) -> list[tuple[int, int]]:
    """Token rows [start, end) that each chunk decodes; for chunk c > 0 row ``start`` is the shared frame.

    [(0, 5), (4, 9), (8, 13), ...] for 5-frame chunks; a single short chunk is [(0, latent_frames)].
    """
    lc = cfg.chunk_latent_frames
    if latent_frames <= lc:
        return [(0, latent_frames)]
    step = lc - 1
    return [(c * step, c * step + lc) for c in range((latent_frames - 1) // step)]
