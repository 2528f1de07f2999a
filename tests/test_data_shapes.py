"""The synthetic shapes dataset: determinism, labels and captions from attributes, held-out split, visibility."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from videoflextok.data import DataConfig, build_dataset
from videoflextok.data.shapes import (
    COLORS,
    DIRECTIONS,
    HELDOUT_PAIRS,
    NUM_CLASSES,
    SHAPES,
    ShapesDataset,
    class_label,
    class_names,
    render,
)


def test_same_seed_and_index_give_the_same_tensor():
    a = ShapesDataset(resolution=48, num_frames=17, seed=3)
    b = ShapesDataset(resolution=48, num_frames=17, seed=3)
    for i in (0, 5, 99):
        x, y = a[i], b[i]
        assert torch.equal(x["video"], y["video"]) and x["label"] == y["label"] and x["caption"] == y["caption"]
    assert not torch.equal(a[0]["video"], a[1]["video"])
    assert not torch.equal(a[0]["video"], ShapesDataset(resolution=48, num_frames=17, seed=4)[0]["video"])
    videos = [a[i]["video"] for i in range(20)]
    assert len({v.numpy().tobytes() for v in videos}) == 20


def test_item_format_and_sizes():
    for resolution, frames in ((32, 17), (64, 33), (96, 81)):
        item = ShapesDataset(resolution=resolution, num_frames=frames, length=5)[2]
        assert set(item) == {"video", "label", "caption"}
        video = item["video"]
        assert video.shape == (3, frames, resolution, resolution) and video.dtype == torch.float32
        assert float(video.min()) >= -1.0 and float(video.max()) <= 1.0
        assert 0 <= item["label"] < NUM_CLASSES


def test_labels_and_captions_follow_the_attributes():
    ds = ShapesDataset(resolution=32, num_frames=17, length=300, seed=1, split="all")
    names = class_names()
    assert len(names) == NUM_CLASSES == ds.num_classes == 32
    pattern = re.compile(
        r"^an? (\w+) (\w+) moves ([\w-]+)(?: and (grows|shrinks|rotates))?"
        r"(?: while an? (\w+) (\w+) moves ([\w-]+)(?: and (grows|shrinks|rotates))?)? on an? (\w+) background$"
    )
    seen_two = seen_change = False
    for i in range(len(ds)):
        s = ds.sample(i)
        first = s.objects[0]
        assert s.label == SHAPES.index(first.shape) * 8 + DIRECTIONS.index(first.direction)
        assert s.label == class_label(first.shape, first.direction)
        assert names[s.label] == f"{first.shape} moving {first.direction}"
        m = pattern.match(s.caption)
        assert m, s.caption
        color, shape, direction, change = m.group(1, 2, 3, 4)
        assert (color, shape, direction, change or "none") == (first.color, first.shape, first.direction, first.change)
        assert m.group(9) == s.background
        if len(s.objects) == 2:
            seen_two = True
            second = s.objects[1]
            assert m.group(5, 6, 7) == (second.color, second.shape, second.direction)
            assert (second.shape, second.color) != (first.shape, first.color)
        else:
            assert m.group(5) is None
        seen_change |= first.change != "none"
        if first.shape == "circle":
            assert first.change != "rotates"
        item = ds[i] if i < 3 else None
        if item is not None:
            assert item["label"] == s.label and item["caption"] == s.caption
    assert seen_two and seen_change
    assert {ds.sample(i).label for i in range(len(ds))} == set(range(32))  # every class occurs


def test_heldout_split_separates_shape_color_pairs():
    train = ShapesDataset(resolution=32, length=400, split="train")
    heldout = ShapesDataset(resolution=32, length=200, split="heldout")
    train_pairs = {(o.shape, o.color) for i in range(len(train)) for o in train.sample(i).objects}
    heldout_pairs = {(o.shape, o.color) for i in range(len(heldout)) for o in heldout.sample(i).objects}
    assert not train_pairs & HELDOUT_PAIRS
    assert heldout_pairs == set(HELDOUT_PAIRS)
    assert len(train_pairs) == len(SHAPES) * len(COLORS) - len(HELDOUT_PAIRS)
    # every shape and every color is still seen in training: only the combinations are new
    assert {s for s, _ in train_pairs} == set(SHAPES) and {c for _, c in train_pairs} == set(COLORS)
    # build_dataset passes the split through
    cfg = DataConfig(dataset="shapes", resolution=32, length=50)
    ds = build_dataset(cfg, split="heldout")
    assert all((o.shape, o.color) in HELDOUT_PAIRS for i in range(50) for o in ds.sample(i).objects)


def test_objects_stay_inside_the_frame():
    ds = ShapesDataset(resolution=40, num_frames=17, length=200, seed=2, split="all")
    for i in range(len(ds)):
        for o in ds.sample(i).objects:
            for p in np.linspace(0, 1, 9):
                x = o.start[0] + (o.end[0] - o.start[0]) * p
                y = o.start[1] + (o.end[1] - o.start[1]) * p
                r = o.radius * (o.scale[0] + (o.scale[1] - o.scale[0]) * p)
                assert r <= x <= 40 - r and r <= y <= 40 - r


def _color_mask(video: torch.Tensor, color: str) -> np.ndarray:
    """Pixels ``[T, H, W]`` that show exactly the object's color."""
    rgb = np.asarray(COLORS[color], dtype=np.float32).reshape(3, 1, 1, 1) * 2 - 1
    return np.abs(video.numpy() - rgb).max(axis=0) < 0.02


def test_rendered_motion_matches_the_direction_and_change():
    ds = ShapesDataset(resolution=64, num_frames=17, length=24, seed=5, split="all", max_objects=1)
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float64)
    for i in range(len(ds)):
        s = ds.sample(i)
        obj = s.objects[0]
        mask = _color_mask(ds[i]["video"], obj.color)
        areas = mask.reshape(17, -1).sum(1).astype(np.float64)
        assert (areas > 0).all(), "the object is visible in every frame"
        cx = (mask * xs).reshape(17, -1).sum(1) / areas
        cy = (mask * ys).reshape(17, -1).sum(1) / areas
        motion = math.atan2(-(cy[-1] - cy[0]), cx[-1] - cx[0])  # "up" is -y
        expected = DIRECTIONS.index(obj.direction) * math.pi / 4
        assert abs(math.remainder(motion - expected, 2 * math.pi)) < math.radians(15), (i, s.caption)
        if obj.change == "grows":
            assert areas[-1] > 2.0 * areas[0]
        elif obj.change == "shrinks":
            assert areas[0] > 2.0 * areas[-1]
        else:
            assert areas[-1] == pytest.approx(areas[0], rel=0.2)
    assert {ds.sample(i).objects[0].change for i in range(len(ds))} == {"none", "grows", "shrinks", "rotates"}


def test_render_shape_64x64x17():
    ds = ShapesDataset(resolution=64, num_frames=17, length=50, seed=0)
    assert ds[0]["video"].shape == (3, 17, 64, 64)
    assert render(ds.sample(0), 64, 17).shape == (3, 17, 64, 64)
