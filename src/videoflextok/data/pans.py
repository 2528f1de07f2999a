"""``pans``: smooth camera pans and zooms over the real photographs that scikit-image ships.

Real image content with known motion, deterministic from (seed, index). A square camera window moves over
one photograph; its position and size follow a smoothstep ease (no jerk at the ends):

- motions (:data:`MOTIONS`, the class label is the motion index, 10 classes): pan in one of 8 directions
  (right, up-right, up, up-left, left, down-left, down, down-right; the *camera* moves that way, so the
  content moves the opposite way), "zoom in" or "zoom out" (window shrinks / grows about a fixed center);
- caption: ``"the camera pans up-left over a cat"``, ``"the camera zooms in on a rocket on its launch pad"``;
- split: ``train`` never uses the photographs in :data:`HELDOUT_IMAGES`, ``heldout`` uses only them,
  ``all`` uses every photograph.

Only images bundled inside scikit-image are used (nothing is downloaded). ``sample(i)`` returns the ground
truth :class:`PanSample`, whose ``window(progress)`` gives the camera box at any point of the clip.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from videoflextok.errors import DataError

# scikit-image loader name -> what the caption calls it (all ship inside the scikit-image wheel)
IMAGES = {
    "astronaut": "an astronaut",
    "coffee": "a cup of coffee",
    "chelsea": "a cat",
    "rocket": "a rocket on its launch pad",
    "hubble_deep_field": "a field of galaxies",
    "immunohistochemistry": "stained tissue under a microscope",
    "retina": "a retina",
    "camera": "a man with a camera",
    "coins": "old coins",
    "moon": "the surface of the moon",
    "brick": "a brick wall",
    "grass": "grass",
    "gravel": "gravel",
}
HELDOUT_IMAGES = ("coffee", "rocket")
PAN_DIRECTIONS = ("right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right")
MOTIONS = tuple(f"pan {d}" for d in PAN_DIRECTIONS) + ("zoom in", "zoom out")
NUM_CLASSES = len(MOTIONS)
_MAX_SIDE = 512  # photographs are kept at most this large (shorter side) in memory
_SPLIT_CODE = {"train": 0, "heldout": 1, "all": 2}


def class_names() -> list[str]:
    """``class_names()[label]`` is the camera motion, e.g. ``"pan up-left"`` or ``"zoom in"``."""
    return list(MOTIONS)


@functools.cache
def load_image(name: str) -> torch.Tensor:
    """A scikit-image photograph as ``[3, H, W]`` float32 in [-1, 1] (gray images repeated to RGB)."""
    import skimage.data

    if name not in IMAGES:
        raise DataError(f"unknown pans image '{name}'; available: {', '.join(IMAGES)}")
    try:
        array = np.asarray(getattr(skimage.data, name)())
    except Exception as exc:  # a missing optional file inside scikit-image, not our bug
        raise DataError(f"scikit-image could not load its bundled image '{name}': {exc}") from None
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    image = torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(2, 0, 1).float() / 127.5 - 1.0
    short = min(image.shape[1:])
    if short > _MAX_SIDE:
        scale = _MAX_SIDE / short
        size = (round(image.shape[1] * scale), round(image.shape[2] * scale))
        image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    return image.clamp(-1, 1).contiguous()


def _smoothstep(p: float) -> float:
    return p * p * (3.0 - 2.0 * p)


@dataclass(frozen=True)
class PanSample:
    """Ground truth of one clip: a square camera window (pixels of the stored photograph) over time."""

    index: int  # dataset index it came from
    image: str  # key of IMAGES
    motion: str  # one of MOTIONS
    center: tuple[tuple[float, float], tuple[float, float]]  # window center (x, y) at the first / last frame
    side: tuple[float, float]  # window side length at the first / last frame
    label: int  # MOTIONS.index(motion)
    caption: str  # English description

    def window(self, progress: float) -> tuple[float, float, float]:
        """``(center_x, center_y, side)`` of the camera at ``progress`` in [0, 1] (smoothstep eased)."""
        e = _smoothstep(min(1.0, max(0.0, progress)))
        (x0, y0), (x1, y1) = self.center
        return x0 + (x1 - x0) * e, y0 + (y1 - y0) * e, self.side[0] + (self.side[1] - self.side[0]) * e


class PansDataset(Dataset):
    """``dataset[i] -> {"video": [3, T, R, R] in [-1, 1], "label": motion index, "caption": str}``."""

    num_classes = NUM_CLASSES

    def __init__(self, resolution: int = 64, num_frames: int = 17, length: int = 10000, seed: int = 0,
                 split: str = "train") -> None:
        if split not in _SPLIT_CODE:
            raise ValueError(f"split must be one of {', '.join(_SPLIT_CODE)}, got {split!r}")
        self.resolution, self.num_frames, self.length, self.seed, self.split = (
            resolution, num_frames, length, seed, split)
        if split == "train":
            self.images = [n for n in IMAGES if n not in HELDOUT_IMAGES]
        elif split == "heldout":
            self.images = list(HELDOUT_IMAGES)
        else:
            self.images = list(IMAGES)

    @staticmethod
    def class_names() -> list[str]:
        return class_names()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        sample = self.sample(index)
        video = render_pan(load_image(sample.image), sample, self.resolution, self.num_frames)
        return {"video": video, "label": sample.label, "caption": sample.caption}

    def sample(self, index: int) -> PanSample:
        """The camera path of clip ``index`` (deterministic from seed, split and index)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[self.split], index, 7])
        name = self.images[rng.integers(len(self.images))]
        _, height, width = load_image(name).shape
        short = float(min(height, width))
        motion = MOTIONS[rng.integers(len(MOTIONS))]
        if motion.startswith("zoom"):
            big = float(rng.uniform(0.6, 0.95)) * short
            small = big * float(rng.uniform(0.45, 0.65))
            cx = float(rng.uniform(big / 2, width - big / 2))
            cy = float(rng.uniform(big / 2, height - big / 2))
            side = (big, small) if motion == "zoom in" else (small, big)
            center = ((cx, cy), (cx, cy))
            caption = f"the camera zooms {motion.split()[1]} on {IMAGES[name]}"
        else:
            s = float(rng.uniform(0.4, 0.6)) * short
            theta = PAN_DIRECTIONS.index(motion.split()[1]) * math.pi / 4
            dx, dy = math.cos(theta), -math.sin(theta)  # "up" is -y in image coordinates
            dx, dy = (0.0 if abs(dx) < 1e-9 else dx), (0.0 if abs(dy) < 1e-9 else dy)
            room_x, room_y = width - s, height - s
            limit = min(room_x / abs(dx) if dx else math.inf, room_y / abs(dy) if dy else math.inf)
            travel = float(rng.uniform(0.5, 0.9)) * limit
            lo_x, hi_x = s / 2 + max(0.0, -travel * dx), width - s / 2 - max(0.0, travel * dx)
            lo_y, hi_y = s / 2 + max(0.0, -travel * dy), height - s / 2 - max(0.0, travel * dy)
            x0, y0 = float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))
            center = ((x0, y0), (x0 + travel * dx, y0 + travel * dy))
            side = (s, s)
            caption = f"the camera pans {motion.split()[1]} over {IMAGES[name]}"
        return PanSample(index, name, motion, center, side, MOTIONS.index(motion), caption)


