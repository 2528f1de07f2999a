"""``videoflextok train <model>``: train a model into a run folder (one process, or each rank of torchrun).

    videoflextok train tokenizer --preset tiny --out runs/tiny [--resume] [train.steps=400 data.dataset=shapes ...]
    torchrun --standalone --nproc_per_node=8 -m videoflextok train tokenizer --preset d12-d12 --out runs/d12 ...

Every model kind has the same shape: ``--preset`` (or ``--config FILE``) names a run YAML with ``model:``,
``data:`` and ``train:`` sections, trailing ``section.key=value`` words override single fields, ``--out``
is the run folder (``run_config.yaml``, ``metrics.jsonl``, ``checkpoints/``, ``samples/``), and
``--resume`` continues from its latest checkpoint with the saved run config (overrides still apply).

A kind is a module ``videoflextok.train.<kind>_task`` with ``load_run_config(preset, overrides, run_dir,
config_file)`` and ``run(cfg, out, resume) -> TrainResult``; adding one is one line in ``TASKS``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from videoflextok.errors import ConfigError

# model kind -> (task module, help line)
TASKS: dict[str, tuple[str, str]] = {
    "tokenizer": ("videoflextok.train.tokenizer_task", "train the VideoFlexTok tokenizer (encoder + flow decoder)"),
    "vae": ("videoflextok.train.vae_task", "train the causal video VAE (the tokenizer's compressor)"),
    "generator": ("videoflextok.train.generator_task", "train a class-to-video or text-to-video generator on tokens"),
}


def _train(args: argparse.Namespace) -> int:
    task = importlib.import_module(TASKS[args.kind][0])
    out = Path(args.out)
    tokens = getattr(args, "tokens", None)  # generator: the token folder, i.e. data.tokens
    init = Path(args.init) if getattr(args, "init", None) else None
    extra = {"init": init} if init is not None else {}
    try:
        cfg = task.load_run_config(
            args.preset, [*args.overrides, *([f"data.tokens={tokens}"] if tokens else [])],
            run_dir=out if args.resume else None,
            config_file=Path(args.config) if args.config else None,
            **extra,
        )
    except ConfigError:
        if args.resume:
            _check_kind(args.kind, out)
        raise
    result = task.run(cfg, out, resume=args.resume, **extra)
    if result.interrupted:
        print(f"stopped at step {result.step} with a checkpoint ({result.checkpoint}); continue with the same "
              "command and --resume")
        return 130
    if result.checkpoint is not None:
        print(f"done: step {result.step}, loss {result.last_loss:.4f}, checkpoint {result.checkpoint}")
    return 0


def _check_kind(kind: str, out: Path) -> None:
    """When a resumed run's saved config does not fit ``kind``: ConfigError naming the kind it does fit."""
    for other, (module, _) in TASKS.items():
        if other == kind or not (out / "run_config.yaml").is_file():
            continue
        try:
            importlib.import_module(module).load_run_config(None, [], run_dir=out)
        except ConfigError:
            continue
        raise ConfigError(f"'{out}' is a {other} run, not a {kind} run; continue it with "
                          f"`videoflextok train {other} --out {out} --resume`")


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model (single process or under torchrun)")
    kinds = parser.add_subparsers(dest="kind", metavar="MODEL", required=True, parser_class=type(parser))
    for kind, (_, help_line) in TASKS.items():
        p = kinds.add_parser(kind, help=help_line, description=help_line)
        p.add_argument("--preset", default=None, help=f"preset name (configs/{kind}/<name>.yaml); default tiny")
        p.add_argument("--config", default=None, help="a run YAML file instead of a preset")
        p.add_argument("--out", required=True, help="run folder")
        p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
        if kind == "generator":
            p.add_argument("--tokens", default=None, help="token folder from videoflextok pretokenize (data.tokens)")
        if kind == "tokenizer":
            p.add_argument("--init", default=None, metavar="PATH",
                           help="start from these weights (our checkpoint or run folder, or a released checkpoint); "
                           "the model config comes from it, model.* overrides apply, the optimizer starts fresh")
        p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. train.steps=400")
        p.set_defaults(func=_train)
