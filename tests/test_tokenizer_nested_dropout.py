"""Nested dropout: the k choices, per-sample masking with one mask token, no in-place edits."""

from __future__ import annotations

import torch

from videoflextok.tokenizer.nested_dropout import apply_nested_dropout, keep_choices, keep_mask, sample_keep_k


def test_keep_choices_are_powers_of_two_and_K():
    assert keep_choices(32) == [1, 2, 4, 8, 16, 32]
    assert keep_choices(6) == [1, 2, 4, 6]
    assert keep_choices(1) == [1]


def test_sampled_k_cover_the_choices():
    ks = sample_keep_k(4000, 16, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(ks, minlength=17)
    assert set(ks.unique().tolist()) == {1, 2, 4, 8, 16}
    assert counts[[1, 2, 4, 8, 16]].min() > 4000 / 5 * 0.8  # uniform over the choices


def test_registers_after_k_become_the_mask_token_for_all_frames():
    regs = torch.randn(3, 4, 8, 5)
    original = regs.clone()
    mask_token = torch.randn(5)
    keep = torch.tensor([1, 3, 8])
    out = apply_nested_dropout(regs, keep, mask_token)
    assert torch.equal(regs, original)  # input untouched
    for b, k in enumerate(keep.tolist()):
        assert torch.equal(out[b, :, :k], regs[b, :, :k])
        assert torch.equal(out[b, :, k:], mask_token.expand(4, 8 - k, 5))
    assert keep_mask(keep, 8).sum(dim=1).tolist() == [1, 3, 8]


def test_gradient_reaches_the_mask_token_and_kept_registers_only():
    regs = torch.randn(2, 3, 4, 5, requires_grad=True)
    mask_token = torch.zeros(5, requires_grad=True)
    apply_nested_dropout(regs, torch.tensor([2, 4]), mask_token).sum().backward()
    assert torch.equal(regs.grad[0, :, 2:], torch.zeros(3, 2, 5))
    assert (regs.grad[0, :, :2] == 1).all() and (regs.grad[1] == 1).all()
    assert torch.equal(mask_token.grad, torch.full((5,), 6.0))
