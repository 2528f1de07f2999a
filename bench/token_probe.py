"""What the first k tokens hold: a small MLP probe on the FSQ codes of the first k tokens of every latent frame,
predicting a `shapes` clip's class (shape x direction of the primary object), its shape and its direction.

    .venv/bin/python bench/token_probe.py [--tokenizer DIR] [--baseline DIR] [--num 2560] [--fit 2048] \\
        [--probe-steps 1500] [--splits heldout train] [--out bench/results/token_probe.json]

``bench/coarse_to_fine.py`` scores the reconstructions, i.e. whether the decoder draws what the tokens hold; this
asks whether the tokens hold it at all. For each split in ``--splits`` the first ``--num`` clips of that split
(seed 0, the tokenizer's resolution and chunk length) are tokenized once; the probe fits on the first ``--fit``
and is scored on the rest (clips it never saw). For each k in 1, 2, 4, ..., K and each target: the held-out
accuracy of a one-hidden-layer MLP (256 units, AdamW lr 1e-3, batch 128, ``--probe-steps`` steps, seed 0) on the
concatenated codes of the first k tokens of all latent frames, and ``chance``: the accuracy of always answering
the fit clips' most frequent label. ``--tokenizer`` defaults to the shipped demo tokenizer; ``--baseline`` (a
3D-grid tokenizer, nested dropout off) is optional.

The splits differ in what "shape" means: in ``heldout`` every shape comes in one color only (its four
(shape, color) pairs are the ones training never shows), so there the shape can be read off the color; in
``train`` all 20 other pairs occur, so the shape has to be read from the object's outline.

JSON layout::

    {"splits": {"heldout": {"tokenizer": [{"k": 1, "class": .., "shape": .., "direction": ..}, ...],
                            "grid_baseline": [...] (with --baseline), "chance": {"class": .., ...}}, ...},
     "num": .., "fit": .., "probe_steps": .., "tokenizer_folder": .., "baseline_folder": .., "seconds": .., ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, check_positive, check_same_setting, exit_code, machine_info, output_path  # noqa: E402
from videoflextok.atomic import atomic_write_text, make_folder  # noqa: E402
from videoflextok.checkpoint import load_pretrained  # noqa: E402
from videoflextok.data.shapes import DIRECTIONS, SHAPES, ShapesDataset  # noqa: E402
from videoflextok.errors import ConfigError  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402
from videoflextok.tokenizer.nested_dropout import keep_choices  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "videoflextok" / "weights" / "demo_tokenizer"
# target name -> (number of labels, label from the class label = shape * len(DIRECTIONS) + direction)
TARGETS = {
    "class": (len(SHAPES) * len(DIRECTIONS), lambda y: y),
    "shape": (len(SHAPES), lambda y: y // len(DIRECTIONS)),
    "direction": (len(DIRECTIONS), lambda y: y % len(DIRECTIONS)),
}


@torch.no_grad()
def token_codes(tokenizer: VideoFlexTok, split: str, num: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``num`` clips of a shapes split -> (FSQ codes [num, T', K, D], class labels [num])."""
    c = tokenizer.config
    data = ShapesDataset(resolution=c.resolution, num_frames=c.chunk_frames, length=num, split=split)
    codes, labels = [], []
    for start in range(0, num, batch_size):
        items = [data[i] for i in range(start, min(num, start + batch_size))]
        ids = torch.stack(tokenizer.tokenize(torch.stack([item["video"] for item in items])))  # [B, T', K]
        codes.append(tokenizer.encoder.fsq.ids_to_codes(ids).cpu())
        labels += [item["label"] for item in items]
    return torch.cat(codes), torch.tensor(labels)


