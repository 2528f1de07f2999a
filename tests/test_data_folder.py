"""User video datasets: folder scan, CSV / JSONL manifests, random clip starts, corrupt files skipped."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from videoflextok.data import DataConfig, EpochIndex, build_dataset, write_video
from videoflextok.data.folder import VideoFileDataset
from videoflextok.data.manifest import read_manifest, scan_folder
from videoflextok.errors import ConfigError, DataError, VideoNotFoundError


def _clip(value: int, num_frames: int = 40, size: int = 24) -> torch.Tensor:
    """uint8 ``[3, T, H, W]``: frame i of clip ``value`` has red = value, green = 4 * i."""
    video = torch.zeros(3, num_frames, size, size, dtype=torch.uint8)
    video[0] = value
    for i in range(num_frames):
        video[1, i] = 4 * i
    return video


def _red(video: torch.Tensor) -> int:
    return int(round((float(video[0, 0, 0, 0]) + 1) * 127.5))


def _first_frame(video: torch.Tensor) -> int:
    return int(round((float(video[1, 0, 0, 0]) + 1) * 127.5)) // 4


@pytest.fixture()
def video_folder(tmp_path):
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    write_video(root / "a.mkv", _clip(40), fps=20)
    write_video(root / "sub" / "b.mkv", _clip(80), fps=20)
    (root / "c_corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "notes.txt").write_text("not a video, and not listed")
    write_video(root / "d_short.mkv", _clip(120, num_frames=5), fps=20)
    return root


def test_folder_lists_videos_and_skips_bad_files(video_folder, caplog):
    entries = scan_folder(video_folder)
    assert [e.path.name for e in entries] == ["a.mkv", "c_corrupt.mp4", "d_short.mkv", "b.mkv"]
    ds = VideoFileDataset(entries, resolution=16, num_frames=17, seed=0)
    with caplog.at_level(logging.WARNING):
        items = [ds[i] for i in range(len(ds))]
    # the corrupt file and the too-short clip are skipped: their index returns the next readable video
    reds = [_red(item["video"]) for item in items]
    assert reds == [40, 80, 80, 80]
    assert all(item["video"].shape == (3, 17, 16, 16) for item in items)
    assert all(item["label"] == -1 and item["caption"] == "" for item in items)
    assert ds.num_failures == 3  # index 1 (corrupt) once, index 2 (short) twice: as itself and after index 1
    assert set(ds.failures) == {str(video_folder / "c_corrupt.mp4"), str(video_folder / "d_short.mkv")}
    assert sum("skipping video" in r.message for r in caplog.records) == 2  # logged once per file
    # with padding the short clip is usable
    padded = VideoFileDataset(entries, resolution=16, num_frames=17, frame_policy="pad")
    assert _red(padded[2]["video"]) == 120 and padded.num_failures == 0


def test_random_starts_are_deterministic_per_seed_index_and_epoch(video_folder):
    entries = [e for e in scan_folder(video_folder) if e.path.suffix == ".mkv" and "short" not in e.path.name]
    ds = VideoFileDataset(entries, resolution=16, num_frames=9, seed=1)
    starts = [_first_frame(ds[0]["video"]) for _ in range(2)]
    assert starts[0] == starts[1]
    epochs = set()
    for epoch in range(6):
        video = ds[EpochIndex(0, epoch)]["video"]
        first = _first_frame(video)
        epochs.add(first)
        assert 0 <= first <= 40 - 9
        frames = [int(round((float(v) + 1) * 127.5)) // 4 for v in video[1, :, 0, 0]]
        assert frames == list(range(first, first + 9))  # consecutive frames from the random start
    assert len(epochs) > 1
    fixed = VideoFileDataset(entries, resolution=16, num_frames=9, random_start=False)
    assert _first_frame(fixed[0]["video"]) == 0


def test_all_files_broken_raises_data_error(tmp_path):
    (tmp_path / "x.mp4").write_text("text")
    (tmp_path / "y.mkv").write_bytes(b"\x00" * 100)
    ds = VideoFileDataset.from_folder(tmp_path, resolution=16, num_frames=17)
    with pytest.raises(DataError, match="none of the 2 video files"):
        ds[0]


def test_empty_or_missing_folder_is_a_data_error(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError, match="no video files"):
        scan_folder(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        scan_folder(tmp_path / "nope")
    with pytest.raises(DataError):
        build_dataset(DataConfig(dataset="folder", path=str(tmp_path)))
    with pytest.raises(ConfigError, match="data.path"):
        build_dataset(DataConfig(dataset="manifest"))


def test_csv_manifest_with_labels_captions_and_relative_paths(video_folder, tmp_path):
    manifest = video_folder / "list.csv"
    manifest.write_text(
        "path,label,caption\n"
        "a.mkv,3,a red-ish clip\n"
        f"{video_folder / 'sub' / 'b.mkv'},,\n"
        "c_corrupt.mp4,5,broken\n"
        "missing.mkv,1,gone\n"
    )
    entries = read_manifest(manifest)
    assert [(e.path.name, e.label, e.caption) for e in entries] == [
        ("a.mkv", 3, "a red-ish clip"), ("b.mkv", -1, ""), ("c_corrupt.mp4", 5, "broken"), ("missing.mkv", 1, "gone")
    ]
    assert entries[0].path == video_folder / "a.mkv"
    ds = build_dataset(DataConfig(dataset="manifest", path=str(manifest), resolution=16, num_frames=17))
    items = [ds[i] for i in range(len(ds))]
    assert [(_red(x["video"]), x["label"], x["caption"]) for x in items] == [
        (40, 3, "a red-ish clip"), (80, -1, ""), (40, 3, "a red-ish clip"), (40, 3, "a red-ish clip")
    ]
    assert ds.num_failures == 3  # index 2: corrupt + missing; index 3: missing
    with pytest.raises(VideoNotFoundError):
        ds.load(3)


def test_jsonl_manifest_and_manifest_errors(video_folder, tmp_path):
    manifest = tmp_path / "list.jsonl"
    lines = [{"path": str(video_folder / "a.mkv"), "label": 7, "caption": "first"},
             {"path": str(video_folder / "sub/b.mkv")}]
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    ds = VideoFileDataset.from_manifest(manifest, resolution=16, num_frames=17)
    assert [(x["label"], x["caption"]) for x in (ds[0], ds[1])] == [(7, "first"), (-1, "")]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.mkv,1\n")
    with pytest.raises(DataError, match="'path' column"):
        read_manifest(bad)
    bad.write_text("path,label\na.mkv,one\n")
    with pytest.raises(DataError, match="line 2 .*not an integer"):
        read_manifest(bad)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"path": "a.mkv"}\n{not json}\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_manifest(bad_json)
    empty = tmp_path / "empty.csv"
    empty.write_text("path,label\n")
    with pytest.raises(DataError, match="lists no videos"):
        read_manifest(empty)
    with pytest.raises(DataError, match=r"\.csv or \.jsonl"):
        read_manifest(video_folder / "notes.txt")
    with pytest.raises(DataError, match="does not exist"):
        read_manifest(tmp_path / "nope.csv")


def test_a_training_run_reads_new_windows_of_a_long_video_every_epoch(tmp_path, monkeypatch):
    """One 40-frame video, one clip per step: every step is a new epoch and reads its own 17-frame window."""
    from videoflextok.cli.main import main

    folder = tmp_path / "long"
    folder.mkdir()
    write_video(folder / "long.mkv", _clip(40), fps=20)
    starts = []
    original = VideoFileDataset.load

    def spy(self, index, epoch=0):
        item = original(self, index, epoch)
        starts.append(_first_frame(item["video"]))
        return item

    monkeypatch.setattr(VideoFileDataset, "load", spy)
    args = ["train", "tokenizer", "--preset", "tiny", "--out", str(tmp_path / "run"), "data.dataset=folder",
            f"data.path={folder}", "train.steps=6", "train.batch_size=1", "train.val_every=0",
            "train.checkpoint_every=6", "train.progress=false", "model.encoder_depth=1", "model.decoder_depth=1"]
    assert main(args) == 0
    assert len(starts) == 6 and all(0 <= s <= 40 - 17 for s in starts)
    assert len(set(starts)) > 1  # the same window every step before the epoch reached the dataset
