"""The training DataLoader: deterministic batches with worker processes, seeded workers, the epoch carried by
each index, DataConfig."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from videoflextok.config import apply_overrides, from_dict
from videoflextok.data import DataConfig, EpochIndex, build_dataset
from videoflextok.errors import ConfigError
from videoflextok.train.sampler import StreamBatchSampler, stream_loader


class _Indexed(Dataset):
    """Item i: label i, and a numpy random draw (tests worker seeding)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"video": torch.full((3, 1, 2, 2), float(i)), "label": i, "caption": f"item {i}",
                "noise": float(np.random.rand())}


def _stream(ds, batch_size: int, seed: int, num_workers: int = 0, steps: int = 4, **kwargs) -> list[dict]:
    """The first ``steps`` micro-batches the trainer's loader gives."""
    sampler = StreamBatchSampler(len(ds), batch_size, seed=seed, **kwargs)
    loader = iter(stream_loader(ds, sampler, num_workers=num_workers))
    return [next(loader) for _ in range(steps)]


def test_loader_with_two_workers_gives_the_same_batches_every_time():
    ds = build_dataset(DataConfig(dataset="shapes", resolution=32, num_frames=17, length=16, seed=0))
    runs = [_stream(ds, 4, seed=3, num_workers=2) for _ in range(2)]
    for a, b in zip(*runs):
        assert a["video"].shape == (4, 3, 17, 32, 32) and a["video"].dtype == torch.float32
        assert a["label"].dtype == torch.int64 and isinstance(a["caption"], list) and len(a["caption"]) == 4
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["label"], b["label"])
        assert a["caption"] == b["caption"]
    # and they match the dataset read directly, in the sampler's shuffled order
    order = StreamBatchSampler(16, 4, seed=3).indices(0, 16)
    assert sorted(order) == list(range(16)) and order != list(range(16))
    assert torch.equal(runs[0][0]["video"][1], ds[order[1]]["video"])


def test_workers_are_seeded_and_epochs_reshuffle():
    ds = _Indexed(12)
    first = _stream(ds, 3, seed=5, num_workers=2, steps=8)
    again = _stream(ds, 3, seed=5, num_workers=2, steps=8)
    noise = torch.cat([b["noise"] for b in first])
    assert torch.equal(noise, torch.cat([b["noise"] for b in again]))  # same seed -> same random draws
    assert len(set(noise.tolist())) == 24  # and the two workers do not repeat each other's draws
    labels = torch.cat([b["label"] for b in first]).tolist()
    epoch0, epoch1 = labels[:12], labels[12:]
    assert sorted(epoch0) == sorted(epoch1) == list(range(12)) and epoch0 != epoch1
    other_seed = torch.cat([b["label"] for b in _stream(ds, 3, seed=6)]).tolist()
    assert other_seed != epoch0


def test_indices_carry_their_epoch_through_worker_processes():
    index = EpochIndex(7, epoch=3)
    assert index == 7 and index + 1 == 8 and [10, 11, 12, 13, 14, 15, 16, 17][index] == 17
    assert pickle.loads(pickle.dumps(index)).epoch == 3

    class Epochs(_Indexed):
        def __getitem__(self, i):
            return {"video": torch.zeros(3, 1, 2, 2), "label": i, "caption": "", "noise": 0.0, "epoch": i.epoch}

    batches = _stream(Epochs(4), 2, seed=0, num_workers=2, steps=6)
    assert torch.cat([b["epoch"] for b in batches]).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


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
