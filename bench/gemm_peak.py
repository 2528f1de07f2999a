"""This machine's matmul peak (GFLOP/s) in fp32 and bf16: square matmuls of a few sizes, best taken.

    .venv/bin/python bench/gemm_peak.py        # -> bench/results/gemm_peak.json

The peak is the reference for every "fraction of GEMM peak" figure (train_step.py reads this file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, time_it, write_result  # noqa: E402

SIZES = (512, 1024, 2048, 3072)


def gflops(n: int, dtype: torch.dtype) -> dict:
    """GFLOP/s of one n x n x n matmul (2 n^3 FLOPs) in ``dtype``, median and best of repeats."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    reps = max(3, int(2e10 / (2 * n**3)))  # ~20 GFLOP of work per measurement
    t = time_it(lambda: torch.mm(a, b, out=out), warmup=2, repeats=reps, budget_s=4.0)
    flops = 2.0 * n**3
    return {"n": n, "median_gflops": flops / t["median_s"] / 1e9, "best_gflops": flops / t["min_s"] / 1e9,
            "repeats": len(t["times_s"])}


def main() -> None:
    machine = machine_info()
    result: dict = {"sizes": list(SIZES)}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        rows = [gflops(n, dtype) for n in SIZES]
        for r in rows:
            print(f"{name} n={r['n']:5d}  median {r['median_gflops']:8.1f}  best {r['best_gflops']:8.1f} GFLOP/s")
        result[name] = {"per_size": rows, "peak_gflops": max(r["best_gflops"] for r in rows)}
    print(f"peak fp32 {result['fp32']['peak_gflops']:.1f} GFLOP/s, bf16 {result['bf16']['peak_gflops']:.1f} GFLOP/s")
    write_result("gemm_peak", result, machine)


if __name__ == "__main__":
    main()
