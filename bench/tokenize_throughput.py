"""Tokenize and detokenize throughput (frames/s) of the ``tiny`` tokenizer (32x32, 17-frame clips, untrained
weights: speed does not depend on the weights) against the number of kept tokens k and of flow steps.

    .venv/bin/python bench/tokenize_throughput.py     # -> bench/results/tokenize_throughput.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, time_it, write_result  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402

PRESET, BATCH, FRAMES = "tiny", 2, 17
KS = (1, 4, 16, 32)
STEPS = (1, 5, 10, 25)
FIXED_STEPS, FIXED_K = 10, 32


def main() -> None:
    machine = machine_info()
    torch.manual_seed(0)
    model = VideoFlexTok.from_preset(PRESET).eval()
    res = model.config.resolution
    video = torch.rand(BATCH, 3, FRAMES, res, res) * 2 - 1
    frames = BATCH * FRAMES
    t = time_it(lambda: model.tokenize(video), warmup=1, repeats=7, budget_s=10)
    tokens = model.tokenize(video)
    tok = {"median_s": t["median_s"], "frames_per_s": frames / t["median_s"]}
    print(f"tokenize: {tok['frames_per_s']:.1f} frames/s")

    def detok(k: int, steps: int) -> dict:
        g = torch.Generator().manual_seed(0)
        r = time_it(lambda: model.detokenize(tokens, keep_k=k, steps=steps, generator=g), warmup=1, repeats=5,
                    budget_s=8)
        out = {"k": k, "steps": steps, "median_s": r["median_s"], "frames_per_s": frames / r["median_s"]}
        print(f"detokenize k={k:3d} steps={steps:3d}: {out['frames_per_s']:.2f} frames/s")
        return out

    vs_k = [detok(k, FIXED_STEPS) for k in KS]
    vs_steps = [detok(FIXED_K, s) for s in STEPS]
    write_result("tokenize_throughput", {
        "preset": PRESET, "batch": BATCH, "frames": FRAMES, "resolution": res,
        "guidance_scale": model.config.guidance_scale, "tokenize": tok,
        "detokenize_vs_k": {"steps": FIXED_STEPS, "rows": vs_k},
        "detokenize_vs_steps": {"k": FIXED_K, "rows": vs_steps},
    }, machine)


if __name__ == "__main__":
    main()
