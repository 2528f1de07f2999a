"""Autoregressive sampling speed of class-to-video generators with and without the KV cache.

    .venv/bin/python bench/ar_sampling.py [--rounds 3] [--models tiny-c2v small]   # -> bench/results/ar_sampling.json

Sequence lengths (tokens_per_frame x latent frames): 160 = 32 x 5, 672 = 32 x 21, 1280 = 64 x 20. Two models,
both with the tokenizer's 64,000-token vocabulary, widened to tokens_per_frame=64, max_latent_frames=21 so
these budgets are allowed:

- ``tiny-c2v`` as in the preset (depth 4, width 128): its output layer (64,000 x 128) has 10x the weights of
  its blocks, so every sampled token pays mostly for the head, with or without the cache;
- ``small``: the same preset at depth 8, width 256, 4 heads. Its blocks (6.3M weights) are still smaller than
  its head (16.4M), unlike the paper's generators (1.1B-3.2B parameters, heads of 64,000 x width), where
  the blocks dominate even more.

One class-conditional sample, no CFG (cfg_scale 1), temperature 1. ``kv_speedup_1280`` is the tiny model's: the
ratio of the medians of ``--rounds`` (default 3) cached and uncached runs, taken alternately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result  # noqa: E402
from videoflextok.generator.model import VideoGenerator  # noqa: E402

LENGTHS = ((32, 5), (32, 21), (64, 20))  # (tokens_per_frame, latent frames)
WIDEN = ["tokens_per_frame=64", "max_latent_frames=21"]
MODELS = {
    "tiny-c2v": WIDEN,
    "small": WIDEN + ["depth=8", "width=256", "heads=4"],
}


def measure(name: str, overrides: list[str], rounds: int, budget_s: float | None) -> dict:
    """Sampling time of one model at every length: the KV-cached and the uncached run alternate, ``rounds``
    times (fewer once ``budget_s`` seconds of one kind are spent, after at least one), so that a drift of the
    machine's speed meets both alike; the speed-up is the ratio of the two medians."""
    torch.manual_seed(0)
    model = VideoGenerator.from_preset("tiny-c2v", overrides).eval()
    rows = []
    with torch.inference_mode():
        model.generate([0], 2, tokens_per_frame=64, generator=torch.Generator().manual_seed(0))  # warm-up
        for k, frames in LENGTHS:
            n = k * frames
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(rounds):
                for cache in (True, False):
                    if times[cache] and budget_s is not None and sum(times[cache]) >= budget_s:
                        continue
                    t0 = time.perf_counter()
                    model.generate([0], frames, tokens_per_frame=k, generator=torch.Generator().manual_seed(0),
                                   use_kv_cache=cache)
                    times[cache].append(time.perf_counter() - t0)
            row = {"tokens": n, "tokens_per_frame": k, "latent_frames": frames}
            for cache, key in ((True, "kv_cache"), (False, "no_cache")):
                median = statistics.median(times[cache])
                row[key] = {"median_s": median, "tokens_per_s": n / median, "times_s": times[cache]}
                print(f"{name:8s} {n:5d} tokens  {key:8s}: {n / median:8.1f} tokens/s ({median:.2f} s, "
                      f"{len(times[cache])} runs)")
            row["kv_speedup"] = row["kv_cache"]["tokens_per_s"] / row["no_cache"]["tokens_per_s"]
            print(f"{name:8s} {n:5d} tokens  KV-cache speed-up {row['kv_speedup']:.2f}x")
            rows.append(row)
    head = model.head.weight.numel()
    return {
        "preset": "tiny-c2v", "overrides": overrides, "params": model.num_params(),
        "params_without_embedding_and_head": model.num_params(exclude_embeddings=True), "head_params": head,
        "rounds": rounds, "budget_s": budget_s,
        "rows": rows, "kv_speedup_1280": rows[-1]["kv_speedup"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="cached / uncached runs per length (default 3; the "
                        "small model stops after 5 s of each kind)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    machine = machine_info()
    # the small model's uncached 1280-token run takes minutes: it gets one run per kind beyond 5 s
    models = {name: measure(name, MODELS[name], args.rounds, None if name == "tiny-c2v" else 5.0)
              for name in args.models}
    tiny = models.get("tiny-c2v")
    write_result("ar_sampling", {
        "preset": "tiny-c2v", "overrides": MODELS["tiny-c2v"],
        "params": tiny and tiny["params"], "rows": tiny and tiny["rows"],
        "kv_speedup_1280": tiny and tiny["kv_speedup_1280"], "target": 10.0,
        "kv_speedup_1280_by_model": {name: m["kv_speedup_1280"] for name, m in models.items()},
        "models": models,
    }, machine)


if __name__ == "__main__":
    main()
