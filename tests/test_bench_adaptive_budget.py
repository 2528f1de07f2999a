"""``bench/adaptive_budget.py`` on a tiny random tokenizer and four clips (shapes, pans, real footage): the JSON's
adaptive picks are ``choose_keep_k``'s, its fixed rows and savings follow from the per-clip table by the documented
formulas, the plot is written, bad options exit 2; ``bench/streaming.py``'s worker measures every mode."""

from __future__ import annotations

import json
import statistics

import pytest

from bench_helpers import load_bench
from tokenizer_helpers import small_model
from videoflextok.tokenizer.adaptive import choose_keep_k


def test_adaptive_budget_layout_and_numbers(tmp_path) -> None:
    bench = load_bench("adaptive_budget")
    model = small_model()
    model.save_pretrained(tmp_path / "tok")
    out = tmp_path / "ab.json"
    argv = ["--tokenizer", str(tmp_path / "tok"), "--shapes", "2", "--pans", "1", "--real", "1", "--targets",
            "0:40:10", "--prices", "0,0.5,100", "--check-steps", "3", "--out", str(out), "--no-progress"]
    assert bench.main(argv) == 0
    data = json.loads(out.read_text())
    assert data["clips"] == {"shapes": 2, "pans": 1, "real": 1} and data["ks"] == [1, 2, 4]
    assert [r["target_psnr"] for r in data["adaptive"]] == [0.0, 10.0, 20.0, 30.0, 40.0]
    clips = data["per_clip"]
    assert data["agreement"]["decode"]["mean_abs_diff_db"] >= 0 and "decode_3_steps" in data["agreement"]
    for f in data["fixed"]:
        assert f["psnr"] == pytest.approx(statistics.fmean(c["full"][str(f["k"])] for c in clips))
        assert f["tokens"] == 5 * f["k"]
    assert [c["kind"] for c in clips] == ["shapes", "shapes", "pans", "real"]
    for row in data["adaptive"]:
        picks = []
        for c in clips:
            estimates = {int(k): v for k, v in c["estimate"].items()}
            reached = [k for k in sorted(estimates) if estimates[k] >= row["target_psnr"]]
            picks.append(reached[0] if reached else max(sorted(estimates), key=lambda k: estimates[k]))
        assert row["mean_tokens"] == pytest.approx(statistics.fmean(5 * k for k in picks))
        assert row["mean_psnr"] == pytest.approx(statistics.fmean(c["full"][str(k)] for k, c in zip(picks, clips)))
        equal = row["fixed_tokens_at_equal_psnr"]
        if equal is not None:
            assert row["token_saving_at_equal_psnr"] == pytest.approx(1 - row["mean_tokens"] / equal)
    assert data["adaptive"][0]["mean_k"] == 1  # every clip reaches 0 dB at k = 1
    assert [r["db_per_token"] for r in data["rate_distortion"]] == [0.0, 0.5, 100.0]
    for row in data["rate_distortion"]:
        picks = []
        for c in clips:
            estimates = {int(k): v for k, v in c["estimate"].items()}
            picks.append(max(sorted(estimates), key=lambda k: estimates[k] - row["db_per_token"] * k))
        assert row["mean_tokens"] == pytest.approx(statistics.fmean(5 * k for k in picks))
        assert row["mean_psnr"] == pytest.approx(statistics.fmean(c["full"][str(k)] for k, c in zip(picks, clips)))
    assert data["rate_distortion"][-1]["mean_k"] == 1  # 100 dB a token: every clip keeps one
    assert (tmp_path / "ab.png").stat().st_size > 0


def test_picks_are_choose_keep_k(tmp_path) -> None:
    bench = load_bench("adaptive_budget")
    model = small_model()
    clips = bench.load_clips(16, 17, 1, 1, 0)
    videos = [c["video"] for c in clips]
    bench.measure(model, clips, [1, 2, 4], steps=2, check_steps=None, progress=False)
    for clip, video in zip(clips, videos):
        rows = model.tokenize(video[None])[0]
        for target in sorted(clip["estimate"].values()) + [99.0]:
            k, estimate = choose_keep_k(model, video[None], rows, target)
            assert bench.first_reaching(((j, clip["estimate"][j]) for j in (1, 2, 4)), target) == (k, estimate)


def test_bad_options_exit_2(tmp_path, capsys) -> None:
    bench = load_bench("adaptive_budget")
    assert bench.main(["--targets", "a:b", "--out", str(tmp_path / "x.json")]) == 2
    assert "--targets" in capsys.readouterr().err
    assert bench.main(["--prices", "0,nan", "--out", str(tmp_path / "x.json")]) == 2
    assert "--prices" in capsys.readouterr().err
    assert bench.main(["--prices", "-1", "--out", str(tmp_path / "x.json")]) == 2
    assert bench.main(["--shapes", "0", "--pans", "0", "--real", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert bench.main(["--out", str(tmp_path)]) == 2  # a folder, not a file
    (tmp_path / "file").write_text("")
    assert bench.main(["--out", str(tmp_path / "file" / "x.json")]) == 2  # a file where a folder must be


def test_interpolation() -> None:
    bench = load_bench("adaptive_budget")
    fixed = [{"tokens": 5, "psnr": 10.0}, {"tokens": 10, "psnr": 12.0}, {"tokens": 20, "psnr": 13.0}]
    assert bench.interpolate_tokens(fixed, 11.0) == pytest.approx(7.5)
    assert bench.interpolate_tokens(fixed, 12.5) == pytest.approx(15.0)
    assert bench.interpolate_tokens(fixed, 9.0) is None and bench.interpolate_tokens(fixed, 14.0) is None


@pytest.mark.parametrize("mode", ["stream_encode", "stream_decode", "offline"])
def test_streaming_worker(mode: str) -> None:
    row = load_bench("streaming").worker("demo", mode, 17, repeats=1)
    assert row["latent_frames"] == 5 and row["peak_rss_mb"] >= row["baseline_rss_mb"] > 0
    if mode == "offline":
        assert row["tokenize_ms_per_latent_frame"] > 0 and row["detokenize_ms_per_latent_frame"] > 0
    else:
        assert len(row["per_push_ms_first_repeat"]) == 5 and row["latency_ms_per_latent_frame"]["median"] > 0
