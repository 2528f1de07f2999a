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
    describe_logits,
    mask_harmonics,
    mask_trajectory,
    object_pixels,
    object_reads,
    parse_caption,
    probe_loss,
    probe_targets,
)
from videoflextok.eval.probe_train import ProbeTrainConfig, _train_slots, load_or_train_probe


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
    # star found with the wrong direction and change: shape + color = 2 of 4, circle missing: 0 of 4
    partial = {"star": {"color": "red", "direction": "down", "change": "none"}}
    assert caption_score([partial], [caption]) == pytest.approx(2 / 8)
    # without "change": star has shape, color (not direction) = 2 of 3, circle 0 of 3
    assert caption_score([partial], [caption], attributes=("color", "direction")) == pytest.approx(2 / 6)
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


def _logits(present: list[float], shape: list[int], direction: list[int]) -> dict[str, torch.Tensor]:
    """Probe output for one video per entry: slot 0 (red) with the given presence logit, shape and direction."""
    b = len(present)
    out = {"present": torch.full((b, 6), -5.0), "shape": torch.zeros(b, 6, 4), "direction": torch.zeros(b, 6, 8),
           "change": torch.zeros(b, 6, 4)}
    for i in range(b):
        out["present"][i, 0] = present[i]
        out["shape"][i, 0, shape[i]] = 3.0
        out["direction"][i, 0, direction[i]] = 3.0
    return out


def test_object_reads_look_in_the_objects_color_slot():
    up, left = DIRECTIONS.index("up"), DIRECTIONS.index("left")
    square, star = SHAPES.index("square"), SHAPES.index("star")
    logits = _logits([2.0, 2.0, 2.0, -1.0], [square, star, square, square], [up, up, left, up])
    red_square_up = {"color": "red", "shape": "square", "direction": "up"}
    reads = object_reads(logits, [red_square_up] * 4)
    assert reads["found"].tolist() == [True, True, True, False]  # the last: the red slot says absent
    assert reads["shape"].tolist() == [True, False, True, False]
    assert reads["direction"].tolist() == [True, True, False, False]
    # another color's slot is not looked at, even when it holds the right shape and direction
    assert not object_reads(logits, [{**red_square_up, "color": "blue"}] * 4)["found"].any()
    # consistent with the class score: found, right shape and right direction is a class hit here
    hits = class_score(describe_logits(logits), [class_label("square", "up")] * 4)
    assert hits == float((reads["shape"] & reads["direction"]).float().mean())
    with pytest.raises(ValueError, match="one object per video"):
        object_reads(logits, [red_square_up])


def test_object_pixels_are_the_colored_pixels_grown_by_one():
    video = torch.full((1, 3, 2, 16, 16), -0.2)
    video[:, :, :, ::2] = 0.3  # gray stripes: never an object
    video[:, 0, 1, 5:8, 9:12], video[:, 1:, 1, 5:8, 9:12] = 0.8, -0.8  # a red 3x3 square in frame 1
    mask = object_pixels(video)
    assert mask.shape == (1, 2, 16, 16) and not mask[0, 0].any()
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[4:9, 8:13] = True
    assert torch.equal(mask[0, 1], expected)
    data = ShapesDataset(resolution=32, num_frames=5, length=10, seed=2, split="all")
    for i in range(10):
        clip = data[i]["video"][None]
        mask = object_pixels(clip)
        palette = color_masks(clip, sigma=ProbeConfig().color_sigma).amax(dim=1) > 0.5  # [1, T, H, W]
        assert mask[palette].all() and 0 < mask.float().mean() < 0.5


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


def _harmonics_reference(masks: torch.Tensor, orders=(3, 4, 5), floor=0.1) -> torch.Tensor:
    """mask_harmonics written the slow, direct way: complex float64 moments around the centroid, pixel by pixel."""
    m = ((masks[:, 0].double() - floor) / (1 - floor)).clamp(min=0)  # [N, T, H, W]
    h, w = m.shape[-2:]
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, dtype=torch.float64),
                            torch.linspace(-1, 1, w, dtype=torch.float64), indexing="ij")
    mass = m.sum(dim=(2, 3))
    z = torch.complex(xs, ys)
    dz = z - ((m * z).sum(dim=(2, 3)) / mass.clamp(min=1e-6))[..., None, None]
    r2 = (m * dz.abs() ** 2).sum(dim=(2, 3)) / mass.clamp(min=1e-6)
    out = []
    for n in orders:
        a = (m * dz**n).sum(dim=(2, 3)) / mass.clamp(min=1e-6) / r2.clamp(min=1e-8) ** (n / 2) * (mass >= 1)
        a = a / (1 + a.abs())
        q = a[:, 1:] * a[:, :-1].conj()
        weight, step = q.abs(), torch.angle(q) / math.pi
        total = weight.sum(dim=1) + 1e-2
        summary = torch.stack([(step.abs() * weight).sum(dim=1) / total, ((step * weight).sum(dim=1) / total).abs()], 1)
        out += [a.abs(), q.real, q.imag.abs(), summary]
    return torch.cat(out, dim=1)


