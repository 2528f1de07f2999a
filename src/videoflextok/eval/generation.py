"""Generation evaluation: sample videos with a generator + tokenizer into .npz shards, then score them.

Conditions come from `num` real `shapes` clips (seeded, one split): clip i's class label (class-to-video) or
caption (text-to-video) conditions sample i, and the same clips are the real set of the gFVD.

Sharding: samples are made in batches of `batch_size` global indices; batch j belongs to shard j mod N and is
seeded with (seed, j) alone, so any split into N processes produces the same samples as one process. Shard I of
N is written to `<out>/samples/shard_I-of-N.npz` (atomic) holding

    videos  uint8 [n, T, H, W, 3]     indices int64 [n]     labels int64 [n] (-1 for text)
    captions unicode [n] ("" for class)                     meta   unicode scalar (JSON of the settings)

(no pickles; read with `allow_pickle=False`). `load_samples` merges all shards of a folder, checking that they
share their settings and cover 0..num-1 exactly once; `evaluate_samples` gives gFVD (Kinetics-400 I3D logits,
needs >= 16 frames and >= 2 samples), the probe's class score (class generators) and caption score (text
generators).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from tqdm.auto import tqdm

from videoflextok.atomic import atomic_file
from videoflextok.checks import check_memory
from videoflextok.data.shapes import ShapesDataset
from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.eval.fvd import compute_fvd
from videoflextok.eval.probe import ShapesProbe, caption_score, class_score
from videoflextok.eval.probe_train import load_or_train_probe
from videoflextok.eval.reconstruction import load_i3d_or_reason
from videoflextok.generator.model import VideoGenerator
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.tokens import check_same_tokenizer

SAMPLES_DIR = "samples"  # sub-folder of the output folder holding the shards


@dataclass
class GenerationEvalConfig:
    """How samples are drawn (everything that must agree between shards)."""

    num: int = 16  # samples (and real clips)
    tokens_per_frame: int | None = None  # tokens sampled per latent frame (None = the generator's)
    num_frames: int | None = None  # video frames (None = the tokenizer's chunk)
    cfg: float = 1.0  # classifier-free guidance on logits (1 = off)
    temperature: float = 1.0  # sampling temperature (0 = greedy)
    top_k: int | None = None  # sample among the k most likely tokens
    top_p: float | None = None  # nucleus sampling mass
    steps: int | None = None  # flow decoder Euler steps (None = the tokenizer's)
    guidance: float | None = None  # flow decoder guidance (None = the tokenizer's)
    seed: int = 0  # seed of the conditions' clips and of sampling
    split: str = "train"  # `shapes` split of the real clips and conditions (the generators train on "train")
    batch_size: int = 8  # samples per generate call (part of the seeding: keep it equal across shards)


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """[B, 3, T, H, W] in [-1, 1] -> uint8 [B, T, H, W, 3]."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rearrange(x, "b c t h w -> b t h w c").cpu().numpy()


def from_uint8(videos: np.ndarray) -> torch.Tensor:
    """uint8 [B, T, H, W, 3] -> float [B, 3, T, H, W] in [-1, 1]."""
    return rearrange(torch.from_numpy(videos).float() / 127.5 - 1.0, "b t h w c -> b c t h w")


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N (ConfigError otherwise)."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like I/N (e.g. 0/4), got '{text}'") from None
    if not 0 <= i < n:
        raise ConfigError(f"--shard I/N needs 0 <= I < N, got '{text}'")
    return i, n


def shard_batches(num: int, batch_size: int, shard: int, num_shards: int) -> list[tuple[int, int, int]]:
    """(batch index j, first, end) of the batches of shard `shard`: j = shard, shard + N, ..."""
    starts = enumerate(range(0, num, batch_size))
    return [(j, s, min(s + batch_size, num)) for j, s in starts if j % num_shards == shard]


def sample_seed(seed: int, batch: int) -> int:
    """Seed of global batch `batch` (token sampling, then the decoder noise, from one torch.Generator)."""
    return seed * 1_000_003 + batch


def real_clips(cfg: GenerationEvalConfig, resolution: int, frames: int) -> ShapesDataset:
    """The `shapes` clips that give the conditions and the real set."""
    return ShapesDataset(resolution, frames, cfg.num, cfg.seed, split=cfg.split)


def shard_path(out: str | os.PathLike, shard: int, num_shards: int) -> Path:
    return Path(out) / SAMPLES_DIR / f"shard_{shard:04d}-of-{num_shards:04d}.npz"


