"""Axial RoPE (nn/rope.py) used by the generator: norm preserving and relative in every axis."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from videoflextok.nn.rope import AxialRoPE


@pytest.mark.parametrize("axes", [1, 2, 3])
def test_rotation_preserves_norm_and_position_zero_is_identity(axes):
    rope = AxialRoPE(24, num_axes=axes)
    x = torch.randn(2, 3, 5, 24)
    pos = torch.randint(0, 50, (5, axes))
    y = rope.function(pos)(x)
    assert_close(y.norm(dim=-1), x.norm(dim=-1))
    assert_close(rope.function(torch.zeros(5, axes, dtype=torch.long))(x), x)


def test_scores_depend_only_on_relative_positions_per_axis():
    rope = AxialRoPE(16, num_axes=2)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(pq, pk):
        return (rope.function(torch.tensor([pq]))(q) * rope.function(torch.tensor([pk]))(k)).sum()

    assert_close(score((3, 5), (1, 2)), score((10, 7), (8, 4)))  # same (2, 3) offset
    assert not torch.allclose(score((3, 5), (1, 2)), score((3, 5), (2, 1)))


@pytest.mark.parametrize("axes", [1, 2, 3])
def test_one_position_rotation_matrix_equals_the_elementwise_rotation(axes):
    # a KV-cached sampling step rotates one position with a [head_dim, head_dim] matmul instead
    rope = AxialRoPE(24, num_axes=axes)
    pos = torch.randint(0, 50, (1, axes))
    cos, sin = rope.cos_sin(pos)
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(2, 3, 1, 24).to(dtype)
        y = rope.function(pos)(x)
        assert y.dtype == dtype
        assert_close(y.float(), rope.rotate(x, cos, sin).float(), atol=1e-6 if dtype == torch.float32 else 2e-2, rtol=0)


def test_head_dim_must_split_into_axes():
    with pytest.raises(ValueError, match="not divisible"):
        AxialRoPE(10, num_axes=2)
