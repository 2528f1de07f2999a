"""Training objective of the video VAE.

loss = l1_weight * |x - x_hat| + l2_weight * (x - x_hat)^2 + kl_weight * KL(q || N(0, I))
     + perceptual_weight * d_feat(x, x_hat)                       (frozen EfficientNet-Lite0, optional)
     + [step >= adversarial_start] * (adversarial_weight * -D(x_hat) + hinge(D; x, x_hat))  (optional)

The perceptual and adversarial terms look at a random subset of ``perceptual_frames`` frames per clip.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from videoflextok.nn.perceptual import PerceptualDistance
from videoflextok.vae.config import VAEConfig
from videoflextok.vae.discriminator import (
    PatchDiscriminator,
    discriminator_hinge_loss,
    generator_adversarial_loss,
)
from videoflextok.vae.posterior import DiagonalGaussian


def pick_frames(video: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """video [B, C, T, H, W], indices [B, F] -> frames [B * F, C, H, W]."""
    frames = rearrange(video, "b c t h w -> b t c h w")
    picked = frames[torch.arange(video.shape[0], device=video.device)[:, None], indices]
    return rearrange(picked, "b f c h w -> (b f) c h w")


class VAELoss(nn.Module):
    """Holds the loss networks (frozen perceptual net, trainable discriminator) and combines the terms."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.perceptual = PerceptualDistance() if cfg.perceptual_weight > 0 else None
        self.discriminator = (
            PatchDiscriminator(cfg.disc_channels, cfg.disc_layers) if cfg.adversarial_weight > 0 else None
        )

    def forward(
        self, video: torch.Tensor, recon: torch.Tensor, posterior: DiagonalGaussian, step: int
    ) -> dict[str, torch.Tensor]:
        """video, recon: [B, 3, T, H, W]; returns scalars "loss", "l1", "kl" (+ "mse", "perceptual", "g_adv",
        "d_adv")."""
        cfg = self.cfg
        out: dict[str, torch.Tensor] = {}
        error = video.float() - recon.float()
        out["l1"] = error.abs().mean()
        out["kl"] = posterior.kl()
        loss = cfg.l1_weight * out["l1"] + cfg.kl_weight * out["kl"]
        if cfg.l2_weight > 0:
            out["mse"] = error.pow(2).mean()
            loss = loss + cfg.l2_weight * out["mse"]
        adversarial_on = self.discriminator is not None and step >= cfg.adversarial_start
        if self.perceptual is not None or adversarial_on:
            b, t = video.shape[0], video.shape[2]
            n = min(cfg.perceptual_frames, t)
            idx = torch.stack([torch.randperm(t, device=video.device)[:n] for _ in range(b)])
            real, fake = pick_frames(video, idx), pick_frames(recon, idx)
            if self.perceptual is not None:
                out["perceptual"] = self.perceptual(fake, real)
                loss = loss + cfg.perceptual_weight * out["perceptual"]
            if adversarial_on:
                out["g_adv"] = generator_adversarial_loss(self.discriminator, fake)
                out["d_adv"] = discriminator_hinge_loss(self.discriminator, real, fake)
                loss = loss + cfg.adversarial_weight * out["g_adv"] + out["d_adv"]
        elif self.discriminator is not None:
            # keep every parameter in the graph (DDP) while the discriminator waits for its start step
            loss = loss + 0.0 * sum(p.sum() for p in self.discriminator.parameters())
        out["loss"] = loss
        return out
