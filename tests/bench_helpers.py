"""Shared helpers of the tests of ``bench/`` scripts: load a script as a module, train a tiny tokenizer run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from videoflextok.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
# a 16x16, K = 4 tokenizer with one block per transformer: trains 4 steps in about a second
TINY_MODEL = ("resolution=16", "K=4", "encoder_depth=1", "encoder_dim=32", "encoder_heads=2", "decoder_depth=1",
              "decoder_dim=32", "decoder_heads=2", "sample_steps=2")


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` imported as a module (the bench folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_tiny_tokenizer(out: Path, *extra: str) -> None:
    """``videoflextok train tokenizer`` for 4 steps of :data:`TINY_MODEL` into ``out`` (``extra``: more overrides)."""
    assert main(["train", "tokenizer", "--preset", "tiny", "--out", str(out), *(f"model.{o}" for o in TINY_MODEL),
                 *extra, "data.resolution=16", "train.steps=4", "train.batch_size=2", "train.warmup_steps=1",
                 "train.device=cpu", "train.progress=false", "train.val_every=0", "train.log_every=2",
                 "data.length=16"]) == 0
