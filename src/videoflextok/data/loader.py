"""Datasets from a :class:`DataConfig`, the index type that tells a dataset its epoch, and the worker seeding
of DataLoaders.

Batches collate to ``{"video": [B, 3, T, H, W] in [-1, 1], "label": LongTensor[B], "caption": list[str]}``.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from videoflextok.data.config import DataConfig
from videoflextok.data.folder import VideoFileDataset
from videoflextok.data.mixed import ShapesPansDataset
from videoflextok.data.pans import PansDataset
from videoflextok.data.shapes import ShapesDataset
from videoflextok.errors import ConfigError


class EpochIndex(int):
    """A dataset index that also carries the epoch it is read in (``.epoch``); every dataset can use it as the
    plain int it is, and a dataset with random crops in time (:class:`VideoFileDataset`) draws a new window per
    epoch from it. The training sampler yields these."""

    epoch: int

    def __new__(cls, index: int, epoch: int = 0) -> EpochIndex:
        value = super().__new__(cls, index)
        value.epoch = int(epoch)
        return value

    def __reduce__(self):  # DataLoader workers receive indices pickled
        return EpochIndex, (int(self), self.epoch)


def build_dataset(cfg: DataConfig, split: str | None = None, skip_unreadable: bool = True) -> Dataset:
    """The dataset ``cfg.dataset`` names; ``split`` (train | heldout | all) overrides ``cfg.split``.

    ``folder`` and ``manifest`` read ``cfg.path``; the split does not apply to them. ``skip_unreadable``: a file
    that cannot be read is replaced by the next one (training), or is an error (commands with one result per clip).
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
                      random_start=cfg.random_start, frame_policy=cfg.frame_policy, skip_unreadable=skip_unreadable)
        if cfg.dataset == "folder":
            return VideoFileDataset.from_folder(Path(cfg.path), **kwargs)
        return VideoFileDataset.from_manifest(Path(cfg.path), **kwargs)
    raise ConfigError(f"unknown dataset '{cfg.dataset}'")


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` of a DataLoader: seed numpy and ``random`` from the worker's torch seed (set by the
    loader's generator), so random transforms repeat run to run."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
