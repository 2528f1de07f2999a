"""Configuration of the causal video VAE (the compressor of the tokenizer).

The default compresses (t, h, w) by (4, 8, 8) into 16 channels, as the paper's frozen VidTok KL-VAE.
Other factor combinations (4x16x16, 8x8x8, ...) are allowed as long as each factor is a power of two
that the number of resolution stages can reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from videoflextok.errors import ConfigError, FrameCountError, VideoShapeError


def _log2(value: int, name: str) -> int:
    if value < 1 or value & (value - 1):
        raise ConfigError(f"vae {name} must be a power of two, got {value}")
    return int(math.log2(value))


@dataclass
class VAEConfig:
    """Architecture and loss weights of :class:`videoflextok.vae.model.VideoVAE`."""

    in_channels: int = 3  # pixel channels of the video
    base_channels: int = 64  # width of the first (full-resolution) stage
    channel_mults: tuple[int, ...] = (1, 2, 4, 4)  # width multiplier per stage; len - 1 = number of downsamplings
    num_res_blocks: int = 2  # residual blocks per encoder stage (the decoder uses one more)
    latent_channels: int = 16  # channels of the latent grid
    temporal_factor: int = 4  # time compression: T = 1 + f*n frames -> 1 + n latent frames
    spatial_factor: int = 8  # space compression: H, W -> H/f, W/f
    temporal_kernel: int = 3  # temporal extent of the causal 3D convolutions
    spatial_only_stages: int = 0  # first encoder / last decoder stages that use per-frame (1x3x3) convolutions
    head_norm: bool = True  # per-frame GroupNorm before the encoder's and decoder's output convolutions
    kl_weight: float = 1e-4  # weight of the KL term (mean over latent elements)
    init_logvar: float = -4.0  # initial posterior log-variance (bias of the logvar outputs); 0 = unit noise at start
    l1_weight: float = 1.0  # weight of the L1 pixel reconstruction term
    l2_weight: float = 0.0  # weight of the squared-error (MSE) pixel term; it pulls PSNR up where L1 stalls
    perceptual_weight: float = 0.0  # weight of the frozen-feature perceptual term (0 = off)
    perceptual_frames: int = 4  # frames per clip fed to the perceptual network (random subset)
    adversarial_weight: float = 0.0  # weight of the generator's adversarial term (0 = off)
    adversarial_start: int = 2000  # training step at which the adversarial terms switch on
    disc_channels: int = 64  # width of the first layer of the patch discriminator
    disc_layers: int = 3  # strided layers of the patch discriminator
    chunk_frames: int = 16  # frames per temporal chunk in chunked encode/decode (multiple of temporal_factor)
    tile_size: int = 0  # spatial tile (pixels) of tiled encode/decode; 0 = no spatial tiling
    tile_overlap: int = 32  # overlap (pixels) between neighbouring spatial tiles, blended linearly

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ConfigError("vae channel_mults must be a non-empty list of positive integers")
        stages = len(self.channel_mults) - 1
        for name in ("temporal_factor", "spatial_factor"):
            if _log2(getattr(self, name), name) > stages:
                raise ConfigError(
                    f"vae {name}={getattr(self, name)} needs more than the {stages} downsamplings that "
                    f"channel_mults of length {len(self.channel_mults)} provide"
                )
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ConfigError(f"vae temporal_kernel must be a positive odd integer, got {self.temporal_kernel}")
        if self.chunk_frames < 1 or self.chunk_frames % self.temporal_factor:
            raise ConfigError(
                f"vae chunk_frames must be a positive multiple of temporal_factor={self.temporal_factor}, "
                f"got {self.chunk_frames}"
            )
        if self.tile_size and (self.tile_size % self.spatial_factor or self.tile_size <= self.tile_overlap):
            raise ConfigError(
                f"vae tile_size must be a multiple of spatial_factor={self.spatial_factor} larger than "
                f"tile_overlap={self.tile_overlap}, got {self.tile_size}"
            )
        if self.tile_overlap % self.spatial_factor:
            raise ConfigError(f"vae tile_overlap must be a multiple of spatial_factor, got {self.tile_overlap}")
        if not 0 <= self.spatial_only_stages <= stages:
            raise ConfigError(f"vae spatial_only_stages must lie in [0, {stages}], got {self.spatial_only_stages}")
        n_t = _log2(self.temporal_factor, "temporal_factor")
        if self.spatial_only_stages > stages - n_t:
            raise ConfigError(
                f"vae spatial_only_stages={self.spatial_only_stages} overlaps the {n_t} time-downsampling stages"
            )
        for name in ("base_channels", "num_res_blocks", "latent_channels", "in_channels", "disc_channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"vae {name} must be at least 1, got {getattr(self, name)}")

    @property
    def num_down(self) -> int:
        """Number of resolution stages that downsample (= len(channel_mults) - 1)."""
        return len(self.channel_mults) - 1

    def stage_kernel_t(self, stage: int) -> int:
        """Temporal kernel of the convolutions at encoder stage ``stage`` (1 for the spatial-only stages)."""
        return 1 if stage < self.spatial_only_stages else self.temporal_kernel

    def downsamples(self, stage: int) -> tuple[bool, bool]:
        """(temporal, spatial) downsampling after encoder stage ``stage``; space first, time in the last stages."""
        n_t = _log2(self.temporal_factor, "temporal_factor")
        n_s = _log2(self.spatial_factor, "spatial_factor")
        return stage >= self.num_down - n_t, stage < n_s

    def latent_frames(self, num_frames: int) -> int:
        """1 + (T - 1) / temporal_factor for a valid length T."""
        return 1 + (num_frames - 1) // self.temporal_factor

    def check_frames(self, num_frames: int) -> None:
        """Raise FrameCountError (a ValueError) unless T = 1 + temporal_factor * n."""
        if num_frames < 1 or (num_frames - 1) % self.temporal_factor:
            f = self.temporal_factor
            raise FrameCountError(
                f"the VAE needs 1 + {f}*n frames (1, {1 + f}, {1 + 2 * f}, ...), got {num_frames}; "
                f"trim the clip to {1 + max(num_frames - 1, 0) // f * f} frames"
            )

    def check_video(self, shape: tuple[int, ...] | torch.Size) -> None:
        """Raise a ValueError unless ``shape`` is [B, in_channels, 1 + f_t n, H, W] with H, W multiples of f_s."""
        if len(shape) != 5 or shape[1] != self.in_channels:
            raise VideoShapeError(
                f"the VAE expects a video tensor [B, {self.in_channels}, T, H, W], got shape {list(shape)}"
            )
        self.check_frames(shape[2])
        if shape[3] % self.spatial_factor or shape[4] % self.spatial_factor:
            raise VideoShapeError(
                f"the VAE needs height and width divisible by {self.spatial_factor}, got {shape[3]}x{shape[4]}"
            )
