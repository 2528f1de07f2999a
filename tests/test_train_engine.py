"""The training engine on a toy regression model: schedule, weight-decay groups, EMA, loss falls, bf16,
gradient accumulation, activation checkpointing, non-finite steps, exact resume (bitwise).
(Crash safety and DDP: test_train_processes.py; FSDP2: test_train_fsdp.py, both use the script mode.)

Run as a script (``python tests/test_train_engine.py OUT key=value ...``, also under torchrun) it trains
the toy model into OUT and writes each rank's final weights to ``OUT/rank<r>.safetensors``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset

from videoflextok.config import apply_overrides
from videoflextok.train.config import TrainConfig


@dataclass
class ToyConfig:
    dim: int = 6  # input / output features
    hidden: int = 32  # block width
    depth: int = 2  # residual blocks
    noise: float = 0.05  # input noise drawn from the global torch RNG (like flow noise)


class ToyBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.fc(torch.nn.functional.gelu(self.norm(h)))


class ToyModel(nn.Module):
    """x: [B, dim] -> prediction [B, dim]; loss = MSE to y, NaN when a poisoned sample is in the batch."""

    config_class = ToyConfig
    checkpoint_kind = "toy"

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.inp = nn.Linear(config.dim, config.hidden)
        self.pos_emb = nn.Parameter(torch.zeros(config.hidden))
        self.blocks = nn.ModuleList([ToyBlock(config.hidden) for _ in range(config.depth)])
        self.out = nn.Linear(config.hidden, config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x) + self.pos_emb
        for block in self.blocks:
            h = block(h)
        return self.out(h)

    def training_losses(self, batch: dict) -> dict:
        x = batch["x"]
        noisy = x + self.config.noise * torch.randn_like(x)
        loss = (self(noisy).float() - batch["y"]).pow(2).mean()
        if bool(batch["poison"].any()):
            loss = loss * float("nan")
        return {"loss": loss, "mse": loss.detach()}


class ToyData(Dataset):
    def __init__(self, n: int = 64, dim: int = 6, poison: tuple[int, ...] = ()) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, dim, generator=g)
        self.y = torch.tanh(self.x @ torch.randn(dim, dim, generator=g))
        self.poison = set(poison)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "y": self.y[i], "poison": torch.tensor(i in self.poison)}


@dataclass
class ToyRun:
    model: ToyConfig = field(default_factory=ToyConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=20, batch_size=8, lr=1e-2, warmup_steps=2, log_every=1, checkpoint_every=5, val_every=0,
        progress=False, ema_decay=0.9, precision="fp32",  # exact comparisons below; bf16 has its own test
    ))
    poison: tuple[int, ...] = ()  # dataset indices whose batches give a NaN loss
    n: int = 64  # dataset size


def run_toy(out: Path, *overrides: str, resume: bool = False, dist_info=None):
    from videoflextok.train.loop import Trainer

    run = apply_overrides(ToyRun(), list(overrides))
    torch.manual_seed(run.train.seed)
    model = ToyModel(run.model)
    data = ToyData(run.n, run.model.dim, run.poison)
    trainer = Trainer(model, run.train, out, data, dist_info=dist_info)
    return model, trainer.fit(resume=resume)


def final_weights(folder: Path) -> dict[str, torch.Tensor]:
    from videoflextok.train.checkpoint import latest_checkpoint

    return load_file(str(latest_checkpoint(folder) / "model.safetensors"))


def assert_same(a: dict, b: dict, exact: bool = True, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-4, msg=k)


# ----------------------------------------------------------------------------------------------------
# optimizer pieces


def test_lr_schedule_warmup_then_cosine_to_floor():
    from videoflextok.train.optim import lr_at

    cfg = TrainConfig(steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(110)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))  # warmup rises
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # cosine falls
    assert lr_at(110, cfg) == pytest.approx(0.1)
    assert lr_at(60, cfg) == pytest.approx(0.55)  # half way: mean of peak and floor


def test_no_weight_decay_on_norms_embeddings_biases():
    from videoflextok.train.optim import build_optimizer, no_decay_names

    model = ToyModel(ToyConfig())
    exempt = no_decay_names(model)
    assert {"pos_emb", "inp.bias", "blocks.0.norm.weight", "blocks.0.norm.bias", "out.bias"} <= exempt
    assert "inp.weight" not in exempt and "blocks.1.fc.weight" not in exempt
    opt = build_optimizer(model, TrainConfig(weight_decay=0.1))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in decayed}
    assert names == {"inp.weight", "blocks.0.fc.weight", "blocks.1.fc.weight", "out.weight"}


def test_ema_tracks_with_warmup_decay():
    from videoflextok.train.ema import EMA

    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.zero_()
    ema = EMA(model, decay=0.99)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # decay = min(0.99, 1/10) = 0.1
    torch.testing.assert_close(ema.shadow["weight"], torch.full((2, 2), 0.9))
    assert ema.current_decay() == pytest.approx(2 / 11)
    for _ in range(2000):
        ema.update(model)
    assert ema.current_decay() == 0.99
    with ema.swapped_in(model):
        assert torch.equal(model.weight, ema.shadow["weight"])
    assert torch.all(model.weight == 1.0)


def test_stream_sampler_shards_and_resumes():
    from itertools import islice

    from videoflextok.train.sampler import StreamBatchSampler

    single = StreamBatchSampler(10, 4, seed=3)
    ranks = [StreamBatchSampler(10, 1, seed=3, grad_accum=2, rank=r, world_size=2) for r in range(2)]
    steps = list(islice(iter(single), 6))
    per_rank = [list(islice(iter(s), 12)) for s in ranks]
    for step in range(6):  # micro i of rank r holds slot (i * world + r) of the global batch
        slots = [per_rank[r][2 * step + i][0] for i in range(2) for r in range(2)]
        assert slots == steps[step]
    stream = [i for batch in steps for i in batch]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))  # epochs
    assert stream[:10] != stream[10:20]  # a new order each epoch
    resumed = StreamBatchSampler(10, 4, seed=3, start_position=8)
    assert list(islice(iter(resumed), 4)) == steps[2:6]


# ----------------------------------------------------------------------------------------------------
# the loop


def test_loss_falls_and_logs(tmp_path):
    from videoflextok.train.metrics_log import read_metrics

    _, result = run_toy(tmp_path / "run", "train.steps=60", "train.checkpoint_every=20", "train.keep_last=2")
    rows = read_metrics(tmp_path / "run")
    losses = [r["loss"] for r in rows]
    assert len(losses) == 60 and result.step == 60 and result.skipped_steps == 0
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    assert {"lr", "grad_norm", "samples_per_s", "mse"} <= rows[0].keys()
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*"))
    assert ckpts == ["step_00000040", "step_00000060"]  # keep_last=2
    assert (tmp_path / "run/checkpoints/latest").read_text().strip() == "step_00000060"


def test_bf16_autocast_trains(tmp_path):
    from videoflextok.train.metrics_log import read_metrics

    run_toy(tmp_path / "run", "train.steps=40", "train.precision=bf16")
    losses = [r["loss"] for r in read_metrics(tmp_path / "run")]
    assert sum(losses[-5:]) < 0.6 * sum(losses[:5])


def test_grad_accumulation_matches_bigger_batch(tmp_path):
    common = ("train.steps=6", "model.noise=0", "train.ema_decay=0")
    run_toy(tmp_path / "a", *common, "train.batch_size=8", "train.grad_accum=1")
    run_toy(tmp_path / "b", *common, "train.batch_size=4", "train.grad_accum=2")
    assert_same(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"), exact=False, atol=1e-5)


def test_activation_checkpointing_gives_same_weights(tmp_path):
    run_toy(tmp_path / "a", "train.steps=5")
    run_toy(tmp_path / "b", "train.steps=5", "train.activation_checkpointing=true")
    assert_same(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"), exact=False, atol=1e-6)


@pytest.mark.slow
def test_torch_compile_matches_eager(tmp_path):
    from videoflextok.train.metrics_log import read_metrics

    common = ("train.steps=5", "train.ema_decay=0", "model.noise=0")  # inductor draws its own random numbers
    run_toy(tmp_path / "eager", *common)
    run_toy(tmp_path / "compiled", *common, "train.compile=true")
    eager, compiled = ([r["loss"] for r in read_metrics(tmp_path / name)] for name in ("eager", "compiled"))
    assert compiled[0] == pytest.approx(eager[0], rel=1e-5)  # same weights, same batch
    assert compiled == pytest.approx(eager, rel=1e-2)  # fused kernels round differently; Adam amplifies it
    assert_same(final_weights(tmp_path / "eager"), final_weights(tmp_path / "compiled"), exact=False, atol=5e-3)


def test_exact_resume_is_bitwise(tmp_path):
    from videoflextok.checkpoint import EMA_FILE
    from videoflextok.train.checkpoint import latest_checkpoint, load_training_state
    from videoflextok.train.metrics_log import read_metrics

    run_toy(tmp_path / "once", "train.steps=20", "train.checkpoint_every=10")
    run_toy(tmp_path / "twice", "train.steps=20", "train.stop_at=10", "train.checkpoint_every=10")
    run_toy(tmp_path / "twice", "train.steps=20", "train.checkpoint_every=10", resume=True)
    a, b = latest_checkpoint(tmp_path / "once"), latest_checkpoint(tmp_path / "twice")
    assert a.name == b.name == "step_00000020"
    for name in ("model.safetensors", EMA_FILE):
        assert_same(load_file(str(a / name)), load_file(str(b / name)), exact=True)
    sa, sb = load_training_state(a), load_training_state(b)
    assert sa["data_position"] == sb["data_position"] == 20 * 8
    for k, v in sa["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg_sq"], sb["optimizer"]["state"][k]["exp_avg_sq"])
    la = [r["loss"] for r in read_metrics(tmp_path / "once")]
    lb = [r["loss"] for r in read_metrics(tmp_path / "twice")]
    assert la == lb  # the resumed log reads as one run


def test_time_budget_stops_with_a_checkpoint_and_logs_wall_time(tmp_path):
    from videoflextok.train.checkpoint import latest_checkpoint, load_training_state
    from videoflextok.train.metrics_log import read_metrics

    _, result = run_toy(tmp_path / "run", "train.steps=50", "train.max_minutes=1e-9", "train.log_every=5")
    assert result.step == 1  # the budget is spent after the first step: it stops there, not at 50
    ckpt = latest_checkpoint(tmp_path / "run")
    assert ckpt.name == "step_00000001"
    spent = load_training_state(ckpt)["train_seconds"]
    rows = read_metrics(tmp_path / "run")
    assert rows[-1]["step"] == 1 and 0 < rows[-1]["train_s"] <= spent


def test_a_run_ended_by_its_time_budget_still_validates_its_last_step(tmp_path):
    from videoflextok.train.loop import Trainer
    from videoflextok.train.metrics_log import read_metrics

    run = apply_overrides(ToyRun(), ["train.steps=50", "train.max_minutes=1e-9", "train.val_every=20"])
    torch.manual_seed(run.train.seed)
    seen = []
    trainer = Trainer(ToyModel(run.model), run.train, tmp_path / "run", ToyData(run.n, run.model.dim, run.poison),
                      validator=lambda model, step, out: seen.append(step) or {"score": float(step)})
    assert trainer.fit().step == 1
    assert seen == [1]  # not a multiple of val_every, but the run's last step
    assert [r["step"] for r in read_metrics(tmp_path / "run", split="val")] == [1]


def test_refuses_to_overwrite_a_run_without_resume(tmp_path):
    from videoflextok.errors import ConfigError

    run_toy(tmp_path / "run", "train.steps=5")
    with pytest.raises(ConfigError, match="--resume"):
        run_toy(tmp_path / "run", "train.steps=10")


def test_nonfinite_steps_are_skipped_and_counted(tmp_path):
    from videoflextok.train.checkpoint import latest_checkpoint, load_training_state

    # no shuffling: steps 0..7 read samples 0..63 in order; sample 20 poisons step 2 (and 10, 18 next epochs)
    model, result = run_toy(tmp_path / "run", "train.steps=20", "train.shuffle=false", "poison=[20]")
    assert result.skipped_steps == 3 and result.step == 20
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert load_training_state(latest_checkpoint(tmp_path / "run"))["skipped_total"] == 3


def test_nonfinite_in_a_row_stops_with_a_clear_message(tmp_path):
    from videoflextok.train.checkpoint import latest_checkpoint
    from videoflextok.train.loop import NonFiniteLossError

    poison = "poison=[" + ",".join(str(i) for i in range(64)) + "]"
    with pytest.raises(NonFiniteLossError, match="3 steps in a row"):
        run_toy(tmp_path / "run", "train.steps=20", "train.max_nonfinite=3", "train.checkpoint_every=1", poison)
    ckpt = latest_checkpoint(tmp_path / "run")  # steps 1 and 2 were skipped: the weights are the initial ones
    assert ckpt.name == "step_00000002"
    assert all(torch.isfinite(t).all() for t in load_file(str(ckpt / "model.safetensors")).values())


def test_refuses_to_write_nonfinite_weights(tmp_path):
    from videoflextok.checkpoint import save_pretrained
    from videoflextok.errors import CheckpointError

    model = ToyModel(ToyConfig())
    with torch.no_grad():
        model.out.weight[0, 0] = float("inf")
    with pytest.raises(CheckpointError, match="non-finite"):
        save_pretrained(model, tmp_path / "m")
    assert not (tmp_path / "m").exists() and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------------
# script mode (subprocesses above)


def _main(argv: list[str]) -> None:
    resume = "--resume" in argv
    argv = [a for a in argv if a != "--resume"]
    out, overrides = Path(argv[0]), argv[1:]
    from videoflextok.train.distributed import init_distributed, shutdown

    torch.set_num_threads(1)
    info = init_distributed("cpu")
    model, result = run_toy(out, *overrides, resume=resume, dist_info=info)
    rank = info.rank
    if any(hasattr(p, "full_tensor") for p in model.parameters()):
        state = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in model.state_dict().items()}
    else:
        state = model.state_dict()
    save_file({k: v.detach().clone() for k, v in state.items()}, str(out / f"rank{rank}.safetensors"))
    del model, state, result  # an FSDP module holds the process group
    shutdown(info)


if __name__ == "__main__":
    _main(sys.argv[1:])


def test_precision_auto_is_bf16_exactly_where_the_device_runs_it(monkeypatch):
    from videoflextok.train import distributed as D

    cpu = torch.device("cpu")
    assert D.resolve_precision("fp32", cpu) == "fp32" and D.resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(D, "bf16_supported", lambda device: True)
    assert D.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(D, "bf16_supported", lambda device: False)
    assert D.resolve_precision("auto", cpu) == "fp32"
    monkeypatch.undo()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    assert D.bf16_supported(cpu) == ("avx512_bf16" in flags or "amx_bf16" in flags)
    assert TrainConfig().precision == "auto"
