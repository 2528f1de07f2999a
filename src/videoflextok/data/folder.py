"""``folder`` / ``manifest``: clips of a user's own video files.

Every item is a clip of ``num_frames`` frames at ``resolution x resolution`` (shorter side resized,
center-cropped), optionally resampled to ``fps``. The clip start is random, deterministic from
(seed, index, epoch); the epoch comes with the index (:class:`videoflextok.data.loader.EpochIndex`, which the
training sampler yields; a plain int reads epoch 0).

A file that cannot be used (missing, not a video, no decodable frames, too short) is logged once, counted
in ``num_failures`` / ``failures`` and skipped: the item of the next index is returned instead (training keeps
going). Only when no file at all can be read is :class:`DataError` raised. Counters are per process (each
DataLoader worker keeps its own). With ``skip_unreadable=False`` (commands that write one result per clip:
pretokenize, cache-latents, eval, preview) a missing file is an error before anything is read, and an unreadable
one an error naming it, instead of a silent duplicate of another clip.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
from torch.utils.data import Dataset

from videoflextok.data.manifest import VideoEntry, read_manifest, scan_folder
from videoflextok.data.video_io import VideoMeta, probe_video, read_video
from videoflextok.errors import ClipTooShortError, DataError, VideoError

log = logging.getLogger(__name__)

# what a broken or unusual file can raise while being read; programming errors are not caught
_READ_ERRORS = (VideoError, av.FFmpegError, OSError, ValueError, RuntimeError, EOFError)


class VideoFileDataset(Dataset):
    """``dataset[i] -> {"video": [3, T, R, R] in [-1, 1], "label": int, "caption": str}`` from files."""

    def __init__(self, entries: list[VideoEntry], resolution: int = 64, num_frames: int = 17,
                 fps: float | None = None, seed: int = 0, random_start: bool = True,
                 frame_policy: str = "trim", skip_unreadable: bool = True) -> None:
        if not entries:
            raise DataError("the video dataset lists no files")
        self.entries = list(entries)
        self.skip_unreadable = skip_unreadable
        missing = [e.path for e in self.entries if not e.path.is_file()]
        if missing and not skip_unreadable:
            raise DataError(f"{len(missing)} of the {len(self.entries)} listed video files do not exist, the first "
                            f"'{missing[0]}'; fix or remove those entries")
        self.resolution, self.num_frames, self.fps = resolution, num_frames, fps
        self.seed, self.random_start = seed, random_start
        self.frame_policy = frame_policy  # "pad": short clips repeat their last frame; else they are skipped
        self.num_failures = 0  # failed reads in this process
        self.failures: dict[str, str] = {}  # path -> last error message
        self._meta: dict[int, VideoMeta] = {}

    @classmethod
    def from_folder(cls, folder: str | Path, **kwargs) -> VideoFileDataset:
        """All videos under ``folder`` (labels -1, captions "")."""
        return cls(scan_folder(folder), **kwargs)

    @classmethod
    def from_manifest(cls, manifest: str | Path, **kwargs) -> VideoFileDataset:
        """The videos listed in a CSV / JSONL manifest (see :mod:`videoflextok.data.manifest`)."""
        return cls(read_manifest(manifest), **kwargs)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        n = len(self.entries)
        if not self.skip_unreadable:
            try:
                return self.load(index)
            except _READ_ERRORS as exc:
                raise DataError(f"video '{self.entries[index].path}' cannot be used: {str(exc) or type(exc).__name__}"
                                ) from None
        for attempt in range(n):
            j = (index + attempt) % n
            try:
                return self.load(j, getattr(index, "epoch", 0))
            except _READ_ERRORS as exc:
                self._record_failure(j, exc)
        raise DataError(f"none of the {n} video files could be read; the last error was: "
                        f"{self.failures.get(str(self.entries[index % n].path), 'unknown')}")

    def load(self, index: int, epoch: int = 0) -> dict:
        """The clip of entry ``index`` in ``epoch``, with no skipping (raises the file's error)."""
        entry = self.entries[index]
        meta = self._meta.get(index)
        if meta is None:
            meta = self._meta[index] = probe_video(entry.path, verify=False)
        start = self.start_time(index, meta, epoch)
        policy = "pad" if self.frame_policy == "pad" else "trim"
        try:
            video, _ = read_video(entry.path, fps=self.fps, size=self.resolution, num_frames=self.num_frames,
                                  start=start, frame_policy=policy)
        except ClipTooShortError:
            if start == 0.0:
                raise
            video, _ = read_video(entry.path, fps=self.fps, size=self.resolution, num_frames=self.num_frames,
                                  start=0.0, frame_policy=policy)
        return {"video": video, "label": entry.label, "caption": entry.caption}

    def start_time(self, index: int, meta: VideoMeta, epoch: int = 0) -> float:
        """Clip start in seconds: uniform over the times that leave room for the whole clip (one draw per seed,
        index and epoch)."""
        if not self.random_start:
            return 0.0
        rate = self.fps or meta.fps or 25.0
        latest = meta.duration - self.num_frames / rate
        if latest <= 0:
            return 0.0
        rng = np.random.default_rng([self.seed, index, epoch, 11])
        return float(rng.uniform(0.0, latest))

    def _record_failure(self, index: int, exc: BaseException) -> None:
        path = str(self.entries[index].path)
        message = str(exc) or type(exc).__name__
        if path not in self.failures:
            log.warning("skipping video %s: %s", path, message)
        self.failures[path] = message
        self.num_failures += 1
