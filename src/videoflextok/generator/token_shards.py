"""Pretokenized videos on disk: the generators' training data.

The folder format (``index.json`` + safetensors shards of int32 ids [n, T', K] + label/caption files) is
:mod:`videoflextok.shards`; ``source`` records what made the tokens (tokenizer config, data config, frames,
K, vocab), and a resumed run must match it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from videoflextok.errors import ConfigError
from videoflextok.shards import ShardKind, ShardWriter, read_shards

TOKENS = ShardKind(key="tokens", ndim=3, noun="token", command="pretokenize")


class TokenShardWriter(ShardWriter):
    """Append shards of (tokens [n, T', K], labels, captions) to ``folder``; resumes an interrupted run."""

    def __init__(self, folder: str | Path, source: dict[str, Any], num_target: int) -> None:
        super().__init__(TOKENS, folder, source, num_target)

    def append(self, tokens: torch.Tensor, labels: list[int], captions: list[str]) -> None:
        """tokens: [n, T', K] integer ids; labels / captions: n each. Written as one new shard."""
        if tokens.dim() != 3 or not (tokens.shape[0] == len(labels) == len(captions)):
            raise ValueError("tokens must be [n, T', K] with one label and one caption per video")
        super().append(tokens.to(torch.int32), labels, captions)


def read_token_shards(folder: str | Path) -> tuple[torch.Tensor, list[int], list[str], dict[str, Any]]:
    """All tokens of a folder: tokens [N, T', K] LongTensor, N labels, N captions, and the index."""
    tokens, labels, captions, index = read_shards(TOKENS, folder)
    return tokens.long(), labels, captions, index


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
