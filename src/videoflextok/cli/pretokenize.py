"""``videoflextok pretokenize``: turn a dataset into token shards for training the generators.

``videoflextok pretokenize --tokenizer TOK_DIR --dataset shapes --num 64 --out TOK_SHARDS`` tokenizes the
first 64 clips with a trained tokenizer (a checkpoint folder or a run folder) and writes
``TOK_SHARDS/shard_*.safetensors`` (tokens [n, T', K]) with labels and captions beside them
(``shard_*.json``). Running it again with the same settings resumes after the last complete shard (or
extends the folder when ``--num`` grew). Works on ``folder`` / ``manifest`` data with ``--path``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from videoflextok.cli.encode_shards import encode_into_shards
from videoflextok.config import to_dict
from videoflextok.data.config import DATASETS, SPLITS, SYNTHETIC, DataConfig
from videoflextok.data.loader import build_dataset
from videoflextok.errors import ConfigError
from videoflextok.generator.token_shards import TokenShardWriter
from videoflextok.tokenizer.model import VideoFlexTok


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretokenize",
        help="tokenize a dataset into token shards (training data of the generators)",
        description="Tokenize the clips of a dataset with a trained tokenizer and write resumable token shards "
        "with labels and captions beside them.",
    )
    p.add_argument("--tokenizer", required=True, help="tokenizer checkpoint folder or training run folder")
    p.add_argument("--dataset", default="shapes", choices=DATASETS, help="which dataset (default: shapes)")
    p.add_argument("--num", type=int, default=None, help="number of clips (default: all of folder/manifest data)")
    p.add_argument("--out", required=True, help="output folder of token shards")
    p.add_argument("--path", default=None, help="folder of videos or manifest file (folder / manifest datasets)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: the tokenizer's chunk)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    p.add_argument("--split", default="train", choices=SPLITS, help="train | heldout | all (synthetic data)")
    p.add_argument("--batch-size", type=int, default=8, help="clips tokenized per forward pass (default: 8)")
    p.add_argument("--shard-size", type=int, default=256, help="clips per shard file (default: 256)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.set_defaults(func=run)


def default_device(name: str | None) -> torch.device:
    """The --device option of every command: the named device (CUDA must exist), else cuda when available."""
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' was requested but CUDA is not available")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run(args: argparse.Namespace) -> int:
    for flag in ("num", "batch_size", "shard_size"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.num is None and args.dataset in SYNTHETIC:
        raise ConfigError(f"give --num: the synthetic dataset '{args.dataset}' has no fixed size")
    device = default_device(args.device)
    tokenizer = VideoFlexTok.from_pretrained(args.tokenizer, device=device).eval()
    tcfg = tokenizer.config
    frames = args.frames or tcfg.chunk_frames
    if not tcfg.supports_frames(frames):
        raise ConfigError(f"this tokenizer cannot take {frames}-frame clips; use 1 + 4n up to {tcfg.chunk_frames} "
                          f"or 1 + 16n up to {tcfg.max_frames}")
    data_cfg = DataConfig(dataset=args.dataset, resolution=tcfg.resolution, num_frames=frames, path=args.path,
                          seed=args.seed, split=args.split, length=args.num or 1, random_start=False)
    dataset = build_dataset(data_cfg)
    total = len(dataset) if args.num is None else min(args.num, len(dataset))
    data_desc = {k: v for k, v in to_dict(data_cfg).items() if k not in ("length", "num_workers")}
    source = {
        "tokenizer": to_dict(tcfg),
        "data": data_desc,
        "num_frames": frames,
        "latent_frames": tcfg.latent_frames(frames),
        "K": tcfg.K,
        "vocab_size": tcfg.vocab_size,
    }
    writer = TokenShardWriter(Path(args.out), source, total)

    def encode(video: torch.Tensor) -> torch.Tensor:
        return torch.stack(tokenizer.tokenize(video))

    if not encode_into_shards(dataset, writer.done, total, encode, writer.append, device, args.batch_size,
                              args.shard_size, args.out, "tokenized"):
        return 0
    grid = tuple(writer.shards[-1]["shape"])
    print(f"wrote {total} clips as tokens [{grid[0]}, {grid[1]}] each to {args.out}")
    return 0
