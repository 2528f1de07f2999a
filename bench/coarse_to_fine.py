"""Coarse-to-fine evidence: reconstruction quality and semantics against the number of tokens per latent frame, for
the VideoFlexTok tokenizer (nested dropout) and the 3D-grid baseline (the same tokenizer trained with
``model.nested_dropout=false``, evaluated at the same k by keeping the first k tokens of every latent frame).

    .venv/bin/python bench/coarse_to_fine.py --tokenizer DIR --baseline DIR [--num 256] [--steps 1] \\
        [--out bench/results/coarse_to_fine.json] [--train-minutes M] [--baseline-train-minutes M] [--command "..."]
        [--baseline-command "..."]

``--baseline-from FILE`` instead of ``--baseline DIR`` reuses the grid-baseline rows of an earlier result file
measured on the same clips (same ``num``, ``steps``, ``seed``, resolution, frames and K); the new file names it
under ``baseline_source``.

On ``--num`` held-out ``shapes`` clips (split heldout, the tokenizer's resolution and chunk length, fixed seed) and
for each k in 1, 2, 4, ..., K: mean PSNR and SSIM (per frame) and the shapes probe's class score of the
reconstructions, plus the class score of the original clips. Writes the JSON (atomically; layout below) and a PNG
plot beside it (PSNR and class score against k, both models), and prints a table::

    {"tokenizer": [{"k": 1, "psnr": .., "ssim": .., "class_score": ..}, ...], "grid_baseline": [...],
     "original_class_score": .., "train_minutes": .., "command": "...", ...}

``class_score_parts`` splits the class score (see ``videoflextok.eval.reconstruction``): per model and k how often
the probe finds the primary object's color, reads its shape and its direction, and the PSNR of object and of
background pixels; ``original`` holds the reads of the original clips.

``train_minutes`` is the training wall time logged in the run's ``metrics.jsonl`` (``train_s`` of the last train
row; the checkpoint folder's own ``metrics.jsonl`` or its run folder's), unless ``--train-minutes`` gives it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, check_positive, check_same_setting, exit_code, machine_info, output_path  # noqa: E402
from videoflextok.atomic import atomic_write_text, make_folder  # noqa: E402
from videoflextok.checkpoint import load_pretrained, resolve_checkpoint_folder  # noqa: E402
from videoflextok.errors import VideoFlexTokError  # noqa: E402
from videoflextok.eval.reconstruction import ReconstructionEvalConfig, evaluate_reconstruction  # noqa: E402
from videoflextok.plotting import pyplot, save_png, token_axis  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402
from videoflextok.train.metrics_log import METRICS_FILE, read_metrics  # noqa: E402

ROW_KEYS = ("psnr", "ssim", "class_score")
# the class score's parts and the error split by region (evaluate_reconstruction), under "class_score_parts"
PART_KEYS = ("primary_found", "primary_shape", "primary_direction", "object_psnr", "background_psnr")


def train_minutes_from_log(folder: str | Path) -> float | None:
    """Training wall time (minutes) of the run that produced ``folder`` (a checkpoint or run folder): ``train_s`` of
    the last train row of ``metrics.jsonl`` in the folder itself, else in the run folder above ``checkpoints/``.
    None when no such log or field exists."""
    folder = Path(folder)
    candidates = [folder]
    try:
        ckpt = resolve_checkpoint_folder(folder)
        candidates += [ckpt, ckpt.parent.parent]  # run/checkpoints/step_N -> run
    except VideoFlexTokError:
        pass
    for run in candidates:
        if not (run / METRICS_FILE).is_file():
            continue
        rows = [r for r in read_metrics(run, "train") if isinstance(r.get("train_s"), (int, float))]
        if rows:
            return float(max(rows, key=lambda r: r["step"])["train_s"]) / 60.0
    return None


def evaluate(tokenizer: VideoFlexTok, args: argparse.Namespace, progress: bool) -> dict[str, Any]:
    """evaluate_reconstruction on held-out shapes clips without FVD -> (rows in the benchmark layout, raw result)."""
    cfg = ReconstructionEvalConfig(dataset="shapes", split="heldout", num=args.num, batch_size=args.batch_size,
                                   steps=args.steps, seed=args.seed, fvd=False)
    result = evaluate_reconstruction(tokenizer, cfg, progress=progress)
    rows = [{"k": r["tokens_per_frame"], **{key: r[key] for key in ROW_KEYS}} for r in result["rows"]]
    parts = [{"k": r["tokens_per_frame"], **{key: r[key] for key in PART_KEYS}} for r in result["rows"]]
    return {"rows": rows, "parts": parts, "raw": result}


def plot(payload: dict[str, Any], path: Path) -> Path:
    """PSNR and class score against k (log2 axis) for both models; the originals' class score dashed."""
    fig, axes = pyplot().subplots(1, 2, figsize=(9, 3.6))
    names = {"tokenizer": "VideoFlexTok (nested dropout)", "grid_baseline": "3D grid (no nested dropout)"}
    ks = [r["k"] for r in payload["tokenizer"]]
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "class_score", "class score")):
        for key, name in names.items():
            ax.plot([r["k"] for r in payload[key]], [r[metric] for r in payload[key]], marker="o", label=name)
        if metric == "class_score":
            ax.axhline(payload["original_class_score"], ls="--", color="gray", label="original clips")
        token_axis(ax, ks, "tokens per latent frame (k)")
        ax.set_ylabel(label)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{payload['num']} held-out shapes clips, {payload['steps']} decode step(s)", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)


