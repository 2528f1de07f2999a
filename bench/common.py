"""Shared helpers of the ``bench/`` scripts: timing (warm-up, median of repeats), machine info, JSON output.

Every script records the machine (CPU model, cores, torch threads) and the 1-minute load average at the start
and at the end, because the benchmark machine is shared: a load average above the core count means other
processes competed for the CPU and the numbers are lower bounds.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from videoflextok.atomic import check_out_file
from videoflextok.errors import ConfigError, VideoFlexTokError

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# Threads used by torch in every benchmark (env BENCH_THREADS, default 1): on a shared 2-core machine with
# other jobs running, one thread per process gives far steadier timings than 2 threads that wait on each other.
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
torch.set_num_threads(THREADS)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform.processor() as a fallback)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_info() -> dict:
    """CPU model, logical cores, torch threads, torch version, bf16 hardware support, load average now."""
    flags = cpu_flags()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "load_avg_start": list(os.getloadavg()),
        "shared_machine_note": "other processes may run on this machine; see load_avg_start / load_avg_end",
    }


def time_it(fn: Callable[[], object], warmup: int = 1, repeats: int = 5, budget_s: float | None = None) -> dict:
    """Run ``fn`` ``warmup`` times untimed, then up to ``repeats`` times timed (stopping early once ``budget_s``
    seconds of timed runs are spent, after at least one). Returns median / min / all times in seconds."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    spent = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
        if budget_s is not None and spent >= budget_s:
            break
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times}


def write_result(name: str, payload: dict, machine: dict) -> Path:
    """Write ``bench/results/<name>.json`` atomically with ``machine`` (load_avg_end added) and print it."""
    machine = dict(machine, load_avg_end=list(os.getloadavg()))
    data = {"benchmark": name, "timestamp_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine, **payload}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=RESULTS, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def load_result(name: str) -> dict | None:
    """The JSON of an earlier benchmark (e.g. ``gemm_peak``), or None if it has not been run."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def exit_code(run: Callable[[], object]) -> int:
    """Call ``run``; 0, or 2 after printing a :class:`~videoflextok.errors.VideoFlexTokError` as one sentence (a
    bad argument, path or checkpoint), for the ``main`` of benchmarks that take user input."""
    try:
        run()
    except VideoFlexTokError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def check_positive(args, names: tuple[str, ...]) -> None:
    """Raise ConfigError naming the first option in ``names`` (argparse dests) whose value is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")


def output_path(out: str | Path) -> Path:
    """``out`` as a Path, checked before any work is done (ConfigError when it is a folder or a file stands where a
    folder above it must be); missing folders above it are made when the result is written."""
    return check_out_file(out)


def check_same_setting(tokenizer, baseline, fields: tuple[str, ...] = ("resolution", "chunk_frames", "K")) -> None:
    """Raise ConfigError unless the baseline's tokenizer config has the tokenizer's ``fields`` (a comparison at the
    same k needs the same clips and token grid)."""
    for field in fields:
        if getattr(baseline, field) != getattr(tokenizer, field):
            raise ConfigError(f"the baseline's {field} ({getattr(baseline, field)}) differs from the tokenizer's "
                              f"({getattr(tokenizer, field)}); the comparison needs the same setting")