def render_pan(image: torch.Tensor, sample: PanSample, resolution: int, num_frames: int) -> torch.Tensor:
    """Film ``image: [3, H, W]`` along the sample's camera path -> ``video: [3, T, R, R]`` in [-1, 1].

    The photograph is first shrunk (antialiased) so the smallest window spans about ``1.25 * R`` pixels,
    then every frame is a bilinear ``grid_sample`` of its window (sub-pixel accurate, so pans are smooth).
    """
    progress = [k / (num_frames - 1) if num_frames > 1 else 0.0 for k in range(num_frames)]
    windows = torch.tensor([sample.window(p) for p in progress], dtype=torch.float32)  # [T, 3]
    _, height, width = image.shape
    factor = min(1.0, 1.25 * resolution / float(windows[:, 2].min()))
    if factor < 1.0:
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    # output pixel centers as fractions of the window, then absolute photo pixels, then grid_sample's [-1, 1]
    frac = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution - 0.5  # [R]
    cx, cy, side = windows[:, 0:1], windows[:, 1:2], windows[:, 2:3]  # [T, 1]
    xs = (cx + frac[None] * side) / width * 2.0 - 1.0  # [T, R]
    ys = (cy + frac[None] * side) / height * 2.0 - 1.0
    grid = torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=-1)  # [T, R, R, 2]
    frames = F.grid_sample(image[None].expand(num_frames, -1, -1, -1), grid, mode="bilinear",
                           padding_mode="border", align_corners=False)  # [T, 3, R, R]
    return frames.permute(1, 0, 2, 3).clamp(-1.0, 1.0).contiguous()
