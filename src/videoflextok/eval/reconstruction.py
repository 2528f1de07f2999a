"""Reconstruction evaluation of a tokenizer: metrics of `detokenize(tokenize(video), keep_k=k)` per token budget k.

For each budget k (tokens per latent frame) and `num` clips of a dataset: MAE, MSE, PSNR, SSIM (per frame, averaged
over frames and clips), rFVD (Kinetics-400 I3D logits; needs >= 16 frames per clip and >= 2 clips, else it is
skipped with the reason recorded) and, on `shapes`, the probe's class score of the reconstructions (and of the
originals, the ceiling) with its parts: how often the probe finds the primary object's color at all
(`primary_found`) and reads its shape (`primary_shape`) and direction (`primary_direction`), see
`probe.object_reads`; and the PSNR of object pixels and of background pixels (`object_psnr`, `background_psnr`,
pooled over all clips; objects are the colored pixels of the original, `probe.object_pixels`). Every clip is
tokenized once; each budget decodes the same tokens with its own seeded noise, so a run is reproducible from
(seed, batch size).

`evaluate_reconstruction(...) -> dict` (the content of `reconstruction.json`); `plot_reconstruction(result, path)`
draws one panel per metric against tokens per frame.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from videoflextok.data.config import DataConfig
from videoflextok.data.loader import build_dataset
from videoflextok.errors import ConfigError, VideoFlexTokError
from videoflextok.eval.fvd import FVD_FRAMES, FeatureStats, frechet_distance_from_stats, i3d_features
from videoflextok.eval.metrics import mae, mse, psnr, psnr_from_mse, ssim
from videoflextok.eval.probe import (
    ShapesProbe,
    class_score,
    describe_logits,
    object_pixels,
    object_reads,
    parse_caption,
)
from videoflextok.eval.probe_train import load_or_train_probe
from videoflextok.plotting import pyplot, save_png, token_axis
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.nested_dropout import keep_choices

PIXEL_METRICS = ("mae", "mse", "psnr", "ssim")  # per-frame metrics, averaged over frames and clips
PLOT_METRICS = (*PIXEL_METRICS, "rfvd", "class_score")  # panels of the plot (when present)
READS = ("found", "shape", "direction")  # `object_reads` of the primary object, reported as primary_<read>


@dataclass
class ReconstructionEvalConfig:
    """What `evaluate_reconstruction` measures."""

    dataset: str = "shapes"  # shapes | pans | folder | manifest
    path: str | None = None  # folder of videos or manifest file (folder / manifest datasets)
    split: str = "heldout"  # train | heldout | all (synthetic datasets)
    num: int = 16  # clips evaluated
    tokens: tuple[int, ...] | None = None  # token budgets k; None = powers of two up to the tokenizer's K
    num_frames: int | None = None  # frames per clip (None = the tokenizer's chunk)
    batch_size: int = 8  # clips per tokenize/detokenize call
    steps: int | None = None  # flow decoder Euler steps (None = the tokenizer's default)
    guidance: float | None = None  # flow decoder guidance scale (None = the tokenizer's default)
    seed: int = 0  # dataset seed and decoder noise seed
    fvd: bool = True  # compute rFVD with the Kinetics-400 I3D


def parse_budgets(text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4): positive, strictly increasing integers (ConfigError otherwise)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--tokens must be comma-separated integers like 1,2,4, got '{text}'") from None
    if any(v < 1 for v in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(f"--tokens must be positive and increasing, got '{text}'")
    return values


def check_budgets(budgets: tuple[int, ...], K: int) -> None:
    """Raise ConfigError when a budget exceeds the tokenizer's K."""
    if budgets and budgets[-1] > K:
        raise ConfigError(f"--tokens asks for {budgets[-1]} tokens per frame but the tokenizer has only K={K}")


def decode_seed(seed: int, batch: int, k: int) -> int:
    """Seed of the decoder noise of batch `batch` (clips batch * batch_size ...) decoded with k tokens per frame."""
    return seed * 1_000_003 + batch * 1009 + k


