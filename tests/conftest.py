"""Test-session settings shared by every test file."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The tests run tiny models: one intra-op thread is the fastest and steadiest setting for them (with more,
    threads spin-wait on tiny tensors, badly so on a loaded machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Two tiny tokenizer runs for the benchmark tests (read only): ``tok`` (nested dropout) and ``grid`` (the
    3D-grid baseline, ``model.nested_dropout=false``), each trained 4 steps by ``train_tiny_tokenizer``."""
    from bench_helpers import train_tiny_tokenizer

    root = tmp_path_factory.mktemp("tiny_runs")
    train_tiny_tokenizer(root / "tok")
    train_tiny_tokenizer(root / "grid", "model.nested_dropout=false")
    return root
