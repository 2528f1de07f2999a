"""Training the causal video VAE with the shared engine: run config (model + data + train), validation, ``run``.

    videoflextok train vae --preset tiny --out runs/vae-tiny [train.steps=400 ...]

Validation (every ``train.val_every`` steps, EMA weights when EMA is on) on a fixed batch of
``train.val_batch_size`` clips (held-out split for the synthetic datasets): ``psnr`` (dB, pixels in [0, 1])
and ``l1`` of ``decode(encode(video))``, and a sample video ``samples/step_<step>.mp4`` (original | recon).
The trained folder loads with ``VideoVAE.from_pretrained(run_dir)`` and plugs into a tokenizer config as
``compressor.kind=vae compressor.path=<run_dir or checkpoint>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from einops import rearrange

from videoflextok.data import DataConfig, build_dataset
from videoflextok.errors import ConfigError
from videoflextok.eval.metrics import psnr
from videoflextok.train.config import TrainConfig
from videoflextok.train.launch import launch
from videoflextok.train.launch import load_run_config as _load_run_config
from videoflextok.train.tokenizer_task import validation_batch
from videoflextok.vae.config import VAEConfig
from videoflextok.vae.model import VideoVAE


@dataclass
class VAERunConfig:
    """A complete VAE training run: the files ``configs/vae/*.yaml`` hold exactly these three sections."""

    model: VAEConfig = field(default_factory=VAEConfig)  # the VAE to build
    data: DataConfig = field(default_factory=DataConfig)  # the clips it trains on
    train: TrainConfig = field(default_factory=TrainConfig)  # optimizer, schedule, logging, checkpoints

    def __post_init__(self) -> None:
        f_t, f_s = self.model.temporal_factor, self.model.spatial_factor
        if (self.data.num_frames - 1) % f_t:
            raise ConfigError(f"data.num_frames must be 1 + {f_t}n for this VAE, got {self.data.num_frames}")
        if self.data.resolution % f_s:
            raise ConfigError(f"data.resolution must be a multiple of {f_s} for this VAE, got {self.data.resolution}")
        if self.data.latents:
            raise ConfigError("data.latents (cached latents) trains tokenizers; a VAE trains on the clips themselves")


def load_run_config(
    preset: str | None, overrides: list[str], run_dir: Path | None = None, config_file: Path | None = None
) -> VAERunConfig:
    """``run_dir/run_config.yaml`` when resuming, else the YAML ``config_file``, else preset ``preset`` (default
    tiny); then the dotted overrides (``model.kl_weight=1e-5 train.steps=400``)."""
    return _load_run_config(VAERunConfig, "vae", preset, overrides, run_dir, config_file)


class VAEValidator:
    """Callable ``(model, step, out_dir) -> metrics`` for :class:`videoflextok.train.loop.Trainer`."""

    def __init__(self, video: torch.Tensor, cfg: TrainConfig, fps: float = 8.0) -> None:
        self.video = video  # [B, 3, T, H, W] in [-1, 1], the fixed validation batch
        self.cfg = cfg
        self.fps = fps

    @torch.no_grad()
    def __call__(self, model: VideoVAE, step: int, out_dir: Path | None) -> dict[str, float]:
        device = next(model.parameters()).device
        video = self.video.to(device)
        recon = model.decode(model.encode(video)).clamp(-1, 1)
        metrics = {"psnr": float(psnr(recon, video).mean()), "l1": float((recon - video).abs().mean())}
        if out_dir is not None and self.cfg.sample_video:
            from videoflextok.data.video_io import write_video

            n = min(4, video.shape[0])
            grid = rearrange(torch.stack([video[:n], recon[:n]]).cpu(), "p n c t h w -> c t (n h) (p w)")
            path = out_dir / "samples" / f"step_{step:08d}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_video(path, grid, fps=self.fps)
        return metrics


def run(run_cfg: VAERunConfig, out: Path, resume: bool = False, dist_info=None):
    """Train a VAE into ``out``; returns the :class:`videoflextok.train.loop.TrainResult`."""
    return launch(
        run_cfg, out, resume=resume, dist_info=dist_info,
        build_model=lambda: VideoVAE(run_cfg.model),
        build_train_set=lambda: build_dataset(run_cfg.data, split=run_cfg.data.split),
        build_validator=lambda: VAEValidator(validation_batch(run_cfg), run_cfg.train),
        describe=lambda model: f"vae: {model.num_params() / 1e6:.2f}M parameters (encoder + decoder)",
        prepare=lambda batch: batch["video"],
    )  # fmt: skip


__all__ = ["VAERunConfig", "VAEValidator", "load_run_config", "run"]
