"""``videoflextok convert-official``: turn a released checkpoint into one of our checkpoint folders.

    videoflextok convert-official videoflextok_d18_d18_k600/ --out tokenizers/d18_d18_k600 [--resolution 128]

SRC is a Hub folder of the official release (``config.json`` + ``model.safetensors``) or its single
``.safetensors`` file. The result (``config.json`` with our config, ``model.safetensors`` with the VidTok VAE
included) loads with ``VideoFlexTok.from_pretrained`` and every ``--tokenizer`` option without the official
parser. An unknown or unsupported setting, a truncated file or a mis-shaped tensor ends with one sentence and
exit code 2, and nothing is written; ``--out`` must not exist yet (its parents are created).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from videoflextok.atomic import check_out_folder
from videoflextok.checks import MAX_RESOLUTION
from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.tokenizer.official import is_official, load_official


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert-official",
        help="convert a released VideoFlexTok checkpoint (Hub folder or .safetensors) to our format",
        description="Read a checkpoint of the official VideoFlexTok release and write our checkpoint folder.",
    )
    p.add_argument("source", help="the official Hub folder or single .safetensors file")
    p.add_argument("--out", required=True, help="the checkpoint folder to write (must not exist)")
    p.add_argument("--resolution", type=int, default=None,
                   help="frame side in pixels (default: the checkpoint's own)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source, out = Path(args.source), Path(args.out)
    if not source.exists():
        raise CheckpointError(f"'{source}' does not exist")
    if not is_official(source):
        raise CheckpointError(
            f"'{source}' is not an official VideoFlexTok checkpoint (a folder with config.json holding "
            "video_flex_tok and model.safetensors, or a .safetensors file with the Hydra tree in its metadata)"
        )
    if out.exists():
        raise ConfigError(f"--out '{out}' already exists; choose a new folder")
    check_out_folder(out)
    if args.resolution is not None and (not 8 <= args.resolution <= MAX_RESOLUTION or args.resolution % 8):
        raise ConfigError(f"--resolution must be a multiple of 8 from 8 to {MAX_RESOLUTION}, got {args.resolution}")
    model = load_official(source, resolution=args.resolution)
    model.save_pretrained(out)
    cfg = model.config
    print(
        f"wrote {out}: {model.num_params() / 1e6:.1f}M parameters (excluding adaLN and the VAE), "
        f"{cfg.resolution}x{cfg.resolution}, {cfg.chunk_frames}-frame chunks, K = {cfg.K} tokens per latent frame"
    )
    return 0
