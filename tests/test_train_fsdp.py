"""FSDP2 (fully_shard) on two gloo CPU ranks: trains, matches one process, saves full weights, resumes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from test_train_engine import ToyModel, assert_same, final_weights, run_toy

ENGINE = Path(__file__).resolve().parent / "test_train_engine.py"  # its script mode trains the toy model
PY = sys.executable



def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(ENGINE.parent.parent / "src"), env.get("PYTHONPATH", "")])
    return env


def _torchrun(out: Path, *overrides: str) -> None:
    cmd = [PY, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(29500 + os.getpid() % 500),
           str(ENGINE), str(out), *overrides]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def test_fsdp2_trains_on_gloo_cpu(tmp_path):
    from videoflextok.checkpoint import load_pretrained

    common = ("train.steps=6", "model.noise=0", "train.checkpoint_every=3")
    sharded = ("train.batch_size=2", "train.grad_accum=2", "train.distributed=fsdp")  # 2 ranks x 2 micro x 2
    _torchrun(tmp_path / "fsdp", *common, *sharded)
    run_toy(tmp_path / "single", *common, "train.batch_size=8")
    r0, r1 = load_file(str(tmp_path / "fsdp/rank0.safetensors")), load_file(str(tmp_path / "fsdp/rank1.safetensors"))
    assert_same(r0, r1, exact=True)
    assert_same(r0, final_weights(tmp_path / "single"), exact=False, atol=1e-5)
    ema = load_pretrained(ToyModel, tmp_path / "fsdp")  # EMA weights, gathered from the shards
    single = load_pretrained(ToyModel, tmp_path / "single")
    assert_same(ema.state_dict(), single.state_dict(), exact=False, atol=1e-5)
    # resume under FSDP continues from the step-3 checkpoint to the same end point
    shutil.rmtree(tmp_path / "fsdp/checkpoints/step_00000006")
    (tmp_path / "fsdp/checkpoints/latest").unlink()
    _torchrun(tmp_path / "fsdp", *common, *sharded, "--resume")
    assert_same(load_file(str(tmp_path / "fsdp/rank0.safetensors")), r0, exact=False, atol=1e-6)
