"""``videoflextok pretokenize``: turn a dataset into token shards for training the generators.

``videoflextok pretokenize --tokenizer TOK_DIR --dataset shapes --num 64 --out TOK_SHARDS`` tokenizes the
first 64 clips with a trained tokenizer (a checkpoint folder or a run folder) and writes
``TOK_SHARDS/shard_*.safetensors`` (tokens [n, T', K]) with labels and captions beside them
(``shard_*.json``). Running it again with the same settings resumes after the last complete shard (or
extends the folder when ``--num`` grew). Works on ``folder`` / ``manifest`` data with ``--path``.
"""

from __future__ import annotations

import argparse

import torch

from videoflextok.atomic import check_out_folder
from videoflextok.checks import MAX_FRAMES, MAX_SEED, check_int, check_memory, check_optional
from videoflextok.cli.encode_shards import add_shard_options, encode_into_shards
from videoflextok.config import to_dict
from videoflextok.data.config import SYNTHETIC, DataConfig
from videoflextok.data.loader import build_dataset
from videoflextok.errors import ConfigError
from videoflextok.generator.token_shards import TokenShardWriter
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.tokens import token_fingerprint


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretokenize",
        help="tokenize a dataset into token shards (training data of the generators)",
        description="Tokenize the clips of a dataset with a trained tokenizer and write resumable token shards "
        "with labels and captions beside them.",
    )
    p.add_argument("--tokenizer", required=True, help="tokenizer checkpoint folder or training run folder")
    add_shard_options(p, "token")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: the tokenizer's chunk)")
    p.set_defaults(func=run)


def default_device(name: str | None) -> torch.device:
    """The --device option of every command: the named device (CUDA must exist), else cuda when available."""
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' was requested but CUDA is not available")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_shard_options(args: argparse.Namespace) -> None:
    """The options ``pretokenize`` and ``cache-latents`` share, checked before anything is loaded or written."""
    for flag in ("num", "batch_size", "shard_size"):
        check_optional(check_int, f"--{flag.replace('_', '-')}", getattr(args, flag), 1)
    check_optional(check_int, "--frames", args.frames, 1, MAX_FRAMES)
    check_int("--seed", args.seed, 0, MAX_SEED)
    if args.num is None and args.dataset in SYNTHETIC:
        raise ConfigError(f"give --num: the synthetic dataset '{args.dataset}' has no fixed size")
    if args.dataset in ("folder", "manifest") and not args.path:
        raise ConfigError(f"the '{args.dataset}' dataset needs --path")


def run(args: argparse.Namespace) -> int:
    check_shard_options(args)
    out = check_out_folder(args.out)
    device = default_device(args.device)
    tokenizer = VideoFlexTok.from_pretrained(args.tokenizer, device=device).eval()
    tcfg = tokenizer.config
    frames = args.frames or tcfg.chunk_frames
    if not tcfg.supports_frames(frames):
        raise ConfigError(f"this tokenizer cannot take {frames}-frame clips; it takes {tcfg.frames_rule()}")
    check_memory(args.batch_size * 3 * frames * tcfg.resolution**2 * 4, f"--batch-size {args.batch_size}")
    data_cfg = DataConfig(dataset=args.dataset, resolution=tcfg.resolution, num_frames=frames, path=args.path,
                          seed=args.seed, split=args.split, length=args.num or 1, random_start=False)
    dataset = build_dataset(data_cfg, skip_unreadable=False)
    total = len(dataset) if args.num is None else min(args.num, len(dataset))
    data_desc = {k: v for k, v in to_dict(data_cfg).items() if k not in ("length", "num_workers")}
    source = {
        "tokenizer": to_dict(tcfg),
        "data": data_desc,
        "num_frames": frames,
        "latent_frames": tcfg.latent_frames(frames),
        "K": tcfg.K,
        "vocab_size": tcfg.vocab_size,
        "tokenizer_id": token_fingerprint(tokenizer),
    }
    writer = TokenShardWriter(out, source, total)

    def encode(video: torch.Tensor) -> torch.Tensor:
        return torch.stack(tokenizer.tokenize(video))

    if not encode_into_shards(dataset, writer.done, total, encode, writer.append, device, args.batch_size,
                              args.shard_size, args.out, "tokenized"):
        return 0
    grid = tuple(writer.shards[-1]["shape"])
    print(f"wrote {total} clips as tokens [{grid[0]}, {grid[1]}] each to {args.out}")
    return 0
