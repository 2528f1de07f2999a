"""The ``shapes+pans`` mix: each item is its source's item at the same index, the share of pans follows
``pans_fraction``, and the choice is a pure function of (seed, split, index)."""

from __future__ import annotations

import pytest
import torch

from videoflextok.data import DataConfig, build_dataset
from videoflextok.errors import ConfigError


def _mix(fraction: float, seed: int = 0, split: str = "train"):
    cfg = DataConfig(dataset="shapes+pans", resolution=16, num_frames=5, length=400, seed=seed,
                     pans_fraction=fraction)
    return build_dataset(cfg, split=split)


def test_items_come_from_their_source_at_the_same_index():
    mix = _mix(0.5)
    shapes = build_dataset(DataConfig(dataset="shapes", resolution=16, num_frames=5, length=400))
    pans = build_dataset(DataConfig(dataset="pans", resolution=16, num_frames=5, length=400))
    picks = [mix.is_pan(i) for i in range(12)]
    assert any(picks) and not all(picks)
    for i, is_pan in enumerate(picks):
        item = mix[i]
        source = (pans if is_pan else shapes)[i]
        assert item["video"].shape == (3, 5, 16, 16)
        assert torch.equal(item["video"], source["video"]) and item["caption"] == source["caption"]


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
def test_share_of_pans_follows_the_fraction(fraction):
    mix = _mix(fraction)
    share = sum(mix.is_pan(i) for i in range(len(mix))) / len(mix)
    assert abs(share - fraction) < 0.07


def test_choice_is_deterministic_and_depends_on_seed_and_split():
    picks = [_mix(0.5).is_pan(i) for i in range(64)]
    assert picks == [_mix(0.5).is_pan(i) for i in range(64)]
    assert picks != [_mix(0.5, seed=1).is_pan(i) for i in range(64)]
    assert picks != [_mix(0.5, split="heldout").is_pan(i) for i in range(64)]
    with pytest.raises(IndexError):
        _mix(0.5).is_pan(400)


def test_fraction_outside_unit_interval_is_a_config_error():
    with pytest.raises(ConfigError, match="pans_fraction"):
        DataConfig(dataset="shapes+pans", pans_fraction=1.5)
