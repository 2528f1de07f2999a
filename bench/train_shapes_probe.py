"""Train the `shapes` probe (or load it from the cache) and report its held-out accuracy as JSON.

    .venv/bin/python bench/train_shapes_probe.py [--steps 1200] [--eval-clips 512] [--out bench/results/probe.json]
        [--ship]

The probe is cached under $VIDEOFLEXTOK_CACHE (default ~/.cache/videoflextok), keyed by its training config, so
the evaluation commands reuse it. Held-out clips come from a seed the training never saw. `--ship` (default
settings only) also writes the probe to the package (`eval/weights/shapes_probe.safetensors`), where
`load_or_train_probe()` finds it without training.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from videoflextok.eval.probe_train import (
    SHIPPED_PROBE,
    ProbeTrainConfig,
    evaluate_probe,
    load_or_train_probe,
    probe_metadata,
    save_probe,
    shipped_probe_key,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = ProbeTrainConfig()
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--eval-clips", type=int, default=defaults.eval_clips)
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    parser.add_argument("--ship", action="store_true", help="write the probe into the package (default settings)")
    args = parser.parse_args()

    cfg = ProbeTrainConfig(steps=args.steps, batch_size=args.batch_size, eval_clips=args.eval_clips)
    if args.ship and cfg.key() != ProbeTrainConfig().key():
        parser.error("--ship needs the default training settings (the package loads the probe for those only)")
    start = time.time()
    probe = load_or_train_probe(cfg)
    train_s = time.time() - start
    if args.ship:
        save_probe(probe, cfg, SHIPPED_PROBE)
    trained_s = probe_metadata(SHIPPED_PROBE).get("train_s") if cfg.key() == shipped_probe_key() else None
    report = {
        "config": asdict(cfg),
        "key": cfg.key(),
        "heldout_accuracy": evaluate_probe(probe, cfg),
        "train_or_load_s": train_s,
        "shipped_probe_train_s": None if trained_s is None else float(trained_s),  # its training wall time
        "torch_threads": torch.get_num_threads(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)


if __name__ == "__main__":
    main()
