"""VideoGenerator: a Llama-style decoder-only transformer over VideoFlexTok token ids.

Pre-norm blocks (RMSNorm), self-attention with QK-norm and axial RoPE over (latent frame, token index),
optional cross-attention to text, SwiGLU, no biases, SDPA. Tokens of a video ``[T', K]`` are read in
``config.order`` (see :mod:`videoflextok.generator.ordering`).

Sequence layout: position ``i`` predicts sequence token ``i``. Its input is a learned start vector (plus
the class embedding for class-to-video) at ``i = 0`` and the embedding of token ``i - 1`` after that,
plus learned embeddings of the (frame, token index) cell that position ``i`` predicts; RoPE uses the same
cell. So ``logits[:, i]`` is the distribution of token ``i`` given tokens ``< i`` and the condition.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from videoflextok.checkpoint import load_pretrained, save_pretrained
from videoflextok.checks import check_int
from videoflextok.config import from_dict, load_yaml, merge, parse_overrides, preset_path
from videoflextok.errors import ConfigError, TokenError
from videoflextok.generator import ordering
from videoflextok.generator.conditioning import ClassCondition, TextCondition
from videoflextok.generator.config import GeneratorConfig
from videoflextok.generator.cross_attention import CrossAttention
from videoflextok.generator.sampling import apply_cfg, check_sampling, sample
from videoflextok.nn.attention import Attention, KVCache
from videoflextok.nn.linear import Linear, row_major_weights
from videoflextok.nn.mlp import SwiGLU
from videoflextok.nn.norms import RMSNorm
from videoflextok.nn.rope import AxialRoPE

Condition = torch.Tensor | list[int] | list[str]


class Block(nn.Module):
    """x: [B, N, width] -> [B, N, width]; self-attention, optional cross-attention, SwiGLU, each pre-normed."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        w = config.width
        self.norm1 = RMSNorm(w)
        self.attn = Attention(w, config.heads, qk_norm=config.qk_norm)
        self.cross = CrossAttention(w, config.heads, qk_norm=config.qk_norm) if config.conditioning == "text" else None
        self.norm_cross = RMSNorm(w) if self.cross is not None else None
        self.norm2 = RMSNorm(w)
        self.mlp = SwiGLU(w)

    def forward(self, x, rope, mask=None, is_causal=False, cache=None, context=None, context_kv=None):
        x = x + self.attn(self.norm1(x), mask=mask, rope=rope, cache=cache, is_causal=is_causal)
        if self.cross is not None:
            ctx, ctx_mask = context
            x = x + self.cross(self.norm_cross(x), ctx_mask, context=ctx, kv=context_kv)
        return x + self.mlp(self.norm2(x))


