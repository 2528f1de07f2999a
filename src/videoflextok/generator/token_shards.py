"""Pretokenized videos on disk: the generators' training data.

Folder layout (format version 1)::

    index.json                 {"format_version": 1, "source": {...}, "num_target": N, "shards": [...]}
    shard_00000.safetensors    "tokens": int32 [n, T', K]  (ids in [0, vocab_size))
    shard_00000.json           {"labels": [n ints], "captions": [n strings]}   (beside the tokens)

``source`` records what made the tokens (tokenizer config, data config, frames, K, vocab); a resumed run
must match it. Shards are written in order, each file atomically, and ``index.json`` is replaced only
after a shard is complete, so an interrupted run resumes after its last complete shard. Nothing is
unpickled; tokens are read as safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from videoflextok.atomic import TMP_PREFIX, atomic_file, atomic_write_text
from videoflextok.checkpoint import read_safetensors, write_safetensors
from videoflextok.errors import ConfigError, DataError

FORMAT_VERSION = 1
INDEX_FILE = "index.json"


def shard_name(i: int) -> str:
    return f"shard_{i:05d}"


class TokenShardWriter:
    """Append shards of (tokens [n, T', K], labels, captions) to ``folder``; resumes an interrupted run.

    ``source`` is a JSON-able description of how the tokens are made; an existing folder with a different
    source raises DataError (delete it or choose another --out).
    """

    def __init__(self, folder: str | Path, source: dict[str, Any], num_target: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        index_path = self.folder / INDEX_FILE
        if index_path.is_file():
            index = read_index(self.folder)
            if index["source"] != json.loads(json.dumps(source)):
                raise DataError(
                    f"'{self.folder}' already holds tokens made with different settings; choose another --out"
                )
            self.shards = index["shards"]
        else:
            self.shards = []
        self.source = source
        self.num_target = num_target
        for stale in self.folder.glob(f"{TMP_PREFIX}*"):  # leftovers of an interrupted write
            stale.unlink(missing_ok=True)

    @property
    def done(self) -> int:
        """Number of videos already stored in complete shards."""
        return sum(s["count"] for s in self.shards)

    def append(self, tokens: torch.Tensor, labels: list[int], captions: list[str]) -> None:
        """tokens: [n, T', K] integer ids; labels / captions: n each. Written as one new shard."""
        if tokens.dim() != 3 or not (tokens.shape[0] == len(labels) == len(captions)):
            raise ValueError("tokens must be [n, T', K] with one label and one caption per video")
        name = shard_name(len(self.shards))
        with atomic_file(self.folder / f"{name}.safetensors") as tmp:
            write_safetensors({"tokens": tokens.to(torch.int32).contiguous()}, tmp)
        atomic_write_text(self.folder / f"{name}.json", json.dumps({"labels": labels, "captions": captions}))
        self.shards.append({"name": name, "count": int(tokens.shape[0]), "shape": list(tokens.shape[1:])})
        self._write_index()

    def _write_index(self) -> None:
        index = {"format_version": FORMAT_VERSION, "source": self.source, "num_target": self.num_target,
                 "shards": self.shards}
        atomic_write_text(self.folder / INDEX_FILE, json.dumps(index, indent=2))


def read_index(folder: str | Path) -> dict[str, Any]:
    """Read and check ``index.json`` of a token folder."""
    path = Path(folder) / INDEX_FILE
    if not path.is_file():
        raise DataError(f"'{folder}' is not a token folder (no {INDEX_FILE}); make one with videoflextok pretokenize")
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"token index '{path}' is not valid JSON") from None
    if not isinstance(index, dict) or index.get("format_version") != FORMAT_VERSION:
        raise DataError(f"token index '{path}' has an unknown format version")
    if not isinstance(index.get("shards"), list) or not isinstance(index.get("source"), dict):
        raise DataError(f"token index '{path}' lacks its shard list")
    return index


def read_token_shards(folder: str | Path) -> tuple[torch.Tensor, list[int], list[str], dict[str, Any]]:
    """All tokens of a folder: tokens [N, T', K] LongTensor, N labels, N captions, and the index."""
    folder = Path(folder)
    index = read_index(folder)
    tokens, labels, captions = [], [], []
    for shard in index["shards"]:
        name = shard.get("name", "")
        t = read_safetensors(folder / f"{name}.safetensors")["tokens"]
        try:
            side = json.loads((folder / f"{name}.json").read_text())
            lab, cap = [int(x) for x in side["labels"]], [str(x) for x in side["captions"]]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DataError(f"labels/captions of token shard '{folder / name}' are missing or unreadable") from None
        if t.dim() != 3 or t.shape[0] != shard["count"] or len(lab) != t.shape[0] or len(cap) != t.shape[0]:
            raise DataError(f"token shard '{folder / name}' does not match its index entry")
        tokens.append(t.long())
        labels += lab
        captions += cap
    if not tokens:
        raise DataError(f"token folder '{folder}' holds no complete shard yet")
    if len({tuple(t.shape[1:]) for t in tokens}) != 1:
        raise DataError(f"token folder '{folder}' mixes shards of different shapes")
    return torch.cat(tokens), labels, captions, index


class TokenShardDataset(torch.utils.data.Dataset):
    """Items ``{"tokens": LongTensor [T', K], "label": int, "caption": str}``; the default collate gives
    ``tokens [B, T', K]``, ``label [B]``, ``caption list[str]`` (what ``VideoGenerator.training_losses`` reads)."""

    def __init__(self, folder: str | Path) -> None:
        self.tokens, self.labels, self.captions, self.index = read_token_shards(folder)

    @property
    def source(self) -> dict[str, Any]:
        return self.index["source"]

    def check_fits(self, config) -> None:
        """Raise ConfigError (one sentence) when a GeneratorConfig cannot train on these tokens."""
        latent, k, vocab = self.tokens.shape[1], self.tokens.shape[2], self.source.get("vocab_size")
        if vocab is not None and vocab != config.vocab_size:
            raise ConfigError(f"the tokens use a vocabulary of {vocab} ids but model.vocab_size is {config.vocab_size}")
        if latent > config.max_latent_frames:
            raise ConfigError(
                f"the tokens have {latent} latent frames but model.max_latent_frames is {config.max_latent_frames}"
            )
        if k < config.tokens_per_frame:
            raise ConfigError(
                f"the tokens have {k} tokens per latent frame but model.tokens_per_frame is {config.tokens_per_frame}"
            )

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"tokens": self.tokens[i], "label": self.labels[i], "caption": self.captions[i]}
