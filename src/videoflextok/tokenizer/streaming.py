"""Streaming tokenizer: token rows while frames arrive, frames while token rows arrive, in memory bounded by one chunk.

```python
enc = model.stream_encoder()
rows = enc.push(video[:, :, :1]) + enc.push(video[:, :, 1:10]) + enc.push(video[:, :, 10:])  # list of [K]
assert torch.equal(torch.stack(rows), model.tokenize(video)[0])
dec = model.stream_decoder(generator=torch.Generator().manual_seed(0))
frames = torch.cat([dec.push(rows[:3]), dec.push(rows[3:])], dim=2)  # [1, 3, T, H, W]
```

Encoder: frame 0 completes latent frame 0, then every ``temporal_factor`` frames one more. Each latent frame goes
through the chunk's compressor stream (:mod:`.compressor_stream`) and then through the register encoder with a KV
cache holding the chunk's earlier latent frames (the encoder mask lets frame t see only frames <= t). At a chunk
boundary the shared frame starts the next chunk's streams and its token row is dropped, as in ``tokenize``; the
caches of the finished chunk are let go, so memory does not grow with the video.

Decoder: the flow decoder is time-block-causal, so latent frame t of a chunk is sampled from the rows <= t with the
chunk's noise, re-running the Euler steps over the chunk's rows so far (the decoded frames before it come out the
same). APG guidance (its norms span the whole chunk) is not causal: with it a chunk's frames come out when its last
row arrives. Either way the output equals ``detokenize`` with the same generator for videos of 1 + 16n frames (a
shorter video draws smaller noise there); token rows may carry different numbers of tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange

from videoflextok.errors import TokenError, VideoShapeError
from videoflextok.flow import Guidance
from videoflextok.nn.attention import KVCache
from videoflextok.nn.masks import time_block_causal_last_mask
from videoflextok.tokenizer.compressor_stream import check_streamable, decode_stream, encode_stream
from videoflextok.tokenizer.patches import patchify
from videoflextok.tokenizer.trunk import patch_positions


class _EncoderChunk:
    """The register encoder over one chunk, one latent frame at a time, with a KV cache per block."""

    def __init__(self, model) -> None:
        cfg, enc = model.config, model.encoder
        self.cfg, self.enc = cfg, enc
        self.compressor = encode_stream(model.compressor)
        tokens = cfg.chunk_latent_frames * (cfg.num_patches + cfg.K)
        dtype = enc.patch_embed.weight.dtype
        self.caches = [
            KVCache(1, b.attn.num_heads, b.attn.head_dim, tokens, model.device, dtype) for b in enc.transformer.blocks
        ]
        self.frames = 0  # latent frames encoded so far

    def push(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """frames [1, 3, t, H, W] completing latent frames of this chunk -> their ids, a list of LongTensor [K]."""
        latent = self.compressor.push(frames).float()
        return [self._encode(patchify(latent[:, :, i : i + 1], self.cfg.patch_size)) for i in range(latent.shape[2])]

    def _encode(self, patches: torch.Tensor) -> torch.Tensor:
        """patches [1, 1, N, patch_dim] of the next latent frame -> ids [K] (as ``RegisterEncoder.features``)."""
        cfg, enc, t = self.cfg, self.enc, self.frames
        n = patches.shape[2]
        x = enc.patch_embed(patches) + patch_positions(enc, cfg, t + 1)[t : t + 1]
        registers = enc.initial_registers(1, t + 1)[:, t : t + 1]
        if enc.mix is not None:
            registers = registers + torch.einsum("kn,btnd->btkd", enc.mix.to(x.dtype), x)
        h = rearrange(torch.cat([x, registers.to(x.dtype)], dim=2), "b t n d -> b (t n) d")
        own = time_block_causal_last_mask(1, n, cfg.K, h.device)
        mask = torch.cat([own.new_ones(own.shape[0], t * own.shape[1]), own], dim=1)
        for block, cache in zip(enc.transformer.blocks, self.caches):
            h = h + block.attn(block.norm1(h), mask=mask, cache=cache)
            h = h + block.mlp(block.norm2(h))
        _, ids = enc.quantize(enc.transformer.norm(h)[:, None, n:])
        self.frames += 1
        return ids[0, 0]


class StreamEncoder:
    """``push(frames [1, 3, t, H, W] in [-1, 1]) -> list of LongTensor [K]``: the token rows of the latent frames
    the new frames complete (see the module docstring). Any t >= 0 per push; no limit on the video's length. The
    compressor gives its deterministic code (``tokenize``'s default posterior "mean")."""

    def __init__(self, model) -> None:
        check_streamable(model.compressor)
        self.model = model
        self.chunk: _EncoderChunk | None = None
        self.pending: torch.Tensor | None = None  # frames after the last complete latent frame, [1, 3, < tf, H, W]

    @torch.no_grad()
    def push(self, frames: torch.Tensor) -> list[torch.Tensor]:
        cfg = self.model.config
        self._check(frames)
        frames = frames.to(self.model.device)
        rows: list[torch.Tensor] = []
        if frames.shape[2] and self.chunk is None:  # frame 0 alone is latent frame 0
            self.chunk = _EncoderChunk(self.model)
            rows += self.chunk.push(frames[:, :, :1])
            frames = frames[:, :, 1:]
        if self.pending is not None:
            frames = torch.cat([self.pending, frames], dim=2)
        tf = cfg.compressor.temporal_factor
        while frames.shape[2] >= tf:
            group, frames = frames[:, :, :tf], frames[:, :, tf:]
            rows += self.chunk.push(group)
            if self.chunk.frames == cfg.chunk_latent_frames:  # the last frame also opens the next chunk
                self.chunk = _EncoderChunk(self.model)
                self.chunk.push(group[:, :, -1:])  # the shared frame: its row belongs to the previous chunk
        self.pending = frames if frames.shape[2] else None
        return [row.cpu() for row in rows]

    def _check(self, frames: torch.Tensor) -> None:
        res = self.model.config.resolution
        if not isinstance(frames, torch.Tensor) or not frames.is_floating_point() or frames.ndim != 5:
            raise VideoShapeError("frames must be a float tensor [1, 3, t, H, W] with values in [-1, 1]")
        if frames.shape[0] != 1 or frames.shape[1] != 3 or tuple(frames.shape[3:]) != (res, res):
            raise VideoShapeError(f"frames must have shape [1, 3, t, {res}, {res}], got {tuple(frames.shape)}")


class StreamDecoder:
    """``push(rows) -> frames [1, 3, f, H, W]`` in [-1, 1]: the frames the new token rows let the decoder finish.

    rows: LongTensor [t, k] or a sequence of LongTensor [k_i] (1 <= k_i <= K, one per latent frame). keep_k: use at
    most this many tokens of every row. steps / guidance / guidance_mode: as in ``detokenize``; generator: the
    noise source, drawn once per chunk like ``detokenize``; posterior: how a chunk's conditioning frame is encoded.
    """

    def __init__(
        self,
        model,
        keep_k: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        guidance_mode: str | None = None,
        generator: torch.Generator | None = None,
        posterior: str = "mean",
    ) -> None:
        cfg = model.config
        check_streamable(model.compressor)
        if keep_k is not None and not 1 <= keep_k <= cfg.K:
            raise TokenError(f"keep_k must be between 1 and {cfg.K}, got {keep_k}")
        self.model, self.keep_k, self.generator, self.posterior = model, keep_k, generator, posterior
        self.steps = cfg.sample_steps if steps is None else steps
        self.scale = cfg.guidance_scale if guidance is None else float(guidance)
        self.mode = guidance_mode or cfg.guidance_mode
        self.causal = self.mode == "cfg" or self.scale == 1.0  # APG normalises over the whole chunk
        self.codes = self.keep = self.noise = self.condition = self.stream = None
        self.sent = 0  # latent frames of the current chunk already turned into frames

    @torch.no_grad()
    def push(self, rows: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        cfg, out = self.model.config, []
        for ids in self._check(rows):
            self._append(ids)
            if self.codes.shape[1] == cfg.chunk_latent_frames:
                out.append(self._decode())
                self._next_chunk(out[-1][:, :, -1:])
        if self.causal and self.codes is not None and self.sent < self.codes.shape[1]:
            out.append(self._decode())  # rows of an unfinished chunk: causal, so later rows will not change them
        res = cfg.resolution
        return torch.cat(out, dim=2).clamp(-1, 1).cpu() if out else torch.zeros(1, 3, 0, res, res)

    @torch.no_grad()
    def flush(self) -> torch.Tensor:
        """The frames of rows pushed but not decoded yet (only APG guidance holds rows back), [1, 3, f, H, W]."""
        res = self.model.config.resolution
        if self.codes is None or self.sent == self.codes.shape[1]:
            return torch.zeros(1, 3, 0, res, res)
        return self._decode().clamp(-1, 1).cpu()

    def _append(self, ids: torch.Tensor) -> None:
        """Add one row of ids [k] to the current chunk (starting the first chunk when there is none)."""
        model, cfg = self.model, self.model.config
        if self.codes is None:  # the very first row
            self.noise = model._draw_noise(1, cfg.chunk_latent_frames, self.generator)
            self.stream = decode_stream(model.compressor)
            self.codes = torch.zeros(1, 0, cfg.K, len(cfg.fsq_levels), device=model.device)
            self.keep = torch.zeros(1, 0, dtype=torch.long, device=model.device)
        code = model.encoder.fsq.ids_to_codes(ids.to(model.device))
        code = torch.cat([code, code.new_zeros(cfg.K - code.shape[0], code.shape[1])])
        self.codes = torch.cat([self.codes, code[None, None]], dim=1)
        self.keep = torch.cat([self.keep, self.keep.new_full((1, 1), ids.shape[0])], dim=1)

    def _decode(self) -> torch.Tensor:
        """Sample the chunk's latent frames so far and return the frames of those not yet sent [1, 3, f, H, W]."""
        model, cfg = self.model, self.model.config
        rows = self.codes.shape[1]
        prefix = None
        if self.condition is not None:
            prefix = torch.arange(rows, device=model.device)[None] == 0
        registers = model.decoder.embed_registers(self.codes, self.keep, prefix=prefix)
        guide = Guidance(self.scale, self.mode, cfg.apg_eta, cfg.apg_norm_threshold, cfg.apg_momentum)
        latents = model._sample_chunk(registers, self.noise[:, :, :rows], self.condition, self.steps, guide)
        frames = self.stream.push(latents[:, :, self.sent :])
        self.sent = rows
        return frames

    def _next_chunk(self, last_frame: torch.Tensor) -> None:
        """Open the next chunk: its frame 0 is ``last_frame`` [1, 3, 1, H, W] given as a clean latent."""
        model, cfg = self.model, self.model.config
        self.condition = model._condition_latent(last_frame, self.posterior)
        self.noise = model._draw_noise(1, cfg.chunk_latent_frames, self.generator)
        self.stream = decode_stream(model.compressor)
        self.stream.push(self.condition)  # frame 0 was already sent by the previous chunk
        self.codes, self.keep, self.sent = self.codes[:, -1:].clone(), self.keep[:, -1:].clone(), 1

    def _check(self, rows: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The rows as a list of LongTensor [k] (cut to keep_k); TokenError on anything else."""
        cfg = self.model.config
        if isinstance(rows, torch.Tensor):
            if rows.ndim != 2:
                raise TokenError(f"token rows must be a LongTensor [t, k] or a list of LongTensor [k], got shape "
                                 f"{tuple(rows.shape)}")
            rows = list(rows)
        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, torch.Tensor) or row.ndim != 1 or row.is_floating_point() or row.is_complex() \
                    or row.dtype == torch.bool:
                raise TokenError(f"token row {i} must be an integer tensor [k]")
            if not 1 <= row.shape[0] <= cfg.K:
                raise TokenError(f"token row {i} has {row.shape[0]} tokens; this model takes 1 to {cfg.K}")
            if int(row.min()) < 0 or int(row.max()) >= cfg.vocab_size:
                raise TokenError(f"token ids must be in [0, {cfg.vocab_size}), row {i} holds {int(row.min())} to "
                                 f"{int(row.max())}")
            out.append(row.long()[: self.keep_k])
        return out


class Streaming:
    """The streaming entry points of :class:`~videoflextok.tokenizer.model.VideoFlexTok` (a base class of it)."""

    def stream_encoder(self) -> StreamEncoder:
        """A :class:`StreamEncoder`: ``push(frames [1, 3, t, H, W]) -> list of LongTensor [K]``."""
        return StreamEncoder(self)

    def stream_decoder(self, **options) -> StreamDecoder:
        """A :class:`StreamDecoder`: ``push(token rows) -> frames [1, 3, f, H, W]``; ``options`` are those of
        ``detokenize``: keep_k, steps, guidance, guidance_mode, generator, posterior."""
        return StreamDecoder(self, **options)
