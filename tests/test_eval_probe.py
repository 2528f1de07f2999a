"""The `shapes` probe: caption parsing, class/caption scores, targets, shapes of outputs, learning, caching."""

from __future__ import annotations

import math

import pytest
import torch

import videoflextok.eval.probe_train as probe_train
from videoflextok.data.shapes import CHANGES, DIRECTIONS, SHAPES, ShapesDataset, class_label
from videoflextok.eval.probe import (
    SLOTS,
    ProbeConfig,
    ShapesProbe,
    caption_score,
    class_score,
    color_masks,
    mask_trajectory,
    parse_caption,
    probe_loss,
    probe_targets,
)
from videoflextok.eval.probe_train import ProbeTrainConfig, load_or_train_probe


def test_parse_caption_recovers_every_object_of_generated_captions():
    data = ShapesDataset(resolution=32, num_frames=9, length=300, seed=7, split="all")
    two = 0
    for i in range(len(data)):
        sample = data.sample(i)
        parsed = parse_caption(sample.caption)
        expected = [{"shape": o.shape, "color": o.color, "direction": o.direction, "change": o.change}
                    for o in sample.objects]
        assert parsed == expected, sample.caption
        two += len(sample.objects) == 2
    assert two > 50  # both caption forms were exercised


def test_parse_caption_ignores_other_text():
    assert parse_caption("a cat plays the piano") == []
    assert parse_caption("an orange star moves down-left and rotates on a plain background") == [
        {"shape": "star", "color": "orange", "direction": "down-left", "change": "rotates"}
    ]
    # "up" must not match the prefix of "up-left"
    assert parse_caption("a red circle moves up-left")[0]["direction"] == "up-left"


def test_caption_score_counts_found_attributes():
    caption = "a red star moves up and grows while a blue circle moves left on a plain background"
    perfect = {"star": {"color": "red", "direction": "up", "change": "grows"},
               "circle": {"color": "blue", "direction": "left", "change": "none"}}
    assert caption_score([perfect], [caption]) == 1.0
    # star found with the wrong direction (shape + color of 3), circle missing (0 of 3)
    partial = {"star": {"color": "red", "direction": "down", "change": "none"}}
    assert caption_score([partial], [caption]) == pytest.approx(2 / 6)
    # with "change" scored too: star has shape, color (not direction, not change) = 2 of 4, circle 0 of 4
    assert caption_score([partial], [caption], attributes=("color", "direction", "change")) == pytest.approx(2 / 8)
    assert caption_score([perfect, {}], [caption, caption]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="undefined"):
        caption_score([{}], ["no objects here"])
    with pytest.raises(ValueError, match="Unknown caption attributes"):
        caption_score([perfect], [caption], attributes=("size",))


def test_class_score_needs_shape_and_direction():
    label = class_label("triangle", "down-right")
    right = {"triangle": {"color": "green", "direction": "down-right", "change": "none"}}
    wrong_dir = {"triangle": {"color": "green", "direction": "down", "change": "none"}}
    other = {"square": {"color": "green", "direction": "down-right", "change": "none"}}
    assert class_score([right, wrong_dir, other, {}], [label] * 4) == 0.25
    with pytest.raises(ValueError, match="one label per video"):
        class_score([right], [label, label])


def test_targets_mark_present_slots_and_ignore_absent_ones():
    data = ShapesDataset(resolution=32, num_frames=9, length=40, seed=3, split="all")
    samples = [data.sample(i) for i in range(40)]
    t = probe_targets(samples)
    assert t["present"].shape == (40, 6) and t["shape"].shape == (40, 6)
    for i, sample in enumerate(samples):
        assert t["present"][i].sum() == len(sample.objects)
        for obj in sample.objects:
            k = SLOTS.index(obj.color)
            assert SHAPES[t["shape"][i, k]] == obj.shape
            assert DIRECTIONS[t["direction"][i, k]] == obj.direction
            assert CHANGES[t["change"][i, k]] == obj.change
        absent = t["present"][i] == 0
        assert (t["direction"][i][absent] == -100).all()


