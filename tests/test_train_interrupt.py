"""Real signals to a real ``videoflextok train`` process: Ctrl-C (SIGINT) saves a checkpoint at the step it stops
after, exits with 130 and resumes to the same weights as an uninterrupted run; SIGKILL loses at most
``train.checkpoint_every`` steps. And the package built as a wheel, installed elsewhere, finds its demo tokenizer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bad_inputs_workspace import QUIET, TOKENIZER

ROOT = Path(__file__).resolve().parents[1]
STEPS = 150  # long enough to be stopped half-way, short enough to finish twice
ARGS = ("--preset", "tiny", "data.resolution=16", *(f"model.{o}" for o in TOKENIZER), "train.batch_size=2",
        "train.log_every=1", "train.ema_decay=0.9", f"train.steps={STEPS}", *QUIET)


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def _cmd(out: Path, *overrides: str, resume: bool = False) -> list[str]:
    flags = ["--resume"] if resume else []
    return [sys.executable, "-m", "videoflextok", "train", "tokenizer", "--out", str(out), *flags, *ARGS, *overrides]


def _logged_step(out: Path) -> int:
    """The last step written to metrics.jsonl (0 before the first)."""
    path = out / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    steps = [json.loads(line)["step"] for line in lines if line.strip().endswith("}")]
    return max(steps, default=0)


def _start_and_wait(out: Path, min_step: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(_cmd(out, *extra), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _logged_step(out) < min_step and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    return proc


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_resumes_exactly(tmp_path):
    from videoflextok.train.checkpoint import latest_checkpoint

    proc = _start_and_wait(tmp_path / "twice", 5, "train.checkpoint_every=1000")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    stopped = int(latest_checkpoint(tmp_path / "twice").name.split("_")[1])
    assert 5 <= stopped < STEPS and f"stopped at step {stopped}" in out and "Traceback" not in err
    assert _logged_step(tmp_path / "twice") == stopped  # the step it stopped after is the step it saved
    for out_dir, resume in ((tmp_path / "twice", True), (tmp_path / "once", False)):
        done = subprocess.run(_cmd(out_dir, "train.checkpoint_every=1000", resume=resume), env=_env(),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    a, b = latest_checkpoint(tmp_path / "once"), latest_checkpoint(tmp_path / "twice")
    assert a.name == b.name == f"step_{STEPS:08d}"
    for name in ("model.safetensors", "ema.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name


@pytest.mark.slow
def test_sigkill_loses_at_most_checkpoint_every_steps(tmp_path):
    from videoflextok.train.checkpoint import latest_checkpoint

    every = 3
    out = tmp_path / "run"
    proc = _start_and_wait(out, 8, f"train.checkpoint_every={every}")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    reached = _logged_step(out)
    saved = int(latest_checkpoint(out).name.split("_")[1])
    assert saved >= 8 - every and 0 <= reached - saved <= every, (reached, saved)


@pytest.mark.slow
def test_an_installed_wheel_finds_its_demo_tokenizer(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("videoflextok-*.whl")
    target = tmp_path / "site"
    installed = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    code = ("import videoflextok, sys; m = videoflextok.demo_tokenizer(); "
            "assert videoflextok.__file__.startswith(sys.argv[1]), videoflextok.__file__; print(m.config.K)")
    env = dict(os.environ, PYTHONPATH=str(target), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code, str(target)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "32"
