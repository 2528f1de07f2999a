"""Cached VAE latents on disk, so tokenizer training can skip the (frozen) VAE.

The folder format (``index.json`` + safetensors shards of latents [n, C, T', h, w] (posterior means; float32,
bfloat16 or float16) + label/caption files) is :mod:`videoflextok.shards`.
``source`` records the VAE config, the data config and the frame count; resuming with other settings is
a :class:`~videoflextok.errors.DataError`. Each shard is written to a temp file, fsynced and renamed, and
``index.json`` is replaced only after its shard is complete, so an interrupted run resumes after the last
complete shard. Items of :class:`LatentCacheDataset` are ``{"latent": [C, T', h, w] float32, "label",
"caption"}``; collated, ``{"latent": [B, C, T', h, w], ...}`` is what ``VideoFlexTok.training_losses`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from videoflextok.shards import ShardKind, ShardWriter, read_shards

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
LATENTS = ShardKind(key="latent", ndim=5, noun="latent", command="cache-latents")


class LatentCacheWriter(ShardWriter):
    """Append shards of (latents [n, C, T', h, w], labels, captions) to ``folder``; resumes an interrupted run."""

    def __init__(self, folder: str | Path, source: dict[str, Any], num_target: int) -> None:
        super().__init__(LATENTS, folder, source, num_target)

    def append(self, latent: torch.Tensor, labels: list[int], captions: list[str], dtype: str = "float32") -> None:
        """latent: [n, C, T', h, w]; labels / captions: n each. Written as one new shard."""
        if latent.dim() != 5 or not latent.shape[0] == len(labels) == len(captions):
            raise ValueError("latents must be [n, C, T', h, w] with one label and one caption per clip")
        super().append(latent.to(DTYPES[dtype]), labels, captions)


class LatentCacheDataset(torch.utils.data.Dataset):
    """All complete shards of a latent folder, held in memory: items ``{"latent", "label", "caption"}``."""

    def __init__(self, folder: str | Path) -> None:
        self.latents, self.labels, self.captions, self.index = read_shards(LATENTS, folder)

    @property
    def source(self) -> dict[str, Any]:
        return self.index["source"]

    def __len__(self) -> int:
        return self.latents.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"latent": self.latents[i].float(), "label": self.labels[i], "caption": self.captions[i]}
