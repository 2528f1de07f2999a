"""What used to go wrong quietly with bad or unlucky input, each checked by what it produces (numbers, files, lines):
a refused run that kept its schedule, ``info`` counting what ``tokenize`` takes, manifests that no longer duplicate
clips, generators bound to their tokenizer, ``--out`` parents, progress counts and lines, Ctrl-C that saves and
resumes exactly, the thread hint, and the shipped demo tokenizer found through package resources."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from bad_inputs_workspace import BIKES, GENERATOR, QUIET, TOKENIZER
from videoflextok.cli.main import main
from videoflextok.data.video_io import read_video, write_video
from videoflextok.generator.model import VideoGenerator
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.tokens import token_fingerprint
from videoflextok.train import console, loop
from videoflextok.train.checkpoint import latest_checkpoint

SRC = Path(__file__).resolve().parents[1] / "src"
RUN = ("data.resolution=16", *(f"model.{o}" for o in TOKENIZER), "train.batch_size=2", "train.log_every=1",
       "train.ema_decay=0.9", *QUIET)


def _train(out: Path, *extra: str) -> int:
    return main(["train", "tokenizer", "--preset", "tiny", "--out", str(out), *RUN, *extra])


def test_a_refused_run_keeps_its_schedule(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "train.steps=3", "train.stop_at=1") == 0
    saved = (out / "run_config.yaml").read_bytes()
    assert _train(out, "train.steps=9") == 2  # a new run into it: refused before anything is written
    assert "pass --resume" in capsys.readouterr().err and (out / "run_config.yaml").read_bytes() == saved
    assert main(["train", "tokenizer", "--out", str(out), "--resume"]) == 0  # continues the original schedule
    assert latest_checkpoint(out).name == "step_00000003"
    assert yaml.safe_load((out / "run_config.yaml").read_text())["train"]["steps"] == 3


def test_info_counts_the_frames_tokenize_takes(tmp_path, capsys):
    import json

    tokenizer = VideoFlexTok.from_preset("tiny")
    k, res = tokenizer.config.K, tokenizer.config.resolution
    for frames, usable, latent in ((129, 81, 21), (5, 5, 2), (40, 33, 9)):
        write_video(tmp_path / f"c{frames}.mkv", torch.zeros(3, frames, res, res), 8)
        assert main(["info", str(tmp_path / f"c{frames}.mkv"), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert (info["usable_frames"], info["latent_frames"], info["tokens"]) == (usable, latent, latent * k)
        video, _ = read_video(tmp_path / f"c{frames}.mkv", num_frames=usable, frame_policy="none")
        assert tokenizer.tokenize(video[None])[0].shape == (latent, k)  # tokenize takes exactly that clip


def test_a_manifest_with_an_unreadable_file_is_refused_not_duplicated(tmp_path, capsys):
    torch.manual_seed(0)
    VideoFlexTok.from_preset("tiny", TOKENIZER).save_pretrained(tmp_path / "tok")
    (tmp_path / "bad.mp4").write_bytes(BIKES.read_bytes()[:500])
    args = ["pretokenize", "--tokenizer", str(tmp_path / "tok"), "--dataset", "manifest", "--device", "cpu"]
    for name, rows in (("one_bad.csv", f"{BIKES},1\nbad.mp4,2\n"), ("one_missing.csv", f"{BIKES},1\ngone.mp4,2\n")):
        (tmp_path / name).write_text("path,label\n" + rows)
        assert main([*args, "--path", str(tmp_path / name), "--out", str(tmp_path / name[:-4])]) == 2
        err = capsys.readouterr().err
        assert ("bad.mp4' cannot be used" in err or "gone.mp4'" in err) and not (tmp_path / name[:-4]).exists()
    (tmp_path / "good.csv").write_text(f"path,label\n{BIKES},1\n{BIKES},3\n")
    assert main([*args, "--path", str(tmp_path / "good.csv"), "--out", str(tmp_path / "good")]) == 0
    from videoflextok.generator.token_shards import TokenShardDataset

    assert TokenShardDataset(tmp_path / "good").labels == [1, 3]


def test_a_generator_remembers_the_tokenizer_of_its_tokens(tmp_path):
    torch.manual_seed(0)
    tok = VideoFlexTok.from_preset("tiny", TOKENIZER)
    tok.save_pretrained(tmp_path / "tok")
    assert main(["pretokenize", "--tokenizer", str(tmp_path / "tok"), "--num", "4", "--out", str(tmp_path / "shards"),
                 "--device", "cpu"]) == 0
    assert main(["train", "generator", "--preset", "tiny-c2v", "--tokens", str(tmp_path / "shards"), "--out",
                 str(tmp_path / "gen"), *(f"model.{o}" for o in GENERATOR), "train.steps=1", "train.batch_size=2",
                 *QUIET]) == 0
    fingerprint = token_fingerprint(VideoFlexTok.from_pretrained(tmp_path / "tok"))
    assert VideoGenerator.from_pretrained(tmp_path / "gen").config.tokenizer_id == fingerprint
    with torch.no_grad():  # the decoder does not change what the ids mean; the encoder does
        next(tok.decoder.parameters()).add_(1.0)
        assert token_fingerprint(tok) == fingerprint
        next(tok.encoder.parameters()).add_(1e-3)
        assert token_fingerprint(tok) != fingerprint
    out = tmp_path / "new" / "sub" / "clip.mp4"  # missing parents are made
    assert main(["generate", "--generator", str(tmp_path / "gen"), "--tokenizer", str(tmp_path / "tok"), "--class",
                 "1", "--out", str(out), "--device", "cpu"]) == 0
    assert read_video(out)[0].shape[1] == 17


def test_eval_makes_missing_parents_and_counts_clips_once(tmp_path, capsys):
    torch.manual_seed(0)
    VideoFlexTok.from_preset("tiny", TOKENIZER).save_pretrained(tmp_path / "tok")
    out = tmp_path / "eval" / "rec"
    assert main(["eval", "reconstruction", "--tokenizer", str(tmp_path / "tok"), "--num", "3", "--batch-size", "2",
                 "--tokens", "1,2,4", "--out", str(out), "--no-fvd", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "9/9" not in err  # clips, not clips x budgets
    assert (out / "reconstruction.json").is_file() and (out / "reconstruction.png").is_file()


def test_ctrl_c_saves_a_checkpoint_and_resumes_exactly(tmp_path, monkeypatch, capsys):
    before = signal.getsignal(signal.SIGINT)  # a background job starts with Ctrl-C ignored
    assert _train(tmp_path / "once", "train.steps=6", "train.checkpoint_every=0") == 0
    real_set_lr = loop.set_lr
    calls = []

    def set_lr_then_interrupt(optimizer, lr):
        calls.append(lr)
        if len(calls) == 3:  # during the third step
            os.kill(os.getpid(), signal.SIGINT)
        real_set_lr(optimizer, lr)

    monkeypatch.setattr(loop, "set_lr", set_lr_then_interrupt)
    assert _train(tmp_path / "twice", "train.steps=6", "train.checkpoint_every=0") == 130
    assert "stopped at step 3" in capsys.readouterr().out and len(calls) == 3
    assert latest_checkpoint(tmp_path / "twice").name == "step_00000003"
    assert signal.getsignal(signal.SIGINT) is before  # the handler of before the run is back
    monkeypatch.setattr(loop, "set_lr", real_set_lr)
    assert main(["train", "tokenizer", "--out", str(tmp_path / "twice"), "--resume"]) == 0
    a, b = latest_checkpoint(tmp_path / "once"), latest_checkpoint(tmp_path / "twice")
    assert a.name == b.name == "step_00000006"
    for name in ("model.safetensors", "ema.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name


@pytest.mark.parametrize("progress", ["true", "false"])
def test_progress_off_a_terminal_is_plain_lines(tmp_path, capsys, monkeypatch, progress):
    monkeypatch.setattr(console, "LINE_INTERVAL", 0.0)  # every logged window gets its line
    assert _train(tmp_path / "run", "train.steps=3", f"train.progress={progress}") == 0
    out, err = capsys.readouterr()
    assert "\r" not in out + err  # no bar redrawn into a log file
    lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"] and all("loss" in x for x in lines)


def test_a_quiet_run_still_says_where_it_is(tmp_path, capsys):
    assert _train(tmp_path / "run", "train.steps=4", "train.progress=false") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert lines[0].startswith("step 1/4") and lines[-1].startswith("step 4/4")  # first and last, at least


def test_thread_hint_on_a_busy_cpu(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 1.9, 1.9))
    hint = console.thread_hint(torch.device("cpu"))
    assert hint is not None and "OMP_NUM_THREADS=1" in hint and "1.9" in hint
    assert console.thread_hint(torch.device("cuda")) is None
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert console.thread_hint(torch.device("cpu")) is None  # an idle machine
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 1.9, 1.9))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert console.thread_hint(torch.device("cpu")) is None  # one thread already


def test_the_demo_tokenizer_loads_from_a_zipped_package(tmp_path):
    from videoflextok import demo_tokenizer
    from videoflextok.shipped import demo_tokenizer_folder

    with demo_tokenizer_folder() as folder:
        reference = VideoFlexTok.from_pretrained(folder)
    model = demo_tokenizer()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    archive = tmp_path / "videoflextok.zip"  # the package as a zip: its resources are not files on disk
    with zipfile.ZipFile(archive, "w") as z:
        for path in (SRC / "videoflextok").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, path.relative_to(SRC))
    code = ("import videoflextok, torch; m = videoflextok.demo_tokenizer(); "
            "assert '.zip' in videoflextok.__file__, videoflextok.__file__; "
            "print(sum(float(p.double().sum()) for p in m.state_dict().values()))")
    env = dict(os.environ, PYTHONPATH=str(archive), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = sum(float(p.double().sum()) for p in reference.state_dict().values())
    assert float(done.stdout.strip()) == pytest.approx(expected, rel=1e-12)


def test_cached_latents_train_a_tokenizer_like_the_clips_they_came_from(tmp_path, capsys):
    from videoflextok.train.metrics_log import read_metrics

    vae_args = ("--preset", "tiny", "data.resolution=16", "data.num_frames=5", "train.steps=1", "train.batch_size=1",
                *QUIET)
    for seed in (0, 1):
        assert main(["train", "vae", "--out", str(tmp_path / f"vae{seed}"), *vae_args, f"train.seed={seed}"]) == 0
    assert main(["cache-latents", "--vae", str(tmp_path / "vae0"), "--num", "4", "--resolution", "16", "--frames",
                 "5", "--out", str(tmp_path / "latents"), "--device", "cpu"]) == 0
    model = ("resolution=16", "chunk_frames=5", "max_frames=5", "K=4", "compressor.kind=vae", "compressor.channels=16",
             "compressor.spatial_factor=8", "patch_size=1", "encoder_depth=1", "decoder_depth=1", "encoder_dim=32",
             "decoder_dim=32", "encoder_heads=2", "decoder_heads=2")
    args = ["--preset", "tiny", "data.resolution=16", "data.num_frames=5", "data.length=4", "train.steps=3",
            "train.batch_size=2", "train.log_every=1", *QUIET, *(f"model.{o}" for o in model)]

    def train(out: str, *extra: str) -> int:
        return main(["train", "tokenizer", "--out", str(tmp_path / out), *args, *extra])

    vae0, cached = f"model.compressor.path={tmp_path / 'vae0'}", f"data.latents={tmp_path / 'latents'}"
    assert train("from_latents", vae0, cached) == 0
    assert train("from_clips", vae0) == 0
    losses = [[r["loss"] for r in read_metrics(tmp_path / name)] for name in ("from_latents", "from_clips")]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], rel=1e-5)  # the same x0, step by step
    capsys.readouterr()
    assert train("other_vae", f"model.compressor.path={tmp_path / 'vae1'}", cached) == 2
    assert "made by another VAE" in capsys.readouterr().err and not (tmp_path / "other_vae").exists()
