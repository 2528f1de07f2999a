"""Rectified-flow decoder: predicts the velocity of noised latent patches, conditioned in context on the
(masked) register embeddings of the same and earlier latent frames.

Sequence per chunk: ``[x_1, r_1, x_2, r_2, ...]`` (P noised patches then K registers per latent frame) under
the time-block-causal mask, so the output for latent frame t never sees registers of later frames. The flow
time is given per latent frame (a clean prefix frame may have its own, near-zero time) and enters through
adaLN-Zero, with separate modulation for patch tokens and register tokens.

Output head: a linear map per patch token (``decoder_head: linear``), so that neighbouring patches meet at a hard
edge (8x8-pixel blocks for 4x4x4 pixel cubes in patches of 2); or that map refined by a small residual 3x3 conv
stack on the latent grid of each latent frame (``decoder_head: conv``), so that every cell also sees the cells
around it. Its last convolution starts at zero (the head starts as the linear one); each latent frame is refined
on its own, so time causality is untouched.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from videoflextok.nn.adaln import AdaLNBlock, AdaLNFinal
from videoflextok.nn.masks import TimeBlocks
from videoflextok.nn.posemb import TimestepEmbedder, learned_embedding
from videoflextok.tokenizer.config import TokenizerConfig
from videoflextok.tokenizer.mixing import decoder_mixing
from videoflextok.tokenizer.nested_dropout import apply_nested_dropout
from videoflextok.tokenizer.patches import patchify, unpatchify
from videoflextok.tokenizer.trunk import add_patch_positions, block_style, patch_positions


class FlowDecoder(nn.Module):
    """(x_s [B, T, N, patch_dim], s [B, T], registers [B, T, K, d]) -> v [B, T, N, patch_dim]."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        d, lc = cfg.decoder_dim, cfg.chunk_latent_frames
        self.cfg = cfg
        self.K = cfg.K
        self.dim = d
        self.patch_in = nn.Linear(cfg.patch_dim, d, bias=cfg.bias)
        add_patch_positions(self, cfg, d)
        self.code_in = nn.Linear(len(cfg.fsq_levels), d, bias=cfg.bias)
        # posemb "table": registers also get an index and a frame embedding ("axial": registers carry no position)
        table = cfg.posemb == "table"
        self.reg_pos = learned_embedding(cfg.K, d, std=cfg.reg_pos_std) if table else None
        self.reg_time = learned_embedding(lc, d) if table else None
        self.mask_token = learned_embedding(d)  # replaces registers after k (nested dropout / keep_k)
        self.null_registers = learned_embedding(cfg.K, d)  # unconditional registers for CFG (and a clean prefix)
        self.prefix_token = learned_embedding(d) if cfg.prefix == "token" else None  # all registers of a prefix frame
        self.time_embed = TimestepEmbedder(d, max_period=cfg.time_period, bias=cfg.bias)
        # each patch input += a learned mix of its frame's registers (cfg.register_mixing): a direct,
        # place-specific path from the tokens to every patch that attention does not have to find first
        k = cfg.K
        self.mix = nn.Parameter(decoder_mixing(k, cfg.num_patches, cfg.mixing_init)) if cfg.register_mixing else None
        style = block_style(cfg, d, cfg.decoder_heads)
        self.blocks = nn.ModuleList(
            AdaLNBlock(d, cfg.decoder_heads, groups=2, style=style) for _ in range(cfg.decoder_depth)
        )
        self.final = AdaLNFinal(d, cfg.patch_dim, style=style, bias=cfg.bias)
        grid = cfg.latent_size // cfg.patch_size
        conv = cfg.decoder_head == "conv"
        self.refine = ConvRefine(cfg.compressor.channels, cfg.head_channels, cfg.patch_size, grid) if conv else None

    def embed_registers(
        self,
        codes: torch.Tensor,
        keep_k: torch.Tensor,
        null: torch.Tensor | None = None,
        prefix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Register conditioning [B, T, K, d].

        codes: [B, T, K, D] FSQ codes (entries after keep_k are ignored); keep_k: [B] or [B, T] int64;
        null: optional bool [B, T], True where a frame's registers become the null registers;
        prefix: optional bool [B, T], True for clean prefix frames (their registers become the prefix token, or
        the null registers when the config has no prefix token). Applied in that order: keep_k, prefix, null.
        """
        t = codes.shape[1]
        regs = apply_nested_dropout(self.code_in(codes.to(self.code_in.weight.dtype)), keep_k, self.mask_token)
        if prefix is not None:
            if self.prefix_token is not None:
                regs = torch.where(prefix[:, :, None, None], self.prefix_token.to(regs.dtype), regs)
            else:
                null = prefix if null is None else null | prefix
        if null is not None:
            regs = torch.where(null[:, :, None, None], self.null_registers.to(regs.dtype), regs)
        return self._add_register_positions(regs, t)

    def null_conditioning(self, batch: int, frames: int) -> torch.Tensor:
        """Registers of the unconditional branch: [B, T, K, d]."""
        regs = self.null_registers.expand(frames, -1, -1)
        return self._add_register_positions(regs, frames).unsqueeze(0).expand(batch, -1, -1, -1)

    def _add_register_positions(self, regs: torch.Tensor, frames: int) -> torch.Tensor:
        if self.reg_pos is None:
            return regs
        return regs + self.reg_pos + self.reg_time[:frames, None]

    def forward(self, x: torch.Tensor, s: torch.Tensor, registers: torch.Tensor) -> torch.Tensor:
        """x: [B, T, N, patch_dim] noised patches; s: [B, T] flow time per frame; registers: [B, T, K, d]
        -> the prediction, [B, T, N, patch_dim]."""
        return self.forward_with_hidden(x, s, registers, None)[0]

    def forward_with_hidden(
        self, x: torch.Tensor, s: torch.Tensor, registers: torch.Tensor, layer: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`forward`, and the patch-token states after block ``layer`` (1-based), [B, T, N, d] (for REPA;
        None when ``layer`` is None)."""
        b, t, n, _ = x.shape
        k = registers.shape[2]
        h = self.patch_in(x.to(self.patch_in.weight.dtype)) + patch_positions(self, self.cfg, t)
        if self.mix is not None:
            h = h + torch.einsum("nk,btkd->btnd", self.mix[:, :k].to(h.dtype), registers.to(h.dtype))
        seq = rearrange(torch.cat([h, registers.to(h.dtype)], dim=2), "b t n d -> b (t n) d")
        c = self.time_embed(s)  # [B, T, d], one conditioning vector per latent frame
        mask = TimeBlocks(t, n, k)
        hidden = None
        for i, block in enumerate(self.blocks):
            seq = block(seq, c, (n, k), mask=mask)
            if layer == i + 1:
                hidden = rearrange(seq, "b (t n) d -> b t n d", t=t)[:, :, :n]
        patches = rearrange(seq, "b (t n) d -> b t n d", t=t)[:, :, :n]
        out = self.final(patches, c)
        return (out if self.refine is None else self.refine(out)), hidden


class ConvRefine(nn.Module):
    """The conv head: patches [B, T, N, C p p] -> the same, plus a residual 3x3 conv stack (C -> hidden -> hidden
    -> C) on the latent grid of each latent frame."""

    def __init__(self, channels: int, hidden: int, patch_size: int, grid: int) -> None:
        super().__init__()
        self.patch_size, self.grid = patch_size, grid
        self.convs = nn.ModuleList(
            [nn.Conv2d(channels, hidden, 3, padding=1), nn.Conv2d(hidden, hidden, 3, padding=1),
             nn.Conv2d(hidden, channels, 3, padding=1)]
        )
        nn.init.zeros_(self.convs[-1].weight)
        nn.init.zeros_(self.convs[-1].bias)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        b = patches.shape[0]
        latent = unpatchify(patches, self.patch_size, self.grid)  # [B, C, T, h, w]
        h = rearrange(latent, "b c t h w -> (b t) c h w").to(self.convs[0].weight.dtype)
        for i, conv in enumerate(self.convs):
            h = conv(h) if i == len(self.convs) - 1 else F.gelu(conv(h))
        refined = latent + rearrange(h, "(b t) c h w -> b c t h w", b=b).to(latent.dtype)
        return patchify(refined, self.patch_size)
