"""The toy training engine in separate processes: SIGKILL at random moments, then resume; DDP with
two gloo ranks against one process with the doubled batch."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from test_train_engine import ToyModel, assert_same, final_weights, run_toy

ENGINE = Path(__file__).resolve().parent / "test_train_engine.py"  # its script mode trains the toy model
PY = sys.executable



def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(ENGINE.parent.parent / "src"), env.get("PYTHONPATH", "")])
    return env


def _script(out: Path, *overrides: str, resume: bool = False) -> list[str]:
    return [PY, str(ENGINE), str(out), *overrides] + (["--resume"] if resume else [])


def test_crash_safety_sigkill_at_random_moments(tmp_path):
    from videoflextok.checkpoint import load_pretrained
    from videoflextok.train.checkpoint import latest_checkpoint, load_training_state

    out = tmp_path / "run"
    args = ("train.steps=800", "train.checkpoint_every=10", "train.keep_last=2", "train.log_every=50")
    rng = random.Random(0)

    def latest_step() -> int:
        ckpt = latest_checkpoint(out)
        return -1 if ckpt is None else int(ckpt.name.split("_")[1])

    steps_seen = []
    for _ in range(3):
        before = latest_step()
        proc = subprocess.Popen(_script(out, *args, resume=True), env=_env(), stdout=subprocess.DEVNULL)
        deadline = time.time() + 120
        while latest_step() <= before and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))  # a random moment: mid-step, mid-checkpoint-write or mid-pruning
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpt = latest_checkpoint(out)  # every time: the latest checkpoint loads completely
        model = load_pretrained(ToyModel, ckpt)
        assert all(torch.isfinite(p).all() for p in model.parameters())
        steps_seen.append(load_training_state(ckpt)["step"])
    assert steps_seen == sorted(steps_seen) and steps_seen[0] > 0 and steps_seen[-1] < 800
    done = subprocess.run(_script(out, *args, resume=True), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert latest_checkpoint(out).name == "step_00000800"
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]  # no leftovers


def _torchrun(out: Path, *overrides: str) -> None:
    cmd = [PY, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(29500 + os.getpid() % 500),
           str(ENGINE), str(out), *overrides]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def test_ddp_two_ranks_match_single_process_doubled_batch(tmp_path):
    common = ("train.steps=8", "model.noise=0", "train.checkpoint_every=0")
    _torchrun(tmp_path / "ddp", *common, "train.batch_size=4", "train.distributed=ddp")
    r0, r1 = load_file(str(tmp_path / "ddp/rank0.safetensors")), load_file(str(tmp_path / "ddp/rank1.safetensors"))
    assert_same(r0, r1, exact=True)
    run_toy(tmp_path / "single", *common, "train.batch_size=8")
    assert_same(r0, final_weights(tmp_path / "single"), exact=False, atol=1e-5)
    assert_same(r0, final_weights(tmp_path / "ddp"), exact=True)  # rank 0 wrote the checkpoint
