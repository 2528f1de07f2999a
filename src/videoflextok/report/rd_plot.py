"""Rate-distortion plot of the demo: PSNR and SSIM against tokens per latent frame, one line per video.

``plot_rate_distortion(curves, path)`` with ``curves = {"bikes": [{"k": 1, "psnr": .., "ssim": ..}, ...], ...}``
draws two panels (PSNR in dB, SSIM) on a log2 x-axis (k = 1, 2, 4, ..., K) and writes a PNG atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from videoflextok.plotting import pyplot, save_png, token_axis


def plot_rate_distortion(curves: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike,
                         title: str | None = None) -> Path:
    """Two panels (PSNR, SSIM vs tokens per frame, log2 axis), one line per named curve; PNG written atomically.

    curves: name -> rows with "k", "psnr" and "ssim" (rows sorted by k).
    """
    if not curves:
        raise ValueError("need at least one curve to plot")
    ks = sorted({int(row["k"]) for rows in curves.values() for row in rows})
    fig, axes = pyplot().subplots(1, 2, figsize=(9, 3.6))
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        for name, rows in curves.items():
            ax.plot([r["k"] for r in rows], [r[metric] for r in rows], marker="o", label=name)
        token_axis(ax, ks, "tokens per latent frame (k)")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)
