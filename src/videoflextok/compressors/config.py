"""The config of the frozen (t, h, w) compressor in front of the tokenizer (the ``compressor:`` section of a
tokenizer config)."""

from __future__ import annotations

from dataclasses import dataclass

from videoflextok.errors import ConfigError


@dataclass
class CompressorConfig:
    """The frozen (t, h, w) compressor in front of the tokenizer."""

    # "pixel" (patchify only, no weights), "vae" (our trained causal video VAE) or "vidtok" (the VidTok KL VAE of
    # the released checkpoints; its weights are part of the tokenizer checkpoint)
    kind: str = "pixel"
    temporal_factor: int = 4  # frames per latent frame (frame 0 alone, then groups of this many)
    spatial_factor: int = 4  # pixels per latent cell along H and W
    channels: int = 192  # latent channels; pixel kind: must equal 3 * temporal_factor * spatial_factor**2
    path: str | None = None  # kind "vae": folder of a trained VAE checkpoint (None: shapes only, no encode)
    base_channels: int = 128  # kind "vidtok": width of its first stage
    channel_mults: tuple[int, ...] = (1, 2, 4, 4)  # kind "vidtok": width multiplier per stage
    num_res_blocks: int = 2  # kind "vidtok": residual blocks per encoder stage

    def __post_init__(self) -> None:
        if self.kind not in ("pixel", "vae", "vidtok"):
            raise ConfigError(f"compressor.kind must be 'pixel', 'vae' or 'vidtok', got {self.kind!r}")
        if self.kind == "vidtok" and (self.temporal_factor, self.spatial_factor, len(self.channel_mults)) != (4, 8, 4):
            raise ConfigError("compressor kind 'vidtok' compresses (4, 8, 8) with 4 stages (channel_mults of length 4)")
        if self.base_channels < 1 or self.num_res_blocks < 1 or min(self.channel_mults, default=0) < 1:
            raise ConfigError("compressor base_channels, channel_mults and num_res_blocks must be positive")
        if self.temporal_factor < 1 or self.spatial_factor < 1 or self.channels < 1:
            raise ConfigError("compressor factors and channels must be positive")
        if self.kind == "pixel" and self.channels != 3 * self.temporal_factor * self.spatial_factor**2:
            need = 3 * self.temporal_factor * self.spatial_factor**2
            raise ConfigError(
                f"pixel compressor with factors ({self.temporal_factor}, {self.spatial_factor}) has {need} "
                f"channels, but compressor.channels is {self.channels}"
            )
