"""Autoregressive sampling speed of the ``tiny-c2v`` generator with and without the KV cache.

    .venv/bin/python bench/ar_sampling.py     # -> bench/results/ar_sampling.json

Sequence lengths (tokens_per_frame x latent frames): 160 = 32 x 5, 672 = 32 x 21, 1280 = 64 x 20. The tiny
preset is widened to tokens_per_frame=64, max_latent_frames=21 so these budgets are allowed; depth 4, width
128 as in the preset. One class-conditional sample, no CFG (cfg_scale 1), temperature 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, time_it, write_result  # noqa: E402
from videoflextok.generator.model import VideoGenerator  # noqa: E402

LENGTHS = ((32, 5), (32, 21), (64, 20))  # (tokens_per_frame, latent frames)
OVERRIDES = ["tokens_per_frame=64", "max_latent_frames=21"]


def main() -> None:
    machine = machine_info()
    torch.manual_seed(0)
    model = VideoGenerator.from_preset("tiny-c2v", OVERRIDES).eval()
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
                print(f"{n:5d} tokens  {key:8s}: {n / t['median_s']:8.1f} tokens/s ({t['median_s']:.2f} s)")
            row["kv_speedup"] = row["kv_cache"]["tokens_per_s"] / row["no_cache"]["tokens_per_s"]
            print(f"{n:5d} tokens  KV-cache speed-up {row['kv_speedup']:.2f}x")
            rows.append(row)
    write_result("ar_sampling", {
        "preset": "tiny-c2v", "overrides": OVERRIDES, "params": model.num_params(), "rows": rows,
        "kv_speedup_1280": rows[-1]["kv_speedup"], "target": 10.0,
    }, machine)


if __name__ == "__main__":
    main()
