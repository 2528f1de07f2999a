"""VideoFlexTok: video -> coarse-to-fine token ids per latent frame -> (any prefix of them) -> video.

Stages: compressor (frozen) -> patches -> register encoder (time-block-causal-last) -> FSQ ids ->
nested dropout / keep_k -> rectified-flow decoder (time-block-causal, adaLN-Zero) -> Euler sampler with
guidance -> compressor.decode. Long videos are handled chunk by chunk (see :mod:`.chunking`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch
from torch import nn

from videoflextok.checkpoint import load_pretrained, save_pretrained
from videoflextok.compressors.base import build_compressor, check_compressor
from videoflextok.config import model_preset
from videoflextok.errors import ConfigError
from videoflextok.flow import Guidance, add_noise, euler_sample, guided_velocity, sample_times, velocity_target
from videoflextok.tokenizer.chunking import (
    check_video,
    chunk_row_spans,
    encode_in_pieces,
    merge_chunk_tokens,
    split_chunks,
)
from videoflextok.tokenizer.config import TokenizerConfig
from videoflextok.tokenizer.decoder import FlowDecoder
from videoflextok.tokenizer.encoder import RegisterEncoder
from videoflextok.tokenizer.nested_dropout import sample_keep_k
from videoflextok.tokenizer.official import is_official, load_official, local_path
from videoflextok.tokenizer.patches import patchify, unpatchify
from videoflextok.tokenizer.repa import RepaHead, repa_loss, target_features
from videoflextok.tokenizer.streaming import Streaming
from videoflextok.tokenizer.tokens import check_tokens, decode_options

POSTERIORS = ("mean", "sample")  # how video is turned into compressor latents (see VideoFlexTok.encode_latents)


def _pin_first_frame(x: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """x [B, C, T, h, w] with latent frame 0 replaced by ``first`` [B, C, 1, h, w]."""
    return torch.cat([first, x[:, :, 1:]], dim=2)


class VideoFlexTok(Streaming, nn.Module):
    """The tokenizer. ``VideoFlexTok(config)`` or ``VideoFlexTok.from_preset("tiny")``.

    ``compressor`` (optional) replaces the one built from ``config.compressor`` (e.g. a trained VAE); it must
    have the config's factors and channels. It stays frozen and in eval mode.
    """

    def __init__(self, config: TokenizerConfig, compressor: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.compressor = compressor if compressor is not None else build_compressor(config.compressor)
        check_compressor(self.compressor, config.compressor)
        self.compressor.requires_grad_(False)
        self.compressor.eval()
        self.encoder = RegisterEncoder(config)
        self.decoder = FlowDecoder(config)
        self.repa_head = RepaHead(config.decoder_dim, config.repa_feature_dim) if config.repa_feature_dim else None
        self._repa_network: tuple[nn.Module, ...] = ()  # kept out of the state dict and of .parameters()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, overrides: Sequence[str] = ()) -> VideoFlexTok:
        """Build from the ``model:`` section of ``configs/tokenizer/<name>.yaml`` with dotted overrides.

        Overrides name model fields, with or without a ``model.`` prefix: ``K=8`` or ``model.K=8``.
        """
        return cls(preset_config(name, overrides))

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        use_ema: bool = True,
        device: str | torch.device = "cpu",
        resolution: int | None = None,
    ) -> VideoFlexTok:
        """Load a tokenizer: one of our checkpoint folders (or a training run folder: its latest checkpoint; EMA
        weights by default), a released checkpoint (a Hub folder or the single ``.safetensors`` file of the official
        code, converted on the fly), or a Hub id such as ``"EPFL-VILAB/videoflextok_d18_d18_k600"`` when the optional
        ``huggingface_hub`` package is installed (that one call downloads; nothing else in this package does).

        resolution: the frame side to build the model for; the default is the checkpoint's own (for a released
        single file, the largest side its position tables cover). Only models with per-axis position tables
        (``posemb: axial``, as the released ones) can change it.
        """
        path = local_path(source)
        if is_official(path):
            return load_official(path, resolution=resolution, device=device)
        model = load_pretrained(cls, path, use_ema=use_ema, device=device)
        return model if resolution is None else model.at_resolution(resolution)

    def at_resolution(self, resolution: int) -> VideoFlexTok:
        """This tokenizer for ``resolution`` px frames, with the same weights (itself when it already is); only
        per-axis position tables (``posemb: axial``) allow another size."""
        if resolution == self.config.resolution:
            return self
        if self.config.posemb != "axial":
            raise ConfigError(f"this tokenizer is fixed to {self.config.resolution} px (posemb 'table')")
        resized = type(self)(dataclasses.replace(self.config, resolution=resolution))
        resized.load_state_dict(self.state_dict())
        return resized.to(self.device).train(self.training)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` to ``folder`` atomically."""
        return save_pretrained(self, folder)

    def train(self, mode: bool = True) -> VideoFlexTok:
        super().train(mode)
        self.compressor.eval()  # frozen, always in eval mode
        return self

    def attach_repa(self, network: nn.Module) -> None:
        """Use ``network`` (video [B, 3, T, H, W] -> features [B, F, T', H', W'], F = repa_feature_dim) for REPA.

        The network is frozen and not saved with the model; move it to the model's device yourself.
        """
        if self.repa_head is None:
            raise ConfigError("set repa_feature_dim > 0 in the config to use a REPA feature network")
        network.requires_grad_(False)
        network.eval()
        self._repa_network = (network,)

    def num_params(self, exclude_adaln: bool = True) -> int:
        """Parameters of encoder + decoder (+ REPA head); never the compressor; adaLN modulation optional."""
        total = 0
        for name, param in self.named_parameters():
            if name.startswith("compressor."):
                continue
            if exclude_adaln and ".adaln." in name:
                continue
            total += param.numel()
        return total

    @property
    def device(self) -> torch.device:
        return self.decoder.code_in.weight.device

    # ------------------------------------------------------------------ latents
    def encode_latents(self, video: torch.Tensor, posterior: str = "mean") -> torch.Tensor:
        """video [B, 3, F, H, W] (one chunk each) -> compressor latents [B, C, T', h, w] in fp32, no gradients.

        posterior "mean": the compressor's deterministic code (a VAE's posterior mean); "sample": for a VAE, the
        posterior sample mean + std * eps with eps drawn from the global RNG on the CPU, as the released code draws
        it (so ``torch.manual_seed`` reproduces its tokens); a deterministic compressor returns its code either way.
        """
        if posterior not in POSTERIORS:
            raise ConfigError(f"posterior must be one of {', '.join(POSTERIORS)}, got {posterior!r}")
        dist = getattr(self.compressor, "posterior", None)
        with torch.no_grad():
            if posterior == "sample" and dist is not None:
                mean, std = encode_in_pieces(dist, video)
                eps = torch.randn(mean.shape)  # drawn for the whole batch: the same numbers as one call
                return mean.float() + std.float() * eps.to(mean.device)
            return encode_in_pieces(self._code, video)[0]

    def _code(self, video: torch.Tensor) -> tuple[torch.Tensor]:
        """The compressor's deterministic code of video, fp32 (a distribution object gives its mean)."""
        latent = self.compressor.encode(video)
        if not isinstance(latent, torch.Tensor):
            latent = latent.mean
        return (latent.float(),)

    def _decode_latents(self, latent: torch.Tensor) -> torch.Tensor:
        """latents [B, C, T', h, w] -> video [B, 3, F, H, W] (not clamped)."""
        return self.compressor.decode(latent)

    def velocity(self, x: torch.Tensor, s: torch.Tensor, registers: torch.Tensor) -> torch.Tensor:
        """The decoder's velocity estimate: x [B, T, N, patch_dim] at flow times s [B, T] -> v, same shape as x."""
        return self.velocity_with_hidden(x, s, registers, None)[0]

    def velocity_with_hidden(
        self, x: torch.Tensor, s: torch.Tensor, registers: torch.Tensor, layer: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`velocity` and the decoder's patch states after block ``layer`` (None: not kept).

        With ``prediction: x`` the decoder predicts the clean latent x_hat and v = (x - x_hat) / max(s, s_min):
        the network then never has to carry the noise through its width (useful when patch_dim > width).
        """
        pred, hidden = self.decoder.forward_with_hidden(x, s, registers, layer)
        if self.config.prediction == "x":
            denom = s.clamp_min(self.config.x_pred_min_time)[:, :, None, None]
            pred = (x.float() - pred.float()) / denom
        return pred, hidden

    def latent_velocity(self, x: torch.Tensor, s: torch.Tensor, registers: torch.Tensor, prefix: bool) -> torch.Tensor:
        """The velocity in the latent layout: x [B, C, T, h, w] at flow time s [B] -> fp32, same shape as x.

        prefix: latent frame 0 is a clean prefix; with ``prefix_time: own`` the decoder sees time 0 there.
        """
        cfg = self.config
        t = x.shape[2]
        s_frames = s[:, None].expand(-1, t)
        if prefix and cfg.prefix_time == "own":
            s_frames = torch.where(torch.arange(t, device=s.device) == 0, 0.0, s_frames)
        v = self.velocity(patchify(x, cfg.patch_size), s_frames, registers)
        return unpatchify(v.float(), cfg.patch_size, cfg.latent_size // cfg.patch_size)

    # ------------------------------------------------------------------ tokenize
    @torch.no_grad()
    def tokenize(
        self,
        video: torch.Tensor,
        posterior: str = "mean",
        target_psnr: float | None = None,
        db_per_token: float | None = None,
    ) -> list[torch.Tensor]:
        """video: [B, 3, T, H, W] in [-1, 1] -> list of B LongTensor [T', K], T' = 1 + (T - 1) / 4.

        posterior: "mean" (deterministic, the default) or "sample" (see :meth:`encode_latents`).
        target_psnr / db_per_token (:mod:`.adaptive`): keep the first k_b tokens of every row of video b, the smallest
        k_b whose estimated PSNR reaches target_psnr dB, or the k_b past which one more token per latent frame buys
        less than db_per_token dB (the rate-distortion cut); the rows are then [T', k_b].
        """
        check_video(video, self.config)
        budget = target_psnr is not None or db_per_token is not None
        if budget:  # imported only when a budget is asked for
            from videoflextok.tokenizer import adaptive

            adaptive.check_criterion(target_psnr, db_per_token)
        chunks = split_chunks(video.to(self.device), self.config)
        latent = self.encode_latents(chunks, posterior)
        _, ids = self.encoder(patchify(latent, self.config.patch_size))
        tokens = list(merge_chunk_tokens(ids, video.shape[0]).unbind(0))
        if budget:
            return adaptive.cut_to_budget(self, video, tokens, target_psnr, db_per_token)
        return tokens

    # ------------------------------------------------------------------ detokenize
    @torch.no_grad()
    def detokenize(
        self,
        tokens: Sequence[torch.Tensor],
        keep_k: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
        guidance_mode: str | None = None,
        noise: torch.Tensor | None = None,
        posterior: str = "mean",
    ) -> torch.Tensor:
        """tokens: list of B LongTensor [T', k] (k <= K, a truncated prefix) -> video [B, 3, T, H, W] in [-1, 1].

        keep_k: use only the first keep_k tokens of each latent frame (same as truncating the tensors).
        steps / guidance / guidance_mode: Euler steps, guidance scale and "cfg" | "apg" (config defaults).
        noise: the first chunk's initial noise in the latent layout [B, C, T'_0, h, w] (T'_0: its latent frames);
        otherwise it is drawn like every later chunk's: ``torch.randn((1, C, T'_c, h, w), generator=generator)`` once
        per video (on the generator's device, then moved).
        posterior: how a later chunk's conditioning frame (the previous chunk's last decoded frame) is encoded,
        "mean" or "sample"; "sample" also makes the global-RNG draws the released code makes there, so its seeded
        outputs are reproduced.
        """
        cfg = self.config
        ids = check_tokens(tokens, cfg, keep_k)
        if keep_k is not None:
            ids = ids[:, :, :keep_k]
        steps, scale, mode = decode_options(cfg, steps, guidance, guidance_mode)
        if posterior not in POSTERIORS:
            raise ConfigError(f"posterior must be one of {', '.join(POSTERIORS)}, got {posterior!r}")
        ids = ids.to(self.device)
        b, rows, k = ids.shape
        spans = chunk_row_spans(rows, cfg)
        if noise is not None:
            self._check_noise(noise, b, spans[0][1])
        codes = self.encoder.fsq.ids_to_codes(ids)  # [B, T', k, D]
        codes = torch.cat([codes, codes.new_zeros(b, rows, cfg.K - k, codes.shape[-1])], dim=2)
        keep = torch.full((b,), k, dtype=torch.long, device=self.device)

        pieces, condition = [], None
        for index, (start, end) in enumerate(spans):
            prefix = None
            if condition is not None:  # frame 0 is the previous chunk's last frame, given as a clean latent
                prefix = torch.zeros(b, end - start, dtype=torch.bool, device=self.device)
                prefix[:, 0] = True
            registers = self.decoder.embed_registers(codes[:, start:end], keep, prefix=prefix)
            start_noise = noise if index == 0 and noise is not None else self._draw_noise(b, end - start, generator)
            guide = Guidance(scale, mode, cfg.apg_eta, cfg.apg_norm_threshold, cfg.apg_momentum)
            video = self._decode_latents(self._sample_chunk(registers, start_noise, condition, steps, guide))
            pieces.append(video if condition is None else video[:, :, 1:])
            if index + 1 < len(spans):
                condition = self._condition_latent(video[:, :, -1:], posterior)
        return torch.cat(pieces, dim=2).clamp(-1, 1)

    def _check_noise(self, noise: torch.Tensor, batch: int, frames: int) -> None:
        cfg = self.config
        want = (batch, cfg.compressor.channels, frames, cfg.latent_size, cfg.latent_size)
        if not isinstance(noise, torch.Tensor) or not noise.is_floating_point() or tuple(noise.shape) != want:
            got = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
            raise ConfigError(f"noise must be a float tensor {list(want)} (the first chunk's latents), got {got}")

    def _draw_noise(self, batch: int, frames: int, generator: torch.Generator | None) -> torch.Tensor:
        """Initial noise of one chunk [B, C, T', h, w]: one draw per video from ``generator``."""
        cfg = self.config
        shape = (1, cfg.compressor.channels, frames, cfg.latent_size, cfg.latent_size)
        device = generator.device if generator is not None else self.device
        draws = [torch.randn(shape, generator=generator, device=device) for _ in range(batch)]
        return torch.cat(draws).to(self.device)

    def _condition_latent(self, frame: torch.Tensor, posterior: str) -> torch.Tensor:
        """The clean latent [B, C, 1, h, w] that conditions the next chunk, from its first frame [B, 3, 1, H, W].

        The released pipeline (compressor "vidtok") encodes the decoded frame as it is; our own compressors take it
        clamped to [-1, 1], the range they are trained on. With posterior "sample" the released code first
        re-tokenizes the frame (one posterior draw and one Bernoulli draw per video in its quantizer; the tokens are
        then masked out) and encodes it again: those draws are made here too, so the global RNG stays in step with it.
        """
        if self.config.compressor.kind != "vidtok":
            frame = frame.clamp(-1, 1)
        if posterior == "sample" and getattr(self.compressor, "posterior", None) is not None:
            mean, _ = self.compressor.posterior(frame)
            torch.randn(mean.shape)
            for _ in range(frame.shape[0]):
                torch.bernoulli(torch.zeros(1, device=self.device))
        return self.encode_latents(frame, posterior)

    def _sample_chunk(
        self,
        registers: torch.Tensor,
        noise: torch.Tensor,
        condition: torch.Tensor | None,
        steps: int,
        guide: Guidance,
    ) -> torch.Tensor:
        """Euler-sample one chunk's latents [B, C, T, h, w] from ``noise`` (same shape) given the register
        conditioning [B, T, K, d]; ``condition``: an optional clean latent of frame 0 [B, C, 1, h, w], kept fixed."""
        b, t = registers.shape[:2]
        model = partial(self.latent_velocity, prefix=condition is not None)
        velocity = partial(
            guided_velocity, model, cond=registers, null=self.decoder.null_conditioning(b, t), guidance=guide
        )
        clamp = None if condition is None else partial(_pin_first_frame, first=condition.float())
        return euler_sample(velocity, noise.to(self.device), steps, shift=self.config.time_shift, clamp=clamp)

    # ------------------------------------------------------------------ training
    def training_losses(self, batch: torch.Tensor | dict) -> dict[str, torch.Tensor]:
        """Rectified-flow loss of the decoder given the encoder's (nested-dropped) tokens, plus REPA if attached.

        batch: video [B, 3, T, H, W] in [-1, 1], or a dict with "video" (same) or "latent" (cached compressor
        latents [B, C, T', h, w] of one chunk). Returns scalar tensors: "loss", "flow", "repa" (0 when off),
        "keep_k" (mean kept tokens). In eval mode nested dropout, CFG dropout and the clean prefix are off.
        """
        cfg = self.config
        video = batch.get("video") if isinstance(batch, dict) else batch
        latent = batch.get("latent") if isinstance(batch, dict) else None
        if latent is not None:
            x0 = patchify(latent.to(self.device).float(), cfg.patch_size)
            chunks = None
        else:
            check_video(video, cfg)
            chunks = split_chunks(video.to(self.device), cfg)
            x0 = patchify(self.encode_latents(chunks), cfg.patch_size)
        b, t = x0.shape[:2]
        dev = x0.device

        codes, _ = self.encoder(x0)
        train = self.training  # eval mode: all K tokens, no null registers, no clean prefix (a stable val loss)
        if cfg.nested_dropout and train:
            keep = sample_keep_k(b, cfg.K, dev, mode=cfg.keep_k_sampling)
        else:
            keep = torch.full((b,), cfg.K, device=dev)
        drop_all = (torch.rand(b, device=dev) < cfg.cfg_dropout) & train
        has_prefix = (torch.rand(b, device=dev) < cfg.clean_prefix_prob) & (t > 1) & train
        first = torch.arange(t, device=dev)[None, :] == 0
        prefix_frames = has_prefix[:, None] & first  # [B, T]
        cond = self.decoder.embed_registers(codes, keep, null=drop_all[:, None].expand(b, t), prefix=prefix_frames)

        s = sample_times((b, 1), cfg.time_mean, cfg.time_std, cfg.time_shift, device=dev).expand(b, t)
        s_prefix = torch.rand(b, 1, device=dev) * cfg.clean_prefix_max_noise
        s_noise = torch.where(prefix_frames, s_prefix, s)  # the noise level of each frame
        s = s_noise if cfg.prefix_time == "own" else s  # the time the decoder is told
        eps = torch.randn_like(x0)
        x_s = add_noise(x0, eps, s_noise[:, :, None, None])
        target = velocity_target(x0, eps)

        use_repa = self.repa_head is not None and bool(self._repa_network)
        if use_repa and chunks is None:
            raise ConfigError("REPA needs the video frames, but this batch holds cached latents; train on videos")
        pred, hidden = self.velocity_with_hidden(x_s, s, cond, cfg.repa_layer if use_repa else None)
        weight = (~prefix_frames).float()  # the clean prefix is not in the loss
        per_frame = (pred.float() - target).pow(2).mean(dim=(2, 3))  # [B, T]
        if cfg.flow_loss == "x":  # (v_hat - v)^2 * s^2 = (x_hat - x0)^2: every noise level weighs the same
            per_frame = per_frame * s.clamp_min(cfg.x_pred_min_time).pow(2)
        flow = (per_frame * weight).sum() / weight.sum().clamp_min(1.0)
        repa = torch.zeros((), device=dev)
        if use_repa:
            feats = target_features(self._repa_network[0], chunks, t, cfg.latent_size // cfg.patch_size)
            repa = repa_loss(self.repa_head(hidden), feats, weight)
        loss = flow + cfg.repa_weight * repa if use_repa else flow
        return {"loss": loss, "flow": flow.detach(), "repa": repa.detach(), "keep_k": keep.float().mean()}


def preset_config(name: str, overrides: Sequence[str] = ()) -> TokenizerConfig:
    """The TokenizerConfig of preset ``name`` (its ``model:`` section) with dotted overrides applied."""
    return model_preset(TokenizerConfig, "tokenizer", name, tuple(overrides))
