"""Attention masks of the tokenizer as pure functions, built once per shape and cached.

Token layout (encoder and decoder alike): per latent frame (a "block") ``P`` patch tokens then ``K``
register tokens, blocks in time order: ``[p_1, r_1, p_2, r_2, ...]``, length ``T * (P + K)``.
Convention of :mod:`videoflextok.nn.attention`: bool ``[N_query, N_key]``, True = may attend.

The cached tensors are shared: never modify them in place.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch


def _layout(T: int, P: int, K: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per token: block index [L], is-register flag [L], register index (-1 for patches) [L]."""
    pos = torch.arange(P + K, device=device)
    block = torch.arange(T, device=device).repeat_interleave(P + K)
    is_reg = (pos >= P).repeat(T)
    reg_idx = (pos - P).repeat(T)
    return block, is_reg, reg_idx


@functools.lru_cache(maxsize=64)
def _time_block_causal_last(T: int, P: int, K: int, device: torch.device) -> torch.Tensor:
    block, is_reg, reg_idx = _layout(T, P, K, device)
    earlier = block[None, :] < block[:, None]
    same = block[None, :] == block[:, None]
    q_reg, k_reg = is_reg[:, None], is_reg[None, :]
    patch_sees_patch = ~q_reg & ~k_reg
    reg_sees = q_reg & (~k_reg | (reg_idx[None, :] <= reg_idx[:, None]))
    return earlier | (same & (patch_sees_patch | reg_sees))


@functools.lru_cache(maxsize=64)
def _time_block_causal(T: int, P: int, K: int, device: torch.device) -> torch.Tensor:
    block = torch.arange(T, device=device).repeat_interleave(P + K)
    return block[None, :] <= block[:, None]


@functools.lru_cache(maxsize=64)
def _causal_tail(seen: int, tail: int, device: torch.device) -> torch.Tensor:
    mask = torch.ones(tail, seen + tail, dtype=torch.bool, device=device)
    mask[:, seen:] = torch.ones(tail, tail, dtype=torch.bool, device=device).tril()
    return mask


def causal_tail_mask(seen: int, tail: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[tail, seen + tail]``: query j of the last ``tail`` tokens sees the ``seen`` tokens before them and tail
    tokens 0..j (the encoder's registers within their latent frame). Cached; never modify it in place."""
    return _causal_tail(seen, tail, torch.device(device))


def time_block_causal_last_mask(T: int, P: int, K: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Encoder mask ``[L, L]``, L = T * (P + K).

    Block t sees every token of blocks < t. Inside block t, patches see the block's patches only; register j
    sees the block's patches and registers 0..j. So register j never depends on registers > j of its own
    block (truncation invariance) nor on any later block (time causality).
    """
    return _time_block_causal_last(T, P, K, torch.device(device))


def time_block_causal_mask(T: int, P: int, K: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Decoder mask ``[L, L]``, L = T * (P + K): block t sees blocks <= t in full, nothing later."""
    return _time_block_causal(T, P, K, torch.device(device))


@dataclass(frozen=True)
class TimeBlocks:
    """The structure of the two masks above, for attention that never builds them: ``frames`` blocks of
    ``patches`` + ``registers`` tokens; block t attends to every token of blocks < t and to its own block, in full
    (``registers_causal`` False: :func:`time_block_causal_mask`) or with the encoder's rule (True:
    :func:`time_block_causal_last_mask`: its patches see its patches only, register j its patches and registers
    0..j). :meth:`dense` is the equivalent bool mask."""

    frames: int
    patches: int
    registers: int
    registers_causal: bool = False

    @property
    def block(self) -> int:
        return self.patches + self.registers

    def dense(self, device: torch.device | str = "cpu") -> torch.Tensor:
        make = time_block_causal_last_mask if self.registers_causal else time_block_causal_mask
        return make(self.frames, self.patches, self.registers, device)
