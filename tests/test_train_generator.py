"""``videoflextok train generator``: the loss falls through the CLI on pretokenized `shapes` (class and text),
``--resume`` continues bitwise, the run folder loads with ``VideoGenerator.from_pretrained``, presets are
complete run configs, and user errors end with one line and exit code 2."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from videoflextok.checkpoint import save_pretrained
from videoflextok.cli.main import main
from videoflextok.config import list_presets, load_yaml, preset_path
from videoflextok.generator.model import VideoGenerator, preset_config
from videoflextok.generator.token_shards import TokenShardDataset
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.train.config import TrainConfig
from videoflextok.train.generator_task import GeneratorDataConfig, load_run_config
from videoflextok.train.metrics_log import read_metrics

TOKENIZER = ("resolution=16", "K=4", "encoder_depth=1", "encoder_dim=32", "encoder_heads=2", "decoder_depth=1",
             "decoder_dim=32", "decoder_heads=2", "sample_steps=2")
# a generator that takes ~0.3 s per step of 8 grids [5, 4] on one CPU thread (the 64000-way head dominates)
MODEL = ("model.depth=1", "model.width=32", "model.heads=2", "model.tokens_per_frame=4", "model.text_dim=16",
         "model.max_text_tokens=16")
TRAIN = ("train.device=cpu", "train.progress=false", "train.log_every=1", "train.warmup_steps=2")
LOG_VOCAB = math.log(64000)  # 11.07: the loss of a uniform guess over the FSQ vocabulary



@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """16 `shapes` clips pretokenized by an (untrained, seeded) tiny tokenizer: tokens [5, 4] each."""
    root = tmp_path_factory.mktemp("gen_train")
    torch.manual_seed(0)
    save_pretrained(VideoFlexTok.from_preset("tiny", TOKENIZER), root / "tok")
    out = root / "shards"
    assert main(["pretokenize", "--tokenizer", str(root / "tok"), "--dataset", "shapes", "--num", "16",
                 "--out", str(out), "--device", "cpu"]) == 0
    return out


def train_cli(out: Path, *extra: str, kind: str = "c2v", tokens: Path | None = None, resume: bool = False) -> int:
    args = ["train", "generator", "--preset", f"tiny-{kind}", "--out", str(out)]
    args += ["--tokens", str(tokens)] if tokens is not None else []
    args += ["--resume"] if resume else []
    return main([*args, *MODEL, *TRAIN, *extra])


@pytest.mark.parametrize("kind", ["c2v", "t2v"])
def test_cli_loss_falls_and_the_run_loads(shards, tmp_path, kind):
    out = tmp_path / "run"
    assert train_cli(out, "train.steps=12", "train.batch_size=8", "train.lr=1e-2", "train.val_every=12",
                     "train.val_batch_size=8", "train.checkpoint_every=6", kind=kind, tokens=shards) == 0
    losses = [row["loss"] for row in read_metrics(out)]
    assert [row["step"] for row in read_metrics(out)] == list(range(1, 13))
    assert abs(losses[0] - LOG_VOCAB) < 0.3, losses  # starts at a uniform guess
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0], losses  # measured: 11.06 -> 7.77 (c2v), 7.85 (t2v) after 12 steps
    (val,) = read_metrics(out, split="val")
    assert val["step"] == 12 and val["loss"] < 0.85 * LOG_VOCAB and 0 <= val["accuracy"] <= 1
    assert val["loss_null"] > 0

    model = VideoGenerator.from_pretrained(out)  # a run folder: its latest checkpoint, EMA weights
    cfg = model.config
    assert (cfg.conditioning, cfg.depth, cfg.width, cfg.tokens_per_frame) == (
        "class" if kind == "c2v" else "text", 1, 32, 4)
    meta = json.loads((out / "checkpoints/step_00000012/config.json").read_text())
    assert meta["run"]["data"]["tokens"] == str(shards) and meta["run"]["train"]["steps"] == 12
    # the loaded weights reproduce the validation loss the run logged (same EMA weights, same fixed batch)
    data = TokenShardDataset(shards)
    batch = torch.utils.data.default_collate([data[i * 2] for i in range(8)])
    with torch.no_grad():
        loss = model.eval().training_losses(batch)["loss"].item()
    assert abs(loss - val["loss"]) < 1e-4, (loss, val["loss"])


def test_resume_continues_bitwise_and_reads_the_saved_token_folder(shards, tmp_path, capsys):
    common = ("train.steps=6", "train.batch_size=4", "train.lr=5e-3", "train.checkpoint_every=3", "train.ema_decay=0.9")
    assert train_cli(tmp_path / "once", *common, tokens=shards) == 0
    assert train_cli(tmp_path / "twice", *common, "train.stop_at=3", tokens=shards) == 0
    assert (tmp_path / "twice/checkpoints/latest").read_text().strip() == "step_00000003"
    # without --resume a second run refuses to touch the folder; with it (and no --tokens) it continues
    assert train_cli(tmp_path / "twice", *common, tokens=shards) == 2
    assert "--resume" in capsys.readouterr().err
    assert train_cli(tmp_path / "twice", resume=True) == 0
    assert "resumed from step_00000003" in capsys.readouterr().out
    a, b = tmp_path / "once/checkpoints/step_00000006", tmp_path / "twice/checkpoints/step_00000006"
    for name in ("model.safetensors", "ema.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name
    rows_a, rows_b = read_metrics(tmp_path / "once"), read_metrics(tmp_path / "twice")
    assert [r["step"] for r in rows_b] == list(range(1, 7))
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]


def _mkdir(folder: Path) -> Path:
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "tokens,extra,message",
    [
        (None, [], "give --tokens"),
        ("missing", [], "does not exist"),
        ("empty", [], "is not a token folder"),
        ("shards", ["model.tokens_per_frame=8"], "model.tokens_per_frame is 8"),
        ("shards", ["model.max_latent_frames=3"], "model.max_latent_frames is 3"),
        ("shards", ["model.vocab_size=1000"], "model.vocab_size is 1000"),
        ("shards", ["model.num_classes=4"], "model.num_classes is 4"),
        ("shards", ["train.nope=1"], "unknown config key 'train.nope'"),
    ],
)
def test_user_errors_exit_2_with_one_line(shards, tmp_path, capsys, tokens, extra, message):
    folder = {"shards": shards, "missing": tmp_path / "missing", "empty": _mkdir(tmp_path / "empty"),
              None: None}[tokens]
    out = tmp_path / "run"
    assert train_cli(out, *extra, tokens=folder) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()  # nothing written before the inputs are checked


def test_presets_are_complete_run_configs():
    sections = {"data": GeneratorDataConfig, "train": TrainConfig}
    for name in list_presets("generator"):
        raw = load_yaml(preset_path("generator", name))
        assert set(raw) == {"model", "data", "train"}, name
        for section, cls in sections.items():
            assert set(raw[section]) == {f.name for f in dataclasses.fields(cls)}, (name, section)
        run = load_run_config(name, [])
        assert run.model == preset_config(name) and run.data.tokens is None
    run = load_run_config("tiny-t2v", ["data.tokens=/x", "train.steps=5", "model.depth=2"])
    assert (run.data.tokens, run.train.steps, run.model.depth, run.model.conditioning) == ("/x", 5, 2, "text")
    big = load_run_config("c2v-2.2b", [])
    assert big.train.precision == "bf16" and big.train.distributed == "fsdp"


@pytest.mark.slow
def test_cli_subprocess_c2v_loss_falls_further(shards, tmp_path):
    """``python -m videoflextok train generator`` as a user runs it: 40 steps, then generate loads the run."""
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "videoflextok", "train", "generator", "--preset", "tiny-c2v", "--tokens", str(shards),
           "--out", str(out), *MODEL, *TRAIN, "train.steps=40", "train.batch_size=8", "train.lr=1e-2",
           "train.val_every=20", "train.checkpoint_every=20"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done: step 40" in done.stdout
    losses = [row["loss"] for row in read_metrics(out)]
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0], losses
    vals = read_metrics(out, split="val")
    assert [v["step"] for v in vals] == [20, 40] and vals[1]["loss"] < vals[0]["loss"]
    assert VideoGenerator.from_pretrained(out).config.num_classes == 32