def earlier_baseline(args: argparse.Namespace, cfg) -> dict[str, Any]:
    """The grid-baseline rows of an earlier result file (``--baseline-from``), checked to be measured the same way
    (clips, decode steps, seed, the tokenizer's resolution, frames and K)."""
    try:
        earlier = json.loads(Path(args.baseline_from).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise VideoFlexTokError(f"cannot read the earlier result file {args.baseline_from}: {e}") from e
    mine = {"num": args.num, "steps": args.steps, "seed": args.seed, "resolution": cfg.resolution,
            "frames": cfg.chunk_frames, "K": cfg.K}  # fmt: skip
    theirs = {key: earlier.get(key) for key in mine}
    if mine != theirs or "grid_baseline" not in earlier:
        raise VideoFlexTokError(f"{args.baseline_from} holds no grid baseline measured like this run ({theirs} vs "
                                f"{mine})")
    return earlier


def run(args: argparse.Namespace) -> dict[str, Any]:
    check_positive(args, ("num", "steps", "batch_size"))
    out = output_path(args.out)
    png_path = output_path(args.plot) if args.plot else out.with_suffix(".png")
    machine = machine_info()
    t0 = time.perf_counter()
    keys = ("tokenizer",) if args.baseline_from else ("tokenizer", "baseline")
    models = {key: load_pretrained(VideoFlexTok, getattr(args, key), device=args.device).eval() for key in keys}
    a = models["tokenizer"].config
    earlier = earlier_baseline(args, a) if args.baseline_from else None
    if earlier is None:
        b = models["baseline"].config
        check_same_setting(a, b)
        if b.nested_dropout:
            print("warning: the baseline was configured with nested_dropout=true; a 3D-grid baseline sets it to false")
    results = {key: evaluate(model, args, progress=args.progress) for key, model in models.items()}
    original = results["tokenizer"]["raw"]["class_score_original"]
    if earlier is None:
        assert original == results["baseline"]["raw"]["class_score_original"], "both models must see the same clips"
    else:
        assert original == earlier["original_class_score"], "the earlier baseline rows were measured on other clips"
        results["baseline"] = {"rows": earlier["grid_baseline"], "parts": earlier["class_score_parts"]["grid_baseline"]}
    given = {"tokenizer": args.train_minutes, "baseline": args.baseline_train_minutes}
    minutes = {key: given[key] if given[key] is not None else train_minutes_from_log(getattr(args, key))
               for key in keys}
    if earlier is not None:
        minutes["baseline"] = earlier["baseline_train_minutes"]
    bench_command = shlex.join([".venv/bin/python", "bench/coarse_to_fine.py", *args.argv])
    payload = {
        "tokenizer": results["tokenizer"]["rows"],
        "grid_baseline": results["baseline"]["rows"],
        "original_class_score": original,
        "class_score_parts": {"tokenizer": results["tokenizer"]["parts"], "grid_baseline": results["baseline"]["parts"],
                              "original": results["tokenizer"]["raw"]["primary_original"]},
        "train_minutes": minutes["tokenizer"],
        "command": args.command or bench_command,
        "bench_command": bench_command,
        "baseline_train_minutes": minutes["baseline"],
        "baseline_command": earlier.get("baseline_command") if earlier else args.baseline_command,
        "train_minutes_source": "--train-minutes" if args.train_minutes is not None else f"{METRICS_FILE} train_s",
        "num": results["tokenizer"]["raw"]["config"]["num"],
        "steps": args.steps,
        "seed": args.seed,
        "split": "heldout",
        "resolution": a.resolution,
        "frames": a.chunk_frames,
        "K": a.K,
        "tokenizer_folder": str(args.tokenizer),
        "baseline_folder": earlier["baseline_folder"] if earlier else str(args.baseline),
        "baseline_nested_dropout": earlier["baseline_nested_dropout"] if earlier else b.nested_dropout,
        "baseline_source": ({"file": str(args.baseline_from), "bench_command": earlier["bench_command"]}
                            if earlier else "measured in this run"),
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": {**machine, "load_avg_end": list(os.getloadavg())},
    }
    make_folder(out.parent)
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    make_folder(png_path.parent)
    png = plot(payload, png_path)
    print(f"{'k':>4}  {'PSNR':>6} {'SSIM':>6} {'class':>6}  | grid: {'PSNR':>6} {'SSIM':>6} {'class':>6}")
    for r, g in zip(payload["tokenizer"], payload["grid_baseline"]):
        print(f"{r['k']:>4}  {r['psnr']:>6.2f} {r['ssim']:>6.3f} {r['class_score']:>6.3f}  |       "
              f"{g['psnr']:>6.2f} {g['ssim']:>6.3f} {g['class_score']:>6.3f}")
    print("primary object: color found / shape read / direction read; PSNR of object / background pixels")
    print(f"{'k':>4}  {'found':>5} {'shape':>5} {'dir':>5} {'obj':>6} {'bg':>6}  | grid: "
          f"{'found':>5} {'shape':>5} {'dir':>5} {'obj':>6} {'bg':>6}")
    parts = payload["class_score_parts"]
    for r, g in zip(parts["tokenizer"], parts["grid_baseline"]):
        cells = [" ".join(f"{x[key]:>{5 if i < 3 else 6}.2f}" for i, key in enumerate(PART_KEYS)) for x in (r, g)]
        print(f"{r['k']:>4}  {cells[0]}  |       {cells[1]}")
    print(f"original clips: class score {original:.3f}; train minutes: tokenizer {minutes['tokenizer']}, "
          f"baseline {minutes['baseline']}")
    if minutes["tokenizer"] is None:
        print("train_minutes is null: the run's metrics.jsonl has no train_s; pass --train-minutes")
    print(f"wrote {out} and {png}")
    return payload


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", required=True, help="VideoFlexTok checkpoint or run folder (nested dropout)")
    base = p.add_mutually_exclusive_group(required=True)
    base.add_argument("--baseline", help="3D-grid baseline checkpoint or run folder (nested dropout off)")
    base.add_argument("--baseline-from", help="reuse the grid-baseline rows of this earlier result JSON (measured "
                      "on the same clips; recorded as such)")
    p.add_argument("--num", type=int, default=256, help="held-out shapes clips (default: 256)")
    p.add_argument("--steps", type=int, default=1, help="flow decoder Euler steps (default: 1)")
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="clip and decoder-noise seed (default: 0)")
    p.add_argument("--out", default=str(RESULTS / "coarse_to_fine.json"), help="JSON output path")
    p.add_argument("--plot", default=None, help="PNG plot path (default: --out with .png)")
    p.add_argument("--train-minutes", type=float, default=None, help="tokenizer training minutes (default: from "
                   "its metrics.jsonl)")
    p.add_argument("--baseline-train-minutes", type=float, default=None, help="baseline training minutes")
    p.add_argument("--command", default=None, help="the command that trained the tokenizer, stored in the JSON "
                   "(default: this benchmark's command line)")
    p.add_argument("--baseline-command", default=None, help="the command that trained the baseline, stored in the "
                   "JSON as baseline_command (with --baseline-from: the earlier file's)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    torch.manual_seed(args.seed)
    return exit_code(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
