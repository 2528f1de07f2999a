"""The generator's model config: one dataclass, stored in every checkpoint so a model rebuilds itself.

Paper scaling: width = 64 * depth, heads = depth (head_dim 64). Leaving ``width``
or ``heads`` at 0 applies that rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from videoflextok.errors import ConfigError

MINILM_DIM = 384  # hidden size of all-MiniLM-L6-v2


@dataclass
class GeneratorConfig:
    vocab_size: int = 64000  # number of token ids = prod(fsq_levels) of the tokenizer
    tokens_per_frame: int = 32  # K_max: tokens per latent frame the model is trained for
    max_latent_frames: int = 5  # most latent frames per video the model is trained for (17 frames -> 5)
    order: Literal["time_first", "raster"] = "time_first"  # token order; raster = the 3D-grid baseline
    conditioning: Literal["class", "text"] = "class"  # class-to-video or text-to-video
    num_classes: int = 600  # class-to-video: number of classes (index num_classes is the null class)
    depth: int = 12  # transformer layers
    width: int = 0  # model width; 0 means 64 * depth
    heads: int = 0  # attention heads; 0 means depth
    qk_norm: bool = True  # RMSNorm on queries and keys
    rope_base: float = 10000.0  # RoPE frequency base (axial over (frame, token index))
    cond_dropout: float = 0.1  # training: probability of replacing the class / caption by the null one (CFG)
    text_encoder: Literal["hashed", "minilm"] = "hashed"  # frozen text encoder for text conditioning
    text_dim: int = 384  # hidden size of the text encoder's token states (384 for MiniLM)
    max_text_tokens: int = 64  # captions are cut to this many text-encoder tokens
    text_buckets: int = 8192  # hashed encoder: number of hash buckets (rows of its fixed embedding table)
    text_cache_size: int = 4096  # captions whose encoder states are kept in the LRU cache
    init_std: float = 0.02  # std of the normal init of linear layers and embeddings
    tokenizer_id: str = ""  # token_fingerprint of the tokenizer whose tokens it learns ("" = not recorded)

    def __post_init__(self) -> None:
        if self.width == 0:
            self.width = 64 * self.depth
        if self.heads == 0:
            self.heads = self.depth
        if self.depth < 1 or self.heads < 1 or self.width < 1:
            raise ConfigError(f"depth, width and heads must be positive, got {self.depth}, {self.width}, {self.heads}")
        head_dim = self.width // self.heads
        checks = [
            (self.vocab_size >= 2, f"vocab_size must be at least 2, got {self.vocab_size}"),
            (self.tokens_per_frame >= 1, f"tokens_per_frame must be positive, got {self.tokens_per_frame}"),
            (self.max_latent_frames >= 1, f"max_latent_frames must be positive, got {self.max_latent_frames}"),
            (self.width % self.heads == 0, f"width {self.width} is not divisible by heads {self.heads}"),
            (head_dim % 4 == 0, f"head dim {head_dim} must be a multiple of 4 (axial RoPE over two axes)"),
            (self.num_classes >= 1, f"num_classes must be positive, got {self.num_classes}"),
            (0.0 <= self.cond_dropout < 1.0, f"cond_dropout must be in [0, 1), got {self.cond_dropout}"),
            (self.max_text_tokens >= 2, f"max_text_tokens must be at least 2, got {self.max_text_tokens}"),
            (
                self.text_encoder != "minilm" or self.text_dim == MINILM_DIM,
                f"text_dim must be {MINILM_DIM} with the minilm text encoder, got {self.text_dim}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def max_seq_len(self) -> int:
        """Tokens of the longest sequence the model is trained for: max_latent_frames * tokens_per_frame."""
        return self.max_latent_frames * self.tokens_per_frame
