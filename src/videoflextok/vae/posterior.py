"""Diagonal Gaussian posterior q(z | video) of the KL bottleneck."""

from __future__ import annotations

import torch


class DiagonalGaussian:
    """q(z) = N(mean, exp(logvar)) per latent element.

    moments: [B, 2C, T', H', W'] (mean channels first, then log-variance) -> ``.mean``, ``.logvar``: [B, C, T', H', W'].
    """

    def __init__(self, moments: torch.Tensor) -> None:
        mean, logvar = moments.float().chunk(2, dim=1)
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A reparameterised sample mean + std * eps (differentiable in mean and logvar)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) averaged over all latent elements (a scalar)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).mean()
