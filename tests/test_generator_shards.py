"""Token shards: round trip, resume after an interrupted write, one-sentence errors on bad folders."""

from __future__ import annotations

import json

import pytest
import torch

from videoflextok.errors import DataError, VideoFlexTokError
from videoflextok.generator.token_shards import TokenShardDataset, TokenShardWriter, read_token_shards

SOURCE = {"vocab_size": 64000, "K": 4, "data": {"dataset": "shapes", "seed": 0}}


def test_round_trip_and_resume(tmp_path):
    tokens = torch.randint(0, 64000, (10, 3, 4))
    labels, captions = list(range(10)), [f"clip {i}" for i in range(10)]
    writer = TokenShardWriter(tmp_path, SOURCE, num_target=10)
    writer.append(tokens[:6], labels[:6], captions[:6])
    (tmp_path / ".tmp-shard_00001.safetensors").write_bytes(b"half a file")  # an interrupted second shard
    resumed = TokenShardWriter(tmp_path, dict(SOURCE), num_target=10)
    assert resumed.done == 6 and not list(tmp_path.glob(".tmp-*"))
    resumed.append(tokens[6:], labels[6:], captions[6:])
    got, got_labels, got_captions, index = read_token_shards(tmp_path)
    assert torch.equal(got, tokens) and got.dtype == torch.long
    assert got_labels == labels and got_captions == captions and index["source"] == SOURCE
    data = TokenShardDataset(tmp_path)
    batch = torch.utils.data.default_collate([data[i] for i in range(4)])
    assert batch["tokens"].shape == (4, 3, 4) and batch["label"].tolist() == [0, 1, 2, 3]
    assert batch["caption"] == captions[:4]


def test_other_settings_and_broken_folders_are_one_sentence_errors(tmp_path):
    writer = TokenShardWriter(tmp_path, SOURCE, num_target=2)
    writer.append(torch.zeros(2, 1, 4, dtype=torch.long), [0, 1], ["a", "b"])
    with pytest.raises(DataError, match="different settings"):
        TokenShardWriter(tmp_path, {**SOURCE, "K": 8}, num_target=2)
    with pytest.raises(DataError, match="not a token folder"):
        TokenShardDataset(tmp_path / "nowhere")
    (tmp_path / "shard_00000.json").write_text(json.dumps({"labels": [0]}))
    with pytest.raises(DataError, match="missing or unreadable"):
        TokenShardDataset(tmp_path)
    (tmp_path / "shard_00000.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(VideoFlexTokError, match="truncated"):
        TokenShardDataset(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        TokenShardDataset(tmp_path)
