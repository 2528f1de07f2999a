"""``videoflextok generate``: sample tokens with a trained generator and decode them into a video file.

``videoflextok generate --generator GEN_DIR --tokenizer TOK_DIR (--class N | --prompt TEXT)
--tokens-per-frame K --num-frames T --out FILE.mp4 [--cfg S --temperature ... --seed ...]``

The generator samples ``K`` tokens per latent frame in its token order (time-first: it stops after K and
the tokenizer's flow decoder fills in the rest); the tokenizer decodes them into ``T`` frames. With
``--num-samples N`` the files are ``FILE_0.mp4 ... FILE_{N-1}.mp4``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from videoflextok.atomic import check_out_file, make_folder
from videoflextok.checks import MAX_FPS, MAX_SEED, check_float, check_int, check_memory, check_optional
from videoflextok.cli.pretokenize import default_device
from videoflextok.data.video_io import write_video
from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.generator.model import VideoGenerator
from videoflextok.generator.sampling import check_sampling
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.tokens import check_same_tokenizer


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="sample a video from a class id or a text prompt with a trained generator",
        description="Sample tokens with a trained generator and decode them into a video with the tokenizer.",
    )
    p.add_argument("--generator", required=True, help="generator checkpoint folder or training run folder")
    p.add_argument("--tokenizer", required=True, help="tokenizer checkpoint folder or training run folder")
    cond = p.add_mutually_exclusive_group(required=True)
    cond.add_argument("--class", dest="class_id", type=int, help="class id (class-to-video generators)")
    cond.add_argument("--prompt", help="text prompt (text-to-video generators)")
    p.add_argument("--tokens-per-frame", type=int, default=None,
                   help="tokens sampled per latent frame (default: what the generator was trained for)")
    p.add_argument("--num-frames", type=int, default=17, help="video frames, 1 + 16n (default: 17)")
    p.add_argument("--out", required=True, help="output video: .mp4, .mkv or .gif")
    p.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale on logits (1 = off)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = greedy)")
    p.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass in (0, 1]")
    p.add_argument("--seed", type=int, default=0, help="seed of token sampling and of the flow decoder")
    p.add_argument("--num-samples", type=int, default=1, help="videos to sample in one batch (default: 1)")
    p.add_argument("--steps", type=int, default=None, help="flow decoder Euler steps (default: tokenizer's)")
    p.add_argument("--guidance", type=float, default=None, help="flow decoder guidance (default: tokenizer's)")
    p.add_argument("--fps", type=float, default=8.0, help="frame rate of the written video (default: 8)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.set_defaults(func=run)


MAX_SAMPLES = 4096  # videos sampled in one batch


def output_paths(out: Path, n: int) -> list[Path]:
    """``out`` itself for one sample, else ``stem_0.ext ... stem_{n-1}.ext`` beside it."""
    return [out] if n == 1 else [out.with_name(f"{out.stem}_{i}{out.suffix}") for i in range(n)]


def run(args: argparse.Namespace) -> int:
    check_int("--num-samples", args.num_samples, 1, MAX_SAMPLES)
    check_float("--fps", args.fps, 0.0, MAX_FPS, low_open=True)
    check_optional(check_int, "--tokens-per-frame", args.tokens_per_frame, 1)
    check_optional(check_int, "--steps", args.steps, 1)
    check_optional(check_float, "--guidance", args.guidance, 0.0)
    check_float("--cfg", args.cfg, 0.0)
    check_sampling(args.temperature, args.top_k, args.top_p, args.cfg)
    check_int("--seed", args.seed, 0, MAX_SEED)
    out = check_out_file(args.out, (".mp4", ".mkv", ".gif"))
    device = default_device(args.device)
    generator = VideoGenerator.from_pretrained(args.generator, device=device).eval()
    gcfg = generator.config
    if args.prompt is not None and gcfg.conditioning != "text":
        raise ConfigError("this generator is class-conditioned; give --class N instead of --prompt")
    if args.class_id is not None and gcfg.conditioning != "class":
        raise ConfigError("this generator is text-conditioned; give --prompt TEXT instead of --class")
    cond = [args.class_id] * args.num_samples if args.prompt is None else [args.prompt] * args.num_samples
    generator.check_condition(cond, sampling=True)  # unknown class / empty prompt fail before the tokenizer loads

    tokenizer = VideoFlexTok.from_pretrained(args.tokenizer, device=device).eval()
    tcfg = tokenizer.config
    if tcfg.vocab_size != gcfg.vocab_size:
        raise CheckpointError(
            f"the generator's vocabulary ({gcfg.vocab_size}) does not match the tokenizer's ({tcfg.vocab_size})"
        )
    check_same_tokenizer(gcfg, tokenizer)
    if not tcfg.supports_frames(args.num_frames):
        raise ConfigError(f"--num-frames is {args.num_frames}; this tokenizer takes {tcfg.frames_rule()}")
    check_memory(args.num_samples * 3 * args.num_frames * tcfg.resolution**2 * 4, f"--num-samples {args.num_samples}")
    k = args.tokens_per_frame or gcfg.tokens_per_frame
    latent = tcfg.latent_frames(args.num_frames)
    generator.check_budget(latent, k)
    if k > tcfg.K:
        raise ConfigError(f"--tokens-per-frame {k} exceeds the tokenizer's {tcfg.K} tokens per latent frame")
    rng = torch.Generator(device=device).manual_seed(args.seed)
    tokens = generator.generate(
        cond, latent, k, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        cfg_scale=args.cfg, generator=rng,
    )
    video = tokenizer.detokenize(list(tokens), steps=args.steps, guidance=args.guidance, generator=rng)
    make_folder(out.parent)
    for path, clip in zip(output_paths(out, args.num_samples), video):
        write_video(path, clip.cpu(), fps=args.fps)
        print(f"wrote {path}: {video.shape[2]} frames at {video.shape[3]}x{video.shape[4]} "
              f"from {latent}x{k} tokens")
    return 0