def test_mask_harmonics_match_the_direct_computation():
    data = ShapesDataset(resolution=48, num_frames=5, length=12, seed=21, split="all")
    videos = torch.stack([data[i]["video"] for i in range(12)])
    masks = color_masks(videos, sigma=ProbeConfig().color_sigma).flatten(0, 1)[:, None]  # [72, 1, T, H, W]
    fast = mask_harmonics(masks)
    assert fast.shape == (72, 3 * 3 * 5) and fast.dtype == torch.float32
    torch.testing.assert_close(fast.double(), _harmonics_reference(masks), atol=1e-5, rtol=0)
    empty = mask_harmonics(torch.zeros(2, 1, 5, 16, 16))
    assert torch.equal(empty, torch.zeros_like(empty))  # no object: all features 0


def test_mask_harmonics_measure_the_turn_of_rotating_shapes():
    """The net phase step of the shape's own symmetry order is n * (turn per frame); zero when it does not turn."""
    frames, orders = 9, (3, 4, 5)
    order_of = {"triangle": 3, "square": 4, "star": 5}
    data = ShapesDataset(resolution=64, num_frames=frames, length=120, seed=31, split="all", max_objects=1)
    checked = {"rotates": 0, "still": 0}
    for i in range(len(data)):
        obj = data.sample(i).objects[0]
        if obj.shape == "circle":
            continue
        masks = color_masks(data[i]["video"][None], sigma=ProbeConfig().color_sigma)[:, SLOTS.index(obj.color)]
        feats = mask_harmonics(masks[:, None], orders)[0]
        n = order_of[obj.shape]
        net_turn = feats[(orders.index(n) + 1) * 3 * frames - 1].item()  # |weighted mean phase step| / pi
        expected = abs(obj.angle[1] - obj.angle[0]) / (frames - 1) * n / math.pi
        if obj.change == "rotates":
            assert net_turn == pytest.approx(expected, abs=0.03), (obj, net_turn, expected)
            assert net_turn > 0.15
            checked["rotates"] += 1
        else:  # still, growing or shrinking: the phase stays put
            assert net_turn < 0.03, (obj, net_turn)
            checked["still"] += 1
    assert checked["rotates"] > 12 and checked["still"] > 40


def test_train_slots_keep_every_object_and_some_empty_slots():
    present = torch.tensor([[1, 0, 0, 0, 0, 0], [0, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]], dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    for absent in (0, 1, 2):
        chosen = _train_slots(present, absent, gen)
        assert chosen.dtype == torch.bool and chosen[present.bool()].all()
        assert (chosen & ~present.bool()).sum(dim=1).tolist() == [absent] * 3
    assert _train_slots(present, -1, gen).all()
    # over many draws every absent slot gets its turn
    seen = torch.zeros(6)
    for _ in range(50):
        seen += (_train_slots(present[:1], 1, gen)[0] & ~present[0].bool()).float()
    assert (seen[1:] > 0).all()


def test_slot_logits_are_the_forward_pass_on_one_mask():
    torch.manual_seed(0)
    probe = ShapesProbe(ProbeConfig(frames=5, size=32, harmonics=(3, 4))).eval()
    video = torch.rand(2, 3, 7, 40, 40) * 2 - 1
    with torch.no_grad():
        full = probe(video)
        masks = probe.slot_masks(video)  # [2, 6, 5, 32, 32]
        one = probe.slot_logits(masks[1, 4][None, None])
    for key, value in full.items():
        torch.testing.assert_close(value[1, 4], one[key][0], atol=1e-5, rtol=1e-5)


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
    changes = {f"change_{c}" for c in CHANGES}
    assert set(metrics) == {"present", "shape", "direction", "change", "object", "class", "clip"} | changes
    assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_shipped_probe_reads_every_attribute(tmp_path):
    """The probe shipped with the package on fresh clips (a seed neither its training nor its README numbers use)."""
    probe = load_or_train_probe(ProbeTrainConfig(), cache_dir=tmp_path)  # the shipped file: no training
    assert not any(tmp_path.iterdir())
    metrics = probe_train.evaluate_probe(probe, ProbeTrainConfig(eval_seed=2718, eval_clips=96))
    for key in ("shape", "direction", "change", "class"):
        assert metrics[key] >= 0.95, (key, metrics)
    assert metrics["change_rotates"] >= 0.9 and metrics["change_none"] >= 0.9, metrics
