"""Run-folder logging: ``metrics.jsonl`` (one JSON object per line), TensorBoard when installed.

Each line has ``"split"`` (``train`` / ``val``), ``"step"`` and numbers. On resume, lines written after
the resumed checkpoint's step are dropped so the log reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from videoflextok.atomic import atomic_write_text

METRICS_FILE = "metrics.jsonl"


def read_metrics(run_dir: str | Path, split: str | None = "train") -> list[dict[str, Any]]:
    """All metric lines of a run (of one split, or all when ``split`` is None); unreadable lines skipped."""
    path = Path(run_dir) / METRICS_FILE
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if isinstance(row, dict) and (split is None or row.get("split") == split):
                rows.append(row)
    return rows


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLogger:
    """Appends metric lines; mirrors scalars to TensorBoard when ``torch.utils.tensorboard`` imports."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, resume_step: int | None = None) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            kept = [json.dumps(r) for r in read_metrics(run_dir, split=None) if int(r.get("step", 0)) <= resume_step]
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        elif resume_step is None and self.path.is_file():
            self.path.unlink()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        except ImportError:
            self.tb = None

    def log(self, split: str, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"split": split, "step": step, **{k: _clean(v) for k, v in values.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self.tb.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