class VideoGenerator(nn.Module):
    """Autoregressive class-to-video / text-to-video model over FSQ token ids in [0, vocab_size)."""

    config_class = GeneratorConfig

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.width)
        self.start = nn.Parameter(torch.zeros(c.width))
        self.frame_emb = nn.Embedding(c.max_latent_frames, c.width)
        self.index_emb = nn.Embedding(c.tokens_per_frame, c.width)
        self.class_cond = ClassCondition(c.num_classes, c.width) if c.conditioning == "class" else None
        self.text_cond = TextCondition(c) if c.conditioning == "text" else None
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.depth))
        self.norm = RMSNorm(c.width)
        self.head = Linear(c.width, c.vocab_size, bias=False)
        self.rope = AxialRoPE(c.head_dim, num_axes=2, base=c.rope_base)
        self.reset_parameters()

    # ------------------------------------------------------------------------------------------------
    # construction

    def reset_parameters(self) -> None:
        """Normal(0, init_std) for linears and embeddings; residual output projections scaled by 1/sqrt(2*depth)."""
        std = self.config.init_std
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=std)
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.w_out, *([block.cross.proj] if block.cross else [])):
                nn.init.normal_(proj.weight, std=std / math.sqrt(2 * self.config.depth))
        nn.init.normal_(self.start, std=std)
        if self.text_cond is not None:
            nn.init.normal_(self.text_cond.null, std=std)

    @classmethod
    def from_preset(cls, name: str, overrides: list[str] | tuple[str, ...] = ()) -> VideoGenerator:
        """Build from ``configs/generator/<name>.yaml`` (its ``model:`` section) with dotted overrides."""
        return cls(preset_config(name, overrides))

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Parameter count; optionally without the token embedding and output head (vocab x width each)."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            total -= self.tok_emb.weight.numel() + self.head.weight.numel()
        return total

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` to ``folder`` atomically (the text encoder is not saved)."""
        return save_pretrained(self, folder)

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, use_ema: bool = True, device: str | torch.device = "cpu"
    ) -> VideoGenerator:
        """Rebuild from a checkpoint folder or a training run folder (its latest checkpoint), offline."""
        return load_pretrained(cls, folder, use_ema=use_ema, device=device)

    # ------------------------------------------------------------------------------------------------
    # conditions

    def encode_condition(self, cond: Condition, null: torch.Tensor | None = None):
        """Class labels [B] (-1 = none) or B captions ("" = none) -> what the transformer consumes.

        ``null: [B] bool`` marks rows replaced by the null condition. Returns ``("class", emb [B, width])``
        or ``("text", (context [B, L, width], mask [B, L]))``.
        """
        device = self.start.device
        if self.class_cond is not None:
            if isinstance(cond, (list, tuple)) and any(isinstance(c, str) for c in cond):
                raise ConfigError("this is a class-to-video model; give class ids, not text prompts")
            labels = torch.as_tensor(cond, dtype=torch.long, device=device).reshape(-1)
            if labels.numel() and int(labels.max()) >= self.config.num_classes:
                raise ConfigError(
                    f"label {int(labels.max())} is outside this model's {self.config.num_classes} classes; "
                    "raise model.num_classes"
                )
            null = torch.zeros_like(labels, dtype=torch.bool) if null is None else null.to(device)
            return "class", self.class_cond.encode(labels, null)
        if isinstance(cond, str) or not all(isinstance(c, str) for c in cond):
            raise ConfigError("this is a text-to-video model; give a list of text prompts, not class ids")
        null = torch.zeros(len(cond), dtype=torch.bool, device=device) if null is None else null.to(device)
        return "text", self.text_cond.encode(list(cond), null)

    def null_condition(self, batch: int):
        """The null condition for ``batch`` rows (the unconditional half of classifier-free guidance)."""
        ones = torch.ones(batch, dtype=torch.bool)
        if self.class_cond is not None:
            return self.encode_condition(torch.full((batch,), -1), ones)
        return self.encode_condition([""] * batch, ones)

    @staticmethod
    def _concat(a, b):
        """Stack two encoded conditions along the batch (cond half first, null half second)."""
        kind, x = a
        _, y = b
        if kind == "class":
            return kind, torch.cat([x, y])
        (cx, mx), (cy, my) = x, y
        length = max(cx.shape[1], cy.shape[1])
        cx, cy = (F.pad(c, (0, 0, 0, length - c.shape[1])) for c in (cx, cy))
        mx, my = (F.pad(m, (0, length - m.shape[1])) for m in (mx, my))
        return kind, (torch.cat([cx, cy]), torch.cat([mx, my]))

    # ------------------------------------------------------------------------------------------------
    # the transformer

    def _inputs(
        self, prev: torch.Tensor, cells: torch.Tensor, enc, first: bool, cell_emb: torch.Tensor | None = None
    ) -> torch.Tensor:
        """prev: [B, n'] token ids feeding the positions; cells: [n, 2] -> inputs [B, n, width].

        With ``first`` the first position is the start vector and ``n = n' + 1``; otherwise ``n = n'``.
        cell_emb: the :meth:`_cell_embedding` of ``cells`` if already computed.
        """
        x = self.tok_emb(prev)
        if first:
            start = self.start.expand(prev.shape[0], 1, -1)
            if enc[0] == "class":
                start = start + enc[1][:, None, :]
            x = torch.cat([start.to(x.dtype), x], dim=1)
        return x + (self._cell_embedding(cells) if cell_emb is None else cell_emb)

    def _cell_embedding(self, cells: torch.Tensor) -> torch.Tensor:
        """cells [n, 2] (latent frame, token index) -> their learned embeddings summed, [n, width]."""
        return self.frame_emb(cells[:, 0]) + self.index_emb(cells[:, 1])

    def _run(
        self,
        x,
        cells,
        enc,
        caches=None,
        context_kv=None,
        last_only: bool = False,
        cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """x: [B, n, width] inputs at cells [n, 2] -> logits [B, n, vocab] (fp32); [B, 1, vocab] with last_only.

        last_only: apply the vocabulary head to the last position only (sampling needs no other logits, and
        the head, width x vocab, costs far more per position than the blocks of a small model).
        cos_sin: the rotary tables of ``cells`` if already computed.
        """
        rope = self.rope.function(cells, cos_sin)
        n = x.shape[1]
        mask, is_causal = None, caches is None
        if caches is not None and n > 1:
            past = caches[0].length
            mask = torch.ones(n, past + n, dtype=torch.bool, device=x.device).tril(diagonal=past)
        context = enc[1] if enc[0] == "text" else None
        for i, block in enumerate(self.blocks):
            x = block(
                x,
                rope,
                mask=mask,
                is_causal=is_causal,
                cache=None if caches is None else caches[i],
                context=context,
                context_kv=None if context_kv is None else context_kv[i],
            )
        if last_only:
            x = x[:, -1:]
        return self.head(self.norm(x)).float()

    def _check_tokens(self, ids: torch.Tensor, num_frames: int, tokens_per_frame: int) -> None:
        c = self.config
        if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TokenError(f"token ids must be an integer tensor, got {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= c.vocab_size):
            raise TokenError(f"token ids must lie in [0, {c.vocab_size}), got [{int(ids.min())}, {int(ids.max())}]")
        self.check_budget(num_frames, tokens_per_frame)

    def check_budget(self, num_frames: int, tokens_per_frame: int) -> None:
        """Raise ConfigError (one sentence) when the token budget exceeds what the model was trained for."""
        c = self.config
        if not 1 <= tokens_per_frame <= c.tokens_per_frame:
            raise ConfigError(
                f"tokens per frame must be between 1 and {c.tokens_per_frame} (what this model was trained for), "
                f"got {tokens_per_frame}"
            )
        if not 1 <= num_frames <= c.max_latent_frames:
            raise ConfigError(
                f"latent frames must be between 1 and {c.max_latent_frames} (what this model was trained for), "
                f"got {num_frames}"
            )

    def forward(
        self,
        ids: torch.Tensor,
        cond: Condition,
        targets: torch.Tensor | None = None,
        num_frames: int | None = None,
        tokens_per_frame: int | None = None,
        null: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced logits (and loss).

        ids: a token grid [B, T', K] (put in ``config.order`` here) or a sequence [B, N] already in that
        order, with ``num_frames`` (T') and ``tokens_per_frame`` (K, default ``config.tokens_per_frame``)
        giving the grid it comes from (N <= T' * K). ``cond``: labels [B] or B captions; ``null`` [B] bool
        marks rows that get the null condition. Returns ``logits [B, N, vocab]`` (fp32; position i is the
        distribution of sequence token i) and the mean cross-entropy against ``targets`` (same layout as
        ``ids``, usually ``ids`` itself) or None.
        """
        if ids.dim() == 3:
            num_frames, tokens_per_frame = ids.shape[1], ids.shape[2]
            seq = ordering.to_sequence(ids, self.config.order)
            if targets is not None:
                targets = ordering.to_sequence(targets, self.config.order)
        elif ids.dim() == 2:
            if num_frames is None:
                raise ValueError("a flat token sequence needs num_frames")
            tokens_per_frame = tokens_per_frame or self.config.tokens_per_frame
            seq = ids
            if seq.shape[1] > num_frames * tokens_per_frame:
                raise TokenError(f"a sequence of {seq.shape[1]} tokens does not fit {num_frames}x{tokens_per_frame}")
        else:
            raise TokenError(f"token ids must have shape [B, T', K] or [B, N], got {tuple(ids.shape)}")
        self._check_tokens(seq, num_frames, tokens_per_frame)
        seq = seq.long().to(self.start.device)
        cells = ordering.positions(self.config.order, num_frames, tokens_per_frame, device=seq.device)
        cells = cells[: seq.shape[1]]
        enc = self.encode_condition(cond, null)
        logits = self._run(self._inputs(seq[:, :-1], cells, enc, first=True), cells, enc)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.reshape(-1).long().to(logits.device))
        return logits, loss

    def forward_with_cfg(
        self, ids: torch.Tensor, cond: Condition, cfg_scale: float, **kwargs
    ) -> torch.Tensor:
        """Guided logits [B, N, vocab]: conditional and null halves run in ONE batch of 2B rows."""
        batch = ids.shape[0]
        null = torch.cat([torch.zeros(batch, dtype=torch.bool), torch.ones(batch, dtype=torch.bool)])
        doubled_cond = torch.cat([torch.as_tensor(cond)] * 2) if self.class_cond is not None else list(cond) * 2
        logits, _ = self.forward(torch.cat([ids, ids]), doubled_cond, null=null, **kwargs)
        return apply_cfg(logits[:batch], logits[batch:], cfg_scale)

    def training_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch: {"tokens": [B, T', K] ids, "label": [B] or "caption": list[str]} -> {"loss", "accuracy"}.

        Tokens beyond ``config.tokens_per_frame`` per frame are dropped (the tokens are coarse-to-fine, so the
        prefix is a valid shorter code). In training mode each condition is replaced by the null one with
        probability ``cond_dropout``; a missing label (-1) or caption ("") is always the null one.
        """
        tokens = batch["tokens"]
        if tokens.dim() != 3:
            raise TokenError(f"batch['tokens'] must have shape [B, T', K], got {tuple(tokens.shape)}")
        tokens = tokens[:, :, : self.config.tokens_per_frame].to(self.start.device)
        key = "label" if self.class_cond is not None else "caption"
        if key not in batch:
            raise ConfigError(f"a {self.config.conditioning}-conditioned generator needs batch['{key}']")
        cond = batch[key]
        null = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        if self.training and self.config.cond_dropout > 0:
            null = torch.rand(tokens.shape[0], device=tokens.device) < self.config.cond_dropout
        logits, loss = self.forward(tokens, cond, targets=tokens, null=null)
        accuracy = (logits.argmax(-1) == ordering.to_sequence(tokens, self.config.order)).float().mean()
        return {"loss": loss, "accuracy": accuracy.detach()}

    # ------------------------------------------------------------------------------------------------
    # sampling

    def validate_condition(self, cond: Condition) -> None:
        """Raise ConfigError (one sentence) for an unknown class id, an empty prompt or the wrong kind."""
        if self.class_cond is not None:
            if isinstance(cond, str) or (isinstance(cond, (list, tuple)) and any(isinstance(c, str) for c in cond)):
                raise ConfigError("this is a class-to-video model; give class ids, not text prompts")
            labels = torch.as_tensor(cond).reshape(-1)
            if labels.is_floating_point() or labels.dtype == torch.bool:
                raise ConfigError("class ids must be integers")
            bad = labels[(labels < 0) | (labels >= self.config.num_classes)]
            if bad.numel():
                raise ConfigError(
                    f"unknown class id {int(bad[0])}; this model knows classes 0 to {self.config.num_classes - 1}"
                )
        elif isinstance(cond, str) or not all(isinstance(c, str) for c in cond):
            raise ConfigError("this is a text-to-video model; give a list of text prompts, not class ids")
        elif any(not c.strip() for c in cond):
            raise ConfigError("the text prompt is empty; give a non-empty prompt")
        if len(cond) == 0:
            raise ConfigError("give at least one class id or prompt to generate from")

    @torch.no_grad()
    def generate(
        self,
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
        """Sample token grids, one per condition.

        cond: class ids (list or LongTensor [B]) or B prompts. Returns ``tokens [B, T', k]`` (LongTensor,
        k = ``tokens_per_frame``, default the trained K) or, with ``return_logits``, ``(tokens, logits)``
        where ``logits [B, T'*k, vocab]`` are the guided logits each token was drawn from (before
        temperature/top-k/top-p). CFG runs the conditional and null halves in one batch of 2B rows.
        """
        self.validate_condition(cond)
        k = tokens_per_frame if tokens_per_frame is not None else self.config.tokens_per_frame
        self.check_budget(check_int("latent frames", num_frames_latent), check_int("tokens per frame", k))
        check_sampling(temperature, top_k, top_p, cfg_scale)
        batch = len(cond)
        guided = cfg_scale != 1.0
        enc = self.encode_condition(cond)
        if guided:
            enc = self._concat(enc, self.null_condition(batch))
        rows = 2 * batch if guided else batch
        device = self.start.device
        cells = ordering.positions(self.config.order, num_frames_latent, k, device=device)
        n = cells.shape[0]
        seq = torch.empty(rows, n, dtype=torch.long, device=device)
        caches = context_kv = None
        if use_kv_cache:
            dtype = self.start.dtype
            if torch.is_autocast_enabled(device.type):  # keys/values come out of autocast matmuls
                dtype = torch.get_autocast_dtype(device.type)
            c = self.config
            caches = [KVCache(rows, c.heads, c.head_dim, n, device, dtype) for _ in self.blocks]
            if enc[0] == "text":
                context_kv = [block.cross.context_kv(enc[1][0]) for block in self.blocks]
        all_logits = []
        cos, sin = self.rope.cos_sin(cells)  # tables for the whole run, sliced per step
        cell_emb = self._cell_embedding(cells)
        with row_major_weights(self):  # one row per step: [in, out] weight copies multiply faster on CPU
            for i in range(n):
                if use_kv_cache:
                    prev = seq[:, max(i - 1, 0) : i]  # the token drawn last (none before the first)
                    x = self._inputs(prev, cells[i : i + 1], enc, first=i == 0, cell_emb=cell_emb[i : i + 1])
                    logits = self._run(
                        x, cells[i : i + 1], enc, caches=caches, context_kv=context_kv, last_only=True,
                        cos_sin=(cos[i : i + 1], sin[i : i + 1]),
                    )[:, -1]
                else:
                    x = self._inputs(seq[:, :i], cells[: i + 1], enc, first=True, cell_emb=cell_emb[: i + 1])
                    logits = self._run(
                        x, cells[: i + 1], enc, last_only=True, cos_sin=(cos[: i + 1], sin[: i + 1])
                    )[:, -1]
                if guided:
                    logits = apply_cfg(logits[:batch], logits[batch:], cfg_scale)
                nxt = sample(logits, temperature, top_k, top_p, generator)
                if return_logits:
                    all_logits.append(logits)
                seq[:, i] = torch.cat([nxt, nxt]) if guided else nxt  # both CFG halves continue with the same token
        tokens = ordering.from_sequence(seq[:batch], self.config.order, num_frames_latent)
        if return_logits:
            return tokens, torch.stack(all_logits, dim=1)
        return tokens


def preset_config(name: str, overrides: list[str] | tuple[str, ...] = ()) -> GeneratorConfig:
    """The GeneratorConfig of preset ``name`` (its ``model:`` section) with overrides like ``depth=4``."""
    data = load_yaml(preset_path("generator", name))
    model = data.get("model", {})
    if overrides:
        items = [o[len("model.") :] if o.startswith("model.") else o for o in overrides]
        model = merge(model, parse_overrides(items))
    return from_dict(GeneratorConfig, model, where="model.")
