"""``videoflextok info VIDEO``: what a video file holds and how many tokens a tokenizer preset gives it.

Tokens: the usable frames (the longest prefix ``tokenize`` takes with the preset's model: ``1 + 4n`` up to one
chunk, ``1 + 16n`` beyond, at most ``max_frames``) become ``1 + (T - 1) / temporal_factor`` latent frames, each
with ``K`` tokens; everything comes from the preset's ``model:`` section.
"""

from __future__ import annotations

import argparse
import json

from videoflextok.data.video_io import probe_video


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


def video_info(path: str, preset: str) -> dict:
    """Facts about ``path`` plus the token counts of ``preset`` (what ``info --json`` prints)."""
    from videoflextok.tokenizer.model import preset_config

    meta = probe_video(path, verify=True)
    cfg = preset_config(preset)
    usable = cfg.longest_prefix(meta.num_frames)
    latent = cfg.latent_frames(usable) if usable else 0
    return {
        "path": meta.path,
        "duration": round(meta.duration, 6),
        "fps": round(meta.fps, 6),
        "num_frames": meta.num_frames,
        "width": meta.width,
        "height": meta.height,
        "codec": meta.codec,
        "preset": preset,
        "preset_resolution": cfg.resolution,
        "K": cfg.K,
        "max_frames": cfg.max_frames,
        "usable_frames": usable,
        "latent_frames": latent,
        "tokens": latent * cfg.K,
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
                   + f", {res}x{res} pixels)"),
        ("usable frames", f"{info['usable_frames']} (the longest prefix the tokenizer takes: 1 + 4n up to one chunk, "
                          f"1 + 16n beyond, at most {info['max_frames']})"),
        ("latent frames", str(info["latent_frames"])),
        ("tokens", str(info["tokens"])),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    return 0
