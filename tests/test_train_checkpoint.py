"""Checkpoint folders: round trip, atomic writes, `latest` fallback, and one-sentence errors for truncated,
tampered, mismatched or malicious files (nothing is unpickled)."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from videoflextok.atomic import atomic_folder
from videoflextok.checkpoint import EMA_FILE, MODEL_FILE, load_pretrained, save_pretrained
from videoflextok.errors import CheckpointError
from videoflextok.train.checkpoint import (
    STATE_FILE,
    capture_rng,
    latest_checkpoint,
    load_training_state,
    remove_partial,
    restore_rng,
    save_training_checkpoint,
)


@dataclass
class NetConfig:
    width: int = 4  # hidden width


class Net(nn.Module):
    checkpoint_kind = "net"

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        self.a = nn.Linear(3, config.width)
        self.b = nn.Linear(config.width, 3)
        if config.width == 3:
            self.b.weight = self.a.weight  # tied weights (shared storage in the state dict)
        self.register_buffer("count", torch.tensor(7))


class Other(Net):
    checkpoint_kind = "other"


def one_sentence(exc: Exception) -> bool:
    text = str(exc)
    return "\n" not in text and text.endswith(".") and text.count(". ") == 0


def saved(tmp_path: Path, width: int = 4) -> tuple[Net, Path]:
    torch.manual_seed(0)
    net = Net(NetConfig(width))
    ema = {k: v + 1 for k, v in net.named_parameters()}
    return net, save_pretrained(net, tmp_path / "ckpt", ema=ema)


def test_round_trip_raw_and_ema(tmp_path):
    net, folder = saved(tmp_path)
    raw = load_pretrained(Net, folder, use_ema=False)
    ema = load_pretrained(Net, folder)
    for k, v in net.state_dict().items():
        assert torch.equal(raw.state_dict()[k], v)
    assert torch.equal(ema.a.weight, net.a.weight + 1) and int(ema.count) == 7
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", EMA_FILE, MODEL_FILE]


def test_tied_weights_save_and_load(tmp_path):
    net, folder = saved(tmp_path, width=3)
    back = load_pretrained(Net, folder, use_ema=False)
    assert torch.equal(back.b.weight, net.b.weight)


def test_config_comes_from_our_dataclass_and_kind_is_checked(tmp_path):
    _, folder = saved(tmp_path)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["width"] = 5  # shapes no longer match the weights
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape") as err:
        load_pretrained(Net, folder)
    assert one_sentence(err.value)
    meta["config"] = {"width": 4, "__class__": "os.system"}
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_pretrained(Net, folder)
    with pytest.raises(CheckpointError, match="holds a 'net' model, not a 'other'"):
        load_pretrained(Other, saved(tmp_path / "x")[1])


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "header_len", "header_shape", "missing", "version"])
def test_damaged_checkpoint_gives_one_sentence(tmp_path, damage):
    _, folder = saved(tmp_path)
    path = folder / EMA_FILE
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(data[: len(data) - 10])
    elif damage == "flip_byte":
        data[-3] ^= 0xFF
        path.write_bytes(data)
    elif damage == "header_len":
        path.write_bytes(struct.pack("<Q", 10**7) + data[8:])
    elif damage == "header_shape":
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + n])
        header["a.weight"]["shape"] = [2, 6]  # same byte count, wrong shape
        raw = json.dumps(header).encode().ljust(n)
        path.write_bytes(data[:8] + raw + data[8 + n :])
    elif damage == "missing":
        path.unlink()
        (folder / MODEL_FILE).unlink()
    elif damage == "version":
        meta = json.loads((folder / "config.json").read_text())
        meta["format_version"] = 99
        (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as err:
        load_pretrained(Net, folder, verify=damage != "header_shape")  # header checks work without digests
    assert one_sentence(err.value), str(err.value)


def test_training_state_refuses_pickled_objects(tmp_path):
    from videoflextok.atomic import file_digest

    net, _ = saved(tmp_path)
    folder = save_training_checkpoint(tmp_path / "run", 1, net, net.state_dict(), None, {"step": 1}, keep_last=2)
    assert load_training_state(folder)["step"] == 1
    torch.save({"step": 1, "evil": Path("/etc/passwd")}, folder / STATE_FILE)  # an arbitrary object
    meta = json.loads((folder / "config.json").read_text())
    meta["state_files"][STATE_FILE] = file_digest(folder / STATE_FILE)  # a consistent but malicious folder
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cannot be read") as err:
        load_training_state(folder)
    assert one_sentence(err.value)


def test_truncated_training_state(tmp_path):
    net, _ = saved(tmp_path)
    folder = save_training_checkpoint(tmp_path / "run", 1, net, net.state_dict(), None, {"step": 1}, keep_last=2)
    data = (folder / STATE_FILE).read_bytes()
    (folder / STATE_FILE).write_bytes(data[:-20])
    with pytest.raises(CheckpointError, match="wrong size"):
        load_training_state(folder)


def test_latest_pointer_fallback_and_partial_writes(tmp_path):
    net, _ = saved(tmp_path)
    run = tmp_path / "run"
    for step in (1, 2, 3):
        save_training_checkpoint(run, step, net, net.state_dict(), None, {"step": step}, keep_last=2)
    root = run / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_00000002", "step_00000003"]
    # a crash mid-write leaves only a hidden temp folder: it is never taken for a checkpoint
    (root / ".tmp-step_00000004-abc").mkdir()
    (root / ".tmp-step_00000004-abc" / MODEL_FILE).write_bytes(b"partial")
    assert latest_checkpoint(run).name == "step_00000003"
    (root / "latest").write_text("step_00000009\n")  # points at something that is not there
    assert latest_checkpoint(run).name == "step_00000003"
    remove_partial(run)
    assert not (root / ".tmp-step_00000004-abc").exists()


def test_atomic_folder_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "x") as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(tmp_path / "x") as tmp:
        (tmp / "a").write_text("whole")
    assert (tmp_path / "x/a").read_text() == "whole" and oct(os.stat(tmp_path / "x").st_mode)[-3:] != "700"


def test_rng_states_round_trip_through_weights_only(tmp_path):
    import random

    import numpy as np

    state = capture_rng()
    torch.save(state, tmp_path / "rng.pt")
    a = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
