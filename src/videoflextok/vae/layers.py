"""Causal 3D building blocks of the video VAE.

Time causality: every temporal operation looks only at the current and earlier frames. A causal
convolution pads the front of the clip with ``kernel_t - 1`` copies of the first frame, so frame 0 is
seen alone and output frame t depends on input frames <= t. Normalisation is per frame (GroupNorm over
channels and space), so nothing mixes frames outside the causal convolutions.

Streaming: with ``streaming = True`` a causal layer keeps the tail of its input between calls, so a
clip fed in consecutive chunks (first chunk 1 + f*a frames, later chunks f*b frames) gives the same
output as the whole clip at once. :func:`reset_streams` clears that state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class StreamingModule(nn.Module):
    """A module that can carry temporal state from one chunk to the next."""

    def __init__(self) -> None:
        super().__init__()
        self.streaming = False  # set by :func:`set_streaming`
        self.cache: torch.Tensor | None = None  # state from the previous chunk (None before the first chunk)


def set_streaming(module: nn.Module, on: bool) -> None:
    """Switch streaming on/off for every causal layer inside ``module``; state is cleared either way."""
    for m in module.modules():
        if isinstance(m, StreamingModule):
            m.streaming = on
            m.cache = None


class CausalConv3d(StreamingModule):
    """3D convolution that sees only past and present frames.

    x: [B, C_in, T, H, W] -> [B, C_out, T_out, H / s_h, W / s_w], with T_out = T for temporal stride 1 and
    T_out = 1 + (T - 1) / s_t for temporal stride s_t (frame 0 alone, then groups of s_t frames).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (3, 3, 3),
        stride: tuple[int, int, int] = (1, 1, 1),
    ) -> None:
        super().__init__()
        kt, kh, kw = kernel
        if kt < stride[0]:
            raise ValueError("temporal kernel must be at least the temporal stride")
        self.time_pad = kt - 1  # replicated first frames in front of the clip
        self.keep = kt - stride[0]  # input frames carried to the next chunk in streaming mode
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=(0, kh // 2, kw // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.streaming and self.cache is not None:
            x = torch.cat([self.cache, x], dim=2)
        elif self.time_pad:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
        if self.streaming:
            self.cache = x[:, :, x.shape[2] - self.keep :].detach()
        return self.conv(x)


def group_count(channels: int, groups: int = 8, min_group_channels: int = 8) -> int:
    """Number of norm groups: the largest divisor of ``gcd(groups, channels)`` that leaves at least
    ``min_group_channels`` channels per group (1 for narrow layers)."""
    count = math.gcd(groups, channels)
    while count > 1 and (channels // count < min_group_channels or channels % count):
        count -= 1
    return count


class FrameGroupNorm(nn.Module):
    """GroupNorm computed separately for every frame (statistics over channel groups and H, W, never time).

    Per-frame statistics keep the layer time causal (and temporal chunking exact). A per-position norm
    over channels alone was tried first: it discards contrast between positions and the network then
    failed to fit even one batch of ``shapes`` clips (L1 stuck above a mean-colour predictor).

    Every group holds at least ``min_group_channels`` channels (fewer groups for narrow layers): a
    normalised group of k channels keeps only k - 2 numbers of a spatially uniform frame (its mean and
    scale are removed). With 2 channels per group (the old grouping of 16-channel layers) the decoder's
    last norm reduced a plain background to a sign pattern, independent of its gray level.
    x: [B, C, T, H, W] -> same shape.
    """

    def __init__(self, channels: int, groups: int = 8, eps: float = 1e-6, min_group_channels: int = 8) -> None:
        super().__init__()
        self.groups = group_count(channels, groups, min_group_channels)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        y = F.group_norm(frames.float(), self.groups, self.weight.float(), self.bias.float(), self.eps)
        return rearrange(y.to(x.dtype), "(b t) c h w -> b c t h w", b=b)


class ResBlock3d(nn.Module):
    """Pre-norm residual block of two causal 3x3x3 convolutions. x: [B, C_in, T, H, W] -> [B, C_out, T, H, W]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_t: int = 3) -> None:
        super().__init__()
        self.norm1 = FrameGroupNorm(in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels, (kernel_t, 3, 3))
        self.norm2 = FrameGroupNorm(out_channels)
        self.conv2 = CausalConv3d(out_channels, out_channels, (kernel_t, 3, 3))
        self.skip = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample3d(nn.Module):
    """Strided causal convolution halving time and/or space.

    x: [B, C, T, H, W] -> [B, C, 1 + (T - 1) / 2 if temporal else T, H / 2 if spatial else H, ...].
    """

    def __init__(self, channels: int, temporal: bool, spatial: bool, kernel_t: int = 3) -> None:
        super().__init__()
        st, ss = (2 if temporal else 1), (2 if spatial else 1)
        self.conv = CausalConv3d(channels, channels, (max(kernel_t, st + 1) if temporal else 1, 3, 3), (st, ss, ss))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample3d(StreamingModule):
    """Causal inverse of :class:`Downsample3d`.

    Temporal: a causal convolution makes two frames per input frame (depth-to-time) and the very first
    output frame is dropped, so 1 + n frames -> 1 + 2n and output frames 2j-1, 2j depend on inputs <= j.
    Spatial: nearest-neighbour x2 followed by a causal 3x3x3 convolution.
    x: [B, C, T, H, W] -> [B, C, 1 + 2 (T - 1) if temporal else T, 2H if spatial else H, ...].
    """

    def __init__(self, channels: int, temporal: bool, spatial: bool, kernel_t: int = 3) -> None:
        super().__init__()
        self.temporal, self.spatial = temporal, spatial
        self.time_conv = CausalConv3d(channels, 2 * channels, (kernel_t, 3, 3)) if temporal else None
        self.conv = CausalConv3d(channels, channels, (kernel_t, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time_conv is not None:
            x = rearrange(self.time_conv(x), "b (r c) t h w -> b c (t r) h w", r=2)
            first_chunk = not self.streaming or self.cache is None
            if first_chunk:
                x = x[:, :, 1:]
            if self.streaming:
                self.cache = x.new_zeros(0)  # marks "first chunk done"
        if self.spatial:
            b = x.shape[0]
            x = rearrange(x, "b c t h w -> (b t) c h w")
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = rearrange(x, "(b t) c h w -> b c t h w", b=b)
        return self.conv(x)
