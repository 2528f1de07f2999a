"""``bench/token_probe.py``: the probe learns what the codes hold, chance is the majority answer, the JSON has the
documented layout on two tiny tokenizers, and bad arguments or mismatched models end with exit code 2."""

from __future__ import annotations

import json

import torch

from bench_helpers import load_bench, train_tiny_tokenizer
from videoflextok.data.shapes import ShapesDataset


def test_probe_reads_what_the_codes_hold():
    bench = load_bench("token_probe")
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 32, (600,), generator=g)
    noise = torch.randn(600, 10, generator=g)
    codes = torch.cat([torch.nn.functional.one_hot(labels, 32).float(), noise], dim=1)  # the label is in the codes
    assert bench.probe_accuracy(codes[:500], labels[:500], codes[500:], labels[500:], 32, steps=300) > 0.95
    assert bench.probe_accuracy(noise[:500], labels[:500], noise[500:], labels[500:], 32, steps=300) < 0.2
    fit_labels = torch.tensor([3, 3, 3, 5, 8])  # majority 3 -> class 3, shape 0, direction 3
    test_labels = torch.tensor([3, 4, 11, 0])
    assert bench.chance(torch.cat([fit_labels, test_labels]), 5) == {"class": 0.25, "shape": 0.75, "direction": 0.5}


def test_layout_and_errors(tiny_runs, tmp_path, capsys):
    bench = load_bench("token_probe")
    out = tmp_path / "probe.json"
    assert bench.main(["--tokenizer", str(tiny_runs / "tok"), "--baseline", str(tiny_runs / "grid"), "--num", "12",
                       "--fit", "8", "--probe-steps", "3", "--splits", "heldout", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert list(data["splits"]) == ["heldout"] and data["num"] == 12 and data["fit"] == 8 and data["K"] == 4
    split = data["splits"]["heldout"]
    for key in ("tokenizer", "grid_baseline"):
        assert [r["k"] for r in split[key]] == [1, 2, 4]
        for row in split[key]:
            assert set(row) == {"k", "class", "shape", "direction"}
            assert all(0.0 <= row[t] <= 1.0 and row[t] * 4 == int(row[t] * 4) for t in data["targets"])  # 4 test clips
    labels = torch.tensor([ShapesDataset(resolution=16, num_frames=17, length=12, split="heldout").sample(i).label
                           for i in range(12)])
    assert split["chance"] == bench.chance(labels, 8)
    # bad arguments and mismatched models: one sentence, exit code 2, the JSON already written untouched
    before = out.read_text()
    assert bench.main(["--tokenizer", str(tiny_runs / "tok"), "--num", "8", "--fit", "8", "--out", str(out)]) == 2
    assert "--fit must be at least 1 and below --num" in capsys.readouterr().err
    train_tiny_tokenizer(tmp_path / "other", "model.K=2")
    assert bench.main(["--tokenizer", str(tiny_runs / "tok"), "--baseline", str(tmp_path / "other"), "--num", "4",
                       "--fit", "2", "--out", str(out)]) == 2
    assert "differs from the tokenizer's" in capsys.readouterr().err
    assert bench.main(["--tokenizer", str(tmp_path / "missing"), "--num", "4", "--fit", "2", "--out", str(out)]) == 2
    assert out.read_text() == before
