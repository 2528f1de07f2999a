"""``videoflextok demo`` on a tiny random tokenizer (16x16, K = 4): every output file is written, results.json holds
PSNR/SSIM per k that match an independent tokenize -> detokenize -> metric computation, the HTML links only files
that exist (relative links), the side-by-side GIF/mp4 have the right frame count and size and their panels are the
upscaled clips, and user errors exit 2 with one line and leave an existing output folder's files intact."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from tokenizer_helpers import small_model
from videoflextok import shipped
from videoflextok.cli.main import main
from videoflextok.data.samples import sample_videos
from videoflextok.data.shapes import ShapesDataset
from videoflextok.data.video_io import read_video, to_uint8, write_video
from videoflextok.eval.metrics import psnr, ssim
from videoflextok.report.demo import reconstruct_clip
from videoflextok.report.side_by_side import GAP, LABEL_HEIGHT, auto_scale, side_by_side
from videoflextok.tokenizer.model import VideoFlexTok

KS = [1, 2, 4]  # powers of two up to K = 4
SCALE = auto_scale(16)  # 16 px -> x8


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A random 16x16 tokenizer saved to disk and one default demo run (real clip + held-out shapes clip)."""
    root = tmp_path_factory.mktemp("demo")
    small_model().save_pretrained(root / "tok")
    out = root / "out"
    assert main(["demo", "--tokenizer", str(root / "tok"), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    return root, out


def test_demo_writes_every_file_and_results_per_k(demo_run):
    _, out = demo_run
    names = {p.name for p in out.iterdir()}
    assert names == {"report.html", "results.json", "rate_distortion.png", "bigbuckbunny.mp4", "bigbuckbunny.gif",
                     "shapes_heldout.mp4", "shapes_heldout.gif"}
    result = json.loads((out / "results.json").read_text())
    assert result["settings"]["ks"] == KS and result["settings"]["steps"] == 2  # the tokenizer's sample_steps
    assert [v["name"] for v in result["videos"]] == ["bigbuckbunny", "shapes_heldout"]
    for video in result["videos"]:
        assert video["latent_frames"] == 5 and video["frames"] == 17
        assert [r["k"] for r in video["rows"]] == KS
        assert [r["tokens_per_clip"] for r in video["rows"]] == [5 * k for k in KS]
        for row in video["rows"]:
            assert math.isfinite(row["psnr"]) and 0 < row["psnr"] < 100
            assert -1 <= row["ssim"] <= 1
    with Image.open(out / "rate_distortion.png") as im:
        assert im.format == "PNG" and im.size == (900, 360)


def test_demo_metrics_match_an_independent_computation(demo_run):
    """Re-read the real clip and re-render the shapes clip, tokenize and decode with the demo's seed: same numbers."""
    root, out = demo_run
    result = json.loads((out / "results.json").read_text())
    tokenizer = VideoFlexTok.from_pretrained(root / "tok").eval()
    real = next(p for p in sample_videos() if p.name == "bigbuckbunny.mp4")
    shapes = ShapesDataset(16, 17, length=1, seed=0, split="heldout")[0]["video"]
    clips = [read_video(real, size=16, num_frames=17)[0], shapes]
    for video, clip in zip(result["videos"], clips):
        tokens = tokenizer.tokenize(clip[None])
        for row in video["rows"]:
            gen = torch.Generator().manual_seed(0)
            recon = tokenizer.detokenize(tokens, keep_k=row["k"], steps=2, generator=gen).clamp(-1, 1)
            assert row["psnr"] == pytest.approx(float(psnr(recon, clip[None]).mean()), abs=1e-9)
            assert row["ssim"] == pytest.approx(float(ssim(recon, clip[None]).mean()), abs=1e-9)
        flat = clip.mean(dim=(-2, -1), keepdim=True).expand_as(clip)  # each frame's mean color
        assert video["mean_color_psnr"] == pytest.approx(float(psnr(flat[None], clip[None]).mean()), abs=1e-9)
    # the random model's reconstructions depend on k (otherwise the table would say nothing)
    assert len({r["psnr"] for r in result["videos"][1]["rows"]}) == len(KS)


def test_html_links_are_relative_and_exist(demo_run):
    _, out = demo_run
    html = (out / "report.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(links) >= 10
    for link in links:
        assert "://" not in link and not link.startswith("/"), link
        assert (out / link).is_file(), link
    for name in ("bigbuckbunny", "shapes_heldout"):
        assert f'<video src="{name}.mp4"' in html and f'<img src="{name}.gif"' in html
    assert '<img id="rd-plot" src="rate_distortion.png"' in html
    for label in ("k (tokens per latent frame)", "tokens per clip", "PSNR (dB)", "SSIM"):
        assert label in html
    # the folder can be moved: a copy elsewhere still has every linked file
    moved = out.parent / "moved"
    shutil.copytree(out, moved)
    assert all((moved / link).is_file() for link in links)


def test_side_by_side_media_frames_and_sizes(demo_run):
    _, out = demo_run
    width = (1 + len(KS)) * 16 * SCALE + len(KS) * GAP
    height = LABEL_HEIGHT + 16 * SCALE
    result = json.loads((out / "results.json").read_text())
    for video in result["videos"]:
        assert video["media_size"] == [height, width]
        with Image.open(out / video["gif"]) as gif:
            assert gif.n_frames == 17 and gif.size == (width, height)
        mp4, meta = read_video(out / video["mp4"])
        assert meta.codec == "h264" and meta.num_frames == 17 and mp4.shape[-2:] == (height, width)
    # the GIF's first panel is the original, upscaled x8 (GIF palette error only)
    clip = ShapesDataset(16, 17, length=1, seed=0, split="heldout")[0]["video"]
    with Image.open(out / "shapes_heldout.gif") as gif:
        gif.seek(5)
        frame = np.asarray(gif.convert("RGB")).astype(int)
    panel = frame[LABEL_HEIGHT:, : 16 * SCALE]
    expected = to_uint8(clip)[5].repeat(SCALE, 0).repeat(SCALE, 1).astype(int)
    assert np.abs(panel - expected).mean() < 6


def test_side_by_side_is_exact_nearest_upscale():
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(3, 3, 5, 7, generator=g) * 2 - 1 for _ in range(2))
    frames = side_by_side([a, b], ["original", "k=1"], scale=2)
    assert frames.dtype == torch.uint8 and frames.shape == (3, 3, LABEL_HEIGHT + 10, 2 * 14 + GAP)
    ua, ub = (torch.from_numpy(to_uint8(v)).permute(3, 0, 1, 2) for v in (a, b))
    up = lambda u: u.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # noqa: E731
    assert torch.equal(frames[:, :, LABEL_HEIGHT:, :14], up(ua))
    assert torch.equal(frames[:, :, LABEL_HEIGHT:, 14 + GAP:], up(ub))
    assert (frames[:, :, :, 14:14 + GAP] == 255).all()  # white separator
    assert frames[:, :, :LABEL_HEIGHT].float().std() > 0  # the label text is drawn


def test_reconstruct_clip_truncation_equals_keep_k():
    model = small_model()
    video = ShapesDataset(16, 17, length=1, seed=1)[0]["video"]
    tokens, recons = reconstruct_clip(model, video, (1, 4), steps=2, seed=3)
    assert tokens.shape == (5, 4) and set(recons) == {1, 4}
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(recons[1], model.detokenize([tokens[:, :1]], steps=2, generator=gen)[0].clamp(-1, 1))


def test_user_video_names_and_options(demo_run, tmp_path, capsys):
    root, _ = demo_run
    g = torch.Generator().manual_seed(0)
    path = tmp_path / "my clip.mp4"
    write_video(path, torch.rand(3, 24, 30, 40, generator=g) * 2 - 1, 12)  # non-square, longer than 5 frames
    out = tmp_path / "out"
    assert main(["demo", "--video", str(path), "--video", str(path), "--tokenizer", str(root / "tok"), "--out",
                 str(out), "--frames", "5", "--steps", "1", "--seed", "7", "--scale", "2", "--no-progress"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert [v["name"] for v in result["videos"]] == ["my_clip", "my_clip_2"]
    assert result["settings"]["steps"] == 1 and result["settings"]["seed"] == 7
    assert all(v["frames"] == 5 and v["latent_frames"] == 2 for v in result["videos"])
    with Image.open(out / "my_clip.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (4 * 32 + 3 * GAP, LABEL_HEIGHT + 32)
    printed = capsys.readouterr().out
    assert "my_clip_2" in printed and re.search(r"^\s+4\s+8\s+\d+\.\d\d\s+-?\d\.\d{4}$", printed, flags=re.M)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", ["missing", "corrupt", "too_short", "no_tokenizer", "no_default_tokenizer",
                                  "bad_frames"])
def test_bad_inputs_exit_2_with_one_line_and_keep_existing_files(demo_run, tmp_path, capsys, monkeypatch, case):
    root, out = demo_run
    kept = tmp_path / "kept"
    shutil.copytree(out, kept)
    before = _digest(kept)
    args = ["demo", "--out", str(kept), "--no-progress", "--tokenizer", str(root / "tok")]
    if case == "missing":
        args += ["--video", str(tmp_path / "nope.mp4")]
    elif case == "corrupt":
        bad = tmp_path / "corrupt.mp4"
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
        args += ["--video", str(bad)]
    elif case == "too_short":
        write_video(tmp_path / "short.mp4", torch.zeros(3, 9, 16, 16), 10)
        args += ["--video", str(tmp_path / "short.mp4")]
    elif case == "no_tokenizer":
        args[-1] = str(tmp_path / "no_such_tokenizer")
    elif case == "no_default_tokenizer":
        args = args[:-2]
        monkeypatch.setattr(shipped, "DEMO_TOKENIZER", ("weights", "not_shipped"))
    elif case == "bad_frames":
        args += ["--frames", "16"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    expected = {"missing": "does not exist", "corrupt": "not a readable video", "too_short": "only 9 frames",
                "no_tokenizer": "does not exist", "no_default_tokenizer": "shipped demo tokenizer is missing",
                "bad_frames": "cannot take 16-frame clips"}[case]
    assert expected in lines[0]
    assert _digest(kept) == before  # nothing overwritten, no temp files left behind


def test_out_is_a_file(demo_run, tmp_path, capsys):
    root, _ = demo_run
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    assert main(["demo", "--out", str(target), "--tokenizer", str(root / "tok"), "--no-progress"]) == 2
    assert "is not a folder" in capsys.readouterr().err and target.read_text() == "keep me"


def test_shipped_demo_tokenizer_is_complete_small_and_matches_its_preset():
    from videoflextok.config import to_dict
    from videoflextok.shipped import demo_tokenizer_folder
    from videoflextok.tokenizer.model import preset_config

    with demo_tokenizer_folder() as folder:
        files = {p.name: p.stat().st_size for p in folder.iterdir()}
        assert {"model.safetensors", "config.json", "metrics.jsonl", "run_config.yaml"} <= files.keys()
        assert sum(files.values()) < 50e6  # the limit for what the repository ships
        model = VideoFlexTok.from_pretrained(folder)
        assert to_dict(model.config) == to_dict(preset_config("demo"))  # the preset is the recipe of the shipped model
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        train = yaml.safe_load((folder / "run_config.yaml").read_text())["train"]
        last = max((r for r in rows if r["split"] == "train"), key=lambda r: r["step"])
        # the log of the whole run ships with it: it ends at train.steps or at the train.max_minutes limit
        assert last["step"] == train["steps"] or last["train_s"] > 0.95 * 60 * train["max_minutes"]
        assert min(r["step"] for r in rows) <= 10
