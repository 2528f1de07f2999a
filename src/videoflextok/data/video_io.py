"""Reading and writing video files with PyAV (its bundled FFmpeg; no torchvision, no system ffmpeg).

``read_video`` returns ``video: [3, T, H, W]`` float in [-1, 1] and a :class:`VideoMeta` of the source.
It can resample to a target fps by timestamps (each target time takes the nearest decoded frame), resize
the shorter side with antialiasing and center-crop, and apply a frame-count policy (see
:mod:`videoflextok.data.transforms`).

``write_video`` (H.264 mp4, lossless FFV1 mkv, GIF) lives in :mod:`videoflextok.data.video_write` and is
re-exported here.

Problems a user can cause raise :mod:`videoflextok.errors` classes with one sentence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import torch
from einops import rearrange

from videoflextok.data.transforms import apply_frame_policy, resize_center_crop
from videoflextok.data.video_write import to_uint8, write_video
from videoflextok.errors import ClipTooShortError, NoFramesError, NotAVideoError, VideoNotFoundError

__all__ = ["VideoMeta", "probe_video", "read_video", "to_uint8", "write_video"]

FramePolicy = str  # "trim" | "pad" | "none"
_EPS = 1e-6  # seconds; timestamps closer than this count as equal
_SEEK_AFTER = 2.0  # seconds; later start times seek to a keyframe instead of decoding from the beginning


@dataclasses.dataclass(frozen=True)
class VideoMeta:
    """Facts about a video file (and, from ``read_video``, about the clip that was read)."""

    path: str = ""  # the file
    fps: float = 0.0  # native frames per second of the file
    duration: float = 0.0  # seconds
    num_frames: int = 0  # frames in the file
    height: int = 0  # original frame height in pixels
    width: int = 0  # original frame width in pixels
    codec: str = ""  # codec name, e.g. "h264"
    frame_times: tuple[float, ...] = ()  # read_video only: source timestamp (s) of every returned frame

    @property
    def size(self) -> tuple[int, int]:
        """Original frame size ``(H, W)``."""
        return (self.height, self.width)


# ----------------------------------------------------------------------------------------------------
# opening and probing


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise VideoNotFoundError(f"video file '{path}' does not exist")
    if not path.is_file():
        raise NotAVideoError(f"'{path}' is not a file, so it cannot be read as a video")
    return path


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        raise NotAVideoError(f"'{path}' is not a readable video file") from None
    if not container.streams.video:
        container.close()
        raise NotAVideoError(f"'{path}' holds no video stream")
    return container


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return 0.0


def probe_video(path: str | Path, verify: bool = True) -> VideoMeta:
    """Metadata of a video without decoding it (container headers; packets are counted if needed).

    ``verify`` decodes the first frame, so a file whose header looks fine but whose data is broken
    raises :class:`NoFramesError` here rather than later.
    """
    path = _check_path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        duration = _duration(stream, container)
        ctx = stream.codec_context
        height, width, codec = int(ctx.height), int(ctx.width), ctx.name or ""
        num_frames = int(stream.frames or 0) or _count_packets(container)
    finally:
        container.close()
    if num_frames <= 0:
        raise NoFramesError(f"video '{path}' holds zero frames")
    if duration <= 0 and fps > 0:
        duration = num_frames / fps
    if fps <= 0 and duration > 0:
        fps = num_frames / duration
    if verify:
        container = _open(path)
        try:
            if next(_decode(container, path), None) is None:
                raise NoFramesError(f"video '{path}' holds zero decodable frames")
        finally:
            container.close()
    return VideoMeta(str(path), fps, duration, num_frames, height, width, codec)


def _count_packets(container: av.container.InputContainer) -> int:
    count = 0
    try:
        for packet in container.demux(video=0):
            if packet.size:
                count += 1
    except av.FFmpegError:
        pass
    return count


def _decode(container: av.container.InputContainer, path: Path) -> Iterator[tuple[av.VideoFrame, float | None]]:
    """Decoded frames with their timestamp in seconds (None when the file has none).

    A decode error after at least one good frame ends the stream (a truncated tail); before any frame it
    means the file is broken.
    """
    got_any = False
    try:
        for frame in container.decode(video=0):
            got_any = True
            yield frame, (float(frame.time) if frame.time is not None else None)
    except (av.FFmpegError, ValueError):
        if not got_any:
            raise NoFramesError(f"video '{path}' holds zero decodable frames") from None


# ----------------------------------------------------------------------------------------------------
# reading


def read_video(
    path: str | Path,
    fps: float | None = None,
    size: int | tuple[int, int] | None = None,
    num_frames: int | None = None,
    start: float = 0.0,
    frame_policy: FramePolicy = "trim",
) -> tuple[torch.Tensor, VideoMeta]:
    """Decode a clip. Returns ``video: [3, T, H, W]`` float32 in [-1, 1] and the file's :class:`VideoMeta`.

    - ``fps``: resample to this rate by timestamps (target time ``start + k / fps`` takes the nearest
      source frame); None keeps every source frame.
    - ``size``: int ``s`` -> shorter side resized to ``s`` (antialiased) and center-cropped to ``s x s``;
      ``(H, W)`` -> scaled to cover ``H x W`` and center-cropped. None keeps the original size.
    - ``num_frames``: exactly this many frames starting at ``start`` seconds. If the clip has fewer,
      ``frame_policy="pad"`` repeats the last frame, otherwise :class:`ClipTooShortError` is raised.
    - without ``num_frames``, all frames from ``start`` to the end, then ``frame_policy``:
      ``"trim"`` -> the longest ``1 + 16n`` prefix, ``"pad"`` -> padded up to ``1 + 16n`` by repeating the
      last frame, ``"none"`` -> unchanged.
    """
    if frame_policy not in ("trim", "pad", "none"):
        raise ValueError(f"frame_policy must be 'trim', 'pad' or 'none', got {frame_policy!r}")
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    start = max(0.0, float(start))
    path = _check_path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        src_fps = _stream_fps(stream) or 25.0
        ctx = stream.codec_context
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        duration = _duration(stream, container)
        seeked = False
        if start > _SEEK_AFTER and stream.time_base is not None:
            seeked = _seek(container, stream, start + t0 - 2.0 / src_fps)
            if not seeked:  # some containers cannot seek: decode from the beginning instead
                container.close()
                container = _open(path)
        clip, total = _select_frames(container, path, src_fps, t0, duration, fps, start, num_frames, size)
        meta = VideoMeta(
            path=str(path),
            fps=src_fps,
            duration=duration or max(total, len(clip)) / src_fps,
            num_frames=int(stream.frames or 0) or (total if total >= 0 and not seeked else round(duration * src_fps)),
            height=int(ctx.height),
            width=int(ctx.width),
            codec=ctx.name or "",
        )
    finally:
        container.close()
    if len(clip) == 0:
        if total == 0 and not seeked:
            raise NoFramesError(f"video '{path}' holds zero decodable frames")
        raise ClipTooShortError(f"video '{path}' has no frames after the start time {start:.3f} s")
    video, times = clip.video(), clip.times  # [3, T, H, W]
    if num_frames is not None and video.shape[1] < num_frames:
        if frame_policy != "pad":
            raise ClipTooShortError(
                f"video '{path}' gives only {video.shape[1]} frames from {start:.3f} s"
                f"{f' at {fps:g} fps' if fps else ''}, but {num_frames} were requested"
            )
        video = apply_frame_policy(video, "pad", target=num_frames)
        times = times + [times[-1]] * (num_frames - len(times))
    elif num_frames is None:
        video = apply_frame_policy(video, frame_policy)
        times = (times + [times[-1]] * video.shape[1])[: video.shape[1]]
    return video, dataclasses.replace(meta, frame_times=tuple(times))


def _seek(container, stream, seconds: float) -> bool:
    """Jump to the keyframe at or before ``seconds`` (stream time); False when the container refuses."""
    try:
        container.seek(max(0, int(seconds / stream.time_base)), stream=stream, backward=True, any_frame=False)
    except (av.FFmpegError, ValueError):
        return False
    return True


def _duration(stream, container) -> float:
    """Declared duration in seconds (0.0 when the file does not say)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return 0.0


