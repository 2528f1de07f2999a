"""Importing released checkpoints: the conversion round trip, bad official folders (one sentence, exit code 2,
nothing written), the official-architecture presets, and fine-tuning from the imported weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from official_fixture import HUB, io_tensors
from videoflextok.cli.main import main
from videoflextok.errors import CheckpointError
from videoflextok.tokenizer.model import VideoFlexTok


def _copy_hub(tmp_path: Path) -> Path:
    folder = tmp_path / "hub"
    shutil.copytree(HUB, folder)
    return folder


def _edit_config(folder: Path, edit) -> None:
    meta = json.loads((folder / "config.json").read_text())
    edit(meta["video_flex_tok"])
    (folder / "config.json").write_text(json.dumps(meta))


def _modules(tree: dict, part: str) -> dict:
    return dict(tree[part]["module_dict"])


def test_convert_official_writes_our_format_that_reloads_the_same(tmp_path, capsys):
    out = tmp_path / "a" / "converted"
    assert main(["convert-official", str(HUB), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    meta = json.loads((out / "config.json").read_text())
    assert meta["kind"] == "VideoFlexTok" and meta["config"]["compressor"]["kind"] == "vidtok"
    converted, direct = VideoFlexTok.from_pretrained(out), VideoFlexTok.from_pretrained(HUB)
    assert converted.config == direct.config
    a, b = converted.state_dict(), direct.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    io = io_tensors()
    torch.manual_seed(21)
    assert torch.equal(converted.tokenize(io["video"], posterior="sample")[0], io["tokens"][0])
    # an existing --out is refused, the folder stays as it was
    before = sorted(p.name for p in out.iterdir())
    assert main(["convert-official", str(HUB), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before


def _unknown_target(tree):
    tree["encoder"]["module_dict"][2][1]["_target_"] = "os.system"


def _unknown_argument(tree):
    _modules(tree, "decoder")["dec_transformer"]["rope_base"] = 10000


def _unsupported_value(tree):
    _modules(tree, "encoder")["enc_transformer"]["qkv_bias"] = True


def _mapping_module_dict(tree):  # a name -> node mapping is accepted as well as the list of pairs
    tree["decoder"]["module_dict"] = _modules(tree, "decoder")


@pytest.mark.parametrize(
    "edit,message",
    [
        (_unknown_target, "unknown target 'os.system'"),
        (_unknown_argument, "argument 'rope_base'"),
        (_unsupported_value, "qkv_bias=True"),
    ],
)
def test_a_bad_config_tree_is_refused_with_one_sentence(tmp_path, capsys, edit, message):
    folder = _copy_hub(tmp_path)
    _edit_config(folder, edit)
    out = tmp_path / "out"
    assert main(["convert-official", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_module_dict_given_as_a_mapping_is_read_the_same(tmp_path):
    folder = _copy_hub(tmp_path)
    _edit_config(folder, _mapping_module_dict)
    assert VideoFlexTok.from_pretrained(folder).config == VideoFlexTok.from_pretrained(HUB).config


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_tensor(path: Path) -> None:
    state = load_file(str(path))
    state.pop("video_tokenizer.decoder.module_dict.dec_nullcond.nullcond")
    save_file(state, str(path))


def _reshape_tensor(path: Path) -> None:
    state = load_file(str(path))
    key = "video_tokenizer.encoder.module_dict.enc_transformer.blocks.0.mlp.fc1.weight"
    state[key] = torch.zeros(99, 64)
    save_file(state, str(path))


def _extra_tensor(path: Path) -> None:
    state = load_file(str(path))
    state["video_tokenizer.decoder.module_dict.dec_extra.weight"] = torch.zeros(3)
    save_file(state, str(path))


@pytest.mark.parametrize(
    "damage,message",
    [
        (_truncate, "truncated"),
        (_drop_tensor, "dec_nullcond.nullcond' is missing"),
        (_reshape_tensor, "shape"),
        (_extra_tensor, "dec_extra.weight"),
    ],
)
def test_bad_weights_are_refused_with_one_sentence(tmp_path, capsys, damage, message):
    folder = _copy_hub(tmp_path)
    damage(folder / "model.safetensors")
    out = tmp_path / "out"
    assert main(["convert-official", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
    with pytest.raises(CheckpointError):
        VideoFlexTok.from_pretrained(folder)


def test_a_folder_that_is_not_official_is_refused(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    assert main(["convert-official", str(tmp_path / "plain"), "--out", str(tmp_path / "out")]) == 2
    assert "not an official VideoFlexTok checkpoint" in capsys.readouterr().err
    assert main(["convert-official", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _official_param_count(enc: tuple, dec: tuple, K: int, patch: int, levels: int = 6, frames: int = 5) -> int:
    """Parameters of the official architecture, excluding adaLN and the VAE, counted from its description:
    (dim, depth) per trunk, SwiGLU hidden int(2 * 4 * dim / 3), per-axis position tables of 16 rows."""

    def trunk(dim, depth):
        hidden = int(2 * int(dim * 4.0) / 3)
        return depth * (4 * dim * dim + 3 * dim * hidden)

    (de, ne), (dd, nd) = enc, dec
    patch_in = 16 * patch * patch
    encoder = (patch_in + 1) * de + 3 * 16 * de + frames * K * de + trunk(de, ne) + (de + 1) * levels
    time_mlp = 256 * dd + dd + dd * dd + dd
    decoder = (patch_in + 1) * dd + 3 * 16 * dd + (levels + 1) * dd + 3 * dd + time_mlp + trunk(dd, nd)
    decoder += (dd + 1) * patch_in  # the output linear (its adaLN is excluded)
    return encoder + decoder


@pytest.mark.parametrize(
    "name,enc,dec,patch", [("d18-d18", (1152, 18), (1152, 18), 1), ("d18-d28", (1152, 18), (1792, 28), 2)]
)
def test_paper_presets_are_the_official_architecture(name, enc, dec, patch):
    with torch.device("meta"):
        model = VideoFlexTok.from_preset(name)
    cfg = model.config
    expected = _official_param_count(enc, dec, cfg.K, patch)
    # ours keeps one null vector per register where the official model has one for all
    assert model.num_params() == expected + (cfg.K - 1) * dec[0]
    assert cfg.compressor.kind == "vidtok" and (cfg.qk_norm, cfg.posemb, cfg.prefix) == ("layernorm", "axial", "token")


def test_fine_tuning_from_the_official_weights(tmp_path):
    out = tmp_path / "run"
    args = ["train", "tokenizer", "--init", str(HUB), "--out", str(out), "data.resolution=64", "train.steps=3",
            "train.batch_size=2", "train.val_every=0", "train.checkpoint_every=3", "train.progress=false",
            "train.log_every=1"]
    assert main(args) == 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in logged if "loss" in row]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    tuned = VideoFlexTok.from_pretrained(out)
    start = VideoFlexTok.from_pretrained(HUB)
    assert tuned.config.compressor.kind == "vidtok"
    changed = [k for k, v in tuned.state_dict().items() if not torch.equal(v, start.state_dict()[k])]
    assert changed and not any(k.startswith("compressor.") for k in changed)  # the VAE stays frozen
    tokens = tuned.tokenize(io_tensors()["video"])
    assert tokens[0].shape == (5, 16) and int(tokens[0].max()) < tuned.config.vocab_size


def test_a_hub_id_is_downloaded_only_through_huggingface_hub(tmp_path, monkeypatch):
    import sys
    import types

    from videoflextok.tokenizer.official import local_path

    asked = []
    fake = types.SimpleNamespace(snapshot_download=lambda repo: asked.append(repo) or str(tmp_path))
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)  # never the network in tests
    assert local_path("EPFL-VILAB/videoflextok_d18_d18_k600") == tmp_path and asked == [
        "EPFL-VILAB/videoflextok_d18_d18_k600"
    ]
    assert local_path(HUB) == HUB and len(asked) == 1  # a local folder is never looked up
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(CheckpointError, match="huggingface_hub"):
        local_path("org/name")
