"""``videoflextok tokenize`` / ``detokenize`` with the shipped demo tokenizer: the token file holds the rows of
``tokenize`` on the same frames (whole length, trimmed to 1 + 16n, or 1 + 4n below one chunk), ``--k`` and
``--target-psnr`` cut them, ``detokenize`` writes the frames of ``detokenize``; a truncated, foreign or other
tokenizer's file and other bad input exit 2 with one line and leave an existing --out file untouched."""

from __future__ import annotations

import pytest
import torch

from videoflextok.cli.main import main
from videoflextok.data.shapes import ShapesDataset
from videoflextok.data.video_io import read_video, write_video
from videoflextok.report.demo import load_tokenizer
from videoflextok.tokenizer.adaptive import choose_keep_k
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.token_file import load_tokens, save_tokens


@pytest.fixture(scope="module")
def demo():
    return load_tokenizer(None)[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 36-frame held-out shapes clip written losslessly at 10 fps (tokenized as its first 33 frames)."""
    path = tmp_path_factory.mktemp("clip") / "shapes.mkv"
    video = ShapesDataset(64, 36, length=1, seed=3, split="heldout")[0]["video"]
    write_video(path, video, fps=10)
    return path


def run(*argv: str) -> int:
    return main([*argv, "--no-progress", "--device", "cpu"])


def test_round_trip(demo, clip, tmp_path) -> None:
    tokens_path = tmp_path / "clip.safetensors"
    assert run("tokenize", str(clip), "--out", str(tokens_path)) == 0
    file = load_tokens(tokens_path, demo)
    video = read_video(clip, size=64)[0][None, :, :33]
    expected = demo.tokenize(video)[0]
    assert torch.equal(file.tensor(), expected)
    assert (file.frames, file.fps, file.height, file.k) == (33, 10.0, 64, [32] * 9)
    out = tmp_path / "back.mkv"
    assert run("detokenize", str(tokens_path), "--out", str(out), "--k", "4", "--seed", "3") == 0
    decoded = read_video(out)[0]
    reference = demo.detokenize([expected], keep_k=4, generator=torch.Generator().manual_seed(3))[0]
    assert decoded.shape == reference.shape == (3, 33, 64, 64)
    assert (decoded - reference).abs().max() <= 1.01 / 127.5  # uint8 rounding in the video file


def test_short_clip_budget_options(demo, clip, tmp_path) -> None:
    short = tmp_path / "short.mkv"
    write_video(short, read_video(clip)[0][:, :11], fps=10)  # 11 frames -> 9 = 1 + 4 * 2
    assert run("tokenize", str(short), "--out", str(tmp_path / "k4.safetensors"), "--k", "4") == 0
    file = load_tokens(tmp_path / "k4.safetensors", demo)
    video = read_video(short, frame_policy="none")[0][None, :, :9]
    assert file.frames == 9 and torch.equal(file.tensor(), demo.tokenize(video)[0][:, :4])
    assert run("tokenize", str(short), "--out", str(tmp_path / "t.safetensors"), "--target-psnr", "20") == 0
    k, _ = choose_keep_k(demo, video, demo.tokenize(video)[0], 20.0)
    assert load_tokens(tmp_path / "t.safetensors").k == [k] * 3
    assert run("tokenize", str(short), "--out", str(tmp_path / "g.safetensors"), "--db-per-token", "0.05") == 0
    k, _ = choose_keep_k(demo, video, demo.tokenize(video)[0], db_per_token=0.05)
    assert load_tokens(tmp_path / "g.safetensors").k == [k] * 3


def test_bad_input_exits_2_and_keeps_existing_out(demo, clip, tmp_path, capsys) -> None:
    good = tmp_path / "good.safetensors"
    assert run("tokenize", str(clip), "--out", str(good), "--k", "2") == 0
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) - 7])
    other = tmp_path / "other.safetensors"  # same config as the demo tokenizer, untrained weights
    save_tokens(other, load_tokens(good).tensor(), VideoFlexTok(demo.config), fps=10)
    out = tmp_path / "existing.mp4"
    out.write_bytes(b"keep me")
    cases = [
        (["detokenize", str(truncated), "--out", str(out)], "not a readable token file"),
        (["detokenize", str(clip), "--out", str(out)], "not a readable token file"),
        (["detokenize", str(other), "--out", str(out)], "another tokenizer"),
        (["detokenize", str(good), "--out", str(out), "--k", "3"], "--k must be between 1 and 2"),
        (["detokenize", str(good), "--out", str(tmp_path / "x.avi")], "must end in .mp4"),
        (["tokenize", str(tmp_path / "missing.mp4"), "--out", str(good)], "does not exist"),
        (["tokenize", str(truncated), "--out", str(good)], "not a readable video"),
        (["tokenize", str(clip), "--out", str(good), "--k", "0"], "--k must be positive"),
        (["tokenize", str(clip), "--out", str(good), "--k", "33"], "--k must be between 1 and 32"),
        (["tokenize", str(clip), "--out", str(good), "--size", "32"], "fixed to 64 px"),
        (["tokenize", str(clip), "--out", str(tmp_path / "nofolder" / "t.safetensors")], "does not exist"),
        (["tokenize", str(clip), "--out", str(good), "--target-psnr", "nan"], "target_psnr must be a finite number"),
        (["tokenize", str(clip), "--out", str(good), "--db-per-token", "-0.1"], "db_per_token must be at least 0"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert run(*argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (argv, err)
    assert out.read_bytes() == b"keep me" and good.read_bytes() == data
