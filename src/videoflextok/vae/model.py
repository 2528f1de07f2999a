"""VideoVAE: the causal video autoencoder with a KL bottleneck, the tokenizer's learned compressor.

```python
vae = VideoVAE.from_preset("tiny")
z = vae.encode(video)          # video [B, 3, 1 + 4n, H, W] in [-1, 1] -> [B, 16, 1 + n, H / 8, W / 8] (posterior mean)
x = vae.decode(z)              # -> [B, 3, 1 + 4n, H, W]
losses = vae.training_losses(video)   # {"loss", "l1", "kl", ...}
```

Framing: frame 0 is encoded alone, later frames in groups of ``temporal_factor``; latent frame j depends
only on frames <= f*j (time causal), and decoded frames 4j-3..4j depend only on latents <= j.
A clip whose length is not 1 + f*n raises :class:`~videoflextok.errors.FrameCountError` (a ValueError).

Long or large clips: with gradients off, ``encode``/``decode`` stream the clip through the networks in
temporal chunks of ``chunk_frames`` frames, each causal convolution carrying the tail of its input to the
next chunk, so the result equals the one-shot computation (up to float rounding); optional spatial tiles
(``tile_size`` > 0) are blended linearly over ``tile_overlap`` pixels (approximate).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import nn

from videoflextok.checkpoint import load_pretrained, save_pretrained
from videoflextok.checks import check_pixels
from videoflextok.config import model_preset
from videoflextok.vae.config import VAEConfig
from videoflextok.vae.layers import set_streaming
from videoflextok.vae.losses import VAELoss
from videoflextok.vae.networks import Decoder, Encoder
from videoflextok.vae.posterior import DiagonalGaussian
from videoflextok.vae.tiling import tiled_apply


class VideoVAE(nn.Module):
    """Causal 3D-convolutional video VAE; satisfies the tokenizer's compressor interface."""

    config_class = VAEConfig
    checkpoint_kind = "vae"
    is_causal = True

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else VAEConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.losses = VAELoss(self.config)
        # optimisation steps seen by training_losses (switches the adversarial term on); saved with the weights
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.int64))
        self.frozen = False

    # ------------------------------------------------------------------------------------------------
    # compressor interface

    @property
    def temporal_factor(self) -> int:
        return self.config.temporal_factor

    @property
    def spatial_factor(self) -> int:
        return self.config.spatial_factor

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, T', H', W') of the latent of a [*, 3, num_frames, height, width] clip."""
        cfg = self.config
        cfg.check_frames(num_frames)
        return (
            cfg.latent_channels,
            cfg.latent_frames(num_frames),
            height // cfg.spatial_factor,
            width // cfg.spatial_factor,
        )

    def freeze(self) -> VideoVAE:
        """Make this VAE a frozen compressor: no gradients, eval mode even under ``.train()``."""
        self.frozen = True
        self.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> VideoVAE:
        return super().train(mode and not self.frozen)

    # ------------------------------------------------------------------------------------------------
    # encode / decode

    def _use_chunks(self, chunked: bool | None) -> bool:
        return (not torch.is_grad_enabled() or self.frozen) if chunked is None else chunked

    def _stream(self, net: nn.Module, x: torch.Tensor, first: int, rest: int) -> torch.Tensor:
        """Run a causal ``net`` over x [B, C, T, ...] in time chunks (first chunk ``first`` frames, then ``rest``)."""
        if x.shape[2] <= first:
            return net(x)
        set_streaming(net, True)
        try:
            outs = [net(x[:, :, :first])]
            for start in range(first, x.shape[2], rest):
                outs.append(net(x[:, :, start : start + rest]))
        finally:
            set_streaming(net, False)
        return torch.cat(outs, dim=2)

    def _moments(self, video: torch.Tensor, chunked: bool) -> torch.Tensor:
        cfg = self.config
        if not chunked:
            return self.encoder(video)

        def run(x: torch.Tensor) -> torch.Tensor:
            return self._stream(self.encoder, x, 1 + cfg.chunk_frames, cfg.chunk_frames)

        if cfg.tile_size:
            return tiled_apply(video, run, cfg.tile_size, cfg.tile_overlap, Fraction(1, cfg.spatial_factor))
        return run(video)

    def encode_dist(self, video: torch.Tensor, chunked: bool | None = None) -> DiagonalGaussian:
        """video: [B, 3, 1 + f_t n, H, W] in [-1, 1] -> posterior, .mean/.logvar [B, C, 1 + n, H/f_s, W/f_s]."""
        self.config.check_video(video.shape)
        check_pixels(video)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return DiagonalGaussian(self._moments(video, self._use_chunks(chunked)))

    def encode(self, video: torch.Tensor, chunked: bool | None = None) -> torch.Tensor:
        """video: [B, 3, 1 + f_t n, H, W] in [-1, 1] -> posterior mean [B, C, 1 + n, H / f_s, W / f_s] (fp32).

        ``chunked``: None streams in time chunks (and spatial tiles if configured) when gradients are off.
        """
        return self.encode_dist(video, chunked).mean

    def decode(self, z: torch.Tensor, chunked: bool | None = None) -> torch.Tensor:
        """z: [B, C, 1 + n, h, w] -> video [B, 3, 1 + f_t n, h f_s, w f_s] (about [-1, 1]; not clamped)."""
        cfg = self.config
        if z.dim() != 5 or z.shape[1] != cfg.latent_channels:
            raise ValueError(f"the VAE decodes latents [B, {cfg.latent_channels}, T', h, w], got shape {list(z.shape)}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            if not self._use_chunks(chunked):
                return self.decoder(z)
            per_chunk = cfg.chunk_frames // cfg.temporal_factor

            def run(x: torch.Tensor) -> torch.Tensor:
                return self._stream(self.decoder, x, 1 + per_chunk, per_chunk)

            if cfg.tile_size:
                f = cfg.spatial_factor
                return tiled_apply(z, run, cfg.tile_size // f, cfg.tile_overlap // f, Fraction(f))
            return run(z)

    def forward(self, video: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, Any]:
        """Reconstruct through a posterior sample: video -> (recon [B, 3, T, H, W], posterior)."""
        posterior = self.encode_dist(video, chunked=False)
        return self.decode(posterior.sample(generator), chunked=False), posterior

    # ------------------------------------------------------------------------------------------------
    # training

    def training_losses(self, batch: torch.Tensor | dict[str, Any], step: int | None = None) -> dict[str, torch.Tensor]:
        """batch: video [B, 3, T, H, W] in [-1, 1] (or a dict with "video") -> dict of scalars with "loss".

        ``step`` (optional) is the optimisation step that gates the adversarial term; by default the
        module counts its own calls in training mode.
        """
        video = batch["video"] if isinstance(batch, dict) else batch
        if step is None:
            step = int(self.num_updates)
        if self.training:
            self.num_updates += 1
        recon, posterior = self(video)
        return self.losses(video, recon, posterior, step)

    # ------------------------------------------------------------------------------------------------
    # construction and checkpoints

    @classmethod
    def from_preset(cls, name: str, overrides: list[str] | tuple[str, ...] = ()) -> VideoVAE:
        """Build from the ``model:`` section of ``configs/vae/<name>.yaml``; overrides like ``latent_channels=8``
        (a leading ``model.`` is accepted)."""
        return cls(model_preset(VAEConfig, "vae", name, overrides))

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` to ``folder`` atomically."""
        return save_pretrained(self, folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> VideoVAE:
        """Load a VAE saved by :meth:`save_pretrained` or by the trainer (a run folder picks its latest checkpoint)."""
        return load_pretrained(cls, folder, device=device)

    def num_params(self) -> int:
        """Parameters of the encoder and decoder (the discriminator excluded)."""
        return sum(p.numel() for m in (self.encoder, self.decoder) for p in m.parameters())
