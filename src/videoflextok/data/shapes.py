"""``shapes``: synthetic videos of moving shapes, generated on the fly and deterministic from (seed, index).

Each clip shows one or two objects over a static background:

- shape: circle, square, triangle, star; color: red, green, blue, yellow, purple, orange;
- direction: one of 8 (right, up-right, up, up-left, left, down-left, down, down-right; "up" is towards
  the top of the frame); every object moves in a straight line and stays fully inside the frame;
- change over the clip: none, grows, shrinks, rotates (circles never "rotate": it would be invisible);
- background: plain, striped or checkered (gray tones, so the object colors stay unambiguous).

The primary object is drawn last (on top). Ground truth comes with every sample (:class:`ShapesSample`).

Class label (:data:`NUM_CLASSES` = 32): ``label = SHAPES.index(shape) * 8 + DIRECTIONS.index(direction)``
of the primary object, so ``class_names()[label]`` reads e.g. ``"triangle moving up-left"``.

Caption: ``"a red triangle moves up-left and shrinks on a striped background"``; with a second object
``"a red triangle moves up-left and shrinks while a blue circle moves right on a striped background"``
(``" and <change>"`` only when the change is not "none"; "an" before "orange").

Held-out split: the (shape, color) pairs in :data:`HELDOUT_PAIRS` never appear in ``split="train"``;
``split="heldout"`` draws every object from those pairs only; ``split="all"`` draws from all 24 pairs.
Every shape and every color is seen in training, only these combinations are new.

Rendering is vectorised numpy on ``[T, H, W]`` (single-threaded: no thread contention in the main
process) with signed distances, so edges are antialiased over one pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

SHAPES = ("circle", "square", "triangle", "star")
COLORS = {
    "red": (0.90, 0.12, 0.12),
    "green": (0.15, 0.78, 0.22),
    "blue": (0.18, 0.38, 0.98),
    "yellow": (0.97, 0.88, 0.10),
    "purple": (0.62, 0.22, 0.85),
    "orange": (1.00, 0.55, 0.05),
}
COLOR_NAMES = tuple(COLORS)
DIRECTIONS = ("right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right")  # 45 deg steps
CHANGES = ("none", "grows", "shrinks", "rotates")
BACKGROUNDS = ("plain", "striped", "checkered")
HELDOUT_PAIRS = frozenset({("circle", "red"), ("square", "green"), ("triangle", "blue"), ("star", "yellow")})
NUM_CLASSES = len(SHAPES) * len(DIRECTIONS)
_SPLIT_CODE = {"train": 0, "heldout": 1, "all": 2}


def class_names() -> list[str]:
    """Name of every class label, ``class_names()[shape * 8 + direction]``."""
    return [f"{s} moving {d}" for s in SHAPES for d in DIRECTIONS]


def class_label(shape: str, direction: str) -> int:
    """The documented label mapping: ``SHAPES.index(shape) * 8 + DIRECTIONS.index(direction)``."""
    return SHAPES.index(shape) * len(DIRECTIONS) + DIRECTIONS.index(direction)


@dataclass(frozen=True)
class ShapeObject:
    """One moving object. Positions are pixel coordinates (x right, y down) of the center."""

    shape: str  # one of SHAPES
    color: str  # one of COLORS
    direction: str  # one of DIRECTIONS
    change: str  # one of CHANGES
    radius: float  # circumradius in pixels at scale 1
    start: tuple[float, float]  # center (x, y) at the first frame
    end: tuple[float, float]  # center (x, y) at the last frame
    scale: tuple[float, float]  # size factor at the first and last frame
    angle: tuple[float, float]  # rotation (radians) at the first and last frame

    def describe(self) -> str:
        """``"red triangle moves up-left and shrinks"``."""
        text = f"{self.color} {self.shape} moves {self.direction}"
        return text if self.change == "none" else f"{text} and {self.change}"


@dataclass(frozen=True)
class ShapesSample:
    """Ground truth of one clip: the objects (primary first), the background, label and caption."""

    index: int  # dataset index it came from
    objects: tuple[ShapeObject, ...]  # 1 or 2 objects, primary first
    background: str  # one of BACKGROUNDS
    bg_tone: float  # base gray level in [0, 1]
    bg_period: float  # stripe / checker period in pixels
    bg_angle: float  # stripe angle (radians)
    label: int  # class_label(primary.shape, primary.direction)
    caption: str  # English description (see module docstring)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def make_caption(objects: tuple[ShapeObject, ...], background: str) -> str:
    """Caption from attributes, e.g. ``"a red star moves up on a plain background"``."""
    text = _article(objects[0].color) + " " + objects[0].describe()
    for other in objects[1:]:
        text += f" while {_article(other.color)} {other.describe()}"
    return f"{text} on a {background} background"


class ShapesDataset(Dataset):
    """``dataset[i] -> {"video": [3, T, R, R] in [-1, 1], "label": int, "caption": str}``; same (seed, i),
    same tensor. ``sample(i)`` gives the ground-truth :class:`ShapesSample` without rendering."""

    def __init__(self, resolution: int = 64, num_frames: int = 17, length: int = 10000, seed: int = 0,
                 split: str = "train", max_objects: int = 2) -> None:
        if split not in _SPLIT_CODE:
            raise ValueError(f"split must be one of {', '.join(_SPLIT_CODE)}, got {split!r}")
        self.resolution, self.num_frames, self.length = resolution, num_frames, length
        self.seed, self.split, self.max_objects = seed, split, max_objects
        every = [(s, c) for s in SHAPES for c in COLOR_NAMES]
        if split == "train":
            self.pairs = [p for p in every if p not in HELDOUT_PAIRS]
        elif split == "heldout":
            self.pairs = [p for p in every if p in HELDOUT_PAIRS]
        else:
            self.pairs = every

    num_classes = NUM_CLASSES

    @staticmethod
    def class_names() -> list[str]:
        return class_names()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        sample = self.sample(index)
        return {"video": render(sample, self.resolution, self.num_frames), "label": sample.label,
                "caption": sample.caption}

    def sample(self, index: int) -> ShapesSample:
        """The attributes of clip ``index`` (deterministic from seed, split and index)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[self.split], index])
        count = 1 if self.max_objects == 1 else int(rng.integers(1, 3))
        first = self.pairs[rng.integers(len(self.pairs))]
        chosen = [first]
        if count == 2:
            others = [p for p in self.pairs if p[0] != first[0] and p[1] != first[1]]
            chosen.append(others[rng.integers(len(others))])
        objects = [self._object(rng, *chosen[0])]
        if count == 2:
            objects.append(self._second_object(rng, objects[0], *chosen[1]))
        objects = tuple(objects)
        background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
        res = self.resolution
        return ShapesSample(
            index=index,
            objects=objects,
            background=background,
            bg_tone=float(rng.uniform(0.12, 0.42)),
            bg_period=float(rng.uniform(res / 8, res / 4)),
            bg_angle=float(rng.integers(4)) * math.pi / 4,
            label=class_label(objects[0].shape, objects[0].direction),
            caption=make_caption(objects, background),
        )

    def _second_object(self, rng: np.random.Generator, first: ShapeObject, shape: str, color: str) -> ShapeObject:
        """A second object whose path keeps clear of the first one (best of a few tries): both stay visible."""
        best, best_gap = None, -math.inf
        for _ in range(8):
            obj = self._object(rng, shape, color)
            gap = min(_distance(first, obj, p) - (first.radius + obj.radius) for p in np.linspace(0, 1, 5))
            if gap > best_gap:
                best, best_gap = obj, gap
            if gap > 0:
                break
        return best

    def _object(self, rng: np.random.Generator, shape: str, color: str) -> ShapeObject:
        res = float(self.resolution)
        direction = DIRECTIONS[rng.integers(len(DIRECTIONS))]
        changes = CHANGES if shape != "circle" else CHANGES[:3]
        change = changes[rng.integers(len(changes))]
        scale = {"none": (1.0, 1.0), "rotates": (1.0, 1.0), "grows": (0.7, 1.3), "shrinks": (1.3, 0.7)}[change]
        radius = float(rng.uniform(0.11, 0.18)) * res
        angle0 = float(rng.uniform(0, 2 * math.pi))
        spin = float(rng.uniform(0.5, 1.0) * math.pi * rng.choice([-1.0, 1.0])) if change == "rotates" else 0.0
        # the whole object stays inside [margin, res - margin] at its largest size
        margin = radius * max(scale) + 1.0
        room = res - 2 * margin
        theta = DIRECTIONS.index(direction) * math.pi / 4
        dx, dy = math.cos(theta), -math.sin(theta)  # y grows downwards, "up" is -y
        dx, dy = (0.0 if abs(dx) < 1e-9 else dx), (0.0 if abs(dy) < 1e-9 else dy)
        travel = float(rng.uniform(0.55, 0.95)) * room / max(abs(dx), abs(dy))
        lo_x, hi_x = margin + max(0.0, -travel * dx), res - margin - max(0.0, travel * dx)
        lo_y, hi_y = margin + max(0.0, -travel * dy), res - margin - max(0.0, travel * dy)
        x0, y0 = float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))
        return ShapeObject(
            shape=shape, color=color, direction=direction, change=change, radius=radius,
            start=(x0, y0), end=(x0 + travel * dx, y0 + travel * dy), scale=scale, angle=(angle0, angle0 + spin),
        )


