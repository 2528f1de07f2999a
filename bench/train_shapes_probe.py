"""Train the `shapes` probe (or load it from the cache) and report its held-out accuracy as JSON.

    .venv/bin/python bench/train_shapes_probe.py [--steps 1200] [--eval-clips 512] [--out bench/results/probe.json]

The probe is cached under $VIDEOFLEXTOK_CACHE (default ~/.cache/videoflextok), keyed by its training config, so
the evaluation commands reuse it. Held-out clips come from a seed the training never saw.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from videoflextok.eval.probe_train import ProbeTrainConfig, evaluate_probe, load_or_train_probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = ProbeTrainConfig()
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--eval-clips", type=int, default=defaults.eval_clips)
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    args = parser.parse_args()

    cfg = ProbeTrainConfig(steps=args.steps, batch_size=args.batch_size, eval_clips=args.eval_clips)
    start = time.time()
    probe = load_or_train_probe(cfg)
    train_s = time.time() - start
    report = {"config": asdict(cfg), "heldout_accuracy": evaluate_probe(probe, cfg), "train_or_load_s": train_s}
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
