"""The starting maps of register mixing: the spatial pyramid (coarse cells first) and the random default."""

from __future__ import annotations

import math

import pytest
import torch

from tokenizer_helpers import small_model
from videoflextok.errors import ConfigError
from videoflextok.tokenizer.mixing import decoder_mixing, encoder_mixing, pyramid_cells


def _block(side: int, rows: range, cols: range) -> list[int]:
    return sorted(r * side + c for r in rows for c in cols)


def test_pyramid_cells_of_the_demo_grid_by_hand():
    cells = pyramid_cells(32, 8)  # K = 32 over 8x8 patches: 1 + 4 + 16 cells; 64 more would not fit
    assert len(cells) == 21
    assert sorted(cells[0]) == list(range(64))
    # the 2x2 level, raster order: top-left, top-right, bottom-left, bottom-right quadrants
    assert sorted(cells[1]) == _block(8, range(0, 4), range(0, 4))
    assert sorted(cells[2]) == _block(8, range(0, 4), range(4, 8))
    assert sorted(cells[3]) == _block(8, range(4, 8), range(0, 4))
    assert sorted(cells[4]) == _block(8, range(4, 8), range(4, 8))
    # the 4x4 level: 2x2 patches each; cell 5 + 4 * 2 + 3 is row 2, column 3
    assert sorted(cells[5 + 4 * 2 + 3]) == _block(8, range(4, 6), range(6, 8))
    for level in (cells[1:5], cells[5:21]):  # each level covers every patch exactly once
        assert sorted(p for cell in level for p in cell) == list(range(64))


@pytest.mark.parametrize(
    ("K", "side", "count"),
    [(1, 8, 1), (4, 8, 1), (5, 8, 5), (20, 8, 5), (21, 8, 21), (32, 2, 5), (32, 1, 1), (100, 3, 5)],
)
def test_pyramid_stops_at_a_level_that_does_not_fit_or_is_finer_than_a_patch(K, side, count):
    cells = pyramid_cells(K, side)
    assert len(cells) == count
    assert all(len(cell) >= 1 for cell in cells)


def test_pyramid_maps_pool_a_cell_and_feed_its_patches():
    torch.manual_seed(0)
    enc, dec = encoder_mixing(32, 64, "pyramid"), decoder_mixing(32, 64, "pyramid")
    x = torch.randn(64, 5)
    cells = pyramid_cells(32, 8)
    for k in (0, 3, 17):  # register k starts as the (norm-1) average of its cell's patches
        expect = x[cells[k]].sum(0) / math.sqrt(len(cells[k]))
        torch.testing.assert_close(enc[k] @ x, expect)
    # patch 0 (top-left corner) reads the whole-frame register, the top-left quadrant and the top-left 4x4 cell
    assert dec[0, :21].nonzero().flatten().tolist() == [0, 1, 5]
    torch.testing.assert_close(dec[0, [0, 1, 5]], torch.full((3,), 1 / math.sqrt(3)))
    # the registers after the pyramid keep the random start
    assert enc[21:].abs().min() > 0 and dec[:, 21:].abs().min() > 0


def test_random_start_is_the_scaled_gaussian_of_a_seed():
    torch.manual_seed(3)
    expect = torch.randn(8, 16) / 4.0
    torch.manual_seed(3)
    torch.testing.assert_close(encoder_mixing(8, 16, "random"), expect)


def test_model_starts_from_the_configured_maps():
    model = small_model("register_mixing=true", "mixing_init=pyramid", "K=5", randomize=False)
    # 16x16 pixels, 4x4 latent cells, 2x2 patches -> a 2x2 patch grid: one whole-frame cell and four single patches
    expect_enc = torch.tensor([[0.5, 0.5, 0.5, 0.5], *torch.eye(4).tolist()])
    torch.testing.assert_close(model.encoder.mix.detach(), expect_enc)
    # each patch reads the whole-frame register and its own one, at 1 / sqrt(2 levels)
    torch.testing.assert_close(model.decoder.mix.detach(), (expect_enc.T > 0).float() / math.sqrt(2))
    with pytest.raises(ConfigError, match="mixing_init"):
        small_model("register_mixing=true", "mixing_init=spiral")
