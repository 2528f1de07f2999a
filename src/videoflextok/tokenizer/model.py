"""VideoFlexTok: video -> coarse-to-fine token ids per latent frame -> (any prefix of them) -> video.

Stages: compressor (frozen) -> patches -> register encoder (time-block-causal-last) -> FSQ ids ->
nested dropout / keep_k -> rectified-flow decoder (time-block-causal, adaLN-Zero) -> Euler sampler with
guidance -> compressor.decode. Long videos are handled chunk by chunk (see :mod:`.chunking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from videoflextok.checkpoint import load_pretrained, save_pretrained
from videoflextok.config import from_dict as config_from_dict
from videoflextok.config import load_yaml, merge, parse_overrides, preset_path
from videoflextok.flow import add_noise, euler_sample, guided_velocity, sample_times, velocity_target
from videoflextok.tokenizer.chunking import (
    check_video,
    chunk_row_spans,
    merge_chunk_tokens,
    split_chunks,
)
from videoflextok.tokenizer.compressor import build_compressor, check_compressor
from videoflextok.tokenizer.config import TokenizerConfig
from videoflextok.tokenizer.decoder import FlowDecoder
from videoflextok.tokenizer.encoder import RegisterEncoder
from videoflextok.tokenizer.nested_dropout import sample_keep_k
from videoflextok.tokenizer.patches import patchify, unpatchify
from videoflextok.tokenizer.repa import RepaHead, repa_loss, target_features
from videoflextok.tokenizer.tokens import check_tokens


class VideoFlexTok(nn.Module):
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
        cls, folder: str | Path, use_ema: bool = True, device: str | torch.device = "cpu"
    ) -> VideoFlexTok:
        """Load a checkpoint folder (or a training run folder: its latest checkpoint); EMA weights by default."""
        return load_pretrained(cls, folder, use_ema=use_ema, device=device)

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
            raise ValueError("set repa_feature_dim > 0 in the config to use a REPA feature network")
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
        return self.decoder.pos_space.device

    # ------------------------------------------------------------------ latents
    def _encode_latents(self, chunks: torch.Tensor) -> torch.Tensor:
        """chunks [B, 3, F, H, W] -> latent patches [B, Lc, N, patch_dim] (frozen compressor, no gradients)."""
        with torch.no_grad():
            latent = self.compressor.encode(chunks)
        if not isinstance(latent, torch.Tensor):  # a distribution object: use its mean
            latent = latent.mean
        return patchify(latent.float(), self.config.patch_size)

    def _decode_latents(self, patches: torch.Tensor) -> torch.Tensor:
        """latent patches [B, Lc, N, patch_dim] -> video [B, 3, F, H, W]."""
        cfg = self.config
        latent = unpatchify(patches, cfg.patch_size, cfg.latent_size // cfg.patch_size)
        return self.compressor.decode(latent).clamp(-1, 1)

    def velocity(
        self, x: torch.Tensor, s: torch.Tensor, registers: torch.Tensor, return_layer: int | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The decoder's velocity estimate: x [B, T, N, patch_dim] at flow times s [B, T] -> v, same shape as x.

        With ``prediction: x`` the decoder predicts the clean latent x_hat and v = (x - x_hat) / max(s, s_min):
        the network then never has to carry the noise through its width (useful when patch_dim > width).
        """
        out = self.decoder(x, s, registers, return_layer=return_layer)
        pred, hidden = out if return_layer is not None else (out, None)
        if self.config.prediction == "x":
            denom = s.clamp_min(self.config.x_pred_min_time)[:, :, None, None]
            pred = (x.float() - pred.float()) / denom
        return pred if return_layer is None else (pred, hidden)

    # ------------------------------------------------------------------ tokenize
    @torch.no_grad()
    def tokenize(self, video: torch.Tensor) -> list[torch.Tensor]:
        """video: [B, 3, T, H, W] in [-1, 1] -> list of B LongTensor [T', K], T' = 1 + (T - 1) / 4."""
        check_video(video, self.config)
        chunks = split_chunks(video.to(self.device), self.config)
        _, ids = self.encoder(self._encode_latents(chunks))
        return list(merge_chunk_tokens(ids, video.shape[0]).unbind(0))

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
    ) -> torch.Tensor:
        """tokens: list of B LongTensor [T', k] (k <= K; a truncated prefix is fine) -> video [B, 3, T, H, W].

        keep_k: use only the first keep_k tokens of each latent frame (same as truncating the tensors).
        steps / guidance / guidance_mode: Euler steps, guidance scale and "cfg" | "apg" (config defaults).
        generator: a torch.Generator for reproducible noise (noise is drawn on its device, then moved).
        """
        cfg = self.config
        ids = check_tokens(tokens, cfg, keep_k)
        if keep_k is not None:
            ids = ids[:, :, :keep_k]
        steps = cfg.sample_steps if steps is None else steps
        scale = cfg.guidance_scale if guidance is None else float(guidance)
        mode = guidance_mode or cfg.guidance_mode
        ids = ids.to(self.device)
        b, rows, k = ids.shape
        codes = self.encoder.fsq.ids_to_codes(ids)  # [B, T', k, D]
        codes = torch.cat([codes, codes.new_zeros(b, rows, cfg.K - k, codes.shape[-1])], dim=2)
        keep = torch.full((b,), k, dtype=torch.long, device=self.device)

        pieces, prefix = [], None
        for start, end in chunk_row_spans(rows, cfg):
            frames = end - start
            null = torch.zeros(b, frames, dtype=torch.bool, device=self.device)
            if prefix is not None:
                null[:, 0] = True  # the shared frame's tokens were dropped; it is given as a clean latent
            cond = self.decoder.embed_registers(codes[:, start:end], keep, null)
            latents = self._sample_chunk(cond, prefix, steps, scale, mode, generator)
            video = self._decode_latents(latents)
            pieces.append(video if prefix is None else video[:, :, 1:])
            prefix = self._encode_latents(video[:, :, -1:])  # [B, 1, N, patch_dim]
        return torch.cat(pieces, dim=2)

    def _sample_chunk(
        self,
        cond: torch.Tensor,
        prefix: torch.Tensor | None,
        steps: int,
        scale: float,
        mode: str,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Euler-sample one chunk's latent patches [B, T, N, patch_dim] given register conditioning [B, T, K, d].

        prefix: optional clean latent patches of frame 0 [B, 1, N, patch_dim], kept fixed at flow time 0.
        """
        cfg = self.config
        b, t = cond.shape[:2]
        null = self.decoder.null_conditioning(b, t)
        noise_device = generator.device if generator is not None else self.device
        noise = torch.randn(
            b, t, cfg.num_patches, cfg.patch_dim, device=noise_device, dtype=torch.float32, generator=generator
        ).to(self.device)
        is_prefix = torch.zeros(t, dtype=torch.bool, device=self.device)
        if prefix is not None:
            is_prefix[0] = True

        def model(x: torch.Tensor, s: torch.Tensor, regs: torch.Tensor) -> torch.Tensor:
            s_frames = torch.where(is_prefix, 0.0, s[:, None])  # [B', T]
            return self.velocity(x, s_frames, regs)

        def velocity(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            return guided_velocity(
                model, x, s, cond, null, scale, mode, apg_eta=cfg.apg_eta, apg_norm_threshold=cfg.apg_norm_threshold
            )

        clamp = None
        if prefix is not None:
            pinned = prefix.float()

            def clamp(x: torch.Tensor) -> torch.Tensor:
                return torch.cat([pinned, x[:, 1:]], dim=1)

        return euler_sample(velocity, noise, steps, shift=cfg.time_shift, clamp=clamp)

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
            x0 = self._encode_latents(chunks)
        b, t = x0.shape[:2]
        dev = x0.device

        codes, _ = self.encoder(x0)
        train = self.training  # eval mode: all K tokens, no null registers, no clean prefix (a stable val loss)
        if cfg.nested_dropout and train:
            keep = sample_keep_k(b, cfg.K, dev)
        else:
            keep = torch.full((b,), cfg.K, device=dev)
        drop_all = (torch.rand(b, device=dev) < cfg.cfg_dropout) & train
        has_prefix = (torch.rand(b, device=dev) < cfg.clean_prefix_prob) & (t > 1) & train
        first = torch.arange(t, device=dev)[None, :] == 0
        prefix_frames = has_prefix[:, None] & first  # [B, T]
        cond = self.decoder.embed_registers(codes, keep, drop_all[:, None] | prefix_frames)

        s = sample_times((b, 1), cfg.time_mean, cfg.time_std, cfg.time_shift, device=dev).expand(b, t)
        s_prefix = torch.rand(b, 1, device=dev) * cfg.clean_prefix_max_noise
        s = torch.where(prefix_frames, s_prefix, s)
        eps = torch.randn_like(x0)
        x_s = add_noise(x0, eps, s[:, :, None, None])
        target = velocity_target(x0, eps)

        use_repa = self.repa_head is not None and bool(self._repa_network) and chunks is not None
        out = self.velocity(x_s, s, cond, return_layer=cfg.repa_layer if use_repa else None)
        pred, hidden = out if use_repa else (out, None)
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
    data = load_yaml(preset_path("tokenizer", name)).get("model", {})
    if overrides:
        update = parse_overrides(list(overrides))
        if "model" in update and isinstance(update["model"], dict):
            update = merge({k: v for k, v in update.items() if k != "model"}, update["model"])
        data = merge(data, update)
    return config_from_dict(TokenizerConfig, data, where="model.")
