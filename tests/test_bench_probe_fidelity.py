"""``bench/probe_fidelity.py``: the degradations keep shapes and ranges, get worse with their amount, and the
benchmark writes every setting with the class score and object / background PSNR of the degraded clips;
bad arguments exit with code 2 before anything is written."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bench_helpers import load_bench
from videoflextok.data.shapes import ShapesDataset


def test_degradations_keep_shape_and_get_worse_with_the_amount():
    bench = load_bench("probe_fidelity")
    video = torch.stack([ShapesDataset(32, 5, 2, seed=0, split="heldout")[i]["video"] for i in range(2)])
    for kind, amounts in bench.DEGRADATIONS:
        errors = []
        for amount in amounts:
            out = bench.degrade(video, kind, amount)
            assert out.shape == video.shape and out.abs().max() <= 1
            errors.append(float((out - video).pow(2).mean()))
        assert all(0 < a < b for a, b in zip(errors, errors[1:])), kind
    flat = torch.full((1, 3, 2, 8, 8), 0.25)
    for kind, amounts in bench.DEGRADATIONS:  # a flat video stays flat
        assert torch.allclose(bench.degrade(flat, kind, amounts[-1]), flat, atol=1e-6)
    impulse = torch.zeros(1, 1, 9, 9)
    impulse[0, 0, 4, 4] = 1.0
    blurred = bench.gaussian_blur(impulse, 1.0)
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5)  # the kernel sums to one
    assert blurred[0, 0, 4, 4] == pytest.approx(1 / (2 * math.pi), rel=0.05)  # a unit-sigma 2D Gaussian's peak
    with pytest.raises(ValueError, match="unknown degradation"):
        bench.degrade(video, "jpeg", 1)


def test_writes_every_setting(tmp_path, capsys):
    bench = load_bench("probe_fidelity")
    out = tmp_path / "pf.json"
    assert bench.main(["--num", "3", "--batch-size", "2", "--resolution", "32", "--frames", "5",
                       "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    settings = [(kind, amount) for kind, amounts in bench.DEGRADATIONS for amount in amounts]
    assert [(r["degradation"], r["amount"]) for r in data["rows"]] == settings
    keys = {"degradation", "amount", "psnr", "object_psnr", "background_psnr", "class_score", "primary_found",
            "primary_shape", "primary_direction"}
    for r in data["rows"]:
        assert set(r) == keys and 0 <= r["class_score"] <= 1 and r["primary_shape"] <= r["primary_found"]
        assert 5 < r["object_psnr"] < r["background_psnr"] < 100  # blur hurts the colored objects most
    blur = [r["object_psnr"] for r in data["rows"] if r["degradation"] == "gaussian"]
    assert blur == sorted(blur, reverse=True)
    assert data["num"] == 3 and 0 <= data["original_class_score"] <= 1
    assert "wrote" in capsys.readouterr().out
    before = out.read_bytes()
    for bad in (["--num", "0"], ["--frames", "1"]):
        assert bench.main([*bad, "--out", str(out)]) == 2
    assert bench.main(["--out", str(out / "pf.json")]) == 2  # a file stands where its folder must be
    assert out.read_bytes() == before