def _settings(cfg: GenerationEvalConfig, generator: VideoGenerator, tokenizer: VideoFlexTok, k: int, frames: int,
              generator_dir: str, tokenizer_dir: str) -> dict[str, Any]:
    return {"config": {**asdict(cfg), "tokens_per_frame": k, "num_frames": frames},
            "conditioning": generator.config.conditioning, "generator": str(generator_dir),
            "tokenizer": str(tokenizer_dir), "resolution": tokenizer.config.resolution}


def _savez(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        np.savez(tmp, **arrays)


@torch.no_grad()
def generate_shard(
    generator: VideoGenerator,
    tokenizer: VideoFlexTok,
    cfg: GenerationEvalConfig,
    out: str | os.PathLike,
    shard: int = 0,
    num_shards: int = 1,
    sources: tuple[str, str] = ("", ""),
    progress: bool = True,
) -> Path:
    """Sample the batches of shard `shard` of `num_shards` and write them to `shard_path(out, ...)`.

    sources: (generator folder, tokenizer folder), recorded in the shard's settings. A shard file that already
    exists with the same settings is kept (resume); one with other settings is a ConfigError.
    """
    gcfg, tcfg = generator.config, tokenizer.config
    if cfg.num < 1 or cfg.batch_size < 1:
        raise ConfigError(f"--num and --batch-size must be at least 1, got {cfg.num} and {cfg.batch_size}")
    if tcfg.vocab_size != gcfg.vocab_size:
        raise CheckpointError(
            f"the generator's vocabulary ({gcfg.vocab_size}) does not match the tokenizer's ({tcfg.vocab_size})")
    check_same_tokenizer(gcfg, tokenizer)
    batches_total = -(-cfg.num // cfg.batch_size)
    if num_shards > batches_total:
        raise ConfigError(
            f"{cfg.num} samples in batches of {cfg.batch_size} make {batches_total} batch(es), too few for "
            f"{num_shards} shards (each shard takes whole batches); use at most {batches_total} shards or "
            f"--batch-size {-(-cfg.num // num_shards)}"
        )
    frames = cfg.num_frames or tcfg.chunk_frames
    if frames < 2:
        raise ConfigError("the class and caption scores need videos of at least 2 frames (the probe reads motion)")
    if not tcfg.supports_frames(frames):
        raise ConfigError(f"--frames must be {tcfg.frames_rule()}, got {frames}")
    k = cfg.tokens_per_frame or gcfg.tokens_per_frame
    if k > tcfg.K:
        raise ConfigError(f"--tokens-per-frame {k} exceeds the tokenizer's {tcfg.K} tokens per latent frame")
    latent = tcfg.latent_frames(frames)
    generator.check_budget(latent, k)
    clip = frames * tcfg.resolution**2 * 3  # values per video
    check_memory(max(-(-cfg.num // num_shards) * clip, cfg.batch_size * clip * 4), "these samples")
    settings = _settings(cfg, generator, tokenizer, k, frames, *sources)
    path = shard_path(out, shard, num_shards)
    if path.is_file():
        if _read_shard(path)["meta"] == settings:
            return path
        raise ConfigError(f"'{path}' holds samples made with different settings; use another --out folder")
    data = real_clips(cfg, tcfg.resolution, frames)
    text = gcfg.conditioning == "text"
    batches = shard_batches(cfg.num, cfg.batch_size, shard, num_shards)
    device = next(generator.parameters()).device
    videos, indices, labels, captions = [], [], [], []
    bar = tqdm(total=sum(e - s for _, s, e in batches), desc=f"generate {shard}/{num_shards}", unit="video",
               disable=not progress)
    for j, start, end in batches:
        samples = [data.sample(i) for i in range(start, end)]
        cond = [s.caption for s in samples] if text else [s.label for s in samples]
        rng = torch.Generator(device=device).manual_seed(sample_seed(cfg.seed, j))
        tokens = generator.generate(cond, latent, k, temperature=cfg.temperature, top_k=cfg.top_k,
                                    top_p=cfg.top_p, cfg_scale=cfg.cfg, generator=rng)
        video = tokenizer.detokenize(list(tokens), steps=cfg.steps, guidance=cfg.guidance, generator=rng)
        videos.append(to_uint8(video))
        indices += list(range(start, end))
        labels += [-1 if text else s.label for s in samples]
        captions += [s.caption if text else "" for s in samples]
        bar.update(end - start)
    bar.close()
    empty = np.zeros((0, frames, tcfg.resolution, tcfg.resolution, 3), np.uint8)
    _savez(path, videos=np.concatenate(videos) if videos else empty, indices=np.array(indices, np.int64),
                  labels=np.array(labels, np.int64), captions=np.array(captions, dtype=np.str_),
                  meta=np.array(json.dumps(settings, sort_keys=True)))
    return path


def _read_shard(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("videos", "indices", "labels", "captions")}
            out["meta"] = json.loads(str(z["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise CheckpointError(f"cannot read the sample shard '{path}': {exc}") from None
    return out


def load_samples(out: str | os.PathLike) -> dict[str, Any]:
    """Merge every shard under `<out>/samples`: {"videos" uint8 [num, T, H, W, 3], "labels", "captions",
    "meta", "shards"} in index order. ConfigError when shards are missing, overlap or disagree on settings."""
    folder = Path(out) / SAMPLES_DIR
    paths = sorted(folder.glob("shard_*-of-*.npz"))
    if not paths:
        raise ConfigError(f"no sample shards in '{folder}'; run with --shard I/N first")
    counts = {p.stem.split("-of-")[1] for p in paths}
    if len(counts) != 1:
        raise ConfigError(f"'{folder}' mixes shards of different splits ({', '.join(sorted(counts))} shards)")
    num_shards = int(counts.pop())
    shards = [_read_shard(p) for p in paths]
    meta = shards[0]["meta"]
    if any(s["meta"] != meta for s in shards[1:]):
        raise ConfigError(f"the shards in '{folder}' were made with different settings")
    if len(shards) != num_shards:
        missing = sorted(set(range(num_shards)) - {int(p.stem.split("_")[1].split("-")[0]) for p in paths})
        raise ConfigError(f"'{folder}' lacks shard(s) {missing} of {num_shards}; run them before --merge")
    indices = np.concatenate([s["indices"] for s in shards])
    num = meta["config"]["num"]
    if sorted(indices.tolist()) != list(range(num)):
        raise ConfigError(f"the shards in '{folder}' do not cover samples 0..{num - 1} exactly once")
    order = np.argsort(indices)
    merged = {k: np.concatenate([s[k] for s in shards])[order] for k in ("videos", "labels", "captions")}
    return {**merged, "meta": meta, "shards": num_shards}


@torch.no_grad()
def evaluate_samples(
    samples: dict[str, Any],
    fvd: bool = True,
    probe: ShapesProbe | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """gFVD against the real clips, class score / caption score of merged `samples` (see `load_samples`).

    Returns the content of `generation.json`: {"settings", "num", "gfvd", "gfvd_skipped", "class_score",
    "caption_score", "real_class_score"/"real_caption_score" (the probe on the real clips: the ceiling), ...}.
    """
    meta = samples["meta"]
    cfg = GenerationEvalConfig(**meta["config"])
    frames, res = cfg.num_frames, meta["resolution"]
    data = real_clips(cfg, res, frames)
    num = cfg.num
    device = torch.device(device)

    def real_batches():
        for s in range(0, num, batch_size):
            yield torch.stack([data[i]["video"] for i in range(s, min(s + batch_size, num))])

    def fake_batches():
        for s in range(0, num, batch_size):
            yield from_uint8(samples["videos"][s : s + batch_size])

    i3d, skipped = load_i3d_or_reason(fvd, frames, num, device, "gFVD", "videos")
    gfvd = compute_fvd(fake_batches(), real_batches(), i3d, batch_size, progress) if i3d is not None else None

    if frames < 2:
        raise ConfigError("the class and caption scores need videos of at least 2 frames (the probe reads motion)")
    probe = (probe or load_or_train_probe(progress=progress)).to(device).eval()
    found, found_real = [], []
    with tqdm(total=2 * num, desc="probe", unit="video", disable=not progress) as bar:
        for fake, real in zip(fake_batches(), real_batches()):
            found += probe.describe(fake.to(device))
            found_real += probe.describe(real.to(device))
            bar.update(2 * fake.shape[0])
    text = meta["conditioning"] == "text"
    scores: dict[str, float | None] = {"class_score": None, "caption_score": None, "real_class_score": None,
                                       "real_caption_score": None}
    if text:
        captions = [str(c) for c in samples["captions"]]
        scores["caption_score"] = caption_score(found, captions)
        scores["real_caption_score"] = caption_score(found_real, captions)
    else:
        labels = samples["labels"].tolist()
        scores["class_score"] = class_score(found, labels)
        scores["real_class_score"] = class_score(found_real, labels)
    return {
        "settings": meta,
        "num": num,
        "shards": samples["shards"],
        "real": {"dataset": "shapes", "split": cfg.split, "seed": cfg.seed, "num": num},
        "gfvd": gfvd,
        "gfvd_skipped": skipped,
        **scores,
        "probe_input": {"frames": probe.config.frames, "size": probe.config.size, "clip_frames": frames,
                        "clip_size": res},
    }
