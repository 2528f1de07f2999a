"""``videoflextok data ...``: look at the datasets.

``videoflextok data preview --dataset shapes --num 16 --out grid.gif`` writes the first clips as a grid
animation (GIF, or mp4 / mkv by extension) and prints their captions.
"""

from __future__ import annotations

import argparse

from videoflextok.atomic import check_out_file, make_folder
from videoflextok.checks import MAX_FPS, check_float, check_int, check_memory
from videoflextok.data.config import DATASETS, SPLITS, DataConfig
from videoflextok.data.grid import tile_videos
from videoflextok.data.loader import build_dataset
from videoflextok.data.video_io import write_video
from videoflextok.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="look at the datasets (preview grids)",
                                   description="Look at the datasets.")
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    preview = sub.add_parser("preview", help="write the first clips of a dataset as a grid animation",
                             description="Write the first clips of a dataset as a grid animation (4x4 for 16).")
    preview.add_argument("--dataset", default="shapes", choices=DATASETS, help="which dataset (default: shapes)")
    preview.add_argument("--num", type=int, default=16, help="number of clips (default: 16)")
    preview.add_argument("--out", required=True, help="output file: .gif, .mp4 or .mkv")
    preview.add_argument("--resolution", type=int, default=64, help="frame size in pixels (default: 64)")
    preview.add_argument("--frames", type=int, default=17, help="frames per clip (default: 17)")
    preview.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    preview.add_argument("--split", default="train", choices=SPLITS, help="train | heldout | all")
    preview.add_argument("--path", default=None, help="folder or manifest (folder / manifest datasets)")
    preview.add_argument("--fps", type=float, default=8.0, help="frame rate of the written animation")
    preview.set_defaults(func=run_preview)


def run_preview(args: argparse.Namespace) -> int:
    check_int("--num", args.num, 1)
    check_float("--fps", args.fps, 0.0, MAX_FPS, low_open=True)
    out = check_out_file(args.out, (".gif", ".mp4", ".mkv"))
    if args.dataset in ("folder", "manifest") and not args.path:
        raise ConfigError(f"the '{args.dataset}' dataset needs --path")
    try:
        cfg = DataConfig(dataset=args.dataset, resolution=args.resolution, num_frames=args.frames, seed=args.seed,
                         split=args.split, path=args.path, length=args.num, random_start=False)
    except ConfigError as exc:  # name the option, not the config field
        raise ConfigError(str(exc).replace("data.num_frames", "--frames").replace("data.", "--")) from None
    dataset = build_dataset(cfg, skip_unreadable=False)
    count = min(args.num, len(dataset))
    # the clips (float32) and the grid of them, held at once
    check_memory(2 * count * 3 * args.frames * args.resolution**2 * 4, f"a preview of {count} clips")
    items = [dataset[i] for i in range(count)]
    grid = tile_videos([item["video"] for item in items])
    out = write_video(make_folder(out.parent) / out.name, grid, fps=args.fps)
    print(f"wrote {out}: {count} clips of '{args.dataset}' ({args.split}), {args.frames} frames at "
          f"{args.resolution}x{args.resolution}")
    for i, item in enumerate(items):
        print(f"{i:3d}  label {item['label']:3d}  {item['caption']}")
    return 0
