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
