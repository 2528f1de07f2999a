"""Patch discriminator and hinge losses for the VAE's optional adversarial term.

The discriminator scores overlapping patches of single frames. Both players train with ONE optimizer
and ONE scalar loss: the discriminator's hinge loss sees detached reconstructions (so it moves only the
discriminator), and the generator's term calls the discriminator with detached parameters (so it moves
only the VAE). This is what lets the shared trainer, which minimises a single "loss", run the GAN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


class PatchDiscriminator(nn.Module):
    """frames: [N, 3, H, W] in [-1, 1] -> patch logits [N, 1, H / 2^L, W / 2^L] (L = ``layers``)."""

    def __init__(self, channels: int = 64, layers: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        ch = channels
        for i in range(1, layers):
            nxt = channels * min(2**i, 8)
            mods += [nn.Conv2d(ch, nxt, 4, stride=2, padding=1), nn.GroupNorm(min(32, nxt), nxt), nn.LeakyReLU(0.2)]
            ch = nxt
        mods += [nn.Conv2d(ch, ch, 3, padding=1), nn.GroupNorm(min(32, ch), ch), nn.LeakyReLU(0.2)]
        mods.append(nn.Conv2d(ch, 1, 3, padding=1))
        self.net = nn.Sequential(*mods)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames)


def discriminator_hinge_loss(disc: PatchDiscriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator; ``fake`` is detached so no gradient reaches the generator."""
    logits_real = disc(real.detach())
    logits_fake = disc(fake.detach())
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def generator_adversarial_loss(disc: PatchDiscriminator, fake: torch.Tensor) -> torch.Tensor:
    """-D(fake) with the discriminator's parameters detached: gradients reach only ``fake``."""
    frozen = {name: p.detach() for name, p in disc.named_parameters()}
    frozen.update(dict(disc.named_buffers()))
    return -functional_call(disc, frozen, (fake,)).mean()
