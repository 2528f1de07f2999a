"""The shared parts of every plot against tokens per frame: a headless pyplot, the log2 token axis, and an
atomic PNG write. matplotlib is imported only when a plot is made (never at package import)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from videoflextok.atomic import atomic_file


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def token_axis(ax: Any, ks: Sequence[int], label: str) -> None:
    """Log2 x-axis ticked at the token budgets ``ks`` (1, 2, 4, ...), labelled ``label``, with a light grid."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)


def save_png(fig: Any, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a 100-dpi PNG atomically (temp file + rename) and close it, also on error."""
    path = Path(path)
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        pyplot().close(fig)
    return path

