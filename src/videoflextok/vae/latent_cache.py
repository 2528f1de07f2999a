"""Cached VAE latents on disk, so tokenizer training can skip the (frozen) VAE.

Folder layout (format version 1)::

    index.json                 {"format_version": 1, "source": {...}, "num_target": N, "shards": [...]}
    shard_00000.safetensors    "latent": [n, C, T', h, w] (posterior means; float32, bfloat16 or float16)
    shard_00000.json           {"labels": [n ints], "captions": [n strings]}

``source`` records the VAE config, the data config and the frame count; resuming with other settings is
a :class:`~videoflextok.errors.DataError`. Each shard is written to a temp file, fsynced and renamed, and
``index.json`` is replaced only after its shard is complete, so an interrupted run resumes after the last
complete shard. Items of :class:`LatentCacheDataset` are ``{"latent": [C, T', h, w] float32, "label",
"caption"}``; collated, ``{"latent": [B, C, T', h, w], ...}`` is what ``VideoFlexTok.training_losses`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from videoflextok.atomic import TMP_PREFIX, atomic_file, atomic_write_text
from videoflextok.checkpoint import read_safetensors, write_safetensors
from videoflextok.errors import CheckpointError, DataError

FORMAT_VERSION = 1
INDEX_FILE = "index.json"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def shard_name(i: int) -> str:
    return f"shard_{i:05d}"


class LatentCacheWriter:
    """Append shards of (latents [n, C, T', h, w], labels, captions) to ``folder``; resumes an interrupted run."""

    def __init__(self, folder: str | Path, source: dict[str, Any], num_target: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.source = json.loads(json.dumps(source))
        self.num_target = num_target
        if (self.folder / INDEX_FILE).is_file():
            index = read_index(self.folder)
            if index["source"] != self.source:
                raise DataError(
                    f"'{self.folder}' already holds latents made with different settings; choose another --out"
                )
            self.shards: list[dict[str, Any]] = index["shards"]
        else:
            self.shards = []
        for stale in self.folder.glob(f"{TMP_PREFIX}*"):  # leftovers of an interrupted write
            stale.unlink(missing_ok=True)

    @property
    def done(self) -> int:
        """Number of clips already stored in complete shards."""
        return sum(s["count"] for s in self.shards)

    def append(self, latent: torch.Tensor, labels: list[int], captions: list[str], dtype: str = "float32") -> None:
        """latent: [n, C, T', h, w]; labels / captions: n each. Written as one new shard."""
        if latent.dim() != 5 or not latent.shape[0] == len(labels) == len(captions):
            raise ValueError("latents must be [n, C, T', h, w] with one label and one caption per clip")
        name = shard_name(len(self.shards))
        with atomic_file(self.folder / f"{name}.safetensors") as tmp:
            write_safetensors({"latent": latent.to(DTYPES[dtype]).contiguous()}, tmp)
        atomic_write_text(self.folder / f"{name}.json", json.dumps({"labels": labels, "captions": captions}))
        self.shards.append({"name": name, "count": int(latent.shape[0]), "shape": list(latent.shape[1:])})
        index = {"format_version": FORMAT_VERSION, "source": self.source, "num_target": self.num_target,
                 "shards": self.shards}  # fmt: skip
        atomic_write_text(self.folder / INDEX_FILE, json.dumps(index, indent=2))


def read_index(folder: str | Path) -> dict[str, Any]:
    """Read and check ``index.json`` of a latent folder."""
    path = Path(folder) / INDEX_FILE
    if not path.is_file():
        raise DataError(
            f"'{folder}' is not a latent folder (no {INDEX_FILE}); make one with videoflextok cache-latents"
        )
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"latent index '{path}' is not valid JSON") from None
    if not isinstance(index, dict) or index.get("format_version") != FORMAT_VERSION:
        raise DataError(f"latent index '{path}' has an unknown format version")
    if not isinstance(index.get("shards"), list) or not isinstance(index.get("source"), dict):
        raise DataError(f"latent index '{path}' lacks its shard list")
    return index


class LatentCacheDataset(torch.utils.data.Dataset):
    """All complete shards of a latent folder, held in memory: items ``{"latent", "label", "caption"}``."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.index = read_index(folder)
        latents, self.labels, self.captions = [], [], []
        for shard in self.index["shards"]:
            name = str(shard.get("name", ""))
            try:
                lat = read_safetensors(folder / f"{name}.safetensors")["latent"]
                side = json.loads((folder / f"{name}.json").read_text())
                labels, captions = [int(x) for x in side["labels"]], [str(x) for x in side["captions"]]
            except (CheckpointError, OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise DataError(f"latent shard '{folder / name}' is missing or unreadable") from None
            if lat.dim() != 5 or not lat.shape[0] == shard.get("count") == len(labels) == len(captions):
                raise DataError(f"latent shard '{folder / name}' does not match its index entry")
            latents.append(lat)
            self.labels += labels
            self.captions += captions
        if not latents:
            raise DataError(f"latent folder '{folder}' holds no complete shard yet")
        if len({tuple(t.shape[1:]) for t in latents}) != 1:
            raise DataError(f"latent folder '{folder}' mixes shards of different shapes")
        self.latents = torch.cat(latents)

    @property
    def source(self) -> dict[str, Any]:
        return self.index["source"]

    def __len__(self) -> int:
        return self.latents.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"latent": self.latents[i].float(), "label": self.labels[i], "caption": self.captions[i]}