def load_i3d_or_reason(
    enabled: bool, frames: int, num: int, device: torch.device, metric: str, items: str
) -> tuple[torch.nn.Module | None, str | None]:
    """The I3D on `device` for an FVD over `num` `items` of `frames` frames, or (None, the reason it is skipped):
    switched off, clips shorter than the I3D protocol, fewer than 2 items, or weights not installed."""
    from videoflextok.eval.i3d import I3D

    if not enabled:
        return None, "disabled with --no-fvd"
    if frames < FVD_FRAMES:
        return None, f"{metric} needs {items} of at least {FVD_FRAMES} frames (the I3D protocol), these have {frames}"
    if num < 2:
        return None, f"{metric} needs at least 2 {items}"
    try:
        return I3D().eval().to(device), None
    except VideoFlexTokError as exc:
        return None, str(exc)


class MetricTally:
    """Sums of per-frame metrics, probe hits and reads, object/background errors and I3D features for one budget."""

    def __init__(self) -> None:
        self.sums = dict.fromkeys(PIXEL_METRICS, 0.0)
        self.frames = 0
        self.hits = 0.0
        self.reads = dict.fromkeys(READS, 0)
        self.region = {"object": [0.0, 0], "background": [0.0, 0]}  # squared error ([0, 1] scale), pixels
        self.feats: list[np.ndarray] = []

    @torch.no_grad()
    def add_probe(self, probe: ShapesProbe, video: torch.Tensor, labels: list[int], primary: list[dict]) -> None:
        """Class score hits and the probe's reads of the primary object (see `object_reads`)."""
        logits = probe(video)
        self.hits += class_score(describe_logits(logits), labels) * len(labels)
        for key, hit in object_reads(logits, primary).items():
            self.reads[key] += int(hit.sum())

    def add_regions(self, pred: torch.Tensor, target: torch.Tensor, objects: torch.Tensor) -> None:
        """Squared error summed over object and over background pixels (objects: bool [B, T, H, W])."""
        err = ((pred.float() - target.float()) / 2).pow(2).mean(dim=1)  # [B, T, H, W], [0, 1] scale
        for name, where in (("object", objects), ("background", ~objects)):
            self.region[name][0] += float(err[where].sum())
            self.region[name][1] += int(where.sum())

    def region_psnr(self, name: str) -> float | None:
        """PSNR (data range 1) of all `name` pixels of all clips pooled; None when there were none."""
        total, count = self.region[name]
        if count == 0:
            return None
        return float(psnr_from_mse(total / count))

    def probe_metrics(self, num: int) -> dict[str, float | None]:
        """The class score, the primary object's reads (`primary_<read>`) and object / background PSNR over `num`
        clips."""
        return {"class_score": self.hits / num, **{f"primary_{read}": self.reads[read] / num for read in READS},
                **{f"{region}_psnr": self.region_psnr(region) for region in ("object", "background")}}

    def add(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        for name, fn in zip(PIXEL_METRICS, (mae, mse, psnr, ssim)):
            self.sums[name] += float(fn(pred, target).sum())
        self.frames += pred.shape[0] * pred.shape[2]

    def means(self) -> dict[str, float]:
        return {k: v / self.frames for k, v in self.sums.items()}


@torch.no_grad()
def evaluate_reconstruction(
    tokenizer: VideoFlexTok,
    cfg: ReconstructionEvalConfig,
    probe: ShapesProbe | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Reconstruct `cfg.num` clips at every budget in `cfg.tokens` and measure them (see the module docstring).

    probe: the `shapes` probe (default: the shipped one, loaded when the dataset is `shapes`).
    Returns {"config", "tokenizer", "rows": [{"tokens_per_frame", "mae", "mse", "psnr", "ssim", "rfvd",
    "class_score", "primary_found", "primary_shape", "primary_direction", "object_psnr", "background_psnr"}, ...],
    "rfvd_skipped", "class_score_original", "primary_original", ...} (the probe's numbers None off `shapes`).
    """
    tcfg = tokenizer.config
    budgets = tuple(cfg.tokens) if cfg.tokens else tuple(keep_choices(tcfg.K))
    check_budgets(budgets, tcfg.K)
    if cfg.num < 1 or cfg.batch_size < 1:
        raise ConfigError(f"--num and --batch-size must be at least 1, got {cfg.num} and {cfg.batch_size}")
    frames = cfg.num_frames or tcfg.chunk_frames
    if not tcfg.supports_frames(frames):
        raise ConfigError(f"this tokenizer cannot take {frames}-frame clips; it takes {tcfg.frames_rule()}")
    data = build_dataset(DataConfig(dataset=cfg.dataset, resolution=tcfg.resolution, num_frames=frames,
                                    path=cfg.path, seed=cfg.seed, split=cfg.split, length=cfg.num,
                                    random_start=False), skip_unreadable=False)
    num = min(cfg.num, len(data))
    device = tokenizer.device

    i3d, fvd_skipped = load_i3d_or_reason(cfg.fvd, frames, num, device, "rFVD", "clips")
    probe_skipped = None
    if cfg.dataset != "shapes":
        probe_skipped = f"the probe only reads 'shapes' clips, not '{cfg.dataset}'"
    elif frames < 2:
        probe_skipped = "the probe needs at least 2 frames to see motion"
    if probe_skipped is None:
        probe = (probe or load_or_train_probe(progress=progress)).to(device).eval()
    else:
        probe = None

    runs = {k: MetricTally() for k in budgets}
    original = MetricTally()
    starts = range(0, num, cfg.batch_size)
    bar = tqdm(total=num, desc="reconstruct", unit="clip", disable=not progress)  # a clip: all its budgets
    for b, start in enumerate(starts):
        items = [data[i] for i in range(start, min(start + cfg.batch_size, num))]
        video = torch.stack([item["video"] for item in items]).to(device)
        labels = [int(item.get("label", -1)) for item in items]
        tokens = tokenizer.tokenize(video)
        if i3d is not None:
            original.feats.append(i3d_features(video, i3d, progress=False))
        if probe is not None:
            primary = [parse_caption(item["caption"])[0] for item in items]
            objects = object_pixels(video)
            original.add_probe(probe, video, labels, primary)
        for k in budgets:
            gen = torch.Generator(device=device).manual_seed(decode_seed(cfg.seed, b, k))
            recon = tokenizer.detokenize(tokens, keep_k=k, steps=cfg.steps, guidance=cfg.guidance, generator=gen)
            recon = recon.clamp(-1, 1)
            runs[k].add(recon, video)
            if i3d is not None:
                runs[k].feats.append(i3d_features(recon, i3d, progress=False))
            if probe is not None:
                runs[k].add_probe(probe, recon, labels, primary)
                runs[k].add_regions(recon, video, objects)
        bar.update(len(items))
    bar.close()

    real_stats = FeatureStats.from_features(np.concatenate(original.feats)) if i3d is not None else None
    rows = []
    for k in budgets:
        row: dict[str, Any] = {"tokens_per_frame": k, **runs[k].means()}
        row["rfvd"] = (frechet_distance_from_stats(FeatureStats.from_features(np.concatenate(runs[k].feats)),
                                                   real_stats) if real_stats is not None else None)
        probe_metrics = runs[k].probe_metrics(num)
        row.update(probe_metrics if probe is not None else dict.fromkeys(probe_metrics))
        rows.append(row)
    return {
        "config": {**asdict(cfg), "tokens": list(budgets), "num": num, "num_frames": frames},
        "tokenizer": {"K": tcfg.K, "resolution": tcfg.resolution, "chunk_frames": tcfg.chunk_frames,
                      "latent_frames": tcfg.latent_frames(frames)},
        "rows": rows,
        "rfvd_skipped": fvd_skipped,
        "class_score_original": original.hits / num if probe is not None else None,
        "primary_original": {read: original.reads[read] / num for read in READS} if probe is not None else None,
        "class_score_skipped": probe_skipped,
        "probe_input": None if probe is None else {"frames": probe.config.frames, "size": probe.config.size,
                                                   "clip_frames": frames, "clip_size": tcfg.resolution},
    }


def plot_reconstruction(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """One panel per metric (MAE, MSE, PSNR, SSIM, rFVD, class score when measured) against tokens per frame
    (log2 axis); the originals' class score as a dashed line. Written atomically as PNG."""
    plt = pyplot()
    rows = result["rows"]
    ks = [r["tokens_per_frame"] for r in rows]
    names = [m for m in PLOT_METRICS if any(r.get(m) is not None for r in rows)]
    labels = {"mae": "MAE", "mse": "MSE", "psnr": "PSNR (dB)", "ssim": "SSIM", "rfvd": "rFVD",
              "class_score": "class score"}
    cols = min(3, len(names))
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(ks, [r[name] for r in rows], marker="o")
        if name == "class_score" and result.get("class_score_original") is not None:
            ax.axhline(result["class_score_original"], ls="--", color="gray", label="originals")
            ax.legend(fontsize=8)
        token_axis(ax, ks, "tokens per frame")
        ax.set_title(labels[name])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return save_png(fig, path)