def _distance(a: ShapeObject, b: ShapeObject, progress: float) -> float:
    """Distance between the centers of two objects at a point of the clip (0 = first frame, 1 = last)."""
    ax, ay = (a.start[i] + (a.end[i] - a.start[i]) * progress for i in (0, 1))
    bx, by = (b.start[i] + (b.end[i] - b.start[i]) * progress for i in (0, 1))
    return math.hypot(ax - bx, ay - by)


# ----------------------------------------------------------------------------------------------------
# rendering


def _polygon(n: int, radius: float = 1.0, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    """Vertices of a regular n-gon (counter-clockwise in x-right/y-down coordinates), first vertex up."""
    return [(radius * math.cos(phase + 2 * math.pi * k / n), radius * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _star_kites() -> list[list[tuple[float, float]]]:
    """A five-pointed star (outer radius 1) as the union of five convex kites. Each kite's inner corner sits
    a little past the center, so neighbours overlap and no seam shows inside the star."""
    tips = _polygon(5, 1.0)
    dents = _polygon(5, 0.382, phase=-math.pi / 2 + math.pi / 5)
    return [[(-0.2 * tx, -0.2 * ty), dents[k - 1], (tx, ty), dents[k]] for k, (tx, ty) in enumerate(tips)]


_CONVEX_PARTS = {
    "square": [_polygon(4, 1.0, phase=-math.pi / 4)],
    "triangle": [_polygon(3, 1.0)],
    "star": _star_kites(),
}


def _convex_sdf(u: np.ndarray, v: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Signed distance (exact inside, a lower bound outside) to a convex polygon; any vertex order."""
    cx = sum(p[0] for p in vertices) / len(vertices)
    cy = sum(p[1] for p in vertices) / len(vertices)
    dist = None
    for (ax, ay), (bx, by) in zip(vertices, vertices[1:] + vertices[:1]):
        nx, ny = by - ay, ax - bx
        norm = math.hypot(nx, ny)
        nx, ny = nx / norm, ny / norm
        offset = nx * ax + ny * ay
        if nx * cx + ny * cy > offset:  # make the normal point outwards
            nx, ny, offset = -nx, -ny, -offset
        d = u * nx + v * ny - offset
        dist = d if dist is None else np.maximum(dist, d)
    return dist


def _coverage(obj: ShapeObject, xs: np.ndarray, ys: np.ndarray, progress: np.ndarray) -> np.ndarray:
    """Antialiased coverage ``[T, H, W]`` in [0, 1] of one object over the frames."""
    p = progress[:, None, None]
    cx = obj.start[0] + (obj.end[0] - obj.start[0]) * p
    cy = obj.start[1] + (obj.end[1] - obj.start[1]) * p
    r = obj.radius * (obj.scale[0] + (obj.scale[1] - obj.scale[0]) * p)
    a = obj.angle[0] + (obj.angle[1] - obj.angle[0]) * p
    dx, dy = xs - cx, ys - cy
    cos, sin = np.cos(a), np.sin(a)
    u = (dx * cos + dy * sin) / r  # object frame, unit circumradius
    v = (-dx * sin + dy * cos) / r
    if obj.shape == "circle":
        sdf = np.sqrt(u * u + v * v) - 1.0
    else:
        parts = [_convex_sdf(u, v, verts) for verts in _CONVEX_PARTS[obj.shape]]
        sdf = parts[0]
        for part in parts[1:]:
            sdf = np.minimum(sdf, part)
    return np.clip(0.5 - sdf * r, 0.0, 1.0)  # distance in pixels -> 1-pixel-wide edge


def _background(sample: ShapesSample, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Gray background ``[H, W]`` in [0, 1]."""
    tone, contrast = sample.bg_tone, 0.16
    if sample.background == "plain":
        return np.full(np.broadcast_shapes(xs.shape, ys.shape), tone, dtype=np.float32)
    period = sample.bg_period
    if sample.background == "striped":
        along = xs * math.cos(sample.bg_angle) + ys * math.sin(sample.bg_angle)
        wave = np.sin(2 * math.pi * along / period)
    else:
        wave = np.sin(math.pi * xs / (period / 2)) * np.sin(math.pi * ys / (period / 2))
    edge = np.clip(wave * period / (2 * math.pi), -0.5, 0.5) + 0.5  # soft, about one pixel wide
    return tone + contrast * edge


def render(sample: ShapesSample, resolution: int, num_frames: int) -> torch.Tensor:
    """Draw a sample: ``video: [3, T, H, W]`` float32 in [-1, 1] with ``T = num_frames``, ``H = W = resolution``."""
    coords = np.arange(resolution, dtype=np.float32) + np.float32(0.5)
    xs, ys = coords[None, :], coords[:, None]
    progress = np.linspace(0.0, 1.0, num_frames, dtype=np.float32) if num_frames > 1 else np.zeros(1, np.float32)
    bg = np.broadcast_to(_background(sample, xs, ys), (resolution, resolution))
    frames = np.broadcast_to(bg, (3, num_frames, resolution, resolution)).astype(np.float32)  # [3, T, H, W]
    for obj in reversed(sample.objects):  # primary last, so it is on top
        alpha = _coverage(obj, xs, ys, progress)[None].astype(np.float32)
        color = np.asarray(COLORS[obj.color], dtype=np.float32)[:, None, None, None]
        frames += (color - frames) * alpha
    return torch.from_numpy(frames * np.float32(2.0) - np.float32(1.0))