def probe_accuracy(x_fit: torch.Tensor, y_fit: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                   num_labels: int, steps: int) -> float:
    """Held-out accuracy of a one-hidden-layer MLP fitted on (x_fit, y_fit); x: [N, features]."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(x_fit.shape[1], 256), nn.GELU(), nn.Linear(256, num_labels))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(steps):
        idx = torch.randint(0, len(x_fit), (128,))
        loss = nn.functional.cross_entropy(net(x_fit[idx]), y_fit[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (net(x_test).argmax(-1) == y_test).float().mean().item()


def probe_rows(codes: torch.Tensor, labels: torch.Tensor, fit: int, budgets: tuple[int, ...],
               steps: int) -> list[dict[str, Any]]:
    """One row per k: the probe's held-out accuracy for every target from the codes of the first k tokens."""
    rows = []
    for k in budgets:
        x = codes[:, :, :k].flatten(1)
        row: dict[str, Any] = {"k": k}
        for name, (num_labels, target) in TARGETS.items():
            y = target(labels)
            row[name] = probe_accuracy(x[:fit], y[:fit], x[fit:], y[fit:], num_labels, steps)
        rows.append(row)
    return rows


def chance(labels: torch.Tensor, fit: int) -> dict[str, float]:
    """Accuracy on the test clips of always answering the fit clips' most frequent label, per target."""
    out = {}
    for name, (num_labels, target) in TARGETS.items():
        y = target(labels)
        majority = torch.bincount(y[:fit], minlength=num_labels).argmax()
        out[name] = (y[fit:] == majority).float().mean().item()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.fit < 1 or args.num <= args.fit:
        raise ConfigError(f"--fit must be at least 1 and below --num, got --fit {args.fit} and --num {args.num}")
    check_positive(args, ("probe_steps", "batch_size"))
    out = output_path(args.out)
    machine = machine_info()
    t0 = time.perf_counter()
    folders = {"tokenizer": args.tokenizer, **({"grid_baseline": args.baseline} if args.baseline else {})}
    models = {key: load_pretrained(VideoFlexTok, folder).eval() for key, folder in folders.items()}
    first = models["tokenizer"].config
    if "grid_baseline" in models:
        check_same_setting(first, models["grid_baseline"].config)
    budgets = tuple(keep_choices(first.K))
    splits: dict[str, Any] = {}
    for split in args.splits:
        result: dict[str, Any] = {}
        for key, model in models.items():
            codes, labels = token_codes(model, split, args.num, args.batch_size)
            result[key] = probe_rows(codes, labels, args.fit, budgets, args.probe_steps)
            print(f"{split:8s} {key:14s} " + "  ".join(
                f"k={r['k']}: {r['class']:.3f}/{r['shape']:.3f}/{r['direction']:.3f}" for r in result[key]),
                flush=True)
        result["chance"] = chance(labels, args.fit)
        splits[split] = result
    payload = {
        "splits": splits,
        "targets": list(TARGETS),
        "num": args.num,
        "fit": args.fit,
        "probe_steps": args.probe_steps,
        "resolution": first.resolution,
        "frames": first.chunk_frames,
        "K": first.K,
        "tokenizer_folder": str(args.tokenizer),
        "baseline_folder": str(args.baseline) if args.baseline else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": {**machine, "load_avg_end": list(os.getloadavg())},
    }
    make_folder(out.parent)
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    print("(held-out accuracy class / shape / direction; chance: "
          + "; ".join(f"{s} " + "/".join(f"{v:.3f}" for v in splits[s]["chance"].values()) for s in splits) + ")")
    print(f"wrote {out}")
    return payload


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", default=str(SHIPPED), help="VideoFlexTok checkpoint or run folder (default: the "
                   "shipped demo tokenizer)")
    p.add_argument("--baseline", default=None, help="3D-grid baseline checkpoint or run folder (optional)")
    p.add_argument("--splits", nargs="+", default=["heldout", "train"], choices=["heldout", "train"],
                   help="shapes splits to probe (default: heldout train)")
    p.add_argument("--num", type=int, default=2560, help="clips per split (default: 2560)")
    p.add_argument("--fit", type=int, default=2048, help="clips the probe fits on; the rest score it (default: 2048)")
    p.add_argument("--probe-steps", type=int, default=1500, help="probe training steps (default: 1500)")
    p.add_argument("--batch-size", type=int, default=32, help="clips per tokenize call (default: 32)")
    p.add_argument("--out", default=str(RESULTS / "token_probe.json"), help="JSON output path")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_code(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
