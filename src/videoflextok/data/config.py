"""The data section of a run config (``data:`` in the preset YAML files)."""

from __future__ import annotations

from dataclasses import dataclass

from videoflextok.checks import MAX_FRAMES, MAX_RESOLUTION, MAX_SEED, check_int
from videoflextok.errors import ConfigError

DATASETS = ("shapes", "pans", "shapes+pans", "folder", "manifest")
SYNTHETIC = ("shapes", "pans", "shapes+pans")  # generated clips: a fixed length, train / heldout splits
SPLITS = ("train", "heldout", "all")
FRAME_POLICIES = ("trim", "pad", "none")


@dataclass
class DataConfig:
    """Which videos a run reads and in what shape. Items are ``video: [3, num_frames, resolution, resolution]``."""

    dataset: str = "shapes"  # shapes | pans | shapes+pans | folder | manifest
    resolution: int = 64  # output frames are resolution x resolution (shorter side resized, center crop)
    num_frames: int = 17  # frames per clip; the tokenizer wants 1 + 16n (17, 33, 49, 65, 81)
    path: str | None = None  # folder of videos (folder) or CSV/JSONL file (manifest)
    seed: int = 0  # makes synthetic samples and clip start times reproducible
    split: str = "train"  # train | heldout | all (synthetic datasets hold out attribute combinations)
    num_workers: int = 0  # DataLoader worker processes
    length: int = 10000  # number of samples of the synthetic datasets (shapes, pans)
    fps: float | None = None  # folder/manifest: resample clips to this frame rate (None = native rate)
    frame_policy: str = "trim"  # folder/manifest clips shorter than num_frames: pad (repeat last) or skip
    random_start: bool = True  # folder/manifest: random clip start (seed, index, epoch); False = from 0 s
    max_objects: int = 2  # shapes: at most this many moving objects per clip (1 or 2)
    latents: str | None = None  # tokenizer runs: a `cache-latents` folder trained on instead of encoding the clips
    pans_fraction: float = 0.3  # shapes+pans: the fraction of clips that are pans (the rest are shapes)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"data.dataset must be one of {', '.join(DATASETS)}, got '{self.dataset}'")
        if self.split not in SPLITS:
            raise ConfigError(f"data.split must be one of {', '.join(SPLITS)}, got '{self.split}'")
        if self.frame_policy not in FRAME_POLICIES:
            raise ConfigError(
                f"data.frame_policy must be one of {', '.join(FRAME_POLICIES)}, got '{self.frame_policy}'"
            )
        check_int("data.resolution", self.resolution, 8, MAX_RESOLUTION)
        check_int("data.num_frames", self.num_frames, 1, MAX_FRAMES)
        check_int("data.seed", self.seed, 0, MAX_SEED)
        if self.length < 1:
            raise ConfigError(f"data.length must be at least 1, got {self.length}")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be 0 or more, got {self.num_workers}")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"data.fps must be positive, got {self.fps}")
        if not 0.0 <= self.pans_fraction <= 1.0:
            raise ConfigError(f"data.pans_fraction must be in [0, 1], got {self.pans_fraction}")
        if self.max_objects not in (1, 2):
            raise ConfigError(f"data.max_objects must be 1 or 2, got {self.max_objects}")
