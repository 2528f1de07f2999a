"""Training a class-to-video or text-to-video generator on token shards with the shared engine.

    videoflextok pretokenize --tokenizer runs/tok --dataset shapes --num 1024 --out runs/tokens
    videoflextok train generator --preset tiny-c2v --tokens runs/tokens --out runs/gen [--resume] [train.steps=400 ...]

The run config has three sections, like the other kinds: ``model:`` (a GeneratorConfig), ``data:`` (where
the token shards are, see :class:`GeneratorDataConfig`; ``--tokens`` sets ``data.tokens``) and ``train:``
(a TrainConfig). Each training item is ``{"tokens": [T', K], "label", "caption"}``; the default collate
gives ``tokens [B, T', K]``, ``label [B]``, ``caption list[str]``, which is what
``VideoGenerator.training_losses`` reads (tokens beyond ``model.tokens_per_frame`` per frame are dropped).

Validation (every ``train.val_every`` steps, EMA weights when EMA is on) on a fixed batch of
``train.val_batch_size`` items of ``data.val_tokens`` (or, without it, evenly spaced training items), in
eval mode (no condition dropout):
  - ``loss`` / ``accuracy``: next-token cross-entropy (nats) and top-1 accuracy with the real conditions;
  - ``loss_null``: the same cross-entropy with every condition replaced by the null one (CFG's other half);
    ``loss_null - loss`` is how much the class / caption tells the model.
The run folder loads with ``VideoGenerator.from_pretrained(run_dir)`` and feeds ``videoflextok generate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from videoflextok.errors import ConfigError, DataError
from videoflextok.generator.config import GeneratorConfig
from videoflextok.generator.model import VideoGenerator
from videoflextok.generator.token_shards import TokenShardDataset
from videoflextok.train.config import TrainConfig
from videoflextok.train.launch import launch
from videoflextok.train.launch import load_run_config as _load_run_config


@dataclass
class GeneratorDataConfig:
    tokens: str | None = None  # token folder written by `videoflextok pretokenize` (the --tokens option)
    val_tokens: str | None = None  # optional held-out token folder for validation; None = fixed training items
    num_workers: int = 0  # DataLoader worker processes (the tokens are in memory; 0 is usually enough)

    def __post_init__(self) -> None:
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {self.num_workers}")


@dataclass
class GeneratorRunConfig:
    """A complete generator training run: the files ``configs/generator/*.yaml`` hold exactly these sections."""

    model: GeneratorConfig = field(default_factory=GeneratorConfig)  # the generator to build
    data: GeneratorDataConfig = field(default_factory=GeneratorDataConfig)  # the token shards it trains on
    train: TrainConfig = field(default_factory=TrainConfig)  # optimizer, schedule, logging, checkpoints


def load_run_config(
    preset: str | None, overrides: list[str], run_dir: Path | None = None, config_file: Path | None = None
) -> GeneratorRunConfig:
    """``run_dir/run_config.yaml`` when resuming, else the YAML ``config_file``, else preset ``preset`` (default
    tiny-c2v); then the dotted overrides (``model.depth=2 train.steps=400 data.tokens=runs/tokens``)."""
    return _load_run_config(
        GeneratorRunConfig, "generator", preset, overrides, run_dir, config_file, default_preset="tiny-c2v"
    )


def open_tokens(folder: str | None, model: GeneratorConfig, what: str = "--tokens") -> TokenShardDataset:
    """The token dataset of ``folder``, checked against the model config (one-sentence errors)."""
    if not folder:
        raise ConfigError(f"give {what} TOK_SHARDS: a token folder written by videoflextok pretokenize")
    path = Path(folder)
    if not path.is_dir():
        raise DataError(f"token folder '{path}' does not exist; make one with videoflextok pretokenize")
    data = TokenShardDataset(path)
    data.check_fits(model)
    made_by = data.source.get("tokenizer_id", "")
    if made_by and model.tokenizer_id and made_by != model.tokenizer_id:
        raise ConfigError(f"the tokens in '{path}' were made by tokenizer {made_by} but model.tokenizer_id is "
                          f"{model.tokenizer_id}; use token folders of one tokenizer")
    if model.conditioning == "class":
        top = max(data.labels)
        if top >= model.num_classes:
            raise ConfigError(
                f"the tokens in '{path}' carry class labels up to {top} but model.num_classes is {model.num_classes}"
            )
    elif not any(c.strip() for c in data.captions):
        raise ConfigError(f"the tokens in '{path}' carry no captions, so a text-to-video generator cannot learn")
    return data


class GeneratorValidator:
    """Callable ``(model, step, out_dir) -> metrics`` for :class:`videoflextok.train.loop.Trainer`."""

    def __init__(self, batch: dict) -> None:
        self.batch = batch  # {"tokens": [B, T', K], "label": [B], "caption": list[str]}, the fixed batch

    @torch.no_grad()
    def __call__(self, model: VideoGenerator, step: int, out_dir: Path | None) -> dict[str, float]:
        device = next(model.parameters()).device
        tokens = self.batch["tokens"][:, :, : model.config.tokens_per_frame].to(device)
        cond = self.batch["label"] if model.config.conditioning == "class" else self.batch["caption"]
        real = model.training_losses({**self.batch, "tokens": tokens})  # eval mode: no condition dropout
        null = torch.ones(tokens.shape[0], dtype=torch.bool, device=device)
        _, loss_null = model(tokens, cond, targets=tokens, null=null)
        return {"loss": float(real["loss"]), "accuracy": float(real["accuracy"]), "loss_null": float(loss_null)}


def validation_batch(data: TokenShardDataset, size: int) -> dict:
    """``size`` evenly spaced items of ``data``, collated."""
    n = min(size, len(data))
    stride = max(1, len(data) // n)
    return torch.utils.data.default_collate([data[i * stride] for i in range(n)])


def run(run_cfg: GeneratorRunConfig, out: Path, resume: bool = False, dist_info=None):
    """Train a generator into ``out``; returns the :class:`videoflextok.train.loop.TrainResult`."""
    train_set = open_tokens(run_cfg.data.tokens, run_cfg.model)  # fail before anything is written
    run_cfg.model.tokenizer_id = run_cfg.model.tokenizer_id or train_set.source.get("tokenizer_id", "")
    val_set = open_tokens(run_cfg.data.val_tokens, run_cfg.model, "data.val_tokens") if run_cfg.data.val_tokens \
        else train_set

    def describe(model: VideoGenerator) -> str:
        t, k = train_set.tokens.shape[1:]
        return (f"generator ({run_cfg.model.conditioning}): {model.num_params() / 1e6:.2f}M parameters; "
                f"{len(train_set)} token grids [{t}, {k}] from {run_cfg.data.tokens}")

    return launch(
        run_cfg, out, resume=resume, dist_info=dist_info,
        build_model=lambda: VideoGenerator(run_cfg.model),
        build_train_set=lambda: train_set,
        build_validator=lambda: GeneratorValidator(validation_batch(val_set, run_cfg.train.val_batch_size)),
        describe=describe,
    )  # fmt: skip


__all__ = ["GeneratorDataConfig", "GeneratorRunConfig", "GeneratorValidator", "load_run_config", "open_tokens",
           "run", "validation_batch"]
