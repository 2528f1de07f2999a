"""Tokenizer training step (forward + backward + AdamW step) on CPU: samples/s and model FLOP utilisation.

    .venv/bin/python bench/train_step.py          # -> bench/results/train_step.json (needs gemm_peak.json)

Configs: ``tiny`` (32x32, d=128, depth 2+2, K=32) and a mid-size one (``tiny`` preset with 64x64 video,
d=384, 6 heads, encoder/decoder depth 4+4, K=32, batch 2: sequence 5 latent frames x (64 patches + 32 registers) = 480).
Each of fp32 / bf16 autocast x eager / ``torch.compile`` runs in its own subprocess (memory and compile
caches do not leak between cases; a compile that takes too long is killed and recorded as such).

Model FLOPs: the matmul and attention FLOPs of one forward pass of ``training_losses`` counted from the
actual op shapes (``torch.utils.flop_counter.FlopCounterMode``: linear layers, attention as dense QK^T and AV,
convolutions if any), times 3 for forward + backward. The count is taken under bf16 autocast for every case:
there attention runs as explicit matmuls (:func:`videoflextok.nn.attention.attention`), which the counter
sees, while the fused CPU attention kernel used in fp32 is invisible to it (results before 2026-11-29 left
attention out). The FLOPs of a model do not depend on the dtype, so all cases share one count.
Utilisation = model FLOPs / step time / the measured GEMM peak of the same dtype (``gemm_peak.json``, best
square matmul).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_result, machine_info, time_it, write_result  # noqa: E402

CONFIGS = {
    "tiny": {"preset": "tiny", "overrides": [], "batch": 8, "frames": 17},
    "mid": {
        "preset": "tiny",
        "overrides": ["resolution=64", "encoder_dim=384", "encoder_heads=6", "encoder_depth=4",
                      "decoder_dim=384", "decoder_heads=6", "decoder_depth=4"],
        "batch": 2,
        "frames": 17,
    },
}
COMPILE_TIMEOUT_S = 150


def run_case(config: str, precision: str, compiled: bool, repeats: int) -> dict:
    """One case in this process: build the model, time the training step, count the forward FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    from videoflextok.tokenizer.model import VideoFlexTok
    from videoflextok.train.config import TrainConfig
    from videoflextok.train.optim import build_optimizer

    spec = CONFIGS[config]
    torch.manual_seed(0)
    model = VideoFlexTok.from_preset(spec["preset"], spec["overrides"]).train()
    res = model.config.resolution
    video = torch.rand(spec["batch"], 3, spec["frames"], res, res) * 2 - 1
    opt = build_optimizer(model, TrainConfig())
    loss_fn = torch.compile(model.training_losses) if compiled else model.training_losses
    use_bf16 = precision == "bf16"

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            loss = loss_fn(video)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    step()  # first call (includes compilation when compiled)
    first_s = time.perf_counter() - t0
    timing = time_it(step, warmup=1, repeats=repeats, budget_s=20.0)

    counter = FlopCounterMode(display=False)
    with counter, torch.autocast("cpu", dtype=torch.bfloat16):  # see the module docstring
        model.training_losses(video)
    fwd = counter.get_total_flops()
    return {
        "config": config, "precision": precision, "compiled": compiled, "batch": spec["batch"],
        "frames": spec["frames"], "resolution": res, "params": model.num_params(),
        "first_step_s": first_s, "step_median_s": timing["median_s"], "step_times_s": timing["times_s"],
        "samples_per_s": spec["batch"] / timing["median_s"], "forward_flops": fwd, "model_flops_per_step": 3 * fwd,
        "model_gflops_per_s": 3 * fwd / timing["median_s"] / 1e9,
    }


def spawn(config: str, precision: str, compiled: bool, repeats: int) -> dict:
    """Run one case in a fresh subprocess; a timeout or crash becomes an ``error`` entry."""
    cmd = [sys.executable, __file__, "--case", config, precision, str(int(compiled)), "--repeats", str(repeats)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"config": config, "precision": precision, "compiled": compiled,
                "error": f"did not finish within {COMPILE_TIMEOUT_S} s (compile + timing) on this CPU"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"config": config, "precision": precision, "compiled": compiled, "error": " | ".join(tail)}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=3, metavar=("CONFIG", "PRECISION", "COMPILED"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile cases")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    args = parser.parse_args()
    if args.case:
        config, precision, compiled = args.case
        print(json.dumps(run_case(config, precision, compiled == "1", args.repeats)))
        return

    machine = machine_info()
    peak = load_result("gemm_peak")
    if peak is None:
        sys.exit("run bench/gemm_peak.py first (train_step.py divides by its measured GEMM peak)")
    peaks = {"fp32": peak["fp32"]["peak_gflops"], "bf16": peak["bf16"]["peak_gflops"]}
    cases = []
    compile_skip = None  # set once a compile case times out: larger configs would only time out too
    for config in args.configs:
        for precision in ("fp32", "bf16"):
            for compiled in (False,) if args.no_compile else (False, True):
                if compiled and compile_skip:
                    r = {"config": config, "precision": precision, "compiled": True, "error": compile_skip}
                    cases.append(r)
                    print(f"{config:5s} {precision} compile  SKIPPED {compile_skip}")
                    continue
                r = spawn(config, precision, compiled, args.repeats)
                if compiled and "did not finish" in r.get("error", ""):
                    compile_skip = (f"skipped: torch.compile of {config}/{precision} already took over "
                                    f"{COMPILE_TIMEOUT_S} s on this CPU")
                if "error" not in r:
                    r["fraction_of_gemm_peak"] = r["model_gflops_per_s"] / peaks[precision]
                    print(f"{config:5s} {precision} {'compile' if compiled else 'eager  '}  "
                          f"{r['samples_per_s']:7.2f} samples/s  step {r['step_median_s'] * 1e3:8.1f} ms  "
                          f"{r['model_gflops_per_s']:7.1f} GFLOP/s  = {100 * r['fraction_of_gemm_peak']:5.1f}% "
                          f"of {precision} GEMM peak  (first step {r['first_step_s']:.1f} s)")
                else:
                    print(f"{config:5s} {precision} {'compile' if compiled else 'eager  '}  ERROR {r['error']}")
                cases.append(r)
    ok = [c for c in cases if "error" not in c]
    best = max(ok, key=lambda c: c["fraction_of_gemm_peak"]) if ok else None
    mid = [c for c in ok if c["config"] == "mid" and c["precision"] == "bf16"]
    mid_best = max((c["fraction_of_gemm_peak"] for c in mid), default=None)
    write_result("train_step", {
        "gemm_peak_gflops": peaks, "configs": CONFIGS, "cases": cases,
        "best_fraction_of_gemm_peak": best["fraction_of_gemm_peak"] if best else None,
        "best_case": {k: best[k] for k in ("config", "precision", "compiled")} if best else None,
        "mid_bf16_best_fraction_of_bf16_peak": mid_best,
        "target_mid_bf16_fraction": 0.5,
    }, machine)


if __name__ == "__main__":
    main()
