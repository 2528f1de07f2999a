"""What the encoder and the decoder build alike: the numerics of their transformer trunks and the position
embeddings of their patch tokens (two kinds, see ``TokenizerConfig.posemb``)."""

from __future__ import annotations

import torch
from torch import nn

from videoflextok.nn.blocks import BlockStyle
from videoflextok.nn.posemb import AxialPositions, position_embeddings
from videoflextok.tokenizer.config import TokenizerConfig


def block_style(cfg: TokenizerConfig, dim: int, heads: int) -> BlockStyle:
    """The trunk numerics of ``cfg`` for a width ``dim`` split into ``heads`` heads."""
    scale = 8.0 / (dim // heads) if cfg.attn_scale == "mup" else None
    return BlockStyle(qk_norm=cfg.qk_norm, eps=cfg.norm_eps, scale=scale)


def add_patch_positions(module: nn.Module, cfg: TokenizerConfig, dim: int) -> None:
    """Give ``module`` its patch position parameters: ``pos_axial`` (posemb "axial") or ``pos_space`` [N, d] and
    ``pos_time`` [T, d] (posemb "table"); the others are None."""
    module.pos_axial = module.pos_space = module.pos_time = None
    if cfg.posemb == "axial":
        module.pos_axial = AxialPositions(dim, cfg.posemb_max, std=cfg.pos_std)
    else:
        module.pos_space, module.pos_time = position_embeddings(
            cfg.num_patches, cfg.chunk_latent_frames, dim, cfg.pos_std
        )


def patch_positions(module: nn.Module, cfg: TokenizerConfig, frames: int) -> torch.Tensor:
    """The position embeddings of ``frames`` latent frames of patch tokens: [T, N, d]."""
    if module.pos_axial is not None:
        grid = cfg.latent_size // cfg.patch_size
        return module.pos_axial(frames, grid, grid)
    return module.pos_space + module.pos_time[:frames, None]
