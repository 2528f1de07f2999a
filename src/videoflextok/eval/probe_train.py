"""Training, evaluation and caching of the `shapes` probe (`videoflextok.eval.probe.ShapesProbe`).

Clips are rendered on the fly from `ShapesDataset(split="all")` (every shape/color pair; the probe is an
evaluator and must know them all); held-out clips come from a different seed. The trained probe is cached as
safetensors (`<cache>/shapes-probe-<hash>.safetensors`, written atomically) so evaluations train it only once.

The probe trained with the default `ProbeTrainConfig` (64x64 clips of 9 frames; held-out accuracy in the README)
ships with the package as `eval/weights/shapes_probe.safetensors`; `load_or_train_probe()` reads it directly, so
a fresh machine never retrains it. It was trained at 64x64 and 9 frames: other clips are resampled to that
(uniformly spaced frames, bilinear resize; see `probe.resample_video`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from videoflextok.atomic import atomic_file
from videoflextok.config import from_dict
from videoflextok.data.shapes import CHANGES, ShapesDataset
from videoflextok.eval.i3d_weights import default_cache_dir
from videoflextok.eval.probe import ATTRIBUTES, SLOTS, ProbeConfig, ShapesProbe, probe_loss, probe_targets

SHIPPED_PROBE = Path(__file__).parent / "weights" / "shapes_probe.safetensors"  # default-config probe


@dataclass
class ProbeTrainConfig:
    """How the probe is trained on clean `shapes` clips."""

    probe: ProbeConfig = field(default_factory=ProbeConfig)  # the network
    resolution: int = 64  # rendered clip size
    num_frames: int = 9  # rendered clip length (9 frames = every other frame of a 17-frame clip)
    steps: int = 1200  # optimizer steps
    batch_size: int = 32  # clips per step
    absent_slots: int = 1  # per clip it trains on the present color slots and this many absent ones (-1: all 6)
    lr: float = 2e-3  # AdamW peak learning rate (cosine decay to 0, 50 warm-up steps)
    weight_decay: float = 0.01  # AdamW weight decay
    seed: int = 0  # seed of the training clips and the initialisation
    eval_seed: int = 12345  # seed of the held-out clips
    eval_clips: int = 512  # number of held-out clips

    def key(self) -> str:
        """Short hash of the training fields (not the eval ones): the cache file name of the trained probe."""
        fields = {k: v for k, v in asdict(self).items() if not k.startswith("eval_")}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def _batch(dataset: ShapesDataset, indices: list[int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    videos = torch.stack([dataset[i]["video"] for i in indices])
    return videos, probe_targets([dataset.sample(i) for i in indices])


def _train_slots(present: torch.Tensor, absent: int, gen: torch.Generator) -> torch.Tensor:
    """Which slots of a batch the network trains on: present [B, 6] in {0, 1} -> bool [B, 6] holding every present
    slot and `absent` random absent ones per clip (all slots when `absent` < 0). Absent slots are easy (empty
    masks), so most of the compute goes to the objects."""
    if absent < 0:
        return torch.ones_like(present, dtype=torch.bool)
    order = torch.rand(present.shape, generator=gen) - 2 * present  # present slots sort first
    rank = order.argsort(dim=1).argsort(dim=1)  # position of each slot in that order
    return rank < present.sum(dim=1, keepdim=True) + absent


def train_probe(cfg: ProbeTrainConfig | None = None, progress: bool = True) -> ShapesProbe:
    """Train a probe from scratch on `cfg.steps * cfg.batch_size` fresh clips; returns it in eval mode."""
    cfg = cfg or ProbeTrainConfig()
    torch.manual_seed(cfg.seed)
    probe = ShapesProbe(cfg.probe)
    data = ShapesDataset(cfg.resolution, cfg.num_frames, cfg.steps * cfg.batch_size, cfg.seed, split="all")
    opt = torch.optim.AdamW(probe.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = min(50, cfg.steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + torch.cos(torch.tensor(s / cfg.steps * torch.pi)).item())
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    probe.train()
    bar = tqdm(range(cfg.steps), desc="probe", disable=not progress)
    for step in bar:
        videos, targets = _batch(data, list(range(step * cfg.batch_size, (step + 1) * cfg.batch_size)))
        with torch.no_grad():
            masks = probe.slot_masks(videos)  # [B, 6, T, H, W]
        chosen = _train_slots(targets["present"], cfg.absent_slots, gen)
        loss = probe_loss(probe.slot_logits(masks[chosen][:, None]), {k: v[chosen] for k, v in targets.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return probe.eval()


@torch.no_grad()
def evaluate_probe(probe: ShapesProbe, cfg: ProbeTrainConfig | None = None, batch_size: int = 64) -> dict[str, float]:
    """Held-out accuracy: "present" (all 6 presence bits right), "shape"/"direction"/"change" (over objects),
    "object" (an object found with every attribute right), "class" (primary object found with the right shape and
    direction), "clip" (everything right), and the recall of each change, "change_none" ... "change_rotates"
    (the fraction of objects with that change whose change the probe gets right)."""
    cfg = cfg or ProbeTrainConfig()
    data = ShapesDataset(cfg.resolution, cfg.num_frames, cfg.eval_clips, cfg.eval_seed, split="all")
    probe.eval()
    counts = {k: 0 for k in ("present", *ATTRIBUTES, "object", "class", "clip")}
    objects = 0
    change_hits, change_totals = torch.zeros(len(CHANGES)), torch.zeros(len(CHANGES))
    for start in range(0, len(data), batch_size):
        idx = list(range(start, min(start + batch_size, len(data))))
        videos, targets = _batch(data, idx)
        logits = probe(videos)
        present_ok = ((logits["present"] > 0).float() == targets["present"]).all(dim=1)
        counts["present"] += int(present_ok.sum())
        mask = targets["present"].bool()
        objects += int(mask.sum())
        right = {k: logits[k].argmax(-1) == targets[k] for k in ATTRIBUTES}
        obj_ok = (logits["present"] > 0) & right["shape"] & right["direction"] & right["change"]
        for k in ATTRIBUTES:
            counts[k] += int(right[k][mask].sum())
        true_change = targets["change"][mask]
        change_totals += torch.bincount(true_change, minlength=len(CHANGES)).float()
        change_hits += torch.bincount(true_change[right["change"][mask]], minlength=len(CHANGES)).float()
        counts["object"] += int(obj_ok[mask].sum())
        counts["clip"] += int((present_ok & (obj_ok | ~mask).all(dim=1)).sum())
        for i, j in enumerate(idx):
            primary = data.sample(j).objects[0]
            k = SLOTS.index(primary.color)
            counts["class"] += bool(logits["present"][i, k] > 0 and right["shape"][i, k] and right["direction"][i, k])
    clips = len(data)
    return {
        "present": counts["present"] / clips,
        **{k: counts[k] / objects for k in (*ATTRIBUTES, "object")},
        "class": counts["class"] / clips,
        "clip": counts["clip"] / clips,
        **{f"change_{name}": float(change_hits[i] / change_totals[i].clamp(min=1)) for i, name in enumerate(CHANGES)},
    }


def shipped_probe_key() -> str | None:
    """`ProbeTrainConfig.key()` of the probe shipped as package data (None when the file is missing or has no
    readable training config)."""
    if not SHIPPED_PROBE.is_file():
        return None
    try:
        with safe_open(str(SHIPPED_PROBE), "pt") as fh:
            meta = json.loads((fh.metadata() or {})["config"])
        return from_dict(ProbeTrainConfig, meta).key()
    except Exception:  # a damaged package file: fall back to the cache / training
        return None


def load_or_train_probe(
    cfg: ProbeTrainConfig | None = None, cache_dir: str | os.PathLike | None = None, progress: bool = True
) -> ShapesProbe:
    """The trained probe for `cfg`: the shipped probe when `cfg` has its training settings (the defaults), else
    read from the cache, or trained once and cached."""
    cfg = cfg or ProbeTrainConfig()
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"shapes-probe-{cfg.key()}.safetensors"
    probe = ShapesProbe(cfg.probe)
    if shipped_probe_key() == cfg.key():  # the default settings: the probe shipped with the package
        probe.load_state_dict(load_file(str(SHIPPED_PROBE)), strict=True)
        return probe.eval()
    if path.is_file():
        try:
            probe.load_state_dict(load_file(str(path)), strict=True)
            return probe.eval()
        except Exception:  # a damaged cache is derived data: retrain below
            pass
    start = time.perf_counter()
    probe = train_probe(cfg, progress=progress)
    save_probe(probe, cfg, path, train_s=time.perf_counter() - start)
    return probe


def save_probe(
    probe: ShapesProbe, cfg: ProbeTrainConfig, path: str | os.PathLike, train_s: float | None = None
) -> None:
    """Write a trained probe as safetensors (atomically); the metadata holds its training config ("config", JSON)
    and, when given, the training wall time in seconds ("train_s")."""
    path = Path(path)
    state = {k: v.detach().contiguous() for k, v in probe.state_dict().items()}
    meta = {"config": json.dumps(asdict(cfg), sort_keys=True), "format": "v1"}
    if train_s is not None:
        meta["train_s"] = f"{train_s:.1f}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        save_file(state, tmp, metadata=meta)


def probe_metadata(path: str | os.PathLike = SHIPPED_PROBE) -> dict[str, str]:
    """The metadata of a saved probe ({"config": JSON, "format": "v1", "train_s": seconds when recorded})."""
    with safe_open(str(path), "pt") as fh:
        return dict(fh.metadata() or {})
