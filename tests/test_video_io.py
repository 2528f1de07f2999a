"""Video file I/O: exact lossless round trip, fps resampling by timestamps, frame policy, resizing, errors."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from videoflextok.data import probe_video, read_video, sample_videos, write_video
from videoflextok.data.transforms import apply_frame_policy, resize_center_crop, usable_frames
from videoflextok.data.video_io import to_uint8
from videoflextok.errors import ClipTooShortError, NoFramesError, NotAVideoError, VideoError, VideoNotFoundError


def _index_video(num_frames: int, size: int = 16) -> torch.Tensor:
    """uint8 ``[3, T, H, W]`` whose every pixel of frame i holds the value 2 * i (frame index readable back)."""
    video = torch.zeros(3, num_frames, size, size, dtype=torch.uint8)
    for i in range(num_frames):
        video[:, i] = 2 * i
    return video


def _frame_indices(video: torch.Tensor) -> list[int]:
    """Inverse of _index_video on a decoded float clip."""
    values = ((video[0, :, 4, 4] + 1.0) * 127.5).round()
    return [int(v) // 2 for v in values]


def test_ffv1_round_trip_is_exact(tmp_path):
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (3, 19, 30, 46), dtype=torch.uint8, generator=gen)  # odd sizes on purpose
    path = write_video(tmp_path / "clip.mkv", frames, fps=24)
    video, meta = read_video(path, frame_policy="none")
    assert video.dtype == torch.float32 and video.shape == (3, 19, 30, 46)
    assert float(video.min()) >= -1.0 and float(video.max()) <= 1.0
    assert torch.equal(torch.from_numpy(to_uint8(video)).permute(3, 0, 1, 2), frames)
    # the float path is exact too: float in -> same float out
    as_float = frames.float() / 127.5 - 1.0
    write_video(tmp_path / "again.mkv", as_float, fps=24)
    assert torch.equal(read_video(tmp_path / "again.mkv", frame_policy="none")[0], as_float)
    assert (meta.num_frames, meta.height, meta.width, meta.codec) == (19, 30, 46, "ffv1")
    assert meta.fps == pytest.approx(24.0)
    assert meta.duration == pytest.approx(19 / 24, abs=0.01)


def test_fps_resampling_picks_frames_by_timestamp(tmp_path):
    path = write_video(tmp_path / "idx.mkv", _index_video(60), fps=30)
    video, meta = read_video(path, fps=10, frame_policy="none")
    assert _frame_indices(video) == list(range(0, 60, 3))  # every third frame of 2 s at 30 fps
    assert meta.frame_times == pytest.approx([i / 10 for i in range(20)], abs=2e-3)
    # upsampling repeats frames: 60 fps from 30 fps, starting at 1 s (a tie goes to the earlier frame)
    video, _ = read_video(path, fps=60, num_frames=6, start=1.0)
    assert _frame_indices(video) == [30, 30, 31, 31, 32, 32]
    video, _ = read_video(path, fps=45, num_frames=6, start=1.0)
    assert _frame_indices(video) == [30, 31, 31, 32, 33, 33]
    # a start time and a rate that do not divide the source rate take the nearest frame
    video, _ = read_video(path, fps=7.5, num_frames=5, start=0.5)
    assert _frame_indices(video) == [15, 19, 23, 27, 31]


def test_native_rate_start_and_seek(tmp_path):
    path = write_video(tmp_path / "long.mkv", _index_video(120), fps=30)  # 4 s: start 3 s seeks to a keyframe
    video, meta = read_video(path, num_frames=17, start=0.5)
    assert _frame_indices(video) == list(range(15, 32))
    video, _ = read_video(path, num_frames=17, start=2.5)
    assert _frame_indices(video) == list(range(75, 92))
    assert meta.num_frames == 120


@pytest.mark.parametrize("length, trim, pad", [(1, 1, 1), (16, 1, 17), (17, 17, 17), (40, 33, 49), (81, 81, 81)])
def test_frame_policy_lengths(length, trim, pad):
    assert usable_frames(length, "trim") == trim
    assert usable_frames(length, "pad") == pad
    assert usable_frames(length, "none") == length
    clip = torch.arange(length, dtype=torch.float32).view(1, length, 1, 1)
    padded = apply_frame_policy(clip, "pad")
    assert padded.shape[1] == pad and torch.all(padded[0, length:] == length - 1)
    assert torch.equal(apply_frame_policy(clip, "trim")[0, :, 0, 0], torch.arange(trim, dtype=torch.float32))


def test_read_video_frame_policy(tmp_path):
    path = write_video(tmp_path / "idx.mkv", _index_video(40), fps=25)
    assert read_video(path)[0].shape[1] == 33  # default "trim": longest 1 + 16n prefix
    padded, meta = read_video(path, frame_policy="pad")
    assert _frame_indices(padded) == list(range(40)) + [39] * 9
    assert len(meta.frame_times) == 49
    assert read_video(path, frame_policy="none")[0].shape[1] == 40
    # an exact request the clip cannot meet: error, or padding when asked
    with pytest.raises(ClipTooShortError, match="requested"):
        read_video(path, num_frames=49)
    assert _frame_indices(read_video(path, num_frames=49, frame_policy="pad")[0])[-10:] == [39] * 10
    with pytest.raises(ClipTooShortError):
        read_video(path, num_frames=17, start=1.5)  # only 10 frames left after 1.5 s
    with pytest.raises(ClipTooShortError):
        read_video(path, start=5.0)  # starts after the end


def test_resize_shorter_side_and_center_crop(tmp_path):
    # 40 x 80 frames: black edges, white middle (wider than the center crop plus the filter's reach)
    frames = torch.zeros(3, 3, 40, 80, dtype=torch.uint8)
    frames[:, :, :, 12:68] = 255
    path = write_video(tmp_path / "wide.mkv", frames, fps=10)
    video, meta = read_video(path, size=20, frame_policy="none")
    assert video.shape == (3, 3, 20, 20) and meta.size == (40, 80)
    assert torch.allclose(video, torch.ones_like(video), atol=1e-5)  # the crop sees only the white middle
    rect, _ = read_video(path, size=(10, 40), frame_policy="none")
    assert rect.shape == (3, 3, 10, 40)
    assert float(rect[..., 0].mean()) < -0.9 and float(rect[..., 20].mean()) > 0.9  # 80 -> 40 wide keeps black
    # antialiasing: a 1-pixel checkerboard shrunk by 4 becomes flat gray, not aliased stripes
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 2.0 - 1.0
    small = resize_center_crop(checker.expand(3, 1, 64, 64), 16)
    assert small.shape == (3, 1, 16, 16) and float(small.abs().max()) < 0.05


def test_mp4_and_gif_are_written_and_readable(tmp_path):
    video = _index_video(17, size=33).float() / 127.5 - 1.0  # odd size: the mp4 writer pads to even
    mp4 = write_video(tmp_path / "clip.mp4", video, fps=25)
    gif = write_video(tmp_path / "clip.gif", video, fps=10)
    back, meta = read_video(mp4, frame_policy="none")
    assert meta.codec == "h264" and back.shape[1] == 17 and meta.fps == pytest.approx(25.0)
    with av.open(str(mp4)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert torch.allclose(back[:, :, :33, :33], video, atol=4 / 127.5)  # flat frames survive H.264 closely
    back, meta = read_video(gif, frame_policy="none")
    assert meta.codec == "gif" and back.shape[1] == 17
    assert _frame_indices(back) == list(range(17))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif", "clip.mp4"]  # no temp files left


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_video(tmp_path / "keep.mkv", _index_video(5), fps=10)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_video(path, torch.zeros(3, 5, 8), fps=10)  # wrong shape
    with pytest.raises(VideoError, match="extension"):
        write_video(tmp_path / "clip.avi", _index_video(5), fps=10)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keep.mkv"]


def test_bad_inputs_raise_typed_errors(tmp_path):
    with pytest.raises(VideoNotFoundError, match="does not exist"):
        read_video(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file, not a video\n" * 20)
    with pytest.raises(NotAVideoError, match="not a readable video"):
        read_video(text)
    with pytest.raises(NotAVideoError):
        probe_video(text)
    random_bytes = tmp_path / "noise.mkv"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(NotAVideoError):
        read_video(random_bytes)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(sample_videos()[0].read_bytes()[:300])
    with pytest.raises(NotAVideoError):
        probe_video(truncated)
    with pytest.raises(NotAVideoError):
        read_video(tmp_path)  # a folder


def test_zero_frames_raise_no_frames_error(tmp_path):
    empty = tmp_path / "empty.avi"  # a container with a video stream and not a single frame
    with av.open(str(empty), mode="w", format="avi") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "bgr0"
        container.start_encoding()
    with pytest.raises(NoFramesError, match="zero"):
        read_video(empty)
    with pytest.raises(NoFramesError, match="zero"):
        probe_video(empty)


def test_sample_videos_are_real_clips():
    paths = sample_videos()
    assert len(paths) >= 4 and all(p.suffix == ".mp4" and p.is_file() for p in paths)
    meta = probe_video(paths[0])
    assert meta.num_frames > 17 and meta.fps > 0 and meta.height > 0 and meta.width > 0
    video, _ = read_video(paths[0], size=32, num_frames=17, fps=8)
    assert video.shape == (3, 17, 32, 32)
    assert float(video.std()) > 0.05  # real content, not a flat frame
