"""DataLoaders: deterministic batches with worker processes, seeded workers, per-rank shards, DataConfig."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from videoflextok.config import apply_overrides, from_dict
from videoflextok.data import DataConfig, build_dataset, build_loader, set_epoch
from videoflextok.errors import ConfigError


class _Indexed(Dataset):
    """Item i: label i, and a numpy random draw (tests worker seeding)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"video": torch.full((3, 1, 2, 2), float(i)), "label": i, "caption": f"item {i}",
                "noise": float(np.random.rand())}


def _batches(loader) -> list[dict]:
    return list(loader)


def test_loader_with_two_workers_gives_the_same_batches_every_time():
    ds = build_dataset(DataConfig(dataset="shapes", resolution=32, num_frames=17, length=16, seed=0))
    runs = [_batches(build_loader(ds, batch_size=4, shuffle=True, seed=3, num_workers=2)) for _ in range(2)]
    assert len(runs[0]) == 4
    for a, b in zip(*runs):
        assert a["video"].shape == (4, 3, 17, 32, 32) and a["video"].dtype == torch.float32
        assert a["label"].dtype == torch.int64 and isinstance(a["caption"], list) and len(a["caption"]) == 4
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["label"], b["label"])
        assert a["caption"] == b["caption"]
    # and they match the dataset read directly, in the shuffled order
    order = list(build_loader(ds, batch_size=4, shuffle=True, seed=3).sampler)
    assert sorted(order) == list(range(16)) and order != list(range(16))
    assert torch.equal(runs[0][0]["video"][1], ds[order[1]]["video"])


def test_workers_are_seeded_and_epochs_reshuffle():
    ds = _Indexed(12)
    first = _batches(build_loader(ds, batch_size=3, seed=5, num_workers=2))
    again = _batches(build_loader(ds, batch_size=3, seed=5, num_workers=2))
    noise = torch.cat([b["noise"] for b in first])
    assert torch.equal(noise, torch.cat([b["noise"] for b in again]))  # same seed -> same random draws
    assert len(set(noise.tolist())) == 12  # and the two workers do not repeat each other's draws
    loader = build_loader(ds, batch_size=3, seed=5)
    epoch0 = torch.cat([b["label"] for b in loader]).tolist()
    set_epoch(loader, 1)
    epoch1 = torch.cat([b["label"] for b in loader]).tolist()
    assert sorted(epoch0) == sorted(epoch1) == list(range(12)) and epoch0 != epoch1
    other_seed = torch.cat([b["label"] for b in build_loader(ds, batch_size=3, seed=6)]).tolist()
    assert other_seed != epoch0


def test_ranks_read_disjoint_shards():
    ds = _Indexed(20)
    shards = []
    for rank in range(4):
        loader = build_loader(ds, batch_size=5, shuffle=True, seed=0, rank=rank, world_size=4)
        shards.append(torch.cat([b["label"] for b in loader]).tolist())
    assert all(len(s) == 5 for s in shards)
    assert sorted(sum(shards, [])) == list(range(20))
    with pytest.raises(ConfigError):
        build_loader(ds, batch_size=5, rank=4, world_size=4)
    with pytest.raises(ConfigError):
        build_loader(ds, batch_size=0)


def test_data_config_is_strict_and_overridable():
    cfg = apply_overrides(DataConfig(), ["resolution=32", "num_frames=33", "fps=12.5"])
    assert (cfg.resolution, cfg.num_frames, cfg.fps) == (32, 33, 12.5)
    with pytest.raises(ConfigError, match="valid keys"):
        from_dict(DataConfig, {"resolutoin": 32})
    with pytest.raises(ConfigError, match="dataset"):
        DataConfig(dataset="imagenet")
    with pytest.raises(ConfigError, match="split"):
        DataConfig(split="val")
    with pytest.raises(ConfigError):
        from_dict(DataConfig, {"num_frames": "many"})
    pans = build_dataset(DataConfig(dataset="pans", resolution=32, num_frames=17, length=3))
    assert len(pans) == 3 and pans[0]["video"].shape == (3, 17, 32, 32)
