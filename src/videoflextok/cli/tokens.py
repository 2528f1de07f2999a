"""``videoflextok tokenize`` / ``videoflextok detokenize``: any video to a token file and back.

``videoflextok tokenize VIDEO --out F.safetensors [--tokenizer DIR] [--k N | --target-psnr DB | --db-per-token G]
[--fps R] [--size S]``
reads the whole video (resampled to ``--fps``, shorter side resized to the tokenizer's size and center-cropped),
keeps its longest prefix of 1 + 16n frames (1 + 4n for clips shorter than one chunk), tokenizes it with the
streaming encoder (any length, memory bounded by one chunk) and writes a token file
(:mod:`videoflextok.tokenizer.token_file`). ``--k`` keeps the first N tokens of every latent frame; ``--target-psnr``
the smallest budget whose estimated reconstruction reaches that PSNR; ``--db-per-token`` the budget where one more
token per latent frame buys less than G dB (:mod:`videoflextok.tokenizer.adaptive`).

``videoflextok detokenize F.safetensors --out OUT.mp4 [--tokenizer DIR] [--k N] [--steps S] [--seed N]`` decodes
it with the streaming decoder (``.mp4``, ``.mkv`` or ``.gif``). The tokenizer defaults to the shipped demo
tokenizer; a file made by another tokenizer, a truncated or foreign file, or any other bad input ends with one
sentence and exit code 2, and an existing ``--out`` file is replaced only by a complete new one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from videoflextok.errors import ConfigError

OUT_SUFFIXES = (".mp4", ".mkv", ".gif")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tokenize", help="tokenize a video into a token file (.safetensors)",
                              description="Tokenize a whole video with the streaming encoder and write its token ids "
                              "and metadata to a safetensors token file.")
    p.add_argument("video", help="video file (mp4, mkv, gif, ...)")
    p.add_argument("--out", required=True, help="token file to write (.safetensors)")
    p.add_argument("--tokenizer", default=None, help="tokenizer checkpoint or run folder (default: the shipped "
                   "demo tokenizer)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--k", type=int, default=None, help="keep the first N tokens of every latent frame")
    budget.add_argument("--target-psnr", type=float, default=None, metavar="DB",
                        help="keep the smallest budget whose estimated reconstruction reaches this PSNR (dB)")
    budget.add_argument("--db-per-token", type=float, default=None, metavar="G",
                        help="keep the budget where one more token per latent frame buys less than G dB of "
                        "estimated PSNR (rate-distortion cut)")
    p.add_argument("--fps", type=float, default=None, help="resample the video to this frame rate (default: its own)")
    p.add_argument("--size", type=int, default=None, help="frame side in pixels (default: the tokenizer's; another "
                   "size needs a tokenizer with per-axis position tables)")
    p.add_argument("--start", type=float, default=0.0, help="seconds into the video where reading starts")
    _common(p)
    p.set_defaults(func=run_tokenize)

    p = subparsers.add_parser("detokenize", help="decode a token file into a video",
                              description="Decode a token file with the tokenizer that made it (streaming decoder) "
                              "and write the video.")
    p.add_argument("tokens", help="token file written by `videoflextok tokenize`")
    p.add_argument("--out", required=True, help="video to write (.mp4, .mkv or .gif)")
    p.add_argument("--tokenizer", default=None, help="tokenizer checkpoint or run folder (default: the shipped "
                   "demo tokenizer)")
    p.add_argument("--k", type=int, default=None, help="decode from the first N tokens of every latent frame")
    p.add_argument("--steps", type=int, default=None, help="flow decoder Euler steps (default: the tokenizer's)")
    p.add_argument("--seed", type=int, default=0, help="decoder noise seed (default: 0)")
    _common(p)
    p.set_defaults(func=run_detokenize)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")


def _check_out(out: str, suffixes: tuple[str, ...]) -> Path:
    path = Path(out)
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"--out '{path}' must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise ConfigError(f"--out '{path}' is a folder")
    if not path.parent.is_dir():
        raise ConfigError(f"the folder of --out '{path}' does not exist")
    return path


def _load_tokenizer(folder: str | None, device: torch.device, size: int | None):
    """The tokenizer in ``folder`` (default: the shipped one), rebuilt for ``size`` px frames when given."""
    from videoflextok.report.demo import load_tokenizer

    model, _ = load_tokenizer(folder, device=device)
    return model if size is None else model.at_resolution(size)


def run_tokenize(args: argparse.Namespace) -> int:
    from videoflextok.cli.pretokenize import default_device
    from videoflextok.data.video_io import read_video
    from videoflextok.tokenizer.adaptive import check_criterion, choose_keep_k
    from videoflextok.tokenizer.token_file import save_tokens

    _positive(args, "k", "fps", "size")
    if args.target_psnr is not None or args.db_per_token is not None:
        check_criterion(args.target_psnr, args.db_per_token)
    out = _check_out(args.out, (".safetensors",))
    model = _load_tokenizer(args.tokenizer, default_device(args.device), args.size)
    cfg = model.config
    if args.k is not None and args.k > cfg.K:
        raise ConfigError(f"--k must be between 1 and {cfg.K} (this tokenizer's tokens per latent frame)")
    video, meta = read_video(args.video, fps=args.fps, size=cfg.resolution, start=args.start, frame_policy="none")
    frames = cfg.longest_prefix(video.shape[1], capped=False)  # streamed: any length
    video = video[None, :, :frames]
    encoder, rows, step = model.stream_encoder(), [], cfg.chunk_frames - 1
    with tqdm(total=frames, desc="tokenize", unit="frame", disable=not args.progress) as bar:
        for start in [0, *range(1, frames, step)]:  # frame 0, then a chunk's worth of new frames at a time
            piece = video[:, :, start : start + step if start else 1]
            rows += encoder.push(piece)
            bar.update(piece.shape[2])
    tokens = torch.stack(rows)
    k = cfg.K if args.k is None else args.k
    note = ""
    if args.target_psnr is not None:
        k, estimate = choose_keep_k(model, video, tokens, args.target_psnr)
        reached = "reaches" if estimate >= args.target_psnr else "is the best estimate, below"
        note = f"; estimated PSNR {estimate:.2f} dB {reached} the target {args.target_psnr:g} dB"
    elif args.db_per_token is not None:
        k, estimate = choose_keep_k(model, video, tokens, db_per_token=args.db_per_token)
        note = f"; estimated PSNR {estimate:.2f} dB at {args.db_per_token:g} dB per token"
    fps = args.fps or meta.fps
    save_tokens(out, tokens[:, :k], model, fps=fps, frames=frames)
    print(f"wrote {tokens.shape[0]} latent frames x {k} tokens ({tokens.shape[0] * k} tokens) for {frames} frames "
          f"at {fps:g} fps to {out}{note}")
    return 0


def run_detokenize(args: argparse.Namespace) -> int:
    from videoflextok.cli.pretokenize import default_device
    from videoflextok.data.video_write import write_video
    from videoflextok.tokenizer.token_file import load_tokens

    _positive(args, "k", "steps")
    out = _check_out(args.out, OUT_SUFFIXES)
    tokens = load_tokens(args.tokens)
    model = _load_tokenizer(args.tokenizer, default_device(args.device), tokens.height)
    tokens.check_tokenizer(model)
    if args.k is not None and args.k > max(tokens.k):
        raise ConfigError(f"--k must be between 1 and {max(tokens.k)} (the file's tokens per latent frame)")
    generator = torch.Generator(device=model.device).manual_seed(args.seed)
    decoder = model.stream_decoder(keep_k=args.k, steps=args.steps, generator=generator)
    step = model.config.chunk_latent_frames - 1
    pieces = []
    with tqdm(total=tokens.frames, desc="detokenize", unit="frame", disable=not args.progress) as bar:
        for start in range(0, len(tokens.rows), step):
            pieces.append(decoder.push(list(tokens.rows[start : start + step])))
            bar.update(pieces[-1].shape[2])
        pieces.append(decoder.flush())
        bar.update(pieces[-1].shape[2])
    video = torch.cat(pieces, dim=2)[0]
    write_video(out, video, fps=tokens.fps)
    print(f"wrote {video.shape[1]} frames ({video.shape[2]}x{video.shape[3]}) at {tokens.fps:g} fps to {out}")
    return 0
