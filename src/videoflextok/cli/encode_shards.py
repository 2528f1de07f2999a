"""The resumable loop shared by ``pretokenize`` and ``cache-latents``: encode a dataset's clips in batches
and append them shard by shard to a writer that remembers how many clips it already holds."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from videoflextok.data.config import DATASETS, SPLITS


def add_shard_options(p: argparse.ArgumentParser, what: str) -> None:
    """The options both commands share: which clips (--dataset, --num, --path, --seed, --split), where to
    (--out), how many at a time (--batch-size, --shard-size) and --device; ``what`` names the shards' content."""
    p.add_argument("--dataset", default="shapes", choices=DATASETS, help="which dataset (default: shapes)")
    p.add_argument("--num", type=int, default=None, help="number of clips (default: all of folder/manifest data)")
    p.add_argument("--out", required=True, help=f"output folder of {what} shards")
    p.add_argument("--path", default=None, help="folder of videos or manifest file (folder / manifest datasets)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    p.add_argument("--split", default="train", choices=SPLITS, help="train | heldout | all (synthetic data)")
    p.add_argument("--batch-size", type=int, default=8, help="clips encoded per forward pass (default: 8)")
    p.add_argument("--shard-size", type=int, default=256, help="clips per shard file (default: 256)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")


def encode_into_shards(
    dataset,
    start: int,
    total: int,
    encode: Callable[[torch.Tensor], torch.Tensor],
    append: Callable[[torch.Tensor, list[int], list[str]], None],
    device: torch.device | str,
    batch_size: int,
    shard_size: int,
    out: str,
    verb: str,
) -> bool:
    """Encode items ``start .. total - 1`` of ``dataset`` (``encode``: video [B, 3, T, H, W] -> [B, ...]) and call
    ``append(encoded, labels, captions)`` once per shard. Returns False when there was nothing to do."""
    if start >= total:
        print(f"{out}: already holds {start} {verb} clips (asked for {total}); nothing to do")
        return False
    if start:
        print(f"resuming after {start} clips already in {out}")
    t0 = time.time()
    for shard_start in range(start, total, shard_size):
        shard_end = min(shard_start + shard_size, total)
        encoded, labels, captions = [], [], []
        for b in range(shard_start, shard_end, batch_size):
            items = [dataset[i] for i in range(b, min(b + batch_size, shard_end))]
            video = torch.stack([item["video"] for item in items]).to(device)
            with torch.no_grad():
                encoded.append(encode(video).cpu())
            labels += [int(item["label"]) for item in items]
            captions += [str(item["caption"]) for item in items]
        append(torch.cat(encoded), labels, captions)
        print(f"{shard_end}/{total} clips {verb} ({time.time() - t0:.1f} s)", flush=True)
    return True
