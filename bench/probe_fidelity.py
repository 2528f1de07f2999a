"""How much fidelity the shapes probe's class score needs: the class score of held-out ``shapes`` clips degraded
on purpose (Gaussian blur, pixelation, bilinear down-and-up sampling), next to their PSNR on object and on
background pixels. It puts the class score of reconstructions (``bench/coarse_to_fine.py``) on a fidelity scale.

    .venv/bin/python bench/probe_fidelity.py [--num 256] [--seed 0] [--out bench/results/probe_fidelity.json]

The clips are the ones ``coarse_to_fine.py`` scores (split heldout, 64x64, 17 frames, the same seed); metrics as
in :mod:`videoflextok.eval.reconstruction` (object pixels: the colored pixels of the original grown by one
pixel). Each degradation works per frame. Writes the JSON atomically and prints a table::

    {"rows": [{"degradation": "gaussian", "amount": 1.5, "psnr": .., "class_score": .., "primary_found": ..,
               "primary_shape": .., "primary_direction": .., "object_psnr": .., "background_psnr": ..}, ...],
     "original_class_score": .., "num": .., ...}

``amount`` is the blur's sigma in pixels, or the factor of the pixelation and of the down-and-up sampling.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, check_positive, exit_code, machine_info, output_path  # noqa: E402
from videoflextok.atomic import atomic_write_text, make_folder  # noqa: E402
from videoflextok.data.shapes import ShapesDataset  # noqa: E402
from videoflextok.errors import ConfigError  # noqa: E402
from videoflextok.eval.probe import object_pixels, parse_caption  # noqa: E402
from videoflextok.eval.probe_train import load_or_train_probe  # noqa: E402
from videoflextok.eval.reconstruction import READS, MetricTally  # noqa: E402

# (name, amounts): sigma in pixels for "gaussian", the factor for "pixelate" and "bilinear"
DEGRADATIONS = (("gaussian", (0.5, 1.0, 1.5, 2.0, 3.0)), ("pixelate", (2, 4, 8)), ("bilinear", (2, 4, 8)))


def gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """frames [N, C, H, W] -> separable Gaussian blur (radius 3 sigma, edges replicated), same shape."""
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=frames.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).repeat(frames.shape[1], 1, 1, 1)  # [C, 1, 1, 2r + 1]
    c = frames.shape[1]
    out = F.conv2d(F.pad(frames, (radius, radius, 0, 0), mode="replicate"), kernel, groups=c)
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="replicate"), kernel.transpose(2, 3), groups=c)


def degrade(video: torch.Tensor, kind: str, amount: float) -> torch.Tensor:
    """video [B, 3, T, H, W] in [-1, 1] -> the same video degraded frame by frame (H, W divisible by the factor)."""
    frames = rearrange(video, "b c t h w -> (b t) c h w")
    if kind == "gaussian":
        out = gaussian_blur(frames, float(amount))
    elif kind in ("pixelate", "bilinear"):
        factor = int(amount)
        small = F.avg_pool2d(frames, factor)
        out = F.interpolate(small, scale_factor=factor, mode="nearest" if kind == "pixelate" else "bilinear")
    else:
        raise ValueError(f"unknown degradation {kind!r}")
    return rearrange(out, "(b t) c h w -> b c t h w", b=video.shape[0]).clamp(-1, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    check_positive(args, ("num", "batch_size"))
    if args.frames < 2:
        raise ConfigError(f"--frames must be at least 2 (the probe reads motion), got {args.frames}")
    out = output_path(args.out)
    machine = machine_info()
    t0 = time.perf_counter()
    probe = load_or_train_probe(progress=False).eval()
    data = ShapesDataset(args.resolution, args.frames, args.num, seed=args.seed, split="heldout")
    settings = [(kind, amount) for kind, amounts in DEGRADATIONS for amount in amounts]
    tallies = {setting: MetricTally() for setting in settings}
    original = MetricTally()
    for start in range(0, args.num, args.batch_size):
        items = [data[i] for i in range(start, min(start + args.batch_size, args.num))]
        video = torch.stack([item["video"] for item in items])
        labels = [item["label"] for item in items]
        primary = [parse_caption(item["caption"])[0] for item in items]
        objects = object_pixels(video)
        original.add_probe(probe, video, labels, primary)
        for setting, tally in tallies.items():
            degraded = degrade(video, *setting)
            tally.add(degraded, video)
            tally.add_probe(probe, degraded, labels, primary)
            tally.add_regions(degraded, video, objects)
    rows = [{"degradation": kind, "amount": amount, "psnr": tally.means()["psnr"], **tally.probe_metrics(args.num)}
            for (kind, amount), tally in tallies.items()]
    payload = {
        "rows": rows,
        "original_class_score": original.hits / args.num,
        "num": args.num,
        "seed": args.seed,
        "split": "heldout",
        "resolution": args.resolution,
        "frames": args.frames,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine,
    }
    make_folder(out.parent)
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    heads = ("PSNR", "object", "bg", "class", "found", "shape", "dir")
    print(f"{'degradation':>14}  " + " ".join(f"{h:>6}" for h in heads))
    for r in rows:
        cells = (r["psnr"], r["object_psnr"], r["background_psnr"], r["class_score"],
                 *(r[f"primary_{read}"] for read in READS))
        print(f"{r['degradation']:>9} {r['amount']:>4}  " + " ".join(f"{c:>6.3f}" for c in cells))
    print(f"original clips: class score {payload['original_class_score']:.3f}")
    print(f"wrote {out}")
    return payload


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=256, help="held-out shapes clips (default: 256)")
    p.add_argument("--seed", type=int, default=0, help="clip seed (default: 0, the clips coarse_to_fine scores)")
    p.add_argument("--resolution", type=int, default=64, choices=(32, 64, 128), help="clip size (default: 64)")
    p.add_argument("--frames", type=int, default=17, help="frames per clip (default: 17)")
    p.add_argument("--batch-size", type=int, default=16, help="clips per batch (default: 16)")
    p.add_argument("--out", default=str(RESULTS / "probe_fidelity.json"), help="JSON output path")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_code(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
