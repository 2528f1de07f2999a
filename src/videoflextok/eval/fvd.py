"""Fréchet distances between feature sets, and FVD with the Kinetics-400 I3D.

Protocol (as in the FVD literature): the first 16 frames of each clip, each frame resized bilinearly to
224x224, pixel values in [-1, 1], I3D logits [400] as features; the Fréchet distance between the Gaussians
fitted to the two feature sets:

    d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2})

computed in float64. tr((S_a S_b)^{1/2}) = sum sqrt(eig(A S_b A)) with A = S_a^{1/2} (both symmetric PSD), so only
symmetric eigendecompositions are needed and no complex parts appear. Reference statistics (`FeatureStats`)
can be saved to and loaded from an .npz file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from tqdm.auto import tqdm

from videoflextok.atomic import atomic_file
from videoflextok.errors import CheckpointError

FVD_FRAMES = 16  # clip length of the FVD protocol
FVD_SIZE = 224  # frame size the I3D expects


@dataclass
class FeatureStats:
    """Gaussian statistics of a feature set: mean [D], covariance [D, D] (float64), number of samples."""

    mean: np.ndarray
    cov: np.ndarray
    count: int

    @classmethod
    def from_features(cls, feats: np.ndarray | torch.Tensor) -> FeatureStats:
        """feats: [N, D] with N >= 2 -> statistics (unbiased covariance)."""
        x = _as_float64(feats)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"Fréchet statistics need features [N >= 2, D], got shape {x.shape}.")
        return cls(mean=x.mean(axis=0), cov=np.cov(x, rowvar=False), count=x.shape[0])

    def save(self, path: str | os.PathLike) -> None:
        """Write an .npz file atomically (temp file in the same folder, fsync, rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, mean=self.mean, cov=self.cov, count=np.array(self.count))

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        """Read statistics written by `save` (no pickles are ever loaded)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                mean, cov, count = data["mean"], data["cov"], int(data["count"])
        except (OSError, KeyError, ValueError) as exc:
            raise CheckpointError(f"Cannot read feature statistics from {path}: {exc}.") from None
        if mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
            raise CheckpointError(f"Feature statistics in {path} have inconsistent shapes {mean.shape}, {cov.shape}.")
        return cls(mean=mean.astype(np.float64), cov=cov.astype(np.float64), count=count)


def _as_float64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative round-off eigenvalues clipped to 0)."""
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    """Fréchet distance between two Gaussians (float64; tiny negative round-off is clipped to 0)."""
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"Feature dimensions differ: {a.mean.shape[0]} vs {b.mean.shape[0]}.")
    root_a = _sqrt_psd(a.cov)
    cross = np.linalg.eigvalsh(root_a @ b.cov @ root_a)
    tr_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    diff = a.mean - b.mean
    d2 = diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * tr_sqrt
    return float(max(d2, 0.0))


def frechet_distance(
    feats_a: np.ndarray | torch.Tensor | FeatureStats, feats_b: np.ndarray | torch.Tensor | FeatureStats
) -> float:
    """Fréchet distance between feature sets feats_a [N, D] and feats_b [M, D] (or their `FeatureStats`)."""
    sa = feats_a if isinstance(feats_a, FeatureStats) else FeatureStats.from_features(feats_a)
    sb = feats_b if isinstance(feats_b, FeatureStats) else FeatureStats.from_features(feats_b)
    return frechet_distance_from_stats(sa, sb)


def preprocess_for_i3d(video: torch.Tensor, num_frames: int = FVD_FRAMES, size: int = FVD_SIZE) -> torch.Tensor:
    """FVD input protocol. video: [B, 3, T, H, W] in [-1, 1] -> [B, 3, num_frames, size, size] in [-1, 1].

    Keeps the first `num_frames` frames and resizes each frame bilinearly (half-pixel centres, no antialiasing,
    as in the common FVD implementations).
    """
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"Expected video [B, 3, T, H, W], got {tuple(video.shape)}.")
    if video.shape[2] < num_frames:
        raise ValueError(f"FVD needs at least {num_frames} frames per clip, got {video.shape[2]}.")
    b = video.shape[0]
    x = video[:, :, :num_frames].float()
    if x.shape[-2:] != (size, size):
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
        x = rearrange(frames, "(b t) c h w -> b c t h w", b=b)
    return x.clamp(-1.0, 1.0)


def _batches(videos: torch.Tensor | Iterable[torch.Tensor], batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(videos, torch.Tensor):
        yield from videos.split(batch_size)
    else:
        for batch in videos:
            yield from batch.split(batch_size)


@torch.no_grad()
def i3d_features(
    videos: torch.Tensor | Iterable[torch.Tensor],
    i3d: torch.nn.Module,
    batch_size: int = 8,
    features: str = "logits",
    progress: bool = True,
) -> np.ndarray:
    """I3D features of videos under the FVD protocol.

    videos: [N, 3, T, H, W] in [-1, 1], or an iterable of such batches -> float64 [N, 400] ("logits") or
    [N, 1024] ("pool").
    """
    if features not in ("logits", "pool"):
        raise ValueError(f"features must be 'logits' or 'pool', got {features!r}.")
    device = next(i3d.parameters()).device
    total = videos.shape[0] if isinstance(videos, torch.Tensor) else None
    out: list[np.ndarray] = []
    with tqdm(total=total, desc="I3D features", unit="clip", disable=not progress) as bar:
        for batch in _batches(videos, batch_size):
            x = preprocess_for_i3d(batch.to(device))
            y = i3d(x, return_features=features == "pool")
            out.append(y.double().cpu().numpy())
            bar.update(batch.shape[0])
    if not out:
        raise ValueError("No videos were given to compute I3D features on.")
    return np.concatenate(out, axis=0)


def compute_fvd(
    videos_a: torch.Tensor | Iterable[torch.Tensor] | FeatureStats,
    videos_b: torch.Tensor | Iterable[torch.Tensor] | FeatureStats,
    i3d: torch.nn.Module,
    batch_size: int = 8,
    progress: bool = True,
) -> float:
    """FVD between two video sets ([N, 3, T, H, W] in [-1, 1] or iterables of batches; either may instead be
    precomputed `FeatureStats` of I3D logits, e.g. cached reference statistics)."""

    def stats(v: torch.Tensor | Iterable[torch.Tensor] | FeatureStats) -> FeatureStats:
        if isinstance(v, FeatureStats):
            return v
        return FeatureStats.from_features(i3d_features(v, i3d, batch_size, "logits", progress))

    return frechet_distance_from_stats(stats(videos_a), stats(videos_b))
