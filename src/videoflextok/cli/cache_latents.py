"""``videoflextok cache-latents``: encode a dataset with a trained VAE into resumable latent shards.

``videoflextok cache-latents --vae VAE_DIR --dataset shapes --num 256 --out LATENTS`` writes
``LATENTS/shard_*.safetensors`` (posterior means [n, C, T', h, w]) with labels and captions beside them
(``shard_*.json``) and an ``index.json``; tokenizer training can then read
:class:`videoflextok.vae.latent_cache.LatentCacheDataset` and skip the VAE. Running the same command again
resumes after the last complete shard (or extends the folder when ``--num`` grew); other settings into the
same folder are refused. Works on ``folder`` / ``manifest`` data with ``--path``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from videoflextok.cli.encode_shards import encode_into_shards
from videoflextok.cli.pretokenize import default_device
from videoflextok.config import to_dict
from videoflextok.data.config import DATASETS, SPLITS, SYNTHETIC, DataConfig
from videoflextok.data.loader import build_dataset
from videoflextok.errors import ConfigError
from videoflextok.vae.latent_cache import DTYPES, LatentCacheWriter
from videoflextok.vae.model import VideoVAE


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cache-latents",
        help="encode a dataset with a trained VAE into latent shards (tokenizer training without the VAE)",
        description="Encode the clips of a dataset with a trained causal video VAE and write resumable "
        "safetensors shards of latents with labels and captions beside them.",
    )
    p.add_argument("--vae", required=True, help="VAE checkpoint folder or training run folder")
    p.add_argument("--dataset", default="shapes", choices=DATASETS, help="which dataset (default: shapes)")
    p.add_argument("--num", type=int, default=None, help="number of clips (default: all of folder/manifest data)")
    p.add_argument("--out", required=True, help="output folder of latent shards")
    p.add_argument("--path", default=None, help="folder of videos or manifest file (folder / manifest datasets)")
    p.add_argument("--resolution", type=int, default=64, help="frame size in pixels (default: 64)")
    p.add_argument("--frames", type=int, default=17, help="frames per clip, 1 + 4n (default: 17)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    p.add_argument("--split", default="train", choices=SPLITS, help="train | heldout | all (synthetic data)")
    p.add_argument("--batch-size", type=int, default=8, help="clips encoded per forward pass (default: 8)")
    p.add_argument("--shard-size", type=int, default=256, help="clips per shard file (default: 256)")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="stored dtype (default: float32)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag in ("num", "batch_size", "shard_size", "resolution", "frames"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.num is None and args.dataset in SYNTHETIC:
        raise ConfigError(f"give --num: the synthetic dataset '{args.dataset}' has no fixed size")
    device = default_device(args.device)
    vae = VideoVAE.from_pretrained(args.vae, device=device).freeze()
    vcfg = vae.config
    try:
        vcfg.check_frames(args.frames)
    except ValueError as exc:
        raise ConfigError(f"--frames: {exc}") from None
    if args.resolution % vcfg.spatial_factor:
        raise ConfigError(f"--resolution must be a multiple of the VAE's spatial factor {vcfg.spatial_factor}")
    data_cfg = DataConfig(dataset=args.dataset, resolution=args.resolution, num_frames=args.frames, path=args.path,
                          seed=args.seed, split=args.split, length=args.num or 1, random_start=False)  # fmt: skip
    dataset = build_dataset(data_cfg)
    total = len(dataset) if args.num is None else min(args.num, len(dataset))
    source = {
        "vae": to_dict(vcfg),
        "data": {k: v for k, v in to_dict(data_cfg).items() if k not in ("length", "num_workers")},
        "num_frames": args.frames,
        "latent_shape": list(vae.latent_shape(args.frames, args.resolution, args.resolution)),
        "dtype": args.dtype,
    }
    writer = LatentCacheWriter(Path(args.out), source, total)
    def append(latents: torch.Tensor, labels: list[int], captions: list[str]) -> None:
        writer.append(latents, labels, captions, dtype=args.dtype)

    if not encode_into_shards(dataset, writer.done, total, vae.encode, append, device, args.batch_size,
                              args.shard_size, args.out, "encoded"):
        return 0
    print(f"wrote {total} clips as latents {source['latent_shape']} each to {args.out}")
    return 0
