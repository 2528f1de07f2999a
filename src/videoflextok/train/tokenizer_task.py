"""Training the tokenizer: the run config (model + data + train), the validation pass, and ``run``.

Validation (every ``train.val_every`` steps, EMA weights when EMA is on) on a fixed batch of
``train.val_batch_size`` clips (held-out split for the synthetic datasets):
  - ``flow``: the rectified-flow training loss under a fixed seed;
  - ``psnr_k<k>``: PSNR (dB, pixels in [0, 1]) of ``detokenize(tokenize(video), keep_k=k)`` for each k in
    ``train.val_keep_k`` (-1 = all K), ``train.val_decode_steps`` Euler steps, fixed noise;
  - a sample video ``samples/step_<step>.mp4``: each row one clip, original | reconstruction at each k.

With ``data.latents`` (a ``cache-latents`` folder made by the VAE at ``model.compressor.path``) the training batches
are those cached latents instead of encoded clips; validation still reads the clips of ``data.dataset``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from einops import rearrange

from videoflextok.checkpoint import weights_fingerprint
from videoflextok.config import from_dict, merge, parse_overrides, to_dict
from videoflextok.data import DataConfig, build_dataset
from videoflextok.data.config import SYNTHETIC
from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.eval.metrics import psnr
from videoflextok.tokenizer.config import TokenizerConfig
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.repa import build_repa_network, check_repa_network
from videoflextok.train.config import TrainConfig
from videoflextok.train.launch import RUN_CONFIG_FILE, launch
from videoflextok.train.launch import load_run_config as _load_run_config
from videoflextok.vae.latent_cache import LatentCacheDataset


@dataclass
class TokenizerRunConfig:
    """A complete tokenizer training run: the preset YAML files hold exactly these three sections."""

    model: TokenizerConfig = field(default_factory=TokenizerConfig)  # the tokenizer to build
    data: DataConfig = field(default_factory=DataConfig)  # the clips it trains on
    train: TrainConfig = field(default_factory=TrainConfig)  # optimizer, schedule, logging, checkpoints

    def __post_init__(self) -> None:
        if self.data.resolution != self.model.resolution:
            raise ConfigError(
                f"data.resolution ({self.data.resolution}) must equal model.resolution ({self.model.resolution})"
            )
        m = self.model
        if not m.supports_frames(self.data.num_frames):
            raise ConfigError(f"data.num_frames is {self.data.num_frames}; the tokenizer takes {m.frames_rule()}")
        if m.repa_feature_dim and m.repa_network == "none":
            raise ConfigError(
                f"model.repa_feature_dim is {m.repa_feature_dim} but model.repa_network is 'none': a training run "
                "builds its REPA feature network from model.repa_network (efficientnet_lite0), or set "
                "model.repa_feature_dim=0"
            )
        check_repa_network(m)
        if self.data.latents and (m.compressor.kind != "vae" or m.repa_network != "none"):
            raise ConfigError("data.latents (latents cached by a VAE) needs model.compressor.kind=vae with the path of "
                              "that VAE, and no REPA (REPA reads the clips' pixels)")


def load_run_config(
    preset: str | None,
    overrides: list[str],
    run_dir: Path | None = None,
    config_file: Path | None = None,
    init: Path | None = None,
) -> TokenizerRunConfig:
    """The run config of a (resumed) run: ``run_dir/run_config.yaml`` when it exists, else the YAML file
    ``config_file``, else preset ``preset`` (default tiny); then the dotted overrides.

    init: a checkpoint to start from (see :func:`init_model`); the ``model`` section then is its config, with the
    ``model.*`` overrides on top (e.g. ``model.resolution=64`` for a model with per-axis position tables). When a
    preset or config file is named, the model settings it would have set differently and no override sets are
    printed as a warning on stderr (the checkpoint's own settings are kept).
    """
    if init is not None and (run_dir is None or not (run_dir / RUN_CONFIG_FILE).is_file()):
        base = to_dict(_load_run_config(TokenizerRunConfig, "tokenizer", preset, [], None, config_file))
        named, kept = base["model"], to_dict(init_model(init).config)
        changes = parse_overrides(overrides)
        ignored = [key for key, value in named.items()
                   if key in kept and value != kept[key] and key not in changes.get("model", {})]
        if ignored and (preset is not None or config_file is not None):
            print(f"warning: --init keeps the model settings of '{init}'; the run config would set "
                  f"{', '.join(ignored)} differently (pass model.KEY=VALUE to change one)", file=sys.stderr)
        base["model"] = kept
        return from_dict(TokenizerRunConfig, merge(base, changes))
    return _load_run_config(TokenizerRunConfig, "tokenizer", preset, overrides, run_dir, config_file)


NEW_HEAD = "decoder.refine."  # the conv head's tensors: a model without them starts from the fresh (identity) head


def init_model(source: Path, config: TokenizerConfig | None = None) -> VideoFlexTok:
    """The tokenizer at ``source`` (our checkpoint or run folder, or a released checkpoint), rebuilt with ``config``
    when given (the same weights must fit it: only settings that leave every tensor's shape alone may differ, and
    ``decoder_head=conv`` may add the conv head, which starts as the identity, to a model that has none)."""
    model = VideoFlexTok.from_pretrained(source)
    if config is None or config == model.config:
        return model
    fresh = VideoFlexTok(config)
    state = model.state_dict()
    for name, ref in fresh.state_dict().items():
        if name.startswith(NEW_HEAD) and name not in state:
            state[name] = ref
        if name not in state or state[name].shape != ref.shape:
            raise CheckpointError(
                f"the weights of '{source}' do not fit the run's model config (tensor '{name}'); start from them "
                "with model settings that keep every tensor's shape"
            )
    extra = sorted(set(state) - set(fresh.state_dict()))
    if extra:
        raise CheckpointError(
            f"the weights of '{source}' hold tensors the run's model config has no place for ('{extra[0]}'); start "
            "from them with the model settings they were trained with"
        )
    fresh.load_state_dict(state, strict=True)
    return fresh


class TokenizerValidator:
    """Callable ``(model, step, out_dir) -> metrics`` for :class:`videoflextok.train.loop.Trainer`."""

    def __init__(self, video: torch.Tensor, cfg: TrainConfig, fps: float = 8.0, seed: int = 1234) -> None:
        self.video = video  # [B, 3, T, H, W] in [-1, 1], the fixed validation batch
        self.cfg = cfg
        self.fps = fps
        self.seed = seed

    def keep_ks(self, K: int) -> list[int]:
        ks = sorted({K if k < 0 else min(k, K) for k in self.cfg.val_keep_k})
        return [k for k in ks if k >= 1]

    def __call__(self, model: VideoFlexTok, step: int, out_dir: Path | None) -> dict[str, float]:
        device = next(model.parameters()).device
        video = self.video.to(device)
        torch.manual_seed(self.seed)
        metrics = {"flow": float(model.training_losses(video)["flow"])}
        tokens = model.tokenize(video)
        recons = []
        for k in self.keep_ks(model.config.K):
            gen = torch.Generator(device=device).manual_seed(self.seed)
            recon = model.detokenize(tokens, keep_k=k, steps=self.cfg.val_decode_steps, generator=gen)
            metrics[f"psnr_k{k}"] = float(psnr(recon, video).mean())  # per frame, averaged (as evaluation)
            recons.append(recon)
        if out_dir is not None and self.cfg.sample_video:
            self.write_sample(out_dir / "samples" / f"step_{step:08d}.mp4", video, recons)
        return metrics

    def write_sample(self, path: Path, video: torch.Tensor, recons: list[torch.Tensor]) -> None:
        """Rows = clips (at most 4); columns = original, then reconstructions at increasing k."""
        from videoflextok.data.video_io import write_video

        n = min(4, video.shape[0])
        panels = torch.stack([video[:n], *(r[:n] for r in recons)])  # [P, n, 3, T, H, W]
        grid = rearrange(panels.clamp(-1, 1).cpu(), "p n c t h w -> c t (n h) (p w)")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, grid, fps=self.fps)


def validation_batch(run: TokenizerRunConfig) -> torch.Tensor:
    """The fixed validation clips [B, 3, T, H, W]: evenly spaced items of the held-out (synthetic) or same set."""
    split = "heldout" if run.data.dataset in SYNTHETIC else None
    dataset = build_dataset(run.data, split=split)
    n = min(run.train.val_batch_size, len(dataset))
    stride = max(1, len(dataset) // n)
    return torch.stack([dataset[i * stride]["video"] for i in range(n)])


def run(run_cfg: TokenizerRunConfig, out: Path, resume: bool = False, dist_info=None, init: Path | None = None):
    """Train a tokenizer into ``out``; returns the :class:`videoflextok.train.loop.TrainResult`.

    init: start from the weights of this checkpoint (our folder or a released one); optimizer state starts fresh.
    """
    return launch(
        run_cfg, out, resume=resume, dist_info=dist_info,
        build_model=lambda: build_model(run_cfg.model, init),
        build_train_set=lambda: open_latents(run_cfg) if run_cfg.data.latents else build_dataset(run_cfg.data),
        build_validator=lambda: TokenizerValidator(validation_batch(run_cfg), run_cfg.train),
        describe=lambda model: f"tokenizer: {model.num_params() / 1e6:.2f}M parameters (excluding adaLN)"
        + (f", starting from the weights of {init}" if init is not None else ""),
        prepare=_latent if run_cfg.data.latents else _video,
    )  # fmt: skip


def build_model(config: TokenizerConfig, init: Path | None = None) -> VideoFlexTok:
    """A tokenizer for training (fresh, or with the weights of ``init``), with the REPA feature network
    ``config.repa_network`` attached (if any)."""
    model = VideoFlexTok(config) if init is None else init_model(init, config)
    network = build_repa_network(config)
    if network is not None:
        model.attach_repa(network)
    return model


def _video(batch: dict) -> torch.Tensor:
    return batch["video"]


def _latent(batch: dict) -> dict:
    return {"latent": batch["latent"]}


def open_latents(run: TokenizerRunConfig) -> LatentCacheDataset:
    """The latents of ``run.data.latents``, checked to be what the run's compressor (the VAE at
    ``model.compressor.path``) makes of ``data.num_frames``-frame clips at ``model.resolution``."""
    from videoflextok.vae.model import VideoVAE

    m = run.model
    data = LatentCacheDataset(run.data.latents)
    if not m.compressor.path:
        raise ConfigError("data.latents needs model.compressor.path, the VAE that cached them")
    vae = VideoVAE.from_pretrained(m.compressor.path)
    want = (m.compressor.channels, m.latent_frames(run.data.num_frames), m.latent_size, m.latent_size)
    if tuple(data.latents.shape[1:]) != want or run.data.num_frames > m.chunk_frames:
        raise ConfigError(f"the latents in '{run.data.latents}' are {list(data.latents.shape[1:])}, but this run needs "
                          f"{list(want)} ({run.data.num_frames} frames at {m.resolution} px, one chunk)")
    if data.source.get("vae_id") != weights_fingerprint(vae, ("encoder",)):
        raise ConfigError(f"the latents in '{run.data.latents}' were made by another VAE than model.compressor.path "
                          f"'{m.compressor.path}'; cache them again with it")
    return data


__all__ = [
    "TokenizerRunConfig",
    "TokenizerValidator",
    "build_model",
    "init_model",
    "load_run_config",
    "open_latents",
    "run",
    "validation_batch",
]
