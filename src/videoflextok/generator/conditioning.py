"""Class and text conditioning of the generator, each with a null condition for classifier-free guidance.

- :class:`ClassCondition`: one embedding per class plus a null class (index ``num_classes``); the
  generator adds it to its start token.
- :class:`TextCondition`: per-token states of a frozen text encoder, projected to the model width, read
  by cross-attention; the null text is one learned context token. The encoder itself is kept out of
  the module tree (its weights are not part of the generator's checkpoint) and is built on first use.

Both ``encode`` methods take the raw condition plus ``null: BoolTensor [B]`` (rows to replace by the null
condition) and return what the transformer consumes.
"""

from __future__ import annotations

import torch
from torch import nn

from videoflextok.generator.config import GeneratorConfig
from videoflextok.generator.text import CachedTextEncoder, build_text_encoder


class ClassCondition(nn.Module):
    """labels: [B] ints in [0, num_classes), or -1 for "no class" -> embeddings [B, width]."""

    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.null_index = num_classes
        self.embed = nn.Embedding(num_classes + 1, width)

    def encode(self, labels: torch.Tensor, null: torch.Tensor) -> torch.Tensor:
        """labels: [B] (-1 = unknown, mapped to null), null: [B] bool -> class embeddings [B, width]."""
        labels = labels.long().to(self.embed.weight.device)
        null = null.to(labels.device) | (labels < 0)
        return self.embed(torch.where(null, torch.full_like(labels, self.null_index), labels))


class TextCondition(nn.Module):
    """captions: list[str] ("" = no caption, mapped to null) -> context [B, L, width], mask [B, L] bool."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.text_dim, config.width, bias=False)
        self.null = nn.Parameter(torch.zeros(config.width))
        self._encoder: CachedTextEncoder | None = None  # built lazily; not a submodule

    @property
    def encoder(self) -> CachedTextEncoder:
        if self._encoder is None:
            c = self.config
            self._encoder = build_text_encoder(
                c.text_encoder, c.text_dim, c.max_text_tokens, buckets=c.text_buckets, cache_size=c.text_cache_size
            )
        return self._encoder

    def encode(self, captions: list[str], null: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """captions: B strings, null: [B] bool -> context [B, L, width], mask [B, L] (True = real token)."""
        device = self.proj.weight.device
        null = null.to(device) | torch.tensor([not c.strip() for c in captions], device=device)
        texts = [c if not n else "" for c, n in zip(captions, null.tolist())]
        real = [t for t in texts if t]
        width = self.config.width
        dtype = self.proj.weight.dtype
        if real:
            states, real_mask = self.encoder(real, device=device)
            real_ctx = self.proj(states.to(dtype))
            length, dtype = real_ctx.shape[1], real_ctx.dtype  # autocast may run the projection in bf16
        else:
            length = 1
        context = torch.zeros(len(texts), length, width, device=device, dtype=dtype)
        mask = torch.zeros(len(texts), length, dtype=torch.bool, device=device)
        rows = torch.nonzero(~null).flatten()
        if real:
            context = context.index_put((rows,), real_ctx)
            mask[rows] = real_mask
        null_rows = torch.nonzero(null).flatten()
        context = context.index_put((null_rows, torch.zeros_like(null_rows)), self.null.to(context.dtype))
        mask[null_rows, 0] = True
        return context, mask
