"""Autoregressive sampling speed of class-to-video generators with and without the KV cache.

    .venv/bin/python bench/ar_sampling.py     # -> bench/results/ar_sampling.json

Sequence lengths (tokens_per_frame x latent frames): 160 = 32 x 5, 672 = 32 x 21, 1280 = 64 x 20. Two models,
both with the tokenizer's 64,000-token vocabulary, widened to tokens_per_frame=64, max_latent_frames=21 so
these budgets are allowed:

- ``tiny-c2v`` as in the preset (depth 4, width 128): its output layer (64,000 x 128) has 10x the weights of
  its blocks, so every sampled token pays mostly for the head, with or without the cache;
- ``small``: the same preset at depth 8, width 256, 4 heads. Its blocks (6.3M weights) are still smaller than
  its head (16.4M), unlike the paper's generators (1.1B-3.2B parameters, heads of 64,000 x width), where
  the blocks dominate even more.

One class-conditional sample, no CFG (cfg_scale 1), temperature 1. ``kv_speedup_1280`` is the tiny model's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, time_it, write_result  # noqa: E402
from videoflextok.generator.model import VideoGenerator  # noqa: E402

LENGTHS = ((32, 5), (32, 21), (64, 20))  # (tokens_per_frame, latent frames)
WIDEN = ["tokens_per_frame=64", "max_latent_frames=21"]
MODELS = {
    "tiny-c2v": WIDEN,
    "small": WIDEN + ["depth=8", "width=256", "heads=4"],
}


def measure(name: str, overrides: list[str]) -> dict:
    torch.manual_seed(0)
    model = VideoGenerator.from_preset("tiny-c2v", overrides).eval()
    rows = []
    with torch.inference_mode():
        for k, frames in LENGTHS:
            n = k * frames
            row = {"tokens": n, "tokens_per_frame": k, "latent_frames": frames}
            for cache in (True, False):
                def gen(frames: int = frames, k: int = k, cache: bool = cache) -> None:
                    model.generate([0], frames, tokens_per_frame=k, generator=torch.Generator().manual_seed(0),
                                   use_kv_cache=cache)

                t = time_it(gen, warmup=0 if n > 600 else 1, repeats=3, budget_s=5)
                key = "kv_cache" if cache else "no_cache"
                row[key] = {"median_s": t["median_s"], "tokens_per_s": n / t["median_s"], "times_s": t["times_s"]}
                print(f"{name:8s} {n:5d} tokens  {key:8s}: {n / t['median_s']:8.1f} tokens/s ({t['median_s']:.2f} s)")
            row["kv_speedup"] = row["kv_cache"]["tokens_per_s"] / row["no_cache"]["tokens_per_s"]
            print(f"{name:8s} {n:5d} tokens  KV-cache speed-up {row['kv_speedup']:.2f}x")
            rows.append(row)
    head = model.head.weight.numel()
    return {
        "preset": "tiny-c2v", "overrides": overrides, "params": model.num_params(),
        "params_without_embedding_and_head": model.num_params(exclude_embeddings=True), "head_params": head,
        "rows": rows, "kv_speedup_1280": rows[-1]["kv_speedup"],
    }


def main() -> None:
    machine = machine_info()
    models = {name: measure(name, overrides) for name, overrides in MODELS.items()}
    tiny = models["tiny-c2v"]
    write_result("ar_sampling", {
        "preset": "tiny-c2v", "overrides": tiny["overrides"], "params": tiny["params"], "rows": tiny["rows"],
        "kv_speedup_1280": tiny["kv_speedup_1280"], "target": 10.0,
        "kv_speedup_1280_by_model": {name: m["kv_speedup_1280"] for name, m in models.items()},
        "models": models,
    }, machine)


if __name__ == "__main__":
    main()
