"""``bench/coarse_to_fine.py`` on two tiny tokenizers trained 4 steps (one with nested dropout, one without = the
3D-grid baseline): the JSON has exactly the documented layout, its numbers (and the class score's parts under
``class_score_parts``) equal ``evaluate_reconstruction`` on the same held-out clips, ``train_minutes`` comes from
the runs' logged ``train_s`` (or ``--train-minutes``), the plot is written, and mismatched models are refused
with exit code 2."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from bench_helpers import TINY_MODEL, load_bench
from videoflextok.eval.reconstruction import ReconstructionEvalConfig, evaluate_reconstruction
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.train.metrics_log import read_metrics


def test_layout_numbers_and_train_minutes(tiny_runs, tmp_path):
    bench = load_bench("coarse_to_fine")
    out = tmp_path / "c2f.json"
    assert bench.main(["--tokenizer", str(tiny_runs / "tok"), "--baseline", str(tiny_runs / "grid"), "--num", "4",
                       "--batch-size", "2", "--out", str(out), "--command", "train it", "--no-progress"]) == 0
    data = json.loads(out.read_text())
    for key in ("tokenizer", "grid_baseline", "original_class_score", "train_minutes", "command"):
        assert key in data
    assert data["command"] == "train it" and data["num"] == 4 and data["steps"] == 1
    assert data["baseline_nested_dropout"] is False
    for key in ("tokenizer", "grid_baseline"):
        assert [r["k"] for r in data[key]] == [1, 2, 4]
        assert all(set(r) == {"k", "psnr", "ssim", "class_score"} for r in data[key])
    # the same numbers as evaluate_reconstruction on the same clips, seed, batch size and steps
    cfg = ReconstructionEvalConfig(dataset="shapes", split="heldout", num=4, batch_size=2, steps=1, seed=0, fvd=False)
    for key, folder in (("tokenizer", "tok"), ("grid_baseline", "grid")):
        ref = evaluate_reconstruction(VideoFlexTok.from_pretrained(tiny_runs / folder).eval(), cfg, progress=False)
        for row, r in zip(data[key], ref["rows"]):
            assert row["psnr"] == pytest.approx(r["psnr"]) and row["ssim"] == pytest.approx(r["ssim"])
            assert row["class_score"] == pytest.approx(r["class_score"])
        # the class score's parts and the object / background PSNR, beside the documented rows
        parts = data["class_score_parts"][key]
        assert [p["k"] for p in parts] == [1, 2, 4]
        for part, r in zip(parts, ref["rows"]):
            assert set(part) == {"k", "primary_found", "primary_shape", "primary_direction", "object_psnr",
                                 "background_psnr"}
            assert all(part[name] == pytest.approx(r[name]) for name in part if name != "k")
            assert part["primary_shape"] <= part["primary_found"] and part["primary_direction"] <= part["primary_found"]
        assert data["original_class_score"] == pytest.approx(ref["class_score_original"])
        assert data["class_score_parts"]["original"] == pytest.approx(ref["primary_original"])
    logged = read_metrics(tiny_runs / "tok")[-1]["train_s"] / 60
    assert data["train_minutes"] == pytest.approx(logged) and data["train_minutes"] > 0
    assert data["baseline_train_minutes"] == pytest.approx(read_metrics(tiny_runs / "grid")[-1]["train_s"] / 60)
    with Image.open(out.with_suffix(".png")) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 100  # two panels side by side


def test_train_minutes_option_and_mismatch(tiny_runs, tmp_path, capsys):
    bench = load_bench("coarse_to_fine")
    out = tmp_path / "c2f.json"
    not_a_run = tiny_runs / "tok" / "checkpoints"
    assert bench.main(["--tokenizer", str(not_a_run), "--baseline", str(tiny_runs / "grid"), "--num", "2", "--out",
                       str(out), "--train-minutes", "12.5", "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert bench.main(["--tokenizer", str(tiny_runs / "tok"), "--baseline", str(tiny_runs / "grid"), "--num", "2",
                       "--out", str(out), "--train-minutes", "12.5", "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert data["train_minutes"] == 12.5 and data["train_minutes_source"] == "--train-minutes"
    assert "coarse_to_fine.py" in data["command"]
    other = tmp_path / "other"
    VideoFlexTok.from_preset("tiny", [*TINY_MODEL[:1], "K=8", *TINY_MODEL[2:]]).save_pretrained(other)
    before = out.read_bytes()
    assert bench.main(["--tokenizer", str(tiny_runs / "tok"), "--baseline", str(other), "--num", "2", "--out",
                       str(out), "--no-progress"]) == 2
    assert "K (8) differs" in capsys.readouterr().err and out.read_bytes() == before


def test_baseline_rows_reused_from_an_earlier_result(tiny_runs, tmp_path, capsys):
    bench = load_bench("coarse_to_fine")
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    common = ["--tokenizer", str(tiny_runs / "tok"), "--batch-size", "2", "--no-progress"]
    assert bench.main([*common, "--baseline", str(tiny_runs / "grid"), "--num", "2", "--out", str(first),
                       "--baseline-command", "train the grid"]) == 0
    assert bench.main([*common, "--baseline-from", str(first), "--num", "2", "--out", str(second)]) == 0
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert b["grid_baseline"] == a["grid_baseline"] and b["tokenizer"] == a["tokenizer"]
    assert b["class_score_parts"]["grid_baseline"] == a["class_score_parts"]["grid_baseline"]
    assert b["baseline_source"] == {"file": str(first), "bench_command": a["bench_command"]}
    assert b["baseline_train_minutes"] == a["baseline_train_minutes"]
    assert a["baseline_command"] == b["baseline_command"] == "train the grid"
    before = second.read_bytes()
    assert bench.main([*common, "--baseline-from", str(first), "--num", "3", "--out", str(second)]) == 2
    assert "no grid baseline measured like this run" in capsys.readouterr().err and second.read_bytes() == before
