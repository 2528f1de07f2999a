"""Token orders of the generator: exact inverses, time-first prefixes, position ids."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from videoflextok.generator.ordering import ORDERS, from_sequence, positions, to_sequence


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    frames=st.integers(1, 6),
    k=st.integers(1, 9),
    order=st.sampled_from(ORDERS),
    seed=st.integers(0, 2**16),
)
def test_from_sequence_inverts_to_sequence(batch, frames, k, order, seed):
    tokens = torch.randint(0, 1000, (batch, frames, k), generator=torch.Generator().manual_seed(seed))
    seq = to_sequence(tokens, order)
    assert seq.shape == (batch, frames * k)
    assert torch.equal(from_sequence(seq, order, frames), tokens)
    assert torch.equal(to_sequence(from_sequence(seq, order, frames), order), seq)


@pytest.mark.parametrize("frames,k_max", [(1, 4), (5, 8), (3, 7)])
def test_time_first_prefix_is_first_k_tokens_of_every_frame(frames, k_max):
    tokens = torch.randint(0, 64000, (2, frames, k_max))
    seq = to_sequence(tokens, "time_first")
    for k in range(1, k_max + 1):
        prefix = seq[:, : k * frames]
        assert torch.equal(prefix, to_sequence(tokens[:, :, :k], "time_first"))
        assert torch.equal(from_sequence(prefix, "time_first", frames), tokens[:, :, :k])


def test_time_first_reads_token_one_of_every_frame_first():
    tokens = torch.arange(12).reshape(1, 3, 4)  # frame t, index j holds 4 * t + j
    assert to_sequence(tokens, "time_first").tolist() == [[0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]]
    assert to_sequence(tokens, "raster").tolist() == [list(range(12))]


@pytest.mark.parametrize("order", ORDERS)
def test_positions_name_the_grid_cell_of_each_sequence_position(order):
    frames, k = 4, 6
    grid = torch.arange(frames * k).reshape(1, frames, k)
    seq = to_sequence(grid, order)[0]
    pos = positions(order, frames, k)
    assert pos.shape == (frames * k, 2)
    assert torch.equal(grid[0, pos[:, 0], pos[:, 1]], seq)
    assert len({tuple(p) for p in pos.tolist()}) == frames * k


def test_unknown_order_and_bad_length_are_rejected():
    with pytest.raises(ValueError, match="unknown token order"):
        to_sequence(torch.zeros(1, 2, 2, dtype=torch.long), "spiral")
    with pytest.raises(ValueError, match="not a multiple"):
        from_sequence(torch.zeros(1, 7, dtype=torch.long), "raster", 2)
