"""VidTok ``vidtok_kl_causal_488_16chn``: the frozen causal video VAE of the released VideoFlexTok checkpoints.

```python
vae = VidTokVAE(*infer_vidtok_widths(state, "video_tokenizer.vae.vidtok."))  # from .vidtok_import
vae.load_state_dict(vidtok_state_from_official(state, "video_tokenizer.vae.vidtok."))
z = vae.encode(video)      # [B, 3, 1 + 4n, H, W] in [-1, 1] -> [B, 16, 1 + n, H / 8, W / 8] (posterior mean)
x = vae.decode(z)          # -> [B, 3, 1 + 4n, H, W] (not clamped)
```

Causal 3D convolutions at both ends and in the middle (with per-frame attention); each resolution level runs
pairs (per-frame 2D residual block, per-pixel causal temporal residual block), then 2x resampling in space and, at
two levels, causal 2x in time; LayerNorms over channels. A clip whose length is not a multiple of 4 gets frame 0
repeated 3 times in front and the decoder drops its first 3 frames: latent frame j depends on frames <= 4j only.

Activations are contiguous ``[B, T, H, W, C]`` tensors: per-frame convolutions run on ``[B*T, C, H, W]``
channels-last views; a causal 3D convolution with ``kt`` temporal taps is ONE per-frame convolution giving all
taps' responses (``kt * C_out`` channels) followed by time-shifted sums (zero frames before frame 0), and a
per-pixel temporal one accumulates each tap's matmul into the time-shifted output rows in place.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoflextok.errors import VideoShapeError

NORM_EPS, LOGVAR_MIN, LOGVAR_MAX = 1e-6, -30.0, 20.0
MIX_INIT = 2.0  # initial logit of the temporal resamplers' mixing weight towards the parameter-free path


def _as_frames(x: Tensor) -> Tensor:
    """[B, T, H, W, C] (contiguous) -> a [B*T, C, H, W] view in channels-last memory format."""
    b, t, h, w, c = x.shape
    return x.view(b * t, h, w, c).permute(0, 3, 1, 2)


def _from_frames(y: Tensor, batch: int) -> Tensor:
    """[B*T, C, H, W] -> contiguous [B, T, H, W, C] (free when ``y`` is channels-last)."""
    n, c, h, w = y.shape
    return y.permute(0, 2, 3, 1).contiguous().view(batch, n // batch, h, w, c)


def _shift_taps(y: Tensor, taps: int, stride: int, bias: Tensor, repeat: int = 1) -> Tensor:
    """Causal temporal convolution [B, T * repeat // stride, H, W, C] from per-tap responses y [B, T, H, W, taps * C]
    (channels ``k*C:(k+1)*C``: tap k on every frame). Output o reads virtual frame ``stride*o - (taps - stride) + k``
    through tap k; virtual frame v is frame ``v // repeat`` (< 0: zeros), so ``repeat`` > 1 (with stride 1) is the
    convolution of the frame-repeated input at the cost of the distinct frames."""
    b, t, h, w, kc = y.shape
    y, c = y.view(b, t, h, w, taps, kc // taps), kc // taps
    pad, n = taps - stride, t // stride
    out = y.new_empty(b, n, repeat, h, w, c)  # written phase by phase: no stacked copy of the phases
    for p in range(repeat):  # outputs repeat*i + p read frames stride*i + (stride*p - pad + k) // repeat
        part = out[:, :, p]
        for k in reversed(range(taps)):  # the last tap reaches every output, so it initialises the phase
            offset = (stride * p - pad + k) // repeat
            first = max(0, -(offset // stride))
            if first >= n:
                continue
            start = stride * first + offset
            src = y[:, start : start + stride * (n - first) : stride, :, :, k]
            if k == taps - 1:
                part.copy_(src).add_(bias.to(src.dtype))
            else:
                part[:, first:] += src
    return out.view(b, n * repeat, h, w, c)


def _time_taps(x: Tensor, w: Tensor, bias: Tensor) -> Tensor:
    """Per-pixel causal temporal convolution, [B, T, H, W, C_in] -> [B, T, H, W, C_out], weight [C_out, C_in, kt]:
    the last tap's product (with the bias) starts the output, each earlier tap's product is accumulated into its
    time-shifted rows in place; no [.., kt * C_out] buffer of all taps' responses."""
    out = F.linear(x, w[:, :, -1], bias)  # under autocast: in the autocast dtype
    b, t, taps, c = x.shape[0], x.shape[1], w.shape[2], out.shape[-1]
    rows, frames = x.to(out.dtype).view(b, t, -1, x.shape[-1]), out.view(b, t, -1, c)
    for k in range(taps - 1):
        shift = taps - 1 - k  # tap k of output frame i reads frame i - shift
        if shift >= t:
            continue
        weight = w[:, :, k].to(out.dtype).t()
        for i in range(b):
            frames[i, shift:].view(-1, c).addmm_(rows[i, : t - shift].reshape(-1, rows.shape[-1]), weight)
    return out


def _silu(x: Tensor) -> Tensor:
    """SiLU, in place when no gradient needs the input (saves a full-resolution copy per block at inference)."""
    return F.silu(x, inplace=not x.requires_grad)


def _nearest_space_2x(x: Tensor) -> Tensor:
    """[B, T, H, W, C] -> [B, T, 2H, 2W, C] by pixel repetition."""
    b, t, h, w, c = x.shape
    return x[:, :, :, None, :, None].expand(b, t, h, 2, w, 2, c).reshape(b, t, 2 * h, 2 * w, c)


class _Conv(nn.Module):
    """Holds ``weight`` (given shape, [C_out, C_in, ...]) and ``bias`` [C_out], uniform in +-1/sqrt(fan_in)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(math.prod(shape[1:]))
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(shape[0]).uniform_(-bound, bound))


class FrameConv(_Conv):
    """Per-frame 2D convolution, [B, T, H, W, C_in] -> [B, T, H', W', C_out]; weight [C_out, C_in, k, k].
    stride 1: 'same' zero padding (H' = H); stride 2: zero padding on the right and bottom only (H' = H / 2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__((out_channels, in_channels, kernel, kernel))
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.shape[-1] == 1 and self.stride == 1:
            return F.linear(x, self.weight.flatten(1), self.bias)
        padding = self.weight.shape[-1] // 2
        if self.stride != 1:
            x, padding = F.pad(x, (0, 0, 0, 1, 0, 1)), 0
        return _from_frames(F.conv2d(_as_frames(x), self.weight, self.bias, self.stride, padding), x.shape[0])


class CausalConv(_Conv):
    """Convolution causal in time (zero frames before frame 0) with 'same' zero padding in space:
    [B, T, H, W, C_in] -> [B, T // time_stride, H, W, C_out]. weight [C_out, C_in, kt, k, k] if ``spatial`` (a 3D
    convolution), else [C_out, C_in, kt] (a per-pixel temporal convolution)."""

    def __init__(
        self, in_channels: int, out_channels: int, time_kernel: int, space_kernel: int = 1,
        time_stride: int = 1, spatial: bool = True,
    ) -> None:  # fmt: skip
        super().__init__((out_channels, in_channels, time_kernel) + ((space_kernel,) * 2 if spatial else ()))
        self.time_stride = time_stride

    def forward(self, x: Tensor, repeat: int = 1) -> Tensor:
        """``repeat`` > 1: the convolution of x with every frame repeated that many times."""
        w = self.weight
        taps, c_out, c_in = w.shape[2], w.shape[0], w.shape[1]
        stacked = w.movedim(2, 0).reshape(taps * c_out, c_in, *w.shape[3:])  # tap-major output channels
        if w.dim() == 5 and w.shape[-1] > 1:
            y = _from_frames(F.conv2d(_as_frames(x), stacked, padding=w.shape[-1] // 2), x.shape[0])
        elif taps > 1 and self.time_stride == 1 and repeat == 1:
            return _time_taps(x, w.reshape(c_out, c_in, taps), self.bias)
        else:
            y = F.linear(x, stacked.flatten(1))
        if taps == 1 and self.time_stride == 1 and repeat == 1:
            return y.add_(self.bias.to(y.dtype))
        return _shift_taps(y, taps, self.time_stride, self.bias, repeat)


class ResBlock(nn.Module):
    """Pre-norm residual block x + conv2(silu(ln2(conv1(silu(ln1(x)))))), [B, T, H, W, C_in] -> [..., C_out];
    kind: "frame" (3x3 per frame), "time" (3 causal taps per pixel) or "video" (causal 3x3x3)."""

    def __init__(self, in_channels: int, out_channels: int, kind: str) -> None:
        super().__init__()

        def conv(i: int, o: int, k: int) -> nn.Module:
            return FrameConv(i, o, k) if kind == "frame" else CausalConv(i, o, k, k, spatial=kind == "video")

        self.norm1 = nn.LayerNorm(in_channels, eps=NORM_EPS)
        self.conv1 = conv(in_channels, out_channels, 3)
        self.norm2 = nn.LayerNorm(out_channels, eps=NORM_EPS)
        self.conv2 = conv(out_channels, out_channels, 3)
        self.skip = conv(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(_silu(self.norm2(self.conv1(_silu(self.norm1(x))))))
        return h.add_(x if self.skip is None else self.skip(x))


class FrameAttention(nn.Module):
    """Residual single-head self-attention among the H*W positions of each frame, [B, T, H, W, C] -> same."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=NORM_EPS)
        self.q, self.k, self.v, self.proj = (nn.Linear(channels, channels) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        b, t, h, w, c = x.shape
        weight = torch.cat([self.q.weight, self.k.weight, self.v.weight])
        bias = torch.cat([self.q.bias, self.k.bias, self.v.bias])
        qkv = F.linear(self.norm(x), weight, bias).view(b * t, 1, h * w, 3, c)
        out = F.scaled_dot_product_attention(qkv[..., 0, :], qkv[..., 1, :], qkv[..., 2, :])
        return self.proj(out.reshape(b, t, h, w, c)).add_(x)


class TimeResample(nn.Module):
    """Causal 2x temporal resampling: a * (parameter-free path) + (1 - a) * (causal 3x3x3 conv), a = sigmoid(mix).
    down: [B, T, H, W, C] -> [B, T // 2, H, W, C]; free path out_i = mean(x_{2i-1}, x_{2i}, x_{2i+1}) with
    x_{-1} = 0; the conv has temporal stride 2. up: [B, T, H, W, C] -> [B, 2T, H, W, C]; free path r = every frame
    repeated twice; the conv reads r."""

    def __init__(self, channels: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv = CausalConv(channels, channels, 3, 3, time_stride=2 if down else 1)
        self.mix = nn.Parameter(torch.full((1,), MIX_INIT))

    def forward(self, x: Tensor) -> Tensor:
        a = torch.sigmoid(self.mix).to(x.dtype)
        if self.down:
            t_out = x.shape[1] // 2
            even, odd = x[:, 0 : 2 * t_out : 2], x[:, 1 : 2 * t_out : 2]
            total = even + odd
            total[:, 1:] += odd[:, :-1]
            return self.conv(x).mul_(1 - a).add_(total.mul_(a / 3))
        b, t, h, w, c = x.shape
        out = self.conv(x, repeat=2).mul_(1 - a)
        out.view(b, t, 2, h, w, c).add_((a * x)[:, :, None])  # the parameter-free path: every frame twice
        return out


class Level(nn.Module):
    """One resolution level: pairs (per-frame block, temporal block), then optional space and time resampling,
    [B, T, H, W, C_in] -> [B, T', H', W', C]; ``upsample``: nearest 2x in space before the ``space`` conv."""

    def __init__(
        self, in_channels: int, channels: int, num_blocks: int, space: FrameConv | None = None,
        time: TimeResample | None = None, upsample: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        widths = [in_channels] + [channels] * num_blocks
        self.spatial = nn.ModuleList(ResBlock(widths[j], channels, "frame") for j in range(num_blocks))
        self.temporal = nn.ModuleList(ResBlock(channels, channels, "time") for _ in range(num_blocks))
        self.spatial_resample, self.temporal_resample, self.upsample = space, time, upsample

    def forward(self, x: Tensor) -> Tensor:
        for space_block, time_block in zip(self.spatial, self.temporal):
            x = time_block(space_block(x))
        if self.spatial_resample is not None:
            x = self.spatial_resample(_nearest_space_2x(x) if self.upsample else x)
        return x if self.temporal_resample is None else self.temporal_resample(x)


def _middle(channels: int) -> nn.Sequential:
    """Causal 3D block, per-frame attention, causal 3D block; [B, T, H, W, C] -> same."""
    parts = OrderedDict(res1=ResBlock(channels, channels, "video"), attn=FrameAttention(channels))
    parts["res2"] = ResBlock(channels, channels, "video")
    return nn.Sequential(parts)


class Encoder(nn.Module):
    """[B, T, H, W, C_in] (T a multiple of 4) -> moments [B, T / 4, H / 2^(L-1), W / 2^(L-1), 2 * z_channels]."""

    def __init__(self, ch: int, mults: tuple[int, ...], num_blocks: int, z_channels: int, in_channels: int) -> None:
        super().__init__()
        n, widths = len(mults), [ch] + [ch * m for m in mults]
        self.conv_in = CausalConv(in_channels, ch, 3, 3)
        self.levels = nn.Sequential()
        for i, c in enumerate(widths[1:]):  # every level but the last halves space; levels n-3, n-2 halve time
            space = FrameConv(c, c, 3, stride=2) if i < n - 1 else None
            time = TimeResample(c, down=True) if i in (n - 3, n - 2) else None
            self.levels.append(Level(widths[i], c, num_blocks, space, time))
        self.mid = _middle(widths[-1])
        self.norm_out = nn.LayerNorm(widths[-1], eps=NORM_EPS)
        self.conv_out = CausalConv(widths[-1], 2 * z_channels, 3, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_out(_silu(self.norm_out(self.mid(self.levels(self.conv_in(x))))))


class Decoder(nn.Module):
    """Latents [B, T', h, w, z_channels] -> [B, 4T', 2^(L-1) h, 2^(L-1) w, out_channels]; frames 0..2 are warm-up."""

    def __init__(self, ch: int, mults: tuple[int, ...], num_blocks: int, z_channels: int, out_channels: int) -> None:
        super().__init__()
        widths = [ch * m for m in mults]
        self.conv_in = CausalConv(z_channels, widths[-1], 3, 3)
        self.mid = _middle(widths[-1])
        inputs = widths[1:] + widths[-1:]  # level i reads the output of level i + 1 (the last one: the middle's)
        self.levels = nn.ModuleList()  # run last to first; every level but 0 doubles space, levels 1 and 2 time
        for i, c in enumerate(widths):
            space = FrameConv(c, c, 3) if i > 0 else None
            time = TimeResample(c, down=False) if i in (1, 2) else None
            self.levels.append(Level(inputs[i], c, num_blocks + 1, space, time, upsample=True))
        self.norm_out = nn.LayerNorm(widths[0], eps=NORM_EPS)
        self.conv_out = CausalConv(widths[0], out_channels, 3, 3)

    def forward(self, z: Tensor) -> Tensor:
        x = self.mid(self.conv_in(z))
        for level in reversed(self.levels):
            x = level(x)
        return self.conv_out(_silu(self.norm_out(x)))


def split_moments(moments: Tensor) -> tuple[Tensor, Tensor]:
    """Encoder output [B, 2C, T', h, w] (mean channels first) -> (mean, logvar clamped to [-30, 20]), fp32."""
    mean, logvar = moments.float().chunk(2, dim=1)
    return mean.contiguous(), logvar.clamp(LOGVAR_MIN, LOGVAR_MAX).contiguous()


class VidTokVAE(nn.Module):
    """The VidTok causal KL video VAE (4x temporal, 2^(L-1) spatial compression), frozen, in eval mode."""

    temporal_factor = 4
    is_causal = True

    def __init__(
        self, base_channels: int = 128, channel_mults: tuple[int, ...] = (1, 2, 4, 4), num_res_blocks: int = 2,
        z_channels: int = 16, in_channels: int = 3,
    ) -> None:  # fmt: skip
        super().__init__()
        mults = tuple(int(m) for m in channel_mults)
        if len(mults) < 3:
            raise ValueError(f"VidTokVAE needs at least 3 resolution levels, got channel_mults={mults}")
        self.spatial_factor = 2 ** (len(mults) - 1)
        self.latent_channels = z_channels
        self.encoder = Encoder(base_channels, mults, num_res_blocks, z_channels, in_channels)
        self.decoder = Decoder(base_channels, mults, num_res_blocks, z_channels, in_channels)
        self.requires_grad_(False)
        self.eval()

    def moments(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """video [B, 3, T, H, W] in [-1, 1], T = 1 + 4n -> (mean, logvar), each fp32 [B, 16, 1 + n, H / 8, W / 8];
        logvar clamped to [-30, 20]."""
        f, shape = self.spatial_factor, list(video.shape)
        if video.dim() != 5 or shape[2] < 1 or shape[3] % f or shape[4] % f:
            raise VideoShapeError(f"VidTok needs a [B, C, T, H, W] video with H, W multiples of {f}, got {shape}.")
        x = video.permute(0, 2, 3, 4, 1)
        if x.shape[1] % self.temporal_factor:  # repeat frame 0 in front so that T becomes 4 + 4n
            x = torch.cat([x[:, :1].expand(-1, self.temporal_factor - 1, -1, -1, -1), x], dim=1)
        return split_moments(self.encoder(x.contiguous()).permute(0, 4, 1, 2, 3))

    def posterior(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """video [B, 3, T, H, W] -> (mean, std), each fp32 [B, 16, T', H / 8, W / 8]; std = exp(logvar / 2)."""
        mean, logvar = self.moments(video)
        return mean, torch.exp(0.5 * logvar)

    def encode(self, video: Tensor) -> Tensor:
        """video [B, 3, 1 + 4n, H, W] in [-1, 1] -> posterior mean, fp32 [B, 16, 1 + n, H / 8, W / 8]."""
        return self.moments(video)[0]

    def decode(self, z: Tensor) -> Tensor:
        """z [B, 16, T', h, w] -> fp32 video [B, 3, 1 + 4(T' - 1), 8h, 8w] (not clamped)."""
        if z.dim() != 5 or z.shape[1] != self.latent_channels or z.shape[2] < 1:
            raise ValueError(f"VidTok latents must be [B, {self.latent_channels}, T', h, w], got {tuple(z.shape)}")
        out = self.decoder(z.permute(0, 2, 3, 4, 1).contiguous())[:, self.temporal_factor - 1 :]
        return out.permute(0, 4, 1, 2, 3).float().contiguous()
