"""``videoflextok info`` on a real clip and on broken files; ``videoflextok data preview``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from videoflextok import config
from videoflextok.cli.main import main
from videoflextok.data import probe_video, read_video, sample_videos
from videoflextok.tokenizer.model import VideoFlexTok

_BIKES = next(p for p in sample_videos() if p.name == "bikes.mp4")  # 250 frames, 25 fps, 640 x 272


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "videoflextok"
    return [str(script)] if script.exists() else [sys.executable, "-m", "videoflextok"]


def _run(args: list[str], prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run((prefix or _cli()) + args, capture_output=True, text=True, timeout=120)


def _write_preset(folder: Path, k: int) -> Path:
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "tokenizer" / "tiny.yaml").write_text(
        f"model:\n  resolution: 32\n  K: {k}\n  compressor:\n    temporal_factor: 4\n"
    )
    return folder


# runs the CLI in a fresh interpreter with PRESET_DIR pointing at a test folder
_BOOTSTRAP = (
    "import sys; from pathlib import Path; import videoflextok.config as c; c.PRESET_DIR = Path(sys.argv[1]); "
    "from videoflextok.cli.main import main; sys.exit(main(sys.argv[2:]))"
)


def test_info_on_a_bundled_clip_with_a_test_preset(tmp_path):
    presets = _write_preset(tmp_path / "presets", k=24)
    done = _run([str(presets), "info", str(_BIKES), "--json"], prefix=[sys.executable, "-c", _BOOTSTRAP])
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert (info["num_frames"], info["width"], info["height"], info["codec"]) == (250, 640, 272, "h264")
    assert info["fps"] == pytest.approx(25.0) and info["duration"] == pytest.approx(10.0)
    # 250 frames -> the tokenizer takes at most max_frames = 81 -> 1 + 80 / 4 = 21 latent frames -> 21 * K tokens
    assert (info["usable_frames"], info["latent_frames"], info["K"], info["tokens"]) == (81, 21, 24, 21 * 24)
    text = _run([str(presets), "info", str(_BIKES)], prefix=[sys.executable, "-c", _BOOTSTRAP])
    assert text.returncode == 0, text.stderr
    for expected in ("10.000 s", "25.000", "250", "640x272", "81", "21", str(21 * 24)):
        assert expected in text.stdout


def test_info_entry_point_with_the_shipped_preset():
    if "tiny" not in config.list_presets("tokenizer"):
        pytest.skip("the tiny tokenizer preset is not in this checkout yet")
    k = int(config.load_yaml(config.preset_path("tokenizer", "tiny"))["model"]["K"])
    clip = next(p for p in sample_videos() if p.name == "carphone_pristine.mp4")
    done = _run(["info", str(clip), "--json"])
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    meta = probe_video(clip)
    assert info["num_frames"] == meta.num_frames == 120
    assert (info["width"], info["height"]) == (176, 144)
    assert info["fps"] == pytest.approx(30000 / 1001, rel=1e-6)
    # 120 frames -> the first 81 (the tokenizer's max_frames) -> 21 latent frames
    assert (info["usable_frames"], info["latent_frames"], info["tokens"]) == (81, 21, 21 * k)
    tok = VideoFlexTok.from_preset("tiny")  # tokenize takes exactly that many frames of the clip
    video = read_video(clip, size=tok.config.resolution, num_frames=info["usable_frames"])[0]
    assert tok.tokenize(video[None])[0].shape == (info["latent_frames"], k)


def test_info_on_a_corrupt_file_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(_BIKES.read_bytes()[:500])  # a real mp4 cut after its first 500 bytes
    done = _run(["info", str(bad)])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a readable video" in lines[0]


def test_info_on_random_bytes_exits_2(tmp_path, capsys):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(np.random.default_rng(1).bytes(20000))
    assert main(["info", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "not a readable video" in captured.err


def test_info_user_errors_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "PRESET_DIR", _write_preset(tmp_path / "presets", k=8))
    assert main(["info", str(tmp_path / "missing.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    text = tmp_path / "notes.mp4"
    text.write_text("hello\n" * 100)
    assert main(["info", str(text)]) == 2
    assert "not a readable video" in capsys.readouterr().err
    assert main(["info", str(_BIKES), "--preset", "huge"]) == 2
    err = capsys.readouterr().err
    assert "unknown tokenizer preset 'huge'" in err and "tiny" in err
    assert main(["info", str(_BIKES), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == 21 * 8  # the first 81 frames


def test_data_preview_writes_a_grid(tmp_path, capsys):
    out = tmp_path / "grid.gif"
    assert main(["data", "preview", "--dataset", "shapes", "--num", "16", "--out", str(out),
                 "--resolution", "32", "--frames", "17", "--seed", "0"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 17 and "16 clips" in printed[0]
    video, meta = read_video(out, frame_policy="none")
    assert video.shape == (3, 17, 4 * 34 - 2, 4 * 34 - 2)  # 4 x 4 tiles of 32 px with 2 px gaps
    assert meta.codec == "gif"
    assert main(["data", "preview", "--num", "4", "--out", str(tmp_path / "grid.avi")]) == 2
    assert "extension" in capsys.readouterr().err
    assert main(["data", "preview", "--num", "4", "--out", str(tmp_path / "no" / "grid.gif")]) == 0  # parents made
    assert (tmp_path / "no" / "grid.gif").is_file()
    assert main(["data", "preview", "--dataset", "folder", "--num", "4", "--out", str(out)]) == 2
    assert not (tmp_path / "grid.avi").exists()
