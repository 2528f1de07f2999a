"""Logit filters and classifier-free guidance used by the generator's sampler."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from videoflextok.generator.sampling import draw, filter_top_k, filter_top_p, sample


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5]])
    kept = filter_top_k(logits, 2)
    assert torch.isfinite(kept).tolist() == [[False, True, False, True, False]]
    assert torch.equal(filter_top_k(logits, None), logits)


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15]])
    logits = probs.log()
    assert torch.isfinite(filter_top_p(logits, 0.75)).tolist() == [[True, False, True, False]]
    assert torch.isfinite(filter_top_p(logits, 0.81)).tolist() == [[True, False, True, True]]
    assert torch.isfinite(filter_top_p(logits, 0.01)).tolist() == [[True, False, False, False]]


def test_sample_follows_the_distribution_and_the_seed():
    probs = torch.tensor([0.7, 0.2, 0.1, 0.0])
    logits = probs.log().expand(20000, 4)
    draws = sample(logits, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / draws.numel()
    assert_close(freq, probs, atol=0.015, rtol=0)
    assert not (draws == 3).any()  # a zero-probability id is never drawn
    again = sample(logits, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)
    assert torch.equal(sample(logits[:3], temperature=0), torch.zeros(3, dtype=torch.long))
    sharp = sample(logits, temperature=0.25, generator=torch.Generator().manual_seed(1))
    assert (sharp == 0).float().mean() > 0.95  # low temperature concentrates on the mode


def test_draw_never_picks_a_filtered_id_and_matches_the_distribution():
    logits = torch.tensor([0.0, 2.0, 1.0, -1.0, 0.5, 3.0]).expand(30000, 6)
    draws = sample(logits, top_k=3, generator=torch.Generator().manual_seed(3))
    kept = torch.tensor([1, 2, 5])
    assert torch.isin(draws, kept).all()
    expected = torch.zeros(6)
    expected[kept] = logits[0, kept].softmax(-1)
    freq = torch.bincount(draws, minlength=6).float() / draws.numel()
    assert_close(freq, expected, atol=0.01, rtol=0)
    first_and_last = torch.tensor([[0.5, 0.0, 0.0, 0.5]])  # zero mass between and after
    picks = draw(first_and_last.expand(2000, 4), torch.Generator().manual_seed(0))
    assert set(picks.tolist()) == {0, 3}


