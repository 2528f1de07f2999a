"""AdamW with decoupled weight decay on matrices only, and the warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from videoflextok.train.config import TrainConfig

# parameter-name parts that mark embeddings / learned tokens (no weight decay)
_NO_DECAY_NAME = re.compile(r"(emb|pos_|token|register|null|mask|bias)", re.IGNORECASE)


def no_decay_names(model: nn.Module) -> set[str]:
    """Names of parameters exempt from weight decay.

    Exempt: every parameter with fewer than 2 dims (biases, norm scales, 1-D gains), every parameter of a
    normalisation layer or ``nn.Embedding``, names that read like embeddings or learned tokens, and
    whatever the model lists in an optional ``no_weight_decay() -> set[str]`` method.
    """
    names: set[str] = set()
    for mod_name, module in model.named_modules():
        is_norm = "norm" in type(module).__name__.lower() or isinstance(module, nn.Embedding)
        for p_name, p in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if is_norm or p.ndim < 2 or _NO_DECAY_NAME.search(p_name):
                names.add(full)
    extra = getattr(model, "no_weight_decay", None)
    if callable(extra):
        names |= set(extra())
    return names


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed matrices and the exempt rest. Shared parameters appear once."""
    exempt = no_decay_names(model)
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if name in exempt else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW (decoupled: ``p -= lr * wd * p``) over :func:`param_groups`; lr is set each step by the loop.

    On CPU with plain (unsharded) parameters the fused kernel is used: one pass per tensor instead of ~10
    elementwise ops.
    """
    groups = param_groups(model, cfg.weight_decay)
    fused = all(type(p) is nn.Parameter and p.device.type == "cpu" for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=fused or None)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warmup, then cosine to lr * min_lr_ratio."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
