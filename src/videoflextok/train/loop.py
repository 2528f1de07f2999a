"""The training loop: one engine for every model that has ``.config`` and ``training_losses(batch)``.

Per optimizer step ``s`` (0-based):
  1. lr = warmup+cosine(s); torch / numpy / python RNGs are reseeded from ``(seed, rank, s)``, so every
     random draw of the step (noise, timesteps, dropout) is a function of the step alone;
  2. ``grad_accum`` micro-batches (this rank's slices of the global batch, see ``sampler.py``):
     forward under autocast, ``(loss / grad_accum).backward()`` (gradient sync only on the last one);
  3. clip the global gradient norm; if any rank saw a non-finite loss or the norm is not finite, the
     update is skipped and counted (``max_nonfinite`` in a row stops the run), else AdamW + EMA update;
  4. log, validate, checkpoint as configured; a Ctrl-C or SIGTERM ends the run after the step with a checkpoint.
Because data position, weights, optimizer, EMA and per-step randomness are all restored, resuming from
a checkpoint continues bitwise identically to an uninterrupted run (same world size and config).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import Dataset

from videoflextok.atomic import atomic_write_text
from videoflextok.errors import CheckpointError, ConfigError, VideoFlexTokError
from videoflextok.train import distributed as D
from videoflextok.train.activation_checkpointing import enable_activation_checkpointing
from videoflextok.train.checkpoint import (
    capture_rng,
    latest_checkpoint,
    load_checkpoint_weights,
    load_training_state,
    remove_partial,
    restore_rng,
    save_training_checkpoint,
)
from videoflextok.train.config import TrainConfig
from videoflextok.train.console import Progress, StopRequest, thread_hint
from videoflextok.train.ema import EMA
from videoflextok.train.launch import RUN_CONFIG_FILE
from videoflextok.train.metrics_log import MetricsLogger
from videoflextok.train.optim import build_optimizer, lr_at, set_lr
from videoflextok.train.sampler import StreamBatchSampler, stream_loader

Validator = Callable[[nn.Module, int, "Path | None"], dict[str, float]]


class NonFiniteLossError(VideoFlexTokError):
    """Training produced non-finite losses or gradients too many steps in a row."""


@dataclass
class TrainResult:
    step: int  # optimizer steps done (== cfg.steps on success)
    last_loss: float  # mean loss of the last logging window
    checkpoint: Path | None  # the newest checkpoint folder written by this run
    skipped_steps: int  # steps skipped because of a non-finite loss/gradient (whole run)
    model: nn.Module | None = None  # the trained model (raw weights; DTensor shards under FSDP)
    interrupted: bool = False  # stopped early by Ctrl-C / SIGTERM (after saving a checkpoint at `step`)


def step_seed(seed: int, rank: int, step: int) -> int:
    """The seed of all random draws of one step on one rank."""
    return (seed * 1_000_003 + step * 8_191 + rank * 131 + 17) % (2**63 - 1)


def reseed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class Trainer:
    """Trains ``model`` on ``train_set`` into ``run_dir`` (metrics.jsonl, checkpoints/, samples/).

    ``prepare(batch)`` turns a collated loader batch into the argument of ``model.training_losses``
    (default: the batch itself). ``validator(model, step, out_dir)`` returns validation metrics; it runs
    on rank 0 (on every rank under FSDP, where ``out_dir`` is None except on rank 0), with EMA weights
    when EMA is on. ``run_config`` (a plain dict) is stored in every checkpoint's config.json as "run".
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        run_dir: str | Path,
        train_set: Dataset,
        *,
        prepare: Callable[[Any], Any] | None = None,
        validator: Validator | None = None,
        run_config: dict | None = None,
        collate_fn: Callable | None = None,
        num_workers: int = 0,
        dist_info: D.DistInfo | None = None,
    ) -> None:
        self.model = model
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.train_set = train_set
        self.prepare = prepare or (lambda b: b)
        self.validator = validator
        self.run_config = run_config
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.info = dist_info

    # ------------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        info = self.info or D.init_distributed(cfg.device)
        try:
            return self._fit(info, resume)
        finally:
            if self.info is None:
                D.shutdown(info)

    def _strategy(self, info: D.DistInfo) -> str:
        strategy = self.cfg.distributed
        if strategy == "auto":
            strategy = "ddp" if info.distributed else "none"
        if strategy in ("ddp", "fsdp") and not info.distributed:
            strategy = "none"  # a single process needs no wrapper
        if strategy == "none" and info.distributed:
            raise ConfigError("train.distributed=none cannot run under torchrun with several processes")
        return strategy

    def _fit(self, info: D.DistInfo, resume: bool) -> TrainResult:
        cfg, model = self.cfg, self.model
        device = info.device
        if info.is_main:
            remove_partial(self.run_dir)
        D.barrier(info)
        folder = latest_checkpoint(self.run_dir)
        if folder is not None and not resume:
            raise ConfigError(
                f"run folder '{self.run_dir}' already holds checkpoints; pass --resume or pick a new --out"
            )
        state = None
        model.to(device)
        if resume and folder is not None:
            model.load_state_dict(load_checkpoint_weights(folder, model.state_dict()))
            state = load_training_state(folder)
        if cfg.activation_checkpointing:
            enable_activation_checkpointing(model)

        strategy = self._strategy(info)
        wrapped: nn.Module = D.LossModule(model)
        if strategy == "ddp":
            wrapped = D.wrap_ddp(wrapped, info, cfg.ddp_find_unused)
        elif strategy == "fsdp":
            wrapped = D.wrap_fsdp(wrapped, info)
        fsdp_root = wrapped if strategy == "fsdp" else None
        ddp_root = wrapped if strategy == "ddp" else None
        if cfg.compile:
            wrapped = torch.compile(wrapped)

        optimizer = build_optimizer(model, cfg)
        ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        start_step, position, skipped, seconds_before = 0, 0, 0, 0.0
        if state is not None:
            self._load_optimizer(model, optimizer, state["optimizer"], fsdp_root is not None)
            if ema is not None and state.get("ema_num_updates") is not None:
                ema_weights = load_checkpoint_weights(folder, model.state_dict(), ema=True)
                ema.load_full_state_dict(ema_weights, state["ema_num_updates"])
            start_step, position, skipped = int(state["step"]), int(state["data_position"]), int(state["skipped_total"])
            seconds_before = float(state.get("train_seconds", 0.0))  # wall time of the earlier sessions
            restore_rng(state["rng"])
        if info.is_main:  # written once the model and a resumed state are in place: a refused run changes nothing
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.run_config is not None:
                atomic_write_text(self.run_dir / RUN_CONFIG_FILE, yaml.safe_dump(self.run_config, sort_keys=False))
            hint = thread_hint(device)
            if hint:
                print(hint)
            where = f"resumed from {folder.name}" if state is not None else "from scratch"
            print(f"training {type(model).__name__} ({strategy}, {info.world_size} process(es), {device}) {where}")

        sampler = StreamBatchSampler(
            len(self.train_set), cfg.batch_size, seed=cfg.seed, shuffle=cfg.shuffle, grad_accum=cfg.grad_accum,
            rank=info.rank, world_size=info.world_size, start_position=position,
        )
        loader = stream_loader(self.train_set, sampler, self.num_workers, self.collate_fn, device.type == "cuda")
        batches = iter(loader)
        resume_step = start_step if state is not None else None
        logger = MetricsLogger(self.run_dir, enabled=info.is_main, resume_step=resume_step)
        bar = Progress(cfg.steps, start_step, enabled=info.is_main, bar=cfg.progress)
        precision = D.resolve_precision(cfg.precision, device)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        params = [p for p in model.parameters() if p.requires_grad]

        window: dict[str, list[float]] = defaultdict(list)
        window_t, window_steps = time.perf_counter(), 0
        session_t = window_t
        consecutive, last_loss, last_ckpt = 0, float("nan"), None
        step = start_step
        end = min(cfg.steps, cfg.stop_at) if cfg.stop_at > 0 else cfg.steps
        budget_end = -1  # the step at which train.max_minutes ran out
        stop = StopRequest(announce=info.is_main)
        try:
            stop.__enter__()
            while step < end:
                set_lr(optimizer, lr_at(step, cfg))
                reseed(step_seed(cfg.seed, info.rank, step))
                bad = False
                for micro in range(cfg.grad_accum):
                    inputs = to_device(self.prepare(next(batches)), device)
                    sync = micro == cfg.grad_accum - 1
                    if fsdp_root is not None:
                        fsdp_root.set_requires_gradient_sync(sync)
                    no_sync = ddp_root.no_sync() if ddp_root is not None and not sync else contextlib.nullcontext()
                    with no_sync:
                        with autocast:
                            losses = wrapped(inputs)
                        loss = losses["loss"].float()
                        (loss / cfg.grad_accum).backward()
                    keys = [k for k, v in losses.items() if isinstance(v, torch.Tensor) and v.numel() == 1]
                    values = torch.stack([losses[k].detach().float().reshape(()) for k in keys]).tolist()  # 1 sync
                    for key, value in zip(keys, values):
                        window[key].append(value)
                    bad = bad or not math.isfinite(values[keys.index("loss")])
                flag = D.all_reduce(torch.tensor([float(bad)], device=device), info, op="max")
                norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
                if flag.item() > 0 or not bool(torch.isfinite(norm)):
                    optimizer.zero_grad(set_to_none=True)
                    consecutive, skipped = consecutive + 1, skipped + 1
                    if consecutive >= cfg.max_nonfinite:
                        raise NonFiniteLossError(
                            f"training stopped at step {step + 1}: the loss or gradient was not finite in "
                            f"{consecutive} steps in a row; lower train.lr, set train.grad_clip or use fp32."
                        )
                else:
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    if ema is not None:
                        ema.update(model)
                    consecutive = 0
                    window["grad_norm"].append(float(norm))
                step += 1
                window_steps += 1
                if cfg.max_minutes > 0:  # a time budget: every rank stops at the same step
                    spent = seconds_before + time.perf_counter() - session_t >= 60 * cfg.max_minutes
                    if D.all_reduce(torch.tensor([float(spent)], device=device), info, op="max").item() > 0:
                        end = budget_end = step
                # a stop request (Ctrl-C, SIGTERM): one process stops now; ranks agree at the next logged window (the
                # request rides in the window's all-reduce, so no collective is added to a step)
                window["stop"].append(float(stop.requested))
                if stop.requested and not info.distributed:
                    end = step
                position += sampler.global_batch
                bar.update(1)

                if step % cfg.log_every == 0 or step == end:
                    row = self._window_means(window, info)
                    if row.pop("stop", 0.0) > 0:
                        end = step
                    elapsed = time.perf_counter() - window_t
                    row.update(lr=lr_at(step - 1, cfg), samples_per_s=window_steps * sampler.global_batch / elapsed,
                               skipped_total=skipped, train_s=seconds_before + time.perf_counter() - session_t)
                    last_loss = row.get("loss", float("nan"))
                    logger.log("train", step, row)
                    bar.log(step, row)
                    window.clear()
                    window_t, window_steps = time.perf_counter(), 0
                last = step in (cfg.steps, budget_end)  # a run's last step validates, also when the budget ends it
                if self.validator is not None and cfg.val_every and (step % cfg.val_every == 0 or last):
                    self._validate(model, ema, step, info, logger, fsdp_root)
                if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == end:
                    training_state = {
                        "step": step, "data_position": position, "skipped_total": skipped,
                        "train_seconds": seconds_before + time.perf_counter() - session_t,
                        "ema_num_updates": ema.num_updates if ema is not None else None,
                        "world_size": info.world_size, "global_batch": sampler.global_batch, "rng": capture_rng(),
                    }
                    saved = self._save(model, optimizer, ema, training_state, info, fsdp_root is not None)
                    last_ckpt = saved or last_ckpt
        finally:
            stop.__exit__()
            bar.close()
            logger.close()
        D.barrier(info)
        return TrainResult(step=step, last_loss=last_loss, checkpoint=last_ckpt, skipped_steps=skipped, model=model,
                           interrupted=stop.requested and step < cfg.steps)

    # ------------------------------------------------------------------------------------------------
    @staticmethod
    def _window_means(window: dict[str, list[float]], info: D.DistInfo) -> dict[str, float]:
        keys = sorted(window)
        if not keys:
            return {}
        local = torch.tensor([sum(window[k]) / len(window[k]) for k in keys], dtype=torch.float64, device=info.device)
        mean = D.all_reduce(local, info, op="mean")  # the same keys on every rank (skips are decided jointly)
        return {k: float(v) for k, v in zip(keys, mean.tolist())}

    def _validate(self, model, ema, step, info, logger, fsdp_root) -> None:
        fsdp = fsdp_root is not None
        if not (info.is_main or fsdp):
            D.barrier(info)
            return
        out_dir = self.run_dir if info.is_main else None
        was_training = model.training
        model.eval()
        swap = ema.swapped_in(model) if ema is not None else contextlib.nullcontext()
        rng = capture_rng()
        try:
            with swap, torch.no_grad():
                if fsdp:
                    fsdp_root.unshard()  # root-level parameters are only gathered inside forward otherwise
                try:
                    metrics = self.validator(model, step, out_dir)
                finally:
                    if fsdp:
                        fsdp_root.reshard()
        finally:
            restore_rng(rng)
            model.train(was_training)
        logger.log("val", step, metrics)
        if not fsdp:
            D.barrier(info)

    @staticmethod
    def _load_optimizer(model, optimizer, opt_state, fsdp: bool) -> None:
        try:
            if fsdp:
                from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

                set_optimizer_state_dict(model, optimizer, opt_state, options=StateDictOptions(full_state_dict=True))
            else:
                optimizer.load_state_dict(opt_state)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"the optimizer state does not fit this model or setup ({exc}).") from None

    def _save(self, model, optimizer, ema, training_state, info, fsdp: bool) -> Path | None:
        if fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_model_state_dict,
                get_optimizer_state_dict,
            )

            opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
            model_state = get_model_state_dict(model, options=opts)
            opt_state = get_optimizer_state_dict(model, optimizer, options=opts)
        else:
            model_state, opt_state = model.state_dict(), optimizer.state_dict()
        ema_state = ema.full_state_dict() if ema is not None else None
        folder = None
        if info.is_main:
            try:
                folder = save_training_checkpoint(
                    self.run_dir, training_state["step"], model, model_state, ema_state,
                    {**training_state, "optimizer": opt_state}, self.cfg.keep_last,
                    extra={"run": self.run_config} if self.run_config is not None else None,
                )
            except CheckpointError as exc:  # non-finite weights: keep the previous checkpoint
                print(f"warning: checkpoint at step {training_state['step']} skipped: {exc}")
        D.barrier(info)
        return folder
