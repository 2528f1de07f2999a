"""Streaming tokenizer: latency per latent frame and peak memory for 17 vs 161 frames, against the whole clip at once.

    .venv/bin/python bench/streaming.py [--lengths 17,161] [--setups demo,vidtok128] [--repeats 3]
    # -> bench/results/streaming.json

Setups: ``demo`` (the shipped demo tokenizer: pixel compressor, 64 px, K = 32, 1 Euler step) and ``vidtok128``
(random weights, timing and memory only: a VidTok compressor of base width 32 with one block per level at 128 px,
the tiny preset's transformers, K = 32, 1 Euler step). Every (setup, mode, length) runs in its own process, so
its peak RSS is its own; the clip is random frames made as they are pushed (the streaming modes never hold it).

- ``stream_encode``: frame 0, then 4 frames at a time, into ``model.stream_encoder()``; latency of each push (each
  completes one latent frame);
- ``stream_decode``: the token rows one at a time into ``model.stream_decoder()``; latency of each push (frames
  out); a row late in a chunk re-samples the chunk's earlier rows, so latency grows within a chunk;
- ``offline``: ``tokenize`` then ``detokenize`` of the whole clip (the model's max_frames raised to the length);
  per latent frame = total time / latent frames.

The peak RSS is restarted after building the model and a warm-up pass (``/proc/self/clear_refs``), so it covers the
measured passes; minus the RSS at that moment it is what the passes themselves added.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import THREADS, machine_info, write_result  # noqa: E402
from videoflextok.report.demo import load_tokenizer  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402

MODES = ("stream_encode", "stream_decode", "offline")
VIDTOK128 = ("resolution=128", "K=32", "compressor.kind=vidtok", "compressor.spatial_factor=8",
             "compressor.channels=16", "compressor.base_channels=32", "compressor.channel_mults=[1,2,4,4]",
             "compressor.num_res_blocks=1", "sample_steps=1")


def build(setup: str, frames: int) -> VideoFlexTok:
    """The setup's tokenizer, allowed ``frames``-frame clips offline."""
    if setup == "demo":
        model = load_tokenizer(None)[0]
    elif setup == "vidtok128":
        torch.manual_seed(0)
        model = VideoFlexTok.from_preset("tiny", VIDTOK128)
    else:
        raise SystemExit(f"unknown setup {setup!r}")
    if frames > model.config.max_frames:
        wide = VideoFlexTok(dataclasses.replace(model.config, max_frames=frames))
        wide.load_state_dict(model.state_dict())
        model = wide
    return model.eval()


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status ("VmRSS", "VmHWM": the peak RSS) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> bool:
    """Restart the peak RSS (VmHWM) from the current RSS (Linux: 5 -> /proc/self/clear_refs); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def frame_source(model: VideoFlexTok, seed: int):
    """frames(n) -> the next n random frames [1, 3, n, H, W] of one clip."""
    g, res = torch.Generator().manual_seed(seed), model.config.resolution
    return lambda n: torch.rand(1, 3, n, res, res, generator=g) * 2 - 1


def stream_encode(model: VideoFlexTok, frames: int, seed: int) -> list[float]:
    encoder, source, times = model.stream_encoder(), frame_source(model, seed), []
    tf = model.config.compressor.temporal_factor
    for n in [1] + [tf] * ((frames - 1) // tf):
        piece = source(n)
        t0 = time.perf_counter()
        rows = encoder.push(piece)
        times.append(time.perf_counter() - t0)
        assert len(rows) == 1
    return times


def stream_decode(model: VideoFlexTok, rows: torch.Tensor, seed: int) -> list[float]:
    decoder = model.stream_decoder(generator=torch.Generator().manual_seed(seed))
    times = []
    for row in rows:
        t0 = time.perf_counter()
        decoder.push(row[None])
        times.append(time.perf_counter() - t0)
    return times


def worker(setup: str, mode: str, frames: int, repeats: int) -> dict:
    torch.set_num_threads(THREADS)
    model = build(setup, frames)
    latent = model.config.latent_frames(frames)
    rows = torch.randint(0, model.config.vocab_size, (latent, model.config.K))
    with torch.no_grad():  # warm-up on a short clip
        model.detokenize(model.tokenize(frame_source(model, 99)(5)), generator=torch.Generator().manual_seed(0))
    peak_reset = reset_peak()  # the peak then covers the measured passes only, not the build and the warm-up
    baseline = status_mb("VmRSS")
    times: list[float] = []
    for r in range(repeats):
        if mode == "stream_encode":
            times += stream_encode(model, frames, seed=r)
        elif mode == "stream_decode":
            times += stream_decode(model, rows, seed=r)
        else:
            video = frame_source(model, r)(frames)
            t0 = time.perf_counter()
            tokens = model.tokenize(video)
            t1 = time.perf_counter()
            model.detokenize(tokens, generator=torch.Generator().manual_seed(r))
            t2 = time.perf_counter()
            times.append((t1 - t0) / latent)
            times.append((t2 - t1) / latent)
    peak = status_mb("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"setup": setup, "mode": mode, "frames": frames, "latent_frames": latent, "repeats": repeats,
           "baseline_rss_mb": baseline, "peak_rss_mb": peak, "peak_over_baseline_mb": peak - baseline,
           "peak_includes_warmup": not peak_reset}
    if mode == "offline":
        out["tokenize_ms_per_latent_frame"] = 1e3 * statistics.median(times[0::2])
        out["detokenize_ms_per_latent_frame"] = 1e3 * statistics.median(times[1::2])
    else:
        ms = sorted(1e3 * t for t in times)
        out["latency_ms_per_latent_frame"] = {"median": statistics.median(ms), "p90": ms[int(0.9 * (len(ms) - 1))],
                                              "max": ms[-1], "mean": statistics.fmean(ms)}
        out["per_push_ms_first_repeat"] = [1e3 * t for t in times[:latent]]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", default="17,161", help="clip lengths in frames (1 + 16n), comma-separated")
    p.add_argument("--setups", default="demo,vidtok128", help="comma-separated: demo, vidtok128")
    p.add_argument("--repeats", type=int, default=3, help="passes over the clip per measurement (default 3)")
    p.add_argument("--worker", nargs=3, metavar=("SETUP", "MODE", "FRAMES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        setup, mode, frames = args.worker
        print(json.dumps(worker(setup, mode, int(frames), args.repeats)))
        return 0
    machine = machine_info()
    lengths = [int(x) for x in args.lengths.split(",")]
    results = []
    for setup in args.setups.split(","):
        for mode in MODES:
            for frames in lengths:
                cmd = [sys.executable, __file__, "--worker", setup, mode, str(frames), "--repeats", str(args.repeats)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                results.append(row)
                lat = row.get("latency_ms_per_latent_frame", {}).get("median")
                print(f"{setup:10s} {mode:14s} {frames:4d} frames: peak RSS {row['peak_rss_mb']:7.1f} MB "
                      f"(+{row['peak_over_baseline_mb']:6.1f})" + (f", {lat:7.1f} ms per latent frame" if lat else ""))
    summary = {}
    for setup in args.setups.split(","):
        for mode in MODES:
            rows = {r["frames"]: r for r in results if r["setup"] == setup and r["mode"] == mode}
            if len(lengths) >= 2:
                a, b = rows[lengths[0]], rows[lengths[-1]]
                summary[f"{setup}/{mode}"] = {
                    f"peak_over_baseline_mb_{lengths[0]}": a["peak_over_baseline_mb"],
                    f"peak_over_baseline_mb_{lengths[-1]}": b["peak_over_baseline_mb"],
                    "peak_rss_ratio": b["peak_rss_mb"] / a["peak_rss_mb"],
                }
    write_result("streaming", {"lengths": lengths, "repeats": args.repeats, "rows": results, "summary": summary,
                               "vidtok128_overrides": list(VIDTOK128)}, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
