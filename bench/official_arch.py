"""Speed of the released architecture (VidTok VAE included) on random weights, stage by stage.

    .venv/bin/python bench/official_arch.py                         # CPU defaults -> bench/results/official_arch.json
    .venv/bin/python bench/official_arch.py --device cuda --compile --frames 17,81 --steps 4,25 --out gpu.json

For every (preset, precision, clip length) one fresh process builds ``VideoFlexTok.from_preset`` with random
weights and measures: start-up (building the model), tokenize (VAE encode + encoder), and detokenize for each
(Euler steps, guidance mode) with guidance 3, split into decoder evaluations, VAE decode and the VAE encode of
later chunks' conditioning frames; its peak RSS (CPU) or peak allocated memory (CUDA). bf16 is autocast. FLOPs of
each stage are counted once on the meta device (torch's FlopCounterMode: convolutions, matmuls, attention) and
divided by the measured time and the machine's GEMM peak at the same precision and thread count (measured here,
square matmuls) for the fraction of peak. Times are medians of ``--repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import exit_code, machine_info, write_result  # noqa: E402
from videoflextok.errors import ConfigError  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402
from videoflextok.tokenizer.patches import patchify  # noqa: E402

GUIDANCE = 3.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class StageClock:
    """Adds up the wall time of calls to chosen methods of one object (patched on the instance)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds, self.calls = device, {}, {}

    def wrap(self, owner: object, method: str, stage: str) -> None:
        inner = getattr(owner, method)

        def timed(*args, **kwargs):
            _sync(self.device)
            start = time.perf_counter()
            out = inner(*args, **kwargs)
            _sync(self.device)
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
            self.calls[stage] = self.calls.get(stage, 0) + 1
            return out

        setattr(owner, method, timed)

    def reset(self) -> None:
        self.seconds, self.calls = {}, {}


def gemm_peak(dtype: torch.dtype, device: torch.device) -> float:
    """Best GFLOP/s of square matmuls (n = 1024, 2048, 4096 on CUDA) at this precision and thread count."""
    best = 0.0
    for n in (1024, 2048) if device.type == "cpu" else (4096, 8192):
        a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
        reps = 3 if device.type == "cpu" else 20
        torch.mm(a, b)
        _sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        _sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return best


def stage_flops(preset: str, overrides: list[str]) -> dict[str, float]:
    """FLOPs of one call of each stage for one chunk of one video (the decoder: one guided evaluation, conditional
    and unconditional branch), counted on the meta device (no computation)."""
    with torch.device("meta"):
        model = VideoFlexTok.from_preset(preset, overrides).eval()
    cfg = model.config
    lc, side = cfg.chunk_latent_frames, cfg.latent_size
    clip = torch.empty(1, 3, cfg.chunk_frames, cfg.resolution, cfg.resolution, device="meta")
    latent = torch.empty(1, cfg.compressor.channels, lc, side, side, device="meta")
    registers = torch.empty(2, lc, cfg.K, cfg.decoder_dim, device="meta")
    counts = {}
    with torch.no_grad():
        for name, call in (
            ("vae_encode", lambda: model.compressor.encode(clip)),
            ("encoder", lambda: model.encoder.features(patchify(latent, cfg.patch_size))),
            ("decoder_eval_cfg", lambda: model.latent_velocity(latent.expand(2, -1, -1, -1, -1),
                                                               torch.empty(2, device="meta"), registers, False)),
            ("vae_decode", lambda: model.compressor.decode(latent)),
        ):
            with FlopCounterMode(display=False) as counter:
                call()
            counts[name] = float(counter.get_total_flops())
    return counts


