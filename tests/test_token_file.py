"""Token files (videoflextok.tokenizer.token_file): the round trip keeps rows of any k and the metadata, the ids
are int32 on disk, a file of another tokenizer / a truncated or foreign file is refused with one sentence, and a
failed save leaves an existing file untouched."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from tokenizer_helpers import random_video, small_model
from videoflextok.errors import TokenError
from videoflextok.tokenizer.token_file import load_tokens, save_tokens


def test_round_trip_rows_and_metadata(tmp_path) -> None:
    model = small_model()
    tokens = model.tokenize(random_video(1, 17))[0]
    rows = [tokens[0], tokens[1, :1], tokens[2, :3], tokens[3], tokens[4, :2]]
    path = save_tokens(tmp_path / "clip.safetensors", rows, model, fps=12.5)
    back = load_tokens(path, model)
    assert back.k == [4, 1, 3, 4, 2] and all(torch.equal(a, b) for a, b in zip(back.rows, rows))
    assert (back.frames, back.fps, back.height, back.width, back.K) == (17, 12.5, 16, 16, 4)
    assert back.vocab_size == model.config.vocab_size and all(r.dtype == torch.long for r in back.rows)
    with pytest.raises(TokenError, match="different numbers of tokens"):
        back.tensor()
    same = load_tokens(save_tokens(tmp_path / "same.safetensors", tokens[:, :2], model, fps=8, frames=17))
    assert torch.equal(same.tensor(), tokens[:, :2])
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.get_tensor("ids").dtype == torch.int32 and f.get_tensor("k").tolist() == [4, 1, 3, 4, 2]


def test_another_tokenizer_is_refused(tmp_path) -> None:
    model = small_model(seed=0)
    path = save_tokens(tmp_path / "t.safetensors", model.tokenize(random_video(1, 5))[0], model, fps=10)
    retrained = small_model(seed=1)  # same config, other weights
    with pytest.raises(TokenError, match="another tokenizer .same config, different weights"):
        load_tokens(path, retrained)
    other = small_model("K=8")
    with pytest.raises(TokenError, match="another tokenizer .its config differs"):
        load_tokens(path, other)


def test_truncated_foreign_and_corrupt_files(tmp_path) -> None:
    model = small_model()
    path = save_tokens(tmp_path / "t.safetensors", model.tokenize(random_video(1, 17))[0], model, fps=10)
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for size in (0, 5, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:size])
        with pytest.raises(TokenError, match="not a readable token file"):
            load_tokens(cut)
    foreign = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(TokenError, match="not a videoflextok token file"):
        load_tokens(foreign)
    bad = tmp_path / "bad.safetensors"
    ids = torch.full((2, 4), 70000, dtype=torch.int32)
    save_file({"ids": ids, "k": torch.tensor([4, 4], dtype=torch.int32)}, str(bad),
              metadata={**_meta(path), "vocab_size": "64000"})
    with pytest.raises(TokenError, match="malformed"):
        load_tokens(bad)
    with pytest.raises(TokenError, match="does not exist"):
        load_tokens(tmp_path / "missing.safetensors")


def _meta(path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata())


def test_failed_save_leaves_the_old_file(tmp_path) -> None:
    model = small_model()
    tokens = model.tokenize(random_video(1, 5))[0]
    path = save_tokens(tmp_path / "t.safetensors", tokens, model, fps=10)
    before = path.read_bytes()
    for bad in (torch.full((2, 4), -1), torch.zeros(2, 9, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long)):
        with pytest.raises(TokenError):
            save_tokens(path, bad, model, fps=10)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]
