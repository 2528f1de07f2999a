"""Datasets from a :class:`DataConfig`, and DataLoaders with seeded workers and per-rank shards.

Batches collate to ``{"video": [B, 3, T, H, W] in [-1, 1], "label": LongTensor[B], "caption": list[str]}``.
Reproducibility: the order comes from ``seed`` (and the epoch, see :func:`set_epoch`); every worker process
seeds numpy / random / torch from the loader's generator, so random transforms repeat too.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from videoflextok.data.config import DataConfig
from videoflextok.data.folder import VideoFileDataset
from videoflextok.data.mixed import ShapesPansDataset
from videoflextok.data.pans import PansDataset
from videoflextok.data.shapes import ShapesDataset
from videoflextok.errors import ConfigError, DataError


def build_dataset(cfg: DataConfig, split: str | None = None) -> Dataset:
    """The dataset ``cfg.dataset`` names; ``split`` (train | heldout | all) overrides ``cfg.split``.

    ``folder`` and ``manifest`` read ``cfg.path``; the split does not apply to them.
    """
    split = split or cfg.split
    if split not in ("train", "heldout", "all"):
        raise ConfigError(f"split must be train, heldout or all, got '{split}'")
    if cfg.dataset == "shapes":
        return ShapesDataset(cfg.resolution, cfg.num_frames, cfg.length, cfg.seed, split, cfg.max_objects)
    if cfg.dataset == "pans":
        return PansDataset(cfg.resolution, cfg.num_frames, cfg.length, cfg.seed, split)
    if cfg.dataset == "shapes+pans":
        shapes = ShapesDataset(cfg.resolution, cfg.num_frames, cfg.length, cfg.seed, split, cfg.max_objects)
        pans = PansDataset(cfg.resolution, cfg.num_frames, cfg.length, cfg.seed, split)
        return ShapesPansDataset(shapes, pans, cfg.pans_fraction, cfg.seed, split)
    if cfg.dataset in ("folder", "manifest"):
        if not cfg.path:
            kind = "folder of videos" if cfg.dataset == "folder" else "manifest file"
            raise ConfigError(f"data.path must name a {kind} when data.dataset is '{cfg.dataset}'")
        kwargs = dict(resolution=cfg.resolution, num_frames=cfg.num_frames, fps=cfg.fps, seed=cfg.seed,
                      random_start=cfg.random_start, frame_policy=cfg.frame_policy)
        if cfg.dataset == "folder":
            return VideoFileDataset.from_folder(Path(cfg.path), **kwargs)
        return VideoFileDataset.from_manifest(Path(cfg.path), **kwargs)
    raise ConfigError(f"unknown dataset '{cfg.dataset}'")


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed numpy and ``random`` from the worker's torch seed (set by the loader generator)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0, num_workers: int = 0,
                 drop_last: bool = True, rank: int = 0, world_size: int = 1) -> DataLoader:
    """A DataLoader over this rank's shard of ``dataset``.

    Each of ``world_size`` ranks sees a disjoint ``1 / world_size`` of the (shuffled with ``seed``) indices;
    worker processes are seeded from ``seed``. Call :func:`set_epoch` before each epoch for a new order.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
    if len(dataset) == 0:
        raise DataError("the dataset is empty")
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=drop_last and world_size > 1)
    generator = torch.Generator()
    generator.manual_seed(seed + 7919 * rank)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        generator=generator,
        persistent_workers=False,
        pin_memory=False,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Start epoch ``epoch``: new shuffle order for the sampler and new clip starts for file datasets."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
