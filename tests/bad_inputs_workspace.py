"""A folder of tiny real artefacts for the bad-input tests: two tokenizers, a tokenizer / VAE / generator run, token
and latent shards, generated samples, videos (good, truncated, random bytes, too short), manifests, an official
checkpoint with damaged weights, and files that must survive every refused command.

Built once per test module in about ten seconds (16x16 models, one or two training steps each).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from official_fixture import HUB
from videoflextok.cli.main import main
from videoflextok.data import sample_videos
from videoflextok.data.video_io import write_video
from videoflextok.eval.generation import GenerationEvalConfig, generate_shard
from videoflextok.generator.model import VideoGenerator
from videoflextok.tokenizer.model import VideoFlexTok

BIKES = next(p for p in sample_videos() if p.name == "bikes.mp4")
TOKENIZER = ("resolution=16", "K=4", "encoder_depth=1", "encoder_dim=32", "encoder_heads=2", "decoder_depth=1",
             "decoder_dim=32", "decoder_heads=2", "sample_steps=1")
GENERATOR = ("depth=1", "width=32", "heads=2", "tokens_per_frame=4", "text_dim=16", "max_text_tokens=16")
QUIET = ("train.device=cpu", "train.val_every=0", "train.progress=false", "train.warmup_steps=0")


def build_workspace(root: Path) -> Path:
    """Fill ``root`` (see the module docstring); returns it."""
    for seed, name in ((0, "tok"), (1, "tok2")):
        torch.manual_seed(seed)
        VideoFlexTok.from_preset("tiny", TOKENIZER).save_pretrained(root / name)
    cpu = ["--device", "cpu"]
    assert main(["pretokenize", "--tokenizer", str(root / "tok"), "--num", "8", "--shard-size", "4",
                 "--out", str(root / "shards"), *cpu]) == 0
    assert main(["train", "generator", "--preset", "tiny-c2v", "--tokens", str(root / "shards"), "--out",
                 str(root / "gen"), *(f"model.{o}" for o in GENERATOR), "train.steps=1", "train.batch_size=4",
                 *QUIET]) == 0
    assert main(["train", "tokenizer", "--preset", "tiny", "--out", str(root / "run"), "data.resolution=16",
                 *(f"model.{o}" for o in TOKENIZER), "train.steps=1", "train.batch_size=2", *QUIET]) == 0
    assert main(["train", "vae", "--preset", "tiny", "--out", str(root / "vae"), "data.resolution=16",
                 "data.num_frames=5", "train.steps=1", "train.batch_size=1", *QUIET]) == 0
    assert main(["cache-latents", "--vae", str(root / "vae"), "--num", "2", "--resolution", "16", "--frames", "5",
                 "--out", str(root / "latents"), *cpu]) == 0
    generator = VideoGenerator.from_pretrained(root / "gen").eval()
    tokenizer = VideoFlexTok.from_pretrained(root / "tok").eval()
    generate_shard(generator, tokenizer, GenerationEvalConfig(num=2, batch_size=2), root / "samples",
                   sources=(str(root / "gen"), str(root / "tok")), progress=False)

    shutil.copy(BIKES, root / "clip.mp4")
    (root / "truncated.mp4").write_bytes(BIKES.read_bytes()[:500])
    (root / "random.mp4").write_bytes(np.random.default_rng(1).bytes(20000))
    (root / "notes.txt").write_text("hello\n" * 20)
    write_video(root / "short.mp4", torch.zeros(3, 9, 16, 16), 10)
    (root / "missing.csv").write_text(f"path,label\n{BIKES},1\nnot_there.mp4,2\n")
    (root / "badlabel.csv").write_text(f"path,label\n{BIKES},one\n")
    (root / "unreadable.csv").write_text(f"path,label\n{BIKES},1\ntruncated.mp4,2\n")
    (root / "empty").mkdir()
    (root / "keep.txt").write_text("keep me\n")
    (root / "demo_out").mkdir()
    (root / "demo_out" / "report.html").write_text("<html>an earlier report</html>\n")
    official = root / "official_truncated"
    shutil.copytree(HUB, official)
    data = (official / "model.safetensors").read_bytes()
    (official / "model.safetensors").write_bytes(data[: len(data) // 2])
    (root / "plain").mkdir()
    (root / "plain" / "config.json").write_text('{"something": "else"}\n')
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Relative path -> (size, modification time, inode) of every file under ``root`` (folders: "dir"): what no
    refused command may change. Stricter than the bytes: a file rewritten with the same bytes, or replaced by a
    rename, shows too."""
    out = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        out[str(path.relative_to(root))] = ("dir",) if path.is_dir() else (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    return out
