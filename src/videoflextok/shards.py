"""Resumable shard folders: what ``pretokenize`` (token ids) and ``cache-latents`` (VAE latents) write.

Folder layout (format version 1)::

    index.json                 {"format_version": 1, "source": {...}, "num_target": N, "shards": [...]}
    shard_00000.safetensors    {key: [n, ...]}  (one tensor per shard; ``key`` is "tokens" or "latent")
    shard_00000.json           {"labels": [n ints], "captions": [n strings]}

``source`` records what made the tensors (model config, data config, frames, ...); reopening a folder with a
different source is a :class:`~videoflextok.errors.DataError`. Each file is written atomically and
``index.json`` is replaced only after its shard is complete, so an interrupted run resumes after its last
complete shard. Nothing is unpickled; tensors are read as safetensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from videoflextok.atomic import TMP_PREFIX, atomic_file, atomic_write_text
from videoflextok.errors import CheckpointError, DataError
from videoflextok.safetensors_io import read_safetensors, write_safetensors

FORMAT_VERSION = 1
INDEX_FILE = "index.json"


@dataclass(frozen=True)
class ShardKind:
    """What one kind of shard folder holds, for its files and its error sentences."""

    key: str  # tensor name inside each shard file: "tokens" or "latent"
    ndim: int  # dims of a stored batch, n included: 3 for tokens [n, T', K], 5 for latents [n, C, T', h, w]
    noun: str  # "token" or "latent", as in "not a token folder"
    command: str  # the command that makes such a folder, named in the error for a wrong folder


def shard_name(i: int) -> str:
    return f"shard_{i:05d}"


class ShardWriter:
    """Append shards of (tensor [n, ...], labels, captions) to ``folder``; resumes an interrupted run.

    ``source`` is a JSON-able description of how the tensors are made; an existing folder with a different
    source, or a non-empty folder that is not a shard folder, raises DataError (choose another --out). The folder
    (and its missing parents) is made by the first ``append``.
    """

    def __init__(self, kind: ShardKind, folder: str | Path, source: dict[str, Any], num_target: int) -> None:
        self.kind = kind
        self.folder = Path(folder)
        self.source = json.loads(json.dumps(source))
        self.num_target = num_target
        if self.folder.exists() and not self.folder.is_dir():
            raise DataError(f"--out '{self.folder}' exists and is not a folder")
        ours = (TMP_PREFIX, "shard_")  # what an interrupted first shard can leave before index.json exists
        if self.folder.is_dir() and not (self.folder / INDEX_FILE).is_file() and any(
            not p.name.startswith(ours) for p in self.folder.iterdir()
        ):
            raise DataError(f"'{self.folder}' holds other files and no {INDEX_FILE}: it is not a {kind.noun} folder; "
                            "choose a new or empty --out")
        if (self.folder / INDEX_FILE).is_file():
            index = read_index(kind, self.folder)
            if index["source"] != self.source:
                raise DataError(
                    f"'{self.folder}' already holds {kind.noun}s made with different settings; choose another --out"
                )
            self.shards: list[dict[str, Any]] = index["shards"]
        else:
            self.shards = []
        if self.folder.is_dir():
            for stale in self.folder.glob(f"{TMP_PREFIX}*"):  # leftovers of an interrupted write
                stale.unlink(missing_ok=True)

    @property
    def done(self) -> int:
        """Number of items already stored in complete shards."""
        return sum(s["count"] for s in self.shards)

    def append(self, tensor: torch.Tensor, labels: list[int], captions: list[str]) -> None:
        """tensor: [n, ...] as it is to be stored; labels / captions: n each. Written as one new shard."""
        name = shard_name(len(self.shards))
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.folder / f"{name}.safetensors") as tmp:
            write_safetensors({self.kind.key: tensor.contiguous()}, tmp)
        atomic_write_text(self.folder / f"{name}.json", json.dumps({"labels": labels, "captions": captions}))
        self.shards.append({"name": name, "count": int(tensor.shape[0]), "shape": list(tensor.shape[1:])})
        index = {"format_version": FORMAT_VERSION, "source": self.source, "num_target": self.num_target,
                 "shards": self.shards}  # fmt: skip
        atomic_write_text(self.folder / INDEX_FILE, json.dumps(index, indent=2))


def read_index(kind: ShardKind, folder: str | Path) -> dict[str, Any]:
    """Read and check ``index.json`` of a shard folder."""
    path = Path(folder) / INDEX_FILE
    if not path.is_file():
        raise DataError(
            f"'{folder}' is not a {kind.noun} folder (no {INDEX_FILE}); make one with videoflextok {kind.command}"
        )
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{kind.noun} index '{path}' is not valid JSON") from None
    if not isinstance(index, dict) or index.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{kind.noun} index '{path}' has an unknown format version")
    if not isinstance(index.get("shards"), list) or not isinstance(index.get("source"), dict):
        raise DataError(f"{kind.noun} index '{path}' lacks its shard list")
    return index


def read_shards(kind: ShardKind, folder: str | Path) -> tuple[torch.Tensor, list[int], list[str], dict[str, Any]]:
    """All complete shards of a folder: the tensors concatenated [N, ...], N labels, N captions, the index."""
    folder = Path(folder)
    index = read_index(kind, folder)
    tensors, labels, captions = [], [], []
    for shard in index["shards"]:
        where = folder / str(shard.get("name", ""))
        try:
            t = read_safetensors(where.with_name(where.name + ".safetensors"))[kind.key]
            side = json.loads(where.with_name(where.name + ".json").read_text())
            lab, cap = [int(x) for x in side["labels"]], [str(x) for x in side["captions"]]
        except CheckpointError as exc:
            raise DataError(f"{kind.noun} shard '{where}' is missing or unreadable ({exc})") from None
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DataError(f"{kind.noun} shard '{where}' is missing or unreadable") from None
        if t.dim() != kind.ndim or not t.shape[0] == shard.get("count") == len(lab) == len(cap):
            raise DataError(f"{kind.noun} shard '{where}' does not match its index entry")
        tensors.append(t)
        labels += lab
        captions += cap
    if not tensors:
        raise DataError(f"{kind.noun} folder '{folder}' holds no complete shard yet")
    if len({tuple(t.shape[1:]) for t in tensors}) != 1:
        raise DataError(f"{kind.noun} folder '{folder}' mixes shards of different shapes")
    return torch.cat(tensors), labels, captions, index
