"""Token-by-token sampling of a :class:`~videoflextok.generator.model.VideoGenerator`, with a KV cache.

Each step feeds one new position (the token drawn last) through the blocks, appending its keys and values to
one :class:`~videoflextok.nn.attention.KVCache` per block, and draws the next token from the last position's
logits. Classifier-free guidance runs the conditional and the null halves as one batch of 2B rows that continue
with the same token. Without the cache every step recomputes the whole prefix (the reference the tests compare
with).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from videoflextok.checks import check_int
from videoflextok.flow import cfg_combine
from videoflextok.generator import ordering
from videoflextok.generator.sampling import check_sampling, sample
from videoflextok.nn.attention import KVCache
from videoflextok.nn.linear import row_major_weights

if TYPE_CHECKING:
    from videoflextok.generator.model import Condition, VideoGenerator


@torch.no_grad()
def generate(
    model: VideoGenerator,
    cond: Condition,
    num_frames_latent: int,
    tokens_per_frame: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    cfg_scale: float = 1.0,
    generator: torch.Generator | None = None,
    use_kv_cache: bool = True,
    return_logits: bool = False,
):
    """Sample token grids, one per condition (also ``VideoGenerator.generate``).

    cond: class ids (list or LongTensor [B]) or B prompts. Returns ``tokens [B, T', k]`` (LongTensor,
    k = ``tokens_per_frame``, default the trained K) or, with ``return_logits``, ``(tokens, logits)``
    where ``logits [B, T'*k, vocab]`` are the guided logits each token was drawn from (before
    temperature/top-k/top-p). CFG runs the conditional and null halves in one batch of 2B rows.
    """
    model.check_condition(cond, sampling=True)
    k = tokens_per_frame if tokens_per_frame is not None else model.config.tokens_per_frame
    model.check_budget(check_int("latent frames", num_frames_latent), check_int("tokens per frame", k))
    check_sampling(temperature, top_k, top_p, cfg_scale)
    batch = len(cond)
    guided = cfg_scale != 1.0
    enc = model.encode_condition(cond)
    if guided:
        enc = model._concat(enc, model.null_condition(batch))
    rows = 2 * batch if guided else batch
    device = model.start.device
    cells = ordering.positions(model.config.order, num_frames_latent, k, device=device)
    n = cells.shape[0]
    seq = torch.empty(rows, n, dtype=torch.long, device=device)
    caches = context_kv = None
    if use_kv_cache:
        dtype = model.start.dtype
        if torch.is_autocast_enabled(device.type):  # keys/values come out of autocast matmuls
            dtype = torch.get_autocast_dtype(device.type)
        c = model.config
        caches = [KVCache(rows, c.heads, c.head_dim, n, device, dtype) for _ in model.blocks]
        if enc[0] == "text":
            context_kv = [block.cross.context_kv(enc[1][0]) for block in model.blocks]
    all_logits = []
    cos, sin = model.rope.cos_sin(cells)  # tables for the whole run, sliced per step
    cell_emb = model._cell_embedding(cells)
    with row_major_weights(model):  # one row per step: [in, out] weight copies multiply faster on CPU
        for i in range(n):
            if use_kv_cache:
                prev = seq[:, max(i - 1, 0) : i]  # the token drawn last (none before the first)
                x = model._inputs(prev, cells[i : i + 1], enc, first=i == 0, cell_emb=cell_emb[i : i + 1])
                logits = model._run(
                    x, cells[i : i + 1], enc, caches=caches, context_kv=context_kv, last_only=True,
                    cos_sin=(cos[i : i + 1], sin[i : i + 1]),
                )[:, -1]
            else:
                x = model._inputs(seq[:, :i], cells[: i + 1], enc, first=True, cell_emb=cell_emb[: i + 1])
                logits = model._run(x, cells[: i + 1], enc, last_only=True, cos_sin=(cos[: i + 1], sin[: i + 1]))[
                    :, -1
                ]
            if guided:
                logits = cfg_combine(logits[:batch], logits[batch:], cfg_scale)
            nxt = sample(logits, temperature, top_k, top_p, generator)
            if return_logits:
                all_logits.append(logits)
            seq[:, i] = torch.cat([nxt, nxt]) if guided else nxt  # both CFG halves continue with the same token
    tokens = ordering.from_sequence(seq[:batch], model.config.order, num_frames_latent)
    if return_logits:
        return tokens, torch.stack(all_logits, dim=1)
    return tokens