def test_color_masks_select_the_palette_color():
    data = ShapesDataset(resolution=32, num_frames=3, length=20, seed=5, split="all")
    for i in range(20):
        sample = data.sample(i)
        masks = color_masks(data[i]["video"][None], sigma=ProbeConfig().color_sigma)[0]  # [6, T, H, W]
        colors = {o.color for o in sample.objects}
        for k, name in enumerate(SLOTS):
            if name in colors:
                assert masks[k].amax() > 0.9  # the object's interior matches its palette color
            else:
                assert masks[k].amax() < 0.5  # no other color shows up (gray backgrounds, antialiased edges)


def test_mask_trajectory_follows_direction_and_growth():
    data = ShapesDataset(resolution=64, num_frames=9, length=40, seed=11, split="all", max_objects=1)
    for i in range(40):
        obj = data.sample(i).objects[0]
        masks = color_masks(data[i]["video"][None], sigma=ProbeConfig().color_sigma)
        traj = mask_trajectory(masks[:, SLOTS.index(obj.color)][:, None])[0]
        dx, dy, growth = traj[-3:].tolist()
        theta = DIRECTIONS.index(obj.direction) * math.pi / 4
        ex, ey = round(math.cos(theta), 6), -round(math.sin(theta), 6)  # "up" is -y
        if ex:
            assert dx * ex > 0.05, (obj, dx)
        else:
            assert abs(dx) < 0.05
        if ey:
            assert dy * ey > 0.05, (obj, dy)
        else:
            assert abs(dy) < 0.05
        if obj.change in ("grows", "shrinks"):
            assert growth * (1 if obj.change == "grows" else -1) > 0.3


@pytest.mark.parametrize("shape", [(2, 3, 17, 64, 64), (1, 3, 9, 32, 48), (3, 3, 33, 128, 128)])
def test_probe_accepts_any_length_and_size(shape):
    probe = ShapesProbe(ProbeConfig(width=8)).eval()
    with torch.no_grad():
        out = probe(torch.rand(shape) * 2 - 1)
    b = shape[0]
    assert out["present"].shape == (b, 6)
    assert out["shape"].shape == (b, 6, 4) and out["direction"].shape == (b, 6, 8) and out["change"].shape == (b, 6, 4)
    found = probe.describe(torch.zeros(shape))
    assert len(found) == b and all(set(f) <= set(SHAPES) for f in found)


def test_probe_fits_a_small_batch():
    torch.manual_seed(0)
    data = ShapesDataset(resolution=32, num_frames=5, length=8, seed=1, split="all")
    videos = torch.stack([data[i]["video"] for i in range(8)])
    targets = probe_targets([data.sample(i) for i in range(8)])
    probe = ShapesProbe(ProbeConfig(width=8, frames=5, size=32))
    opt = torch.optim.AdamW(probe.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = probe_loss(probe(videos), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_trained_probe_is_cached(tmp_path, monkeypatch):
    cfg = ProbeTrainConfig(probe=ProbeConfig(width=8, frames=5, size=32), resolution=32, num_frames=5, steps=2,
                           batch_size=2, eval_clips=4)
    probe = load_or_train_probe(cfg, cache_dir=tmp_path, progress=False)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [f"shapes-probe-{cfg.key()}.safetensors"]

    def no_training(*args, **kwargs):
        raise AssertionError("the probe was retrained although it is cached")

    monkeypatch.setattr(probe_train, "train_probe", no_training)
    again = load_or_train_probe(cfg, cache_dir=tmp_path)
    for (k, v), (k2, v2) in zip(probe.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    # a different config is a different cache entry
    assert ProbeTrainConfig(steps=3).key() != ProbeTrainConfig().key()
    assert ProbeTrainConfig(eval_clips=7).key() == ProbeTrainConfig().key()  # evaluation settings do not retrain
    metrics = probe_train.evaluate_probe(again, cfg)
    assert set(metrics) == {"present", "shape", "direction", "change", "object", "class", "clip"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
