"""Access to the official-code parity fixture (``tests/fixtures/official_parity``, see its README)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file

FIXTURE = Path(__file__).parent / "fixtures" / "official_parity"
HUB = FIXTURE / "hub"
SINGLE = FIXTURE / "single" / "model.safetensors"


@lru_cache(maxsize=2)
def _load(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURE / name))


def io_tensors(two_chunks: bool = False) -> dict[str, torch.Tensor]:
    """The stored inputs and official outputs (a fresh dict of the shared tensors: never modify them)."""
    return dict(_load("io_2chunks.safetensors" if two_chunks else "io.safetensors"))


def official_state() -> dict[str, torch.Tensor]:
    """The official state dict in the Hub layout (keys prefixed ``video_tokenizer.``)."""
    return dict(_load("hub/model.safetensors"))


@lru_cache(maxsize=1)
def description() -> dict:
    """The fixture's ``config.json`` (settings, seeds, per-tensor descriptions)."""
    return json.loads((FIXTURE / "config.json").read_text())
