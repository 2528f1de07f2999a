"""``videoflextok info VIDEO``: what a video file holds and how many tokens a tokenizer preset gives it.

Tokens: the usable ``1 + 16n`` frames (the longest such prefix) become ``1 + (T - 1) / temporal_factor``
latent frames (4 in every preset), each with ``K`` tokens; ``K`` comes from the preset's ``model:`` section.
"""

from __future__ import annotations

import argparse
import json

from videoflextok import config
from videoflextok.data.transforms import usable_frames
from videoflextok.data.video_io import probe_video
from videoflextok.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="duration, fps, frames and size of a video, and the tokens a tokenizer preset gives it",
        description="Print what a video file holds and how many latent frames / tokens a tokenizer preset gives.",
    )
    parser.add_argument("video", help="path of a video file (mp4, mkv, gif, ...)")
    parser.add_argument("--preset", default="tiny", help="tokenizer preset used to count tokens (default: tiny)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)


def preset_token_facts(name: str) -> dict:
    """``K`` (tokens per latent frame), temporal factor and resolution of a tokenizer preset."""
    model = config.load_yaml(config.preset_path("tokenizer", name)).get("model") or {}
    if not isinstance(model, dict) or "K" not in model:
        raise ConfigError(f"tokenizer preset '{name}' has no model.K (tokens per latent frame)")
    compressor = model.get("compressor") or {}
    try:
        k = int(model["K"])
        factor = int(compressor.get("temporal_factor", 4)) if isinstance(compressor, dict) else 4
    except (TypeError, ValueError):
        raise ConfigError(f"tokenizer preset '{name}' has a non-integer model.K or temporal_factor") from None
    return {"K": k, "temporal_factor": factor, "resolution": model.get("resolution")}


def video_info(path: str, preset: str) -> dict:
    """Facts about ``path`` plus the token counts of ``preset`` (what ``info --json`` prints)."""
    meta = probe_video(path, verify=True)
    facts = preset_token_facts(preset)
    usable = usable_frames(meta.num_frames, "trim")
    latent = 1 + (usable - 1) // facts["temporal_factor"]
    return {
        "path": meta.path,
        "duration": round(meta.duration, 6),
        "fps": round(meta.fps, 6),
        "num_frames": meta.num_frames,
        "width": meta.width,
        "height": meta.height,
        "codec": meta.codec,
        "preset": preset,
        "preset_resolution": facts["resolution"],
        "K": facts["K"],
        "usable_frames": usable,
        "latent_frames": latent,
        "tokens": latent * facts["K"],
    }


def run(args: argparse.Namespace) -> int:
    info = video_info(args.video, args.preset)
    if args.json:
        print(json.dumps(info))
        return 0
    res = info["preset_resolution"]
    lines = [
        ("video", info["path"]),
        ("duration", f"{info['duration']:.3f} s"),
        ("fps", f"{info['fps']:.3f}"),
        ("frames", str(info["num_frames"])),
        ("size", f"{info['width']}x{info['height']} (W x H)"),
        ("codec", info["codec"]),
        ("preset", f"{info['preset']} (K = {info['K']} tokens per latent frame"
                   + (f", {res}x{res} pixels)" if res else ")")),
        ("usable frames", f"{info['usable_frames']} (1 + 16n)"),
        ("latent frames", str(info["latent_frames"])),
        ("tokens", str(info["tokens"])),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    return 0
