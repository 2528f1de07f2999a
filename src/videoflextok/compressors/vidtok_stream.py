"""The VidTok VAE fed a few frames at a time: every causal layer carries the tail of its input to the next push.

The temporal layers of :class:`~videoflextok.compressors.vidtok.VidTokVAE` (causal convolutions with more than one
tap, and the 2x temporal resamplers as a whole) look back at most two frames at their own rate. During a push each
of them gets the last two frames it saw in the previous push prepended to its input, and the outputs those frames
produce are dropped again; the first push starts from nothing, as the whole clip does. The layers run their own
``forward``, so a clip pushed in pieces gives the latents (and frames) of the clip computed at once.

Pushes: the encoder takes frame 0 alone first (VidTok's front padding makes it four copies of frame 0), then
groups of four frames; the decoder takes latent frame 0 first, then any number of latent frames.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoflextok.compressors.vidtok import CausalConv, TimeResample, VidTokVAE, split_moments

TAIL = 2  # frames every temporal layer keeps from its previous push (its look-back, rounded up to even)


class TemporalTails:
    """The temporal layers of ``net`` and their input tails; :meth:`run` runs ``net`` on the next piece of a clip.

    Activations are VidTok's ``[B, T, H, W, C]``.
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        inner = {id(m.conv) for m in net.modules() if isinstance(m, TimeResample)}  # run by their resampler
        convs = [m for m in net.modules() if isinstance(m, CausalConv) and m.weight.shape[2] > 1 and id(m) not in inner]
        self.layers = [m for m in net.modules() if isinstance(m, TimeResample)] + convs
        self.tails: dict[int, Tensor] = {}
        self.drop: dict[int, int] = {}

    def run(self, x: Tensor) -> Tensor:
        """The next piece of the clip through ``net``: x [B, T, H, W, C] -> [B, T_out, H', W', C']."""
        handles = []
        for layer in self.layers:
            handles.append(layer.register_forward_pre_hook(self._prepend, with_kwargs=True))
            handles.append(layer.register_forward_hook(self._drop))
        try:
            return self.net(x)
        finally:
            for handle in handles:
                handle.remove()

    def _prepend(self, layer: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        x = args[0]
        tail = self.tails.get(id(layer))
        full = x if tail is None else torch.cat([tail, x], dim=1)
        self.tails[id(layer)] = full[:, -TAIL:].clone()  # a view would keep all of ``full`` alive
        prepended = 0 if tail is None else tail.shape[1]
        if isinstance(layer, TimeResample):
            ratio = 0.5 if layer.down else 2.0
        else:
            ratio = kwargs.get("repeat", 1) / layer.time_stride
        self.drop[id(layer)] = int(prepended * ratio)
        return (full, *args[1:]), kwargs

    def _drop(self, layer: nn.Module, args: tuple, output: Tensor) -> Tensor:
        return output[:, self.drop[id(layer)] :]


class VidTokEncodeStream:
    """Frames [B, 3, t, H, W] in [-1, 1] -> posterior means [B, 16, n, H / 8, W / 8] of the latent frames they
    complete (first push: frame 0 alone; then 4n frames)."""

    def __init__(self, vae: VidTokVAE) -> None:
        self.vae = vae
        self.tails = TemporalTails(vae.encoder)
        self.started = False

    def push(self, frames: Tensor) -> Tensor:
        tf = self.vae.temporal_factor
        x = frames.permute(0, 2, 3, 4, 1)
        if not self.started:
            if x.shape[1] != 1:
                raise ValueError(f"the first push of a VidTok stream is frame 0 alone, got {x.shape[1]} frames")
            x = x.expand(-1, tf, -1, -1, -1)  # the front padding of the whole clip: frame 0 four times
        elif x.shape[1] % tf:
            raise ValueError(f"a VidTok stream takes frames in groups of {tf} after frame 0, got {x.shape[1]}")
        self.started = True
        return split_moments(self.tails.run(x.contiguous()).permute(0, 4, 1, 2, 3))[0]


class VidTokDecodeStream:
    """Latents [B, 16, n, h, w] -> frames [B, 3, t, 8h, 8w] (not clamped): latent frame 0 gives frame 0, every later
    latent frame 4 frames."""

    def __init__(self, vae: VidTokVAE) -> None:
        self.vae = vae
        self.tails = TemporalTails(vae.decoder)
        self.started = False

    def push(self, latents: Tensor) -> Tensor:
        out = self.tails.run(latents.permute(0, 2, 3, 4, 1).contiguous())
        if not self.started:
            out = out[:, self.vae.temporal_factor - 1 :]  # the decoder's warm-up frames
        self.started = True
        return out.permute(0, 4, 1, 2, 3).float().contiguous()