class _Decoded:
    """A decoded frame with its timestamp; converted to an RGB array once, only if it is used."""

    def __init__(self, frame: av.VideoFrame, time: float) -> None:
        self.frame, self.time, self._rgb = frame, time, None

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self.frame.to_ndarray(format="rgb24")  # [H, W, 3] uint8
        return self._rgb


class _ClipFrames:
    """Collects the chosen frames and converts / resizes them in batches (a few large tensor ops instead of
    many small ones, while never holding more than one batch at the original resolution)."""

    batch = 16

    def __init__(self, size: int | tuple[int, int] | None) -> None:
        self.size = size
        self.pending: list[np.ndarray] = []
        self.chunks: list[torch.Tensor] = []
        self.times: list[float] = []

    def add(self, decoded: _Decoded) -> None:
        self.pending.append(decoded.rgb())
        self.times.append(decoded.time)
        if len(self.pending) >= self.batch:
            self._flush()

    def __len__(self) -> int:
        return len(self.times)

    def _flush(self) -> None:
        if not self.pending:
            return
        frames = torch.from_numpy(np.stack(self.pending))  # [t, H, W, 3] uint8
        x = rearrange(frames, "t h w c -> c t h w").float() / 127.5 - 1.0
        if self.size is not None:
            x = resize_center_crop(x, self.size)
        self.chunks.append(x)
        self.pending = []

    def video(self) -> torch.Tensor:
        """``[3, T, H, W]`` float32 in [-1, 1]."""
        self._flush()
        return torch.cat(self.chunks, dim=1)


def _select_frames(container, path, src_fps, t0, duration, fps, start, num_frames, size):
    """Decode and keep the frames of the requested clip.

    Returns (clip frames, number of frames decoded; -1 when decoding stopped early).
    """
    clip = _ClipFrames(size)
    total = 0
    prev: _Decoded | None = None
    k = 0  # next target index (resampling)
    tie = 0.05 / src_fps
    ended = True  # False when decoding stopped early because the clip was complete

    def target(k: int) -> float:
        return start + k / fps

    for frame, t in _decode(container, path):
        current = _Decoded(frame, (t - t0) if t is not None else total / src_fps)
        total += 1
        if fps is None:
            if current.time >= start - _EPS:
                clip.add(current)
        else:
            while current.time >= target(k) - _EPS and (num_frames is None or k < num_frames):
                tk = target(k)
                # nearest frame; a tie (within 5% of a frame period: containers round timestamps) goes earlier
                use_prev = prev is not None and (tk - prev.time) <= (current.time - tk) + tie
                clip.add(prev if use_prev else current)
                k += 1
            prev = current
        if num_frames is not None and len(clip) >= num_frames:
            ended = False
            break
    if fps is not None and prev is not None and ended:
        # target times after the last frame but before the end of its display time take the last frame
        end = prev.time + 1.0 / src_fps
        if duration > prev.time:
            end = min(end, duration)
        while target(k) < end - 0.1 / src_fps and target(k) >= prev.time - _EPS and (
            num_frames is None or k < num_frames
        ):
            clip.add(prev)
            k += 1
    return clip, total if ended else -1
