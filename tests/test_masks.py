"""Attention masks: agreement with a slow reference, causality and truncation structure, caching."""

from __future__ import annotations

import pytest
import torch

from videoflextok.nn.masks import time_block_causal_last_mask, time_block_causal_mask


def reference_encoder_mask(T: int, P: int, K: int) -> torch.Tensor:
    """Slow, literal version of the rule in the design: block t sees blocks < t; inside a block patches see
    patches and register j sees patches and registers <= j."""
    L = T * (P + K)
    mask = torch.zeros(L, L, dtype=torch.bool)
    for q in range(L):
        tq, iq = divmod(q, P + K)
        for k in range(L):
            tk, ik = divmod(k, P + K)
            if tk < tq:
                mask[q, k] = True
            elif tk == tq:
                if iq < P:
                    mask[q, k] = ik < P
                else:
                    mask[q, k] = ik < P or ik <= iq
    return mask


@pytest.mark.parametrize("T,P,K", [(1, 3, 2), (3, 2, 4), (2, 4, 1)])
def test_encoder_mask_matches_reference(T, P, K):
    assert torch.equal(time_block_causal_last_mask(T, P, K), reference_encoder_mask(T, P, K))


def reference_decoder_mask(T: int, P: int, K: int) -> torch.Tensor:
    """Slow, literal version: a token of latent frame t sees every token of frames 0..t."""
    L = T * (P + K)
    mask = torch.zeros(L, L, dtype=torch.bool)
    for q in range(L):
        for k in range(L):
            mask[q, k] = k // (P + K) <= q // (P + K)
    return mask


@pytest.mark.parametrize("T,P,K", [(1, 3, 2), (3, 2, 4)])
def test_decoder_mask_is_block_causal(T, P, K):
    mask = time_block_causal_mask(T, P, K)
    assert torch.equal(mask, reference_decoder_mask(T, P, K))
    assert mask.diagonal().all()


def test_encoder_mask_every_token_sees_itself_and_nothing_later():
    T, P, K = 3, 2, 3
    mask = time_block_causal_last_mask(T, P, K)
    assert mask.diagonal().all()
    block = torch.arange(T * (P + K)) // (P + K)
    assert not (mask & (block[None, :] > block[:, None])).any()


def test_masks_are_cached_per_shape():
    a = time_block_causal_last_mask(2, 3, 4, "cpu")
    assert time_block_causal_last_mask(2, 3, 4, torch.device("cpu")) is a
    assert time_block_causal_last_mask(2, 3, 5, "cpu") is not a
