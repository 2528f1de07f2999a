"""Register encoder: latent patches + K registers per latent frame -> a time-block-causal-last transformer
-> registers projected to FSQ codes and ids.

Sequence per chunk: ``[p_1, r_1, p_2, r_2, ...]`` (P patches then K registers per latent frame), see
:func:`videoflextok.nn.masks.time_block_causal_last_mask`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videoflextok.nn.blocks import Transformer
from videoflextok.nn.masks import TimeBlocks
from videoflextok.nn.posemb import learned_embedding
from videoflextok.tokenizer.config import TokenizerConfig
from videoflextok.tokenizer.fsq import FSQ
from videoflextok.tokenizer.mixing import encoder_mixing
from videoflextok.tokenizer.trunk import add_patch_positions, block_style, patch_positions


class RegisterEncoder(nn.Module):
    """patches [B, T, N, patch_dim] -> (codes [B, T, K, D] fp32, ids [B, T, K] int64), T <= chunk latent frames."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        d, lc = cfg.encoder_dim, cfg.chunk_latent_frames
        self.cfg = cfg
        self.K = cfg.K
        self.patch_embed = nn.Linear(cfg.patch_dim, d, bias=cfg.bias)
        add_patch_positions(self, cfg, d)
        self.registers = learned_embedding(lc, cfg.K, d)  # [T_max, K, d]
        # register k of a frame gets a learned mix of that frame's patches (random or a pyramid at init): from
        # step 0 the registers differ per clip in a place-dependent way (attention alone gives the mean)
        n = cfg.num_patches
        self.mix = nn.Parameter(encoder_mixing(cfg.K, n, cfg.mixing_init)) if cfg.register_mixing else None
        self.transformer = Transformer(d, cfg.encoder_depth, cfg.encoder_heads, block_style(cfg, d, cfg.encoder_heads))
        self.fsq = FSQ(cfg.fsq_levels)
        self.to_code = nn.Linear(d, self.fsq.dim, bias=cfg.bias)

    def initial_registers(self, batch: int, frames: int) -> torch.Tensor:
        """The learned register inputs for ``frames`` latent frames: [B, T, K, d] (with posemb "table" they also
        carry the frame's time embedding)."""
        regs = self.registers[:frames]
        if self.pos_time is not None:
            regs = regs + self.pos_time[:frames, None]
        return regs.unsqueeze(0).expand(batch, -1, -1, -1)

    def features(self, patches: torch.Tensor, registers: torch.Tensor | None = None) -> torch.Tensor:
        """patches: [B, T, N, patch_dim]; registers: optional override of the learned register inputs [B, T, K, d]
        (with ``register_mixing`` the mix of the frame's patches is added to them either way).

        Returns the register outputs of the transformer, [B, T, K, d].
        """
        b, t, n, _ = patches.shape
        x = self.patch_embed(patches) + patch_positions(self, self.cfg, t)
        if registers is None:
            registers = self.initial_registers(b, t)
        if self.mix is not None:
            registers = registers + torch.einsum("kn,btnd->btkd", self.mix.to(x.dtype), x)
        seq = rearrange(torch.cat([x, registers.to(x.dtype)], dim=2), "b t n d -> b (t n) d")
        mask = TimeBlocks(t, n, self.K, registers_causal=True)
        out = rearrange(self.transformer(seq, mask=mask), "b (t n) d -> b t n d", t=t)
        return out[:, :, n:]

    def quantize(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features [B, T, K, d] -> (codes [B, T, K, D], ids [B, T, K]); projection and FSQ in fp32."""
        with torch.autocast(device_type=features.device.type, enabled=False):
            bias = None if self.to_code.bias is None else self.to_code.bias.float()
            z = F.linear(features.float(), self.to_code.weight.float(), bias)
            return self.fsq(z)

    def forward(
        self, patches: torch.Tensor, registers: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.quantize(self.features(patches, registers))
