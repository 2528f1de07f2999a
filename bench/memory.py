"""Peak resident memory of tokenizing + detokenizing an 81-frame 128x128 clip, in a fresh subprocess.

    .venv/bin/python bench/memory.py     # -> bench/results/memory.json

Model: the ``d12-d12`` preset's token shapes (128x128 video, K=256, d=768, 12 heads, patch 1: 2560 tokens
per 17-frame chunk) with encoder/decoder depth cut to 2 + 2 by default (``--full`` keeps 12 + 12; on the shared
2-core CPU the full model did not finish within 900 s) and a ``pixel`` compressor of the same factors
(temporal 4, spatial 8; 768 channels instead of 16) instead of the VAE: no trained VAE ships with the
package. Inference keeps no activations across layers, so depth adds only its weights (4 bytes per
parameter, reported as ``params``). One flow step (memory does not grow with the step count); guidance 3 as
in the preset doubles the decoder batch.
Peak RSS = ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the child, which includes the Python + torch
baseline (measured separately as ``baseline_rss_gb``: the child imports and builds the model only).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result  # noqa: E402

PRESET = "d12-d12"
OVERRIDES = ["compressor.kind=pixel", "compressor.channels=768", "sample_steps=1"]
SHALLOW = ["encoder_depth=2", "decoder_depth=2"]
FRAMES, RES = 81, 128


def child(run: bool, full: bool) -> None:
    import torch

    from videoflextok.tokenizer.model import VideoFlexTok

    torch.manual_seed(0)
    model = VideoFlexTok.from_preset(PRESET, OVERRIDES + ([] if full else SHALLOW)).eval()
    t0 = time.perf_counter()
    if run:
        video = torch.rand(1, 3, FRAMES, RES, RES) * 2 - 1
        out = model.detokenize(model.tokenize(video), generator=torch.Generator().manual_seed(0))
        assert out.shape == video.shape
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"peak_rss_gb": rss_kb / 1024**2, "seconds": time.perf_counter() - t0,
                      "params": model.num_params()}))


def measure(run: bool, full: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(int(run))] + (["--full"] if full else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    full_depth = "--full" in sys.argv
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        child(sys.argv[2] == "1", full_depth)
        return
    machine = machine_info()
    base = measure(False, full_depth)
    full = measure(True, full_depth)
    print(f"baseline (import + build) {base['peak_rss_gb']:.2f} GB; tokenize+detokenize {FRAMES}x{RES}x{RES}: "
          f"peak RSS {full['peak_rss_gb']:.2f} GB in {full['seconds']:.1f} s; target < 4 GB")
    write_result("memory", {
        "preset": PRESET, "overrides": OVERRIDES + ([] if full_depth else SHALLOW),
        "full_depth": full_depth, "frames": FRAMES, "resolution": RES, "params": full["params"],
        "baseline_rss_gb": base["peak_rss_gb"], "peak_rss_gb_81x128": full["peak_rss_gb"],
        "seconds": full["seconds"], "target_gb": 4.0,
    }, machine)


if __name__ == "__main__":
    main()
