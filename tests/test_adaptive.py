"""Adaptive budget (videoflextok.tokenizer.adaptive): the chosen k is the smallest candidate whose estimate reaches
the target (the best estimate when none does) or the one maximising estimate - price x k, ``tokenize(target_psnr=...)``
and ``tokenize(db_per_token=...)`` cut every video's rows to its own k,
and with the shipped demo tokenizer (1-step decoding) the decoded clips meet every target that is reachable."""

from __future__ import annotations

import pytest
import torch

from tokenizer_helpers import random_video, small_model
from videoflextok.data.pans import PansDataset
from videoflextok.data.shapes import ShapesDataset
from videoflextok.errors import ConfigError
from videoflextok.eval.metrics import psnr
from videoflextok.report.demo import load_tokenizer
from videoflextok.tokenizer.adaptive import best_tradeoff, choose_keep_k, estimate_psnr, reconstruct


def test_smallest_k_reaching_the_target() -> None:
    model = small_model()
    video = random_video(1, 17, seed=2)
    rows = model.tokenize(video)[0]
    estimates = {k: estimate_psnr(model, video, rows, k) for k in (1, 2, 4)}
    for target in sorted(estimates.values()):
        k, estimate = choose_keep_k(model, video, rows, target)
        assert estimate == estimates[k] >= target
        assert all(estimates[j] < target for j in estimates if j < k)
    best = max(estimates, key=lambda j: (estimates[j], -j))
    assert choose_keep_k(model, video, rows, max(estimates.values()) + 1.0) == (best, estimates[best])
    assert choose_keep_k(model, video, rows, -1e9, candidates=[3, 2]) == (2, estimate_psnr(model, video, rows, 2))
    with pytest.raises(ConfigError, match="1..4"):
        choose_keep_k(model, video, rows, 20.0, candidates=[8])


def test_price_per_token_picks_the_best_tradeoff() -> None:
    model = small_model()
    video = random_video(1, 17, seed=2)
    rows = model.tokenize(video)[0]
    estimates = {k: estimate_psnr(model, video, rows, k) for k in (1, 2, 4)}
    for price in (0.0, 0.01, 0.1, 1.0, 100.0):
        k, estimate = choose_keep_k(model, video, rows, db_per_token=price)
        assert estimate == estimates[k]
        assert all(estimates[k] - price * k >= estimates[j] - price * j for j in estimates)
    assert choose_keep_k(model, video, rows, db_per_token=100.0)[0] == 1  # tokens too dear: the first alone
    assert best_tradeoff([(1, 10.0), (2, 11.0), (4, 11.5), (8, 11.6)], 0.5) == (2, 11.0)
    assert best_tradeoff([(1, 10.0), (2, 10.5)], 0.5) == (1, 10.0)  # a tie keeps the smaller k


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "exactly one"), ({"target_psnr": 20.0, "db_per_token": 0.1}, "exactly one"),
     ({"target_psnr": float("nan")}, "finite"), ({"db_per_token": float("inf")}, "finite"),
     ({"db_per_token": -1.0}, "at least 0"), ({"target_psnr": "20"}, "finite")],
)
def test_bad_criteria_are_refused(kwargs, message) -> None:
    model = small_model()
    video = random_video(1, 17, seed=2)
    rows = model.tokenize(video)[0]
    with pytest.raises(ConfigError, match=message):
        choose_keep_k(model, video, rows, **kwargs)
    if kwargs:
        with pytest.raises(ConfigError, match=message):
            model.tokenize(video, **kwargs)


def test_estimate_is_one_step_decode() -> None:
    model = small_model()
    video = random_video(1, 17, seed=3)
    rows = model.tokenize(video)[0]
    one_step = model.detokenize([rows], keep_k=2, steps=1, generator=torch.Generator().manual_seed(0))
    assert estimate_psnr(model, video, rows, 2) == pytest.approx(float(psnr(one_step, video).mean()), abs=1e-4)
    torch.testing.assert_close(reconstruct(model, rows, 2, steps=1), one_step, atol=1e-4, rtol=0)


def test_tokenize_with_target_cuts_each_video() -> None:
    model = small_model()
    video = random_video(2, 17, seed=4)
    full = model.tokenize(video)
    per_video = [{k: estimate_psnr(model, video[b : b + 1], full[b], k) for k in (1, 2, 4)} for b in range(2)]
    target = sorted(per_video[0].values())[1]
    cut = model.tokenize(video, target_psnr=target)
    priced = model.tokenize(video, db_per_token=0.05)
    for b in range(2):
        k = choose_keep_k(model, video[b : b + 1], full[b], target)[0]
        assert torch.equal(cut[b], full[b][:, :k])
        k = choose_keep_k(model, video[b : b + 1], full[b], db_per_token=0.05)[0]
        assert torch.equal(priced[b], full[b][:, :k])


@pytest.mark.parametrize("target", [18.0, 20.0, 22.0, 24.0])
def test_demo_tokenizer_meets_reachable_targets(target: float) -> None:
    """The shipped tokenizer decodes with one Euler step, so the estimate is the decode it gives by default: every
    clip whose best estimate reaches the target is decoded at or above it from the chosen k."""
    model = load_tokenizer(None)[0]
    clips = [ShapesDataset(64, 17, length=2, seed=1, split="heldout")[i]["video"] for i in range(2)]
    clips += [PansDataset(64, 17, length=1, seed=1, split="heldout")[0]["video"]]
    reachable = 0
    for clip in clips:
        video = clip[None]
        rows = model.tokenize(video)[0]
        k, estimate = choose_keep_k(model, video, rows, target)
        decoded = model.detokenize([rows[:, :k]], generator=torch.Generator().manual_seed(0))
        achieved = float(psnr(decoded, video).mean())
        assert achieved == pytest.approx(estimate, abs=1e-3)
        if estimate >= target:
            reachable += 1
            assert achieved >= target - 1e-3
    assert reachable > 0 or target > 20  # the low targets are within reach of the shapes clips
