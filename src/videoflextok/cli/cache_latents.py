"""``videoflextok cache-latents``: encode a dataset with a trained VAE into resumable latent shards.

``videoflextok cache-latents --vae VAE_DIR --dataset shapes --num 256 --out LATENTS`` writes
``LATENTS/shard_*.safetensors`` (posterior means [n, C, T', h, w]) with labels and captions beside them
(``shard_*.json``) and an ``index.json``; tokenizer training then skips the VAE with ``data.latents=LATENTS``
(:class:`videoflextok.vae.latent_cache.LatentCacheDataset` in Python). Running the same command again
resumes after the last complete shard (or extends the folder when ``--num`` grew); other settings into the
same folder are refused. Works on ``folder`` / ``manifest`` data with ``--path``.
"""

from __future__ import annotations

import argparse

import torch

from videoflextok.atomic import check_out_folder
from videoflextok.checkpoint import weights_fingerprint
from videoflextok.checks import MAX_RESOLUTION, check_int, check_memory
from videoflextok.cli.encode_shards import add_shard_options, encode_into_shards
from videoflextok.cli.pretokenize import check_shard_options, default_device
from videoflextok.config import to_dict
from videoflextok.data.config import DataConfig
from videoflextok.data.loader import build_dataset
from videoflextok.errors import ConfigError
from videoflextok.vae.latent_cache import DTYPES, LatentCacheWriter
from videoflextok.vae.model import VideoVAE


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cache-latents",
        help="encode a dataset with a trained VAE into latent shards (train a tokenizer on them: data.latents=OUT)",
        description="Encode the clips of a dataset with a trained causal video VAE and write resumable "
        "safetensors shards of latents with labels and captions beside them.",
    )
    p.add_argument("--vae", required=True, help="VAE checkpoint folder or training run folder")
    add_shard_options(p, "latent")
    p.add_argument("--resolution", type=int, default=64, help="frame size in pixels (default: 64)")
    p.add_argument("--frames", type=int, default=17, help="frames per clip, 1 + 4n (default: 17)")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="stored dtype (default: float32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_shard_options(args)
    check_int("--resolution", args.resolution, 8, MAX_RESOLUTION)
    check_memory(args.batch_size * 3 * args.frames * args.resolution**2 * 4, f"--batch-size {args.batch_size}")
    out = check_out_folder(args.out)
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
    dataset = build_dataset(data_cfg, skip_unreadable=False)
    total = len(dataset) if args.num is None else min(args.num, len(dataset))
    source = {
        "vae": to_dict(vcfg),
        "data": {k: v for k, v in to_dict(data_cfg).items() if k not in ("length", "num_workers")},
        "num_frames": args.frames,
        "latent_shape": list(vae.latent_shape(args.frames, args.resolution, args.resolution)),
        "dtype": args.dtype,
        "vae_id": weights_fingerprint(vae, ("encoder",)),  # which weights made the latents
    }
    writer = LatentCacheWriter(out, source, total)
    def append(latents: torch.Tensor, labels: list[int], captions: list[str]) -> None:
        writer.append(latents, labels, captions, dtype=args.dtype)

    if not encode_into_shards(dataset, writer.done, total, vae.encode, append, device, args.batch_size,
                              args.shard_size, args.out, "encoded"):
        return 0
    print(f"wrote {total} clips as latents {source['latent_shape']} each to {args.out}")
    return 0
