"""Evaluation: Kinetics-400 I3D and Fréchet distances (FVD), reconstruction metrics, the `shapes` probe."""

from __future__ import annotations

from videoflextok.eval.fvd import FeatureStats, compute_fvd, frechet_distance, i3d_features, preprocess_for_i3d
from videoflextok.eval.i3d import I3D
from videoflextok.eval.metrics import mae, mse, psnr, reconstruction_metrics, ssim
from videoflextok.eval.probe import ProbeConfig, ShapesProbe, caption_score, class_score, parse_caption
from videoflextok.eval.probe_train import ProbeTrainConfig, evaluate_probe, load_or_train_probe, train_probe

__all__ = [
    "I3D",
    "FeatureStats",
    "ProbeConfig",
    "ProbeTrainConfig",
    "ShapesProbe",
    "caption_score",
    "class_score",
    "compute_fvd",
    "evaluate_probe",
    "frechet_distance",
    "i3d_features",
    "load_or_train_probe",
    "mae",
    "mse",
    "parse_caption",
    "preprocess_for_i3d",
    "psnr",
    "reconstruction_metrics",
    "ssim",
    "train_probe",
]
