"""What every training task (tokenizer, VAE, generator) does the same way: find its run config (a resumed
run's saved file, a YAML file or a preset, then dotted overrides) and launch the shared
:class:`videoflextok.train.loop.Trainer` (process group, ``run_config.yaml``, seed, model, data, validator).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from videoflextok.atomic import check_out_folder
from videoflextok.config import from_dict, load_yaml, merge, parse_overrides, preset_path, to_dict
from videoflextok.errors import ConfigError

RUN_CONFIG_FILE = "run_config.yaml"

R = TypeVar("R")


def load_run_config(
    cls: type[R],
    kind: str,
    preset: str | None,
    overrides: list[str],
    run_dir: Path | None = None,
    config_file: Path | None = None,
    default_preset: str = "tiny",
) -> R:
    """The run config of a (resumed) run: ``run_dir/run_config.yaml`` when it exists, else the YAML file
    ``config_file``, else preset ``configs/<kind>/<preset>.yaml``; then the dotted overrides."""
    saved = run_dir / RUN_CONFIG_FILE if run_dir is not None else None
    if saved is not None and saved.is_file():
        base = load_yaml(saved)
        if isinstance(base.get("train"), dict):
            base["train"]["stop_at"] = 0  # a stop point belongs to one invocation, not to the run
    elif config_file is not None:
        base = load_yaml(config_file)
    else:
        base = load_yaml(preset_path(kind, preset or default_preset))
    return from_dict(cls, merge(base, parse_overrides(overrides)))


def check_run_folder(out: Path, resume: bool) -> None:
    """Before anything is built or written: ``out`` is a folder (or can be one); ``--resume`` finds a run in it,
    and a new run does not write over one (ConfigError with one sentence otherwise)."""
    from videoflextok.train.checkpoint import latest_checkpoint

    check_out_folder(out)
    has_run = (out / RUN_CONFIG_FILE).is_file() or latest_checkpoint(out) is not None
    if resume and not has_run:
        raise ConfigError(f"--resume: '{out}' holds no run to continue (no {RUN_CONFIG_FILE}); check the path, or "
                          "drop --resume to start a new run")
    if not resume and latest_checkpoint(out) is not None:
        raise ConfigError(f"run folder '{out}' already holds checkpoints; pass --resume or pick a new --out")


def launch(
    run_cfg: Any,
    out: Path,
    *,
    resume: bool,
    dist_info,
    build_model: Callable[[], torch.nn.Module],
    build_train_set: Callable[[], Any],
    build_validator: Callable[[], Any],
    describe: Callable[[torch.nn.Module], str],
    prepare: Callable | None = None,
):
    """Train ``build_model()`` on ``build_train_set()`` into ``out``; returns the Trainer's ``TrainResult``.

    ``run_cfg`` has ``.data`` (with ``num_workers``) and ``.train`` (a TrainConfig). Only rank 0 writes, and only
    once model, data and any resumed state are in place (the Trainer writes ``run_config.yaml`` then), so a run that
    is refused or fails while building leaves ``out`` as it was.
    The model is built right after seeding with ``train.seed``, so runs and resumes start identically.
    """
    from videoflextok.train import distributed as D
    from videoflextok.train.loop import Trainer

    check_run_folder(out, resume)
    info = dist_info or D.init_distributed(run_cfg.train.device)
    try:
        torch.manual_seed(run_cfg.train.seed)
        model = build_model()
        if info.is_main:
            print(describe(model))
        train_set = build_train_set()
        validator = build_validator() if run_cfg.train.val_every else None
        trainer = Trainer(
            model, run_cfg.train, out, train_set, prepare=prepare, validator=validator,
            run_config=to_dict(run_cfg), num_workers=run_cfg.data.num_workers, dist_info=info,
        )  # fmt: skip
        return trainer.fit(resume=resume)
    finally:
        if dist_info is None:
            D.shutdown(info)