def worker(args: argparse.Namespace) -> dict:
    """One (preset, precision, frames) measurement in this process (``args.presets`` is one preset name)."""
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    start = time.perf_counter()
    torch.manual_seed(0)
    model = VideoFlexTok.from_preset(args.presets, args.overrides).eval().to(device)
    with torch.no_grad():
        for p in model.parameters():  # adaLN and output layers start at zero: give every weight some signal
            p.normal_(0.0, 0.02)
    _sync(device)
    startup = time.perf_counter() - start
    if args.compile:  # the transformer trunks; the VAE stays eager
        model.encoder.transformer = torch.compile(model.encoder.transformer)
        model.decoder.blocks = torch.nn.ModuleList(torch.compile(block) for block in model.decoder.blocks)
    cfg = model.config
    video = (torch.rand(1, 3, args.frames, cfg.resolution, cfg.resolution, generator=torch.Generator().manual_seed(0))
             * 2 - 1).to(device)
    clock = StageClock(device)
    clock.wrap(model, "encode_latents", "vae_encode")
    clock.wrap(model.encoder, "forward", "encoder")
    clock.wrap(model, "latent_velocity", "decoder_evals")
    clock.wrap(model, "_decode_latents", "vae_decode")
    clock.wrap(model, "_condition_latent", "condition_encode")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)

    def timed(call) -> dict:
        runs = []
        for i in range(args.repeats + 1):
            clock.reset()
            _sync(device)
            t0 = time.perf_counter()
            with torch.no_grad(), autocast:
                call()
            _sync(device)
            if i:  # the first run warms up (kernel selection, allocator, compilation)
                runs.append({"total_s": time.perf_counter() - t0, **{f"{k}_s": v for k, v in clock.seconds.items()},
                             **{f"{k}_calls": v for k, v in clock.calls.items()}})
        runs.sort(key=lambda r: r["total_s"])
        return runs[len(runs) // 2]

    out = {"startup_s": startup, "tokenize": timed(lambda: model.tokenize(video))}
    tokens = model.tokenize(video)
    for steps in args.steps:
        for mode in args.modes:
            call = partial(model.detokenize, tokens, steps=steps, guidance=GUIDANCE, guidance_mode=mode,
                           generator=torch.Generator(device=device).manual_seed(0))
            out[f"detokenize_{steps}_{mode}"] = timed(call)
    if device.type == "cuda":
        out["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    else:
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out["gemm_peak_gflops"] = gemm_peak(dtype, device)
    return out


def summarise(result: dict, flops: dict, chunks: int) -> dict:
    """Add FLOPs and the fraction of the GEMM peak per stage, and the top-level target keys."""
    peak = result["gemm_peak_gflops"] * 1e9
    tok = result["tokenize"]
    for stage in ("vae_encode", "encoder"):
        if f"{stage}_s" in tok:
            work = flops[stage] * chunks
            tok[f"{stage}_gflop"] = work / 1e9
            tok[f"{stage}_peak_fraction"] = work / tok[f"{stage}_s"] / peak
    for key, run in result.items():
        if not key.startswith("detokenize_"):
            continue
        evals, decodes = run.get("decoder_evals_calls", 0), run.get("vae_decode_calls", 0)
        run["decoder_gflop"] = flops["decoder_eval_cfg"] * evals / 1e9  # guidance 3: both branches every call
        run["decoder_peak_fraction"] = flops["decoder_eval_cfg"] * evals / run["decoder_evals_s"] / peak
        run["vae_decode_gflop"] = flops["vae_decode"] * decodes / 1e9
        run["vae_decode_peak_fraction"] = flops["vae_decode"] * decodes / run["vae_decode_s"] / peak
    memory = result.get("peak_rss_gb", result.get("peak_memory_gb"))
    result.update(tokenize_s=tok["total_s"], detokenize_s=result["detokenize_4_cfg"]["total_s"]
                  if "detokenize_4_cfg" in result else None, peak_rss_gb=memory)
    return result


def run(args: argparse.Namespace) -> None:
    presets, frames, precisions = args.presets.split(","), [int(f) for f in args.frames.split(",")], \
        args.precisions.split(",")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was requested but CUDA is not available")
    machine = machine_info()
    if args.device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    results: dict = {"clip_frames": frames, "steps": args.steps, "modes": args.modes, "guidance": GUIDANCE,
                     "device": args.device, "compile": args.compile, "threads": args.threads}
    if args.overrides:
        results["overrides"] = args.overrides
    for preset in presets:
        flops = stage_flops(preset, args.overrides)
        results.setdefault(preset, {"flops_per_chunk": flops})
        for precision in precisions:
            for n in frames:
                cmd = [sys.executable, __file__, "--worker", "--presets", preset, "--precision", precision,
                       "--frames", str(n), "--steps", ",".join(map(str, args.steps)), "--modes", ",".join(args.modes),
                       "--repeats", str(args.repeats), "--device", args.device, "--threads", str(args.threads),
                       *[f"--override={o}" for o in args.overrides]]
                if args.compile:
                    cmd.append("--compile")
                env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode:
                    raise RuntimeError(f"worker {preset} {precision} {n} failed:\n{done.stderr[-3000:]}")
                chunks = 1 if n <= 17 else (n - 1) // 16
                measured = summarise(json.loads(done.stdout.strip().splitlines()[-1]), flops, chunks)
                key = precision if n == 17 else f"{precision}_{n}f"
                results[preset][key] = measured
                print(f"{preset} {precision} {n} frames: tokenize {measured['tokenize_s']:.2f} s, detokenize (4, cfg) "
                      f"{measured.get('detokenize_s') or float('nan'):.2f} s, memory {measured['peak_rss_gb']:.2f} GB",
                      flush=True)
                write_result(args.name, results, machine)  # after every measurement: a stopped run keeps its part


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", default="d12-d12", help="comma-separated tokenizer presets (default d12-d12)")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    p.add_argument("--frames", default="17", help="comma-separated clip lengths, 1 + 16n (default 17)")
    p.add_argument("--steps", default="4", type=lambda s: [int(x) for x in s.split(",")], help="Euler steps: 4,25")
    p.add_argument("--modes", default="cfg,apg", type=lambda s: s.split(","), help="guidance modes: cfg,apg")
    p.add_argument("--repeats", type=int, default=1, help="timed runs after the warm-up (median reported)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="torch threads on CPU (default 2)")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder and decoder")
    p.add_argument("--override", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a model override for every preset (repeatable), e.g. --override sample_steps=4")
    p.add_argument("--name", default="official_arch", help="result name: bench/results/<name>.json")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker:  # one (preset, precision, frames) in this process; prints its JSON on the last line
        args.frames = int(args.frames)
        print(json.dumps(worker(args)))
        return 0
    return exit_code(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
