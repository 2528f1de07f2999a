"""Compressors: the frozen map between pixels and the latent space the tokenizer works in.

Interface (any ``nn.Module`` with these members plugs in, e.g. the learned causal VAE):
  ``encode(video [B, 3, T, H, W] in [-1, 1]) -> latent [B, C, 1 + (T - 1) / tf, H / sf, W / sf]``
  ``decode(latent) -> video``, ``temporal_factor`` (tf), ``spatial_factor`` (sf), ``latent_channels`` (C),
  ``is_causal`` (latent frame t depends only on frames up to its span).
Causal 1 + 4n framing: frame 0 alone is latent frame 0, then every group of ``tf`` frames is one latent frame.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from videoflextok.compressors.config import CompressorConfig
from videoflextok.errors import ConfigError


class Compressor(nn.Module):
    """Base class of compressors; subclasses set the four attributes and implement encode/decode."""

    temporal_factor: int = 1
    spatial_factor: int = 1
    latent_channels: int = 3
    is_causal: bool = True

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class PixelCompressor(Compressor):
    """Patchify only (no weights): fold tf frames and sf x sf pixels into channels, C = 3 * tf * sf**2.

    Frame 0 is repeated ``tf`` times to fill its own group; decoding averages those copies back into one
    frame, so ``decode(encode(v)) == v`` exactly.
    """

    def __init__(self, temporal_factor: int = 4, spatial_factor: int = 4) -> None:
        super().__init__()
        self.temporal_factor = temporal_factor
        self.spatial_factor = spatial_factor
        self.latent_channels = 3 * temporal_factor * spatial_factor**2

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """video: [B, 3, 1 + tf * n, H, W] -> [B, 3 * tf * sf**2, 1 + n, H / sf, W / sf]."""
        tf, sf = self.temporal_factor, self.spatial_factor
        if (video.shape[2] - 1) % tf:
            raise ValueError(f"pixel compressor needs 1 + {tf}n frames, got {video.shape[2]}")
        first = video[:, :, :1].expand(-1, -1, tf, -1, -1)
        frames = torch.cat([first, video[:, :, 1:]], dim=2)
        return rearrange(frames, "b c (t f) (h p) (w q) -> b (c f p q) t h w", f=tf, p=sf, q=sf)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """latent: [B, C, 1 + n, h, w] -> video [B, 3, 1 + tf * n, h * sf, w * sf]."""
        tf, sf = self.temporal_factor, self.spatial_factor
        frames = rearrange(latent, "b (c f p q) t h w -> b c (t f) (h p) (w q)", f=tf, p=sf, q=sf)
        return torch.cat([frames[:, :, :tf].mean(dim=2, keepdim=True), frames[:, :, tf:]], dim=2)


class UnloadedCompressor(Compressor):
    """Stands in for a learned compressor whose weights are not given (``compressor.path`` is None).

    It knows the latent shapes, so the tokenizer can be built (e.g. on the meta device, or to train on
    cached latents), but encode/decode raise a ConfigError.
    """

    def __init__(self, cfg: CompressorConfig) -> None:
        super().__init__()
        self.kind = cfg.kind
        self.temporal_factor = cfg.temporal_factor
        self.spatial_factor = cfg.spatial_factor
        self.latent_channels = cfg.channels

    def _missing(self) -> ConfigError:
        return ConfigError(
            f"compressor kind '{self.kind}' has no weights: set compressor.path to a trained {self.kind} folder"
        )

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        raise self._missing()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        raise self._missing()


def build_compressor(cfg: CompressorConfig) -> nn.Module:
    """The compressor described by ``cfg``: patchify ("pixel"), the VidTok VAE ("vidtok"; its weights come with the
    tokenizer's, random until loaded) or our trained VAE at ``cfg.path`` ("vae", frozen; without a path an
    :class:`UnloadedCompressor` that knows the shapes)."""
    if cfg.kind == "pixel":
        return PixelCompressor(cfg.temporal_factor, cfg.spatial_factor)
    if cfg.kind == "vidtok":
        from videoflextok.compressors.vidtok import VidTokVAE

        return VidTokVAE(cfg.base_channels, cfg.channel_mults, cfg.num_res_blocks, z_channels=cfg.channels)
    if cfg.path is None:
        return UnloadedCompressor(cfg)
    from videoflextok.vae.model import VideoVAE

    return VideoVAE.from_pretrained(cfg.path).freeze()


def check_compressor(compressor: nn.Module, cfg: CompressorConfig) -> None:
    """Raise ConfigError when a compressor's factors or channels differ from the config's."""
    got = tuple(getattr(compressor, name, None) for name in ("temporal_factor", "spatial_factor", "latent_channels"))
    want = (cfg.temporal_factor, cfg.spatial_factor, cfg.channels)
    if tuple(got) != want:
        raise ConfigError(
            f"compressor has (temporal_factor, spatial_factor, channels) = {tuple(got)} but the config says {want}"
        )
