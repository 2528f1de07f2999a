"""Token files: one video's token ids and what is needed to decode them again, in one safetensors file.

Tensors: ``ids`` int32 [T', k_max] (row t holds its k_t ids, then -1) and ``k`` int32 [T'] (tokens of each latent
frame; rows may differ). String metadata: ``format`` ("videoflextok-tokens"), ``format_version``, ``frames``,
``fps``, ``height``, ``width``, ``K``, ``vocab_size``, and the tokenizer's fingerprint: ``tokenizer_config``
(SHA-256 of its config) and ``tokenizer_weights`` (``tokens.token_fingerprint``: what its ids mean). A file
decodes only with the tokenizer that made it.

```python
save_tokens("clip.safetensors", rows, model, fps=25.0)     # rows: LongTensor [T', k] or a list of [k_t]
tokens = load_tokens("clip.safetensors", model)           # TokenFile; refuses a file of another tokenizer
video = model.detokenize([tokens.tensor()])               # rows of equal k; any rows: model.stream_decoder()
```
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from videoflextok.atomic import atomic_file
from videoflextok.config import to_dict
from videoflextok.errors import CheckpointError, TokenError
from videoflextok.safetensors_io import read_safetensors_header
from videoflextok.tokenizer.tokens import token_fingerprint

FORMAT = "videoflextok-tokens"
FORMAT_VERSION = 1


def config_fingerprint(model) -> str:
    """SHA-256 of a tokenizer's config (canonical JSON)."""
    return hashlib.sha256(json.dumps(to_dict(model.config), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class TokenFile:
    """What a token file holds: the ids and the clip they stand for."""

    rows: tuple[torch.Tensor, ...]  # one LongTensor [k_t] per latent frame
    frames: int  # video frames the rows stand for (1 + temporal_factor * (T' - 1))
    fps: float  # playback rate of those frames
    height: int  # frame height in pixels
    width: int  # frame width in pixels
    K: int  # tokens per latent frame of the tokenizer
    vocab_size: int  # token ids lie in [0, vocab_size)
    tokenizer_config: str  # SHA-256 of the tokenizer's config
    tokenizer_weights: str  # token_fingerprint of the tokenizer (FSQ levels, K, compressor and encoder weights)

    @property
    def k(self) -> list[int]:
        """Tokens of each latent frame."""
        return [int(r.shape[0]) for r in self.rows]

    def tensor(self) -> torch.Tensor:
        """The rows as one LongTensor [T', k] (TokenError unless every row has the same k)."""
        if len(set(self.k)) != 1:
            raise TokenError("the rows of this token file have different numbers of tokens; decode them row by row")
        return torch.stack(self.rows)

    def check_tokenizer(self, model) -> None:
        """Raise TokenError unless ``model`` is the tokenizer that made this file."""
        if self.tokenizer_config != config_fingerprint(model):
            raise TokenError("this token file was made by another tokenizer (its config differs); decode it with "
                             "the tokenizer that made it")
        if self.tokenizer_weights != token_fingerprint(model):
            raise TokenError("this token file was made by another tokenizer (same config, different weights); "
                             "decode it with the tokenizer that made it")


def _rows(tokens: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(tokens, torch.Tensor):
        if tokens.ndim != 2:
            raise TokenError(f"tokens must be a LongTensor [T', k] or a list of LongTensor [k], got shape "
                             f"{tuple(tokens.shape)}")
        tokens = list(tokens)
    rows = [torch.as_tensor(r) for r in tokens]
    if not rows or any(r.ndim != 1 or r.shape[0] < 1 or r.is_floating_point() for r in rows):
        raise TokenError("tokens must be one or more integer rows [k] with k >= 1")
    return [r.long().cpu() for r in rows]


def save_tokens(
    path: str | Path, tokens: torch.Tensor | Sequence[torch.Tensor], model, fps: float, frames: int | None = None
) -> Path:
    """Write ``tokens`` (LongTensor [T', k] or a list of LongTensor [k_t]) of one video made by ``model`` to
    ``path`` atomically (an existing file is replaced only when the new one is complete). frames: the video's
    length (default 1 + temporal_factor * (T' - 1)); fps: its frame rate."""
    cfg, rows = model.config, _rows(tokens)
    ks = [r.shape[0] for r in rows]
    if max(ks) > cfg.K or min(int(r.min()) for r in rows) < 0 or max(int(r.max()) for r in rows) >= cfg.vocab_size:
        raise TokenError(f"rows must hold 1 to {cfg.K} ids in [0, {cfg.vocab_size}) each")
    if frames is None:
        frames = 1 + cfg.compressor.temporal_factor * (len(rows) - 1)
    ids = torch.full((len(rows), max(ks)), -1, dtype=torch.int32)
    for t, r in enumerate(rows):
        ids[t, : r.shape[0]] = r.to(torch.int32)
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "frames": str(frames), "fps": repr(float(fps)),
            "height": str(cfg.resolution), "width": str(cfg.resolution), "K": str(cfg.K),
            "vocab_size": str(cfg.vocab_size), "tokenizer_config": config_fingerprint(model),
            "tokenizer_weights": token_fingerprint(model)}
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_file(path) as tmp:
        save_file({"ids": ids, "k": torch.tensor(ks, dtype=torch.int32)}, str(tmp), metadata=meta)
    return path


def load_tokens(path: str | Path, model=None) -> TokenFile:
    """Read a token file; with ``model``, also check that it made the file. Raises TokenError (one sentence) on a
    missing, truncated, corrupt or foreign file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise TokenError(f"token file '{path}' does not exist")
    try:
        header = read_safetensors_header(path)
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in header}
    except (CheckpointError, SafetensorError, OSError, RuntimeError, ValueError):
        raise TokenError(f"'{path}' is not a readable token file (truncated or corrupt)") from None
    if meta.get("format") != FORMAT:
        raise TokenError(f"'{path}' is not a videoflextok token file")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise TokenError(f"token file '{path}' has format version {meta.get('format_version')}, this code reads "
                         f"{FORMAT_VERSION}")
    try:
        file = _token_file(tensors, meta)
    except (KeyError, ValueError, TypeError):
        raise TokenError(f"token file '{path}' has missing or malformed fields") from None
    if model is not None:
        file.check_tokenizer(model)
    return file


def _token_file(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> TokenFile:
    """The TokenFile of a file's tensors and metadata; ValueError / KeyError when they do not fit together."""
    ids, ks = tensors["ids"], tensors["k"]
    if ids.dtype != torch.int32 or ks.dtype != torch.int32 or ids.ndim != 2 or ks.shape != (ids.shape[0],):
        raise ValueError("ids must be int32 [T', k_max] and k int32 [T']")
    K, vocab = int(meta["K"]), int(meta["vocab_size"])
    if ids.shape[0] < 1 or int(ks.min()) < 1 or int(ks.max()) > min(K, ids.shape[1]):
        raise ValueError("token counts out of range")
    rows = tuple(ids[t, : int(k)].long() for t, k in enumerate(ks))
    if any(int(r.min()) < 0 or int(r.max()) >= vocab for r in rows):
        raise ValueError("token ids out of range")
    fps = float(meta["fps"])
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError("fps must be positive")
    return TokenFile(rows, int(meta["frames"]), fps, int(meta["height"]), int(meta["width"]), K, vocab,
                     meta["tokenizer_config"], meta["tokenizer_weights"])
