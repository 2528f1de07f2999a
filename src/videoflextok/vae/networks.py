"""Encoder and decoder networks of the causal video VAE.

Encoder: stages of residual blocks at widths ``base_channels * channel_mults[i]``, each followed (except
the last) by a downsampling that halves space (first stages) and/or time (last stages); a middle pair of
blocks; a projection to ``2 * latent_channels`` (mean and log-variance). The decoder mirrors it with one
more block per stage. Both are time causal (see :mod:`videoflextok.vae.layers`).

``head_norm = False`` drops the per-frame GroupNorm in front of both output convolutions: that norm removes
each group's mean and scale per frame, so a clip's overall colour level can reach the latent and the
output only through learned channel ratios; without it, the residual stream carries it straight through.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videoflextok.vae.config import VAEConfig
from videoflextok.vae.layers import CausalConv3d, Downsample3d, FrameGroupNorm, ResBlock3d, Upsample3d


class Encoder(nn.Module):
    """video: [B, 3, T, H, W] -> moments [B, 2 * C_lat, 1 + (T - 1) / f_t, H / f_s, W / f_s]."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        kt = cfg.temporal_kernel
        widths = [cfg.base_channels * m for m in cfg.channel_mults]
        self.conv_in = CausalConv3d(cfg.in_channels, widths[0], (cfg.stage_kernel_t(0), 3, 3))
        stages = []
        ch = widths[0]
        for i, width in enumerate(widths):
            layers: list[nn.Module] = []
            for _ in range(cfg.num_res_blocks):
                layers.append(ResBlock3d(ch, width, cfg.stage_kernel_t(i)))
                ch = width
            if i < cfg.num_down:
                temporal, spatial = cfg.downsamples(i)
                if temporal or spatial:
                    layers.append(Downsample3d(ch, temporal, spatial, kt if temporal else 1))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.mid = nn.Sequential(ResBlock3d(ch, ch, kt), ResBlock3d(ch, ch, kt))
        self.norm_out = FrameGroupNorm(ch) if cfg.head_norm else nn.Identity()
        self.conv_out = CausalConv3d(ch, 2 * cfg.latent_channels, (kt, 3, 3))
        # a narrow initial posterior lets information through from the first steps (unit noise drowns the
        # small initial means, the decoder learns to ignore z and the KL term then collapses the posterior)
        with torch.no_grad():
            self.conv_out.conv.bias[cfg.latent_channels :].fill_(cfg.init_logvar)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(video)
        for stage in self.stages:
            h = stage(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """z: [B, C_lat, T', H', W'] -> video [B, 3, 1 + (T' - 1) * f_t, H' * f_s, W' * f_s] (unbounded; ~[-1, 1])."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        kt = cfg.temporal_kernel
        widths = [cfg.base_channels * m for m in cfg.channel_mults]
        ch = widths[-1]
        self.conv_in = CausalConv3d(cfg.latent_channels, ch, (kt, 3, 3))
        self.mid = nn.Sequential(ResBlock3d(ch, ch, kt), ResBlock3d(ch, ch, kt))
        stages = []
        for i in reversed(range(len(widths))):
            layers: list[nn.Module] = []
            for _ in range(cfg.num_res_blocks + 1):
                layers.append(ResBlock3d(ch, widths[i], cfg.stage_kernel_t(i)))
                ch = widths[i]
            if i > 0:
                temporal, spatial = cfg.downsamples(i - 1)
                if temporal or spatial:
                    layers.append(Upsample3d(ch, temporal, spatial, kt if temporal else cfg.stage_kernel_t(i - 1)))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.norm_out = FrameGroupNorm(ch) if cfg.head_norm else nn.Identity()
        self.conv_out = CausalConv3d(ch, cfg.in_channels, (cfg.stage_kernel_t(0), 3, 3))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for stage in self.stages:
            h = stage(h)
        return self.conv_out(F.silu(self.norm_out(h)))
