"""Tokenize + detokenize cost against clip length (17, 33, 49, 65, 81 frames) for the ``tiny`` tokenizer.

    .venv/bin/python bench/length_scaling.py     # -> bench/results/length_scaling.json

Clips longer than one 17-frame chunk are processed chunk by chunk (consecutive chunks share one frame), so
the cost should grow about linearly in the number of chunks: 81 frames = 5 chunks, ``cost_81_over_17`` ~ 5.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, time_it, write_result  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402

PRESET, BATCH, STEPS = "tiny", 1, 5
LENGTHS = (17, 33, 49, 65, 81)


def main() -> None:
    machine = machine_info()
    torch.manual_seed(0)
    model = VideoFlexTok.from_preset(PRESET).eval()
    res = model.config.resolution
    rows = []
    for n in LENGTHS:
        video = torch.rand(BATCH, 3, n, res, res) * 2 - 1

        def roundtrip(video: torch.Tensor = video) -> None:
            model.detokenize(model.tokenize(video), steps=STEPS, generator=torch.Generator().manual_seed(0))

        t = time_it(roundtrip, warmup=1, repeats=5, budget_s=8)
        rows.append({"frames": n, "median_s": t["median_s"], "min_s": t["min_s"], "times_s": t["times_s"]})
        print(f"{n:3d} frames: tokenize+detokenize {t['median_s'] * 1e3:8.1f} ms (median), {t['min_s'] * 1e3:8.1f} min")
    base = rows[0]
    for r in rows:
        r["cost_over_17"] = r["median_s"] / base["median_s"]
        r["cost_over_17_min"] = r["min_s"] / base["min_s"]
    ratio = rows[-1]["cost_over_17"]
    print(f"cost_81_over_17 = {ratio:.2f} (median), {rows[-1]['cost_over_17_min']:.2f} (min); target <= 5.3")
    write_result("length_scaling", {
        "preset": PRESET, "batch": BATCH, "resolution": res, "steps": STEPS,
        "guidance_scale": model.config.guidance_scale, "rows": rows,
        "cost_81_over_17": ratio, "cost_81_over_17_min": rows[-1]["cost_over_17_min"], "target": 5.3,
    }, machine)


if __name__ == "__main__":
    main()
