"""Camera pans and zooms over scikit-image photographs: determinism, known motion, held-out images."""

from __future__ import annotations

import math

import pytest
import torch

from videoflextok.data import DataConfig, build_dataset
from videoflextok.data.pans import HELDOUT_IMAGES, IMAGES, MOTIONS, NUM_CLASSES, PansDataset, load_image, render_pan


def test_items_are_deterministic_and_real():
    a = PansDataset(resolution=32, num_frames=17, length=20, seed=0, split="all")
    b = PansDataset(resolution=32, num_frames=17, length=20, seed=0, split="all")
    x, y = a[3], b[3]
    assert torch.equal(x["video"], y["video"]) and x["label"] == y["label"] and x["caption"] == y["caption"]
    assert not torch.equal(a[3]["video"], a[4]["video"])
    assert x["video"].shape == (3, 17, 32, 32) and float(x["video"].abs().max()) <= 1.0
    assert float(x["video"].std()) > 0.05  # photographic content, not a flat frame
    assert 0 <= x["label"] < NUM_CLASSES == len(MOTIONS)
    assert x["caption"].startswith("the camera ")


def test_labels_captions_and_split():
    train = PansDataset(resolution=32, length=200, split="train")
    heldout = build_dataset(DataConfig(dataset="pans", resolution=32, length=50, split="heldout"))
    train_samples = [train.sample(i) for i in range(len(train))]
    assert {s.image for s in train_samples}.isdisjoint(HELDOUT_IMAGES)
    assert {heldout.sample(i).image for i in range(50)} <= set(HELDOUT_IMAGES)
    for s in train_samples:
        assert MOTIONS[s.label] == s.motion
        verb = "zooms " + s.motion.split()[1] + " on" if s.motion.startswith("zoom") else "pans " + s.motion[4:]
        assert s.caption == f"the camera {verb}{'' if s.motion.startswith('zoom') else ' over'} {IMAGES[s.image]}"
    assert {s.label for s in train_samples} == set(range(NUM_CLASSES))


def test_windows_stay_inside_the_photograph():
    ds = PansDataset(resolution=32, length=100, seed=1, split="all")
    for i in range(len(ds)):
        s = ds.sample(i)
        _, height, width = load_image(s.image).shape
        for p in (0.0, 0.25, 0.5, 0.75, 1.0):
            cx, cy, side = s.window(p)
            assert side / 2 - 1e-6 <= cx <= width - side / 2 + 1e-6
            assert side / 2 - 1e-6 <= cy <= height - side / 2 + 1e-6


def test_rendered_frames_follow_the_known_camera_path():
    # a ramp image whose red channel encodes x and green encodes y: the center pixel reads the window center
    height, width = 300, 400
    xs = (torch.arange(width) + 0.5) / width * 2 - 1
    ys = (torch.arange(height) + 0.5) / height * 2 - 1
    ramp = torch.stack([xs[None].expand(height, width), ys[:, None].expand(height, width), torch.zeros(height, width)])
    ds = PansDataset(resolution=32, num_frames=9, length=200, seed=2, split="all")
    checked = set()
    for i in range(len(ds)):
        s = ds.sample(i)
        if s.motion in checked:
            continue
        checked.add(s.motion)
        # rescale the sample's path (made for its own photograph) onto the ramp image
        _, h0, w0 = load_image(s.image).shape
        scale = min(height / h0, width / w0)
        s = type(s)(s.index, s.image, s.motion, tuple((x * scale, y * scale) for x, y in s.center),
                    tuple(v * scale for v in s.side), s.label, s.caption)
        video = render_pan(ramp, s, 32, 9)
        for k in range(9):
            cx, cy, side = s.window(k / 8)
            # mean over the frame = window center (the ramp is linear); the x span = window side
            assert float(video[0, k].mean()) == pytest.approx(cx / width * 2 - 1, abs=0.01)
            assert float(video[1, k].mean()) == pytest.approx(cy / height * 2 - 1, abs=0.01)
            span = float(video[0, k, :, -1].mean() - video[0, k, :, 0].mean()) * width / 2 * 32 / 31
            assert span == pytest.approx(side, rel=0.03)
        if s.motion.startswith("pan"):
            (x0, y0), (x1, y1) = s.center
            angle = math.atan2(-(y1 - y0), x1 - x0)
            assert abs(math.remainder(angle - MOTIONS.index(s.motion) * math.pi / 4, 2 * math.pi)) < 1e-6
        elif s.motion == "zoom in":
            assert s.side[1] < s.side[0]
        else:
            assert s.side[1] > s.side[0]
    assert checked == set(MOTIONS)
