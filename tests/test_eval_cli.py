"""``videoflextok eval reconstruction`` / ``eval generation`` on tiny trained models: the JSON holds every metric
and matches an independent computation, the PNG is written, sharded generation merges to the same JSON as one
run, and user errors end with one line and exit code 2. The shipped `shapes` probe loads without training."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from videoflextok.checkpoint import load_pretrained
from videoflextok.cli.main import main
from videoflextok.data.shapes import DIRECTIONS, SHAPES, ShapesDataset
from videoflextok.eval.generation import from_uint8, load_samples, to_uint8
from videoflextok.eval.metrics import mae, mse, psnr, ssim
from videoflextok.eval.probe import SLOTS, caption_score, class_score, parse_caption
from videoflextok.eval.probe_train import SHIPPED_PROBE, ProbeTrainConfig, load_or_train_probe
from videoflextok.eval.reconstruction import decode_seed, parse_budgets
from videoflextok.tokenizer.model import VideoFlexTok

TOKENIZER = ("resolution=16", "K=4", "encoder_depth=1", "encoder_dim=32", "encoder_heads=2", "decoder_depth=1",
             "decoder_dim=32", "decoder_heads=2", "sample_steps=2")
GENERATOR = ("depth=1", "width=32", "heads=2", "tokens_per_frame=4", "text_dim=16", "max_text_tokens=16")
CPU = ("--device", "cpu", "--no-progress")



@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny tokenizer trained 3 steps on `shapes`, 8 clips pretokenized with it, and a class- and a text-to-video
    generator trained 2 steps on those tokens (all through the CLI)."""
    root = tmp_path_factory.mktemp("eval_cli")
    torch.manual_seed(0)
    assert main(["train", "tokenizer", "--preset", "tiny", "--out", str(root / "tok"),
                 *(f"model.{o}" for o in TOKENIZER), "data.resolution=16", "train.steps=3", "train.batch_size=2",
                 "train.warmup_steps=1", "train.device=cpu", "train.progress=false", "train.val_every=0",
                 "train.log_every=1", "data.length=16"]) == 0
    assert main(["pretokenize", "--tokenizer", str(root / "tok"), "--num", "8", "--out", str(root / "shards"),
                 "--device", "cpu"]) == 0
    train = ("train.steps=2", "train.batch_size=4", "train.warmup_steps=0", "train.device=cpu", "train.val_every=0",
             "train.progress=false", "train.checkpoint_every=0", "train.log_every=1")
    for kind in ("c2v", "t2v"):
        assert main(["train", "generator", "--preset", f"tiny-{kind}", "--tokens", str(root / "shards"), "--out",
                     str(root / kind), *(f"model.{o}" for o in GENERATOR), *train]) == 0
    return root


def test_budget_lists():
    assert parse_budgets("1,2,8") == (1, 2, 8)


def test_reconstruction_json_matches_direct_metrics_and_png(runs):
    out = runs / "rec"
    assert main(["eval", "reconstruction", "--tokenizer", str(runs / "tok"), "--dataset", "shapes", "--num", "3",
                 "--batch-size", "2", "--out", str(out), "--no-fvd", "--seed", "1", *CPU]) == 0
    result = json.loads((out / "reconstruction.json").read_text())
    assert [r["tokens_per_frame"] for r in result["rows"]] == [1, 2, 4]  # default: powers of two up to K=4
    assert result["rfvd_skipped"] == "disabled with --no-fvd"
    assert result["probe_input"] == {"frames": 9, "size": 64, "clip_frames": 17, "clip_size": 16}
    assert result["class_score_skipped"] is None
    # recompute every number of the k=2 row and the originals' class score independently
    tok = load_pretrained(VideoFlexTok, runs / "tok").eval()
    data = ShapesDataset(16, 17, 3, seed=1, split="heldout")
    probe = load_or_train_probe()
    sums = {"mae": 0.0, "mse": 0.0, "psnr": 0.0, "ssim": 0.0}
    hits = hits_orig = 0.0
    reads = {"found": 0, "shape": 0, "direction": 0}
    reads_orig = dict(reads)
    region = {"object": [0.0, 0], "background": [0.0, 0]}
    for b, start in enumerate((0, 2)):
        items = [data[i] for i in range(start, min(start + 2, 3))]
        video = torch.stack([it["video"] for it in items])
        labels = [it["label"] for it in items]
        gen = torch.Generator().manual_seed(decode_seed(1, b, 2))
        recon = tok.detokenize(tok.tokenize(video), keep_k=2, generator=gen).clamp(-1, 1)
        for name, fn in zip(sums, (mae, mse, psnr, ssim)):
            sums[name] += float(fn(recon, video).sum())
        hits += class_score(probe.describe(recon), labels) * len(items)
        hits_orig += class_score(probe.describe(video), labels) * len(items)
        # the primary object (first in the caption) read in its color's slot; errors on colored / gray pixels
        for counts, clips in ((reads, recon), (reads_orig, video)):
            logits = probe(clips)
            for i, it in enumerate(items):
                first = parse_caption(it["caption"])[0]
                slot = SLOTS.index(first["color"])
                found = bool(logits["present"][i, slot] > 0)
                counts["found"] += found
                for key, names in (("shape", SHAPES), ("direction", DIRECTIONS)):
                    counts[key] += found and names[int(logits[key][i, slot].argmax())] == first[key]
        rgb = (video + 1) / 2
        colored = (rgb.amax(1) - rgb.amin(1)) > 0.2
        near = torch.nn.functional.max_pool2d(colored.float().flatten(0, 1)[:, None], 3, 1, 1).view_as(colored) > 0
        err = ((recon - video) / 2).pow(2).mean(1)
        for name, where in (("object", near), ("background", ~near)):
            region[name][0] += float(err[where].sum())
            region[name][1] += int(where.sum())
    row = result["rows"][1]
    for name, total in sums.items():
        assert row[name] == pytest.approx(total / (3 * 17), rel=1e-9, abs=1e-12), name
    assert row["class_score"] == pytest.approx(hits / 3) and row["rfvd"] is None
    assert result["class_score_original"] == pytest.approx(hits_orig / 3)
    for name, count in reads.items():
        assert row[f"primary_{name}"] == pytest.approx(count / 3), name
    for name, (total, count) in region.items():
        assert count > 0 and row[f"{name}_psnr"] == pytest.approx(10 * math.log10(count / total), rel=1e-6), name
    assert result["primary_original"] == pytest.approx({name: count / 3 for name, count in reads_orig.items()})
    assert all(10 < r["psnr"] < 60 and 0 < r["mse"] < 1 and -1 < r["ssim"] <= 1 for r in result["rows"])
    with Image.open(out / "reconstruction.png") as img:
        assert img.format == "PNG" and img.size[0] >= 600 and img.size[1] >= 300


def test_reconstruction_rfvd_on_two_clips(runs):
    out = runs / "rec_fvd"
    assert main(["eval", "reconstruction", "--tokenizer", str(runs / "tok"), "--num", "2", "--tokens", "4",
                 "--out", str(out), *CPU]) == 0
    result = json.loads((out / "reconstruction.json").read_text())
    (row,) = result["rows"]
    assert result["rfvd_skipped"] is None and math.isfinite(row["rfvd"]) and row["rfvd"] > 0
    assert (out / "reconstruction.png").is_file()


def test_reconstruction_rfvd_skipped_for_short_clips(runs):
    out = runs / "rec_short"
    assert main(["eval", "reconstruction", "--tokenizer", str(runs / "tok"), "--num", "2", "--tokens", "1",
                 "--frames", "9", "--out", str(out), *CPU]) == 0
    result = json.loads((out / "reconstruction.json").read_text())
    assert result["rows"][0]["rfvd"] is None and "at least 16 frames" in result["rfvd_skipped"]


def _strip(result: dict) -> dict:
    result = dict(result)
    result.pop("shards")
    return result


def test_generation_shards_merge_to_the_single_run(runs, capsys):
    args = ["eval", "generation", "--generator", str(runs / "c2v"), "--tokenizer", str(runs / "tok"), "--num", "5",
            "--batch-size", "2", "--tokens-per-frame", "2", "--temperature", "0.9", "--top-k", "100", "--cfg", "1.5",
            "--seed", "3", "--no-fvd", *CPU]
    assert main([*args, "--out", str(runs / "gen_one")]) == 0
    merge = ["eval", "generation", "--merge", "--out", str(runs / "gen_two"), *CPU, "--no-fvd"]
    assert main([*args, "--out", str(runs / "gen_two"), "--shard", "1/2"]) == 0
    assert main(merge) == 2 and "lacks shard(s) [0] of 2" in capsys.readouterr().err
    assert main([*args, "--seed", "4", "--out", str(runs / "gen_two"), "--shard", "1/2"]) == 2
    assert "different settings" in capsys.readouterr().err
    assert main([*args, "--out", str(runs / "gen_two"), "--shard", "0/2"]) == 0
    assert not (runs / "gen_two" / "generation.json").exists()  # a shard run only writes its samples
    assert main(merge) == 0
    one = json.loads((runs / "gen_one" / "generation.json").read_text())
    two = json.loads((runs / "gen_two" / "generation.json").read_text())
    assert one["shards"] == 1 and two["shards"] == 2 and _strip(one) == _strip(two)
    a, b = load_samples(runs / "gen_one"), load_samples(runs / "gen_two")
    assert np.array_equal(a["videos"], b["videos"]) and a["videos"].shape == (5, 17, 16, 16, 3)
    assert a["videos"].dtype == np.uint8 and a["labels"].tolist() == b["labels"].tolist()
    # the fields, and the class score recomputed from the stored samples and the real clips' labels
    data = ShapesDataset(16, 17, 5, seed=3, split="train")
    labels = [data.sample(i).label for i in range(5)]
    assert a["labels"].tolist() == labels
    probe = load_or_train_probe()
    assert one["class_score"] == pytest.approx(class_score(probe.describe(from_uint8(a["videos"])), labels))
    real = torch.stack([data[i]["video"] for i in range(5)])
    assert one["real_class_score"] == pytest.approx(class_score(probe.describe(real), labels))
    assert one["caption_score"] is None and one["gfvd"] is None and one["gfvd_skipped"] == "disabled with --no-fvd"
    assert one["settings"]["config"]["tokens_per_frame"] == 2 and one["num"] == 5


def test_generation_text_caption_score(runs):
    out = runs / "gen_text"
    assert main(["eval", "generation", "--generator", str(runs / "t2v"), "--tokenizer", str(runs / "tok"), "--num",
                 "3", "--out", str(out), "--no-fvd", *CPU]) == 0
    result = json.loads((out / "generation.json").read_text())
    samples = load_samples(out)
    captions = [ShapesDataset(16, 17, 3, seed=0, split="train").sample(i).caption for i in range(3)]
    assert samples["captions"].tolist() == captions and samples["labels"].tolist() == [-1, -1, -1]
    found = load_or_train_probe().describe(from_uint8(samples["videos"]))
    assert result["caption_score"] == pytest.approx(caption_score(found, captions))
    assert result["class_score"] is None and 0 <= result["real_caption_score"] <= 1
    assert result["settings"]["conditioning"] == "text" and result["real"]["split"] == "train"


@pytest.mark.slow
def test_generation_gfvd_on_two_samples(runs):
    out = runs / "gen_fvd"
    assert main(["eval", "generation", "--generator", str(runs / "c2v"), "--tokenizer", str(runs / "tok"), "--num",
                 "2", "--out", str(out), *CPU]) == 0
    result = json.loads((out / "generation.json").read_text())
    assert result["gfvd_skipped"] is None and math.isfinite(result["gfvd"]) and result["gfvd"] > 0


def test_uint8_round_trip():
    video = torch.rand(2, 3, 5, 8, 8) * 2 - 1
    back = from_uint8(to_uint8(video))
    assert back.shape == video.shape and (back - video).abs().max() <= 1 / 127.5 + 1e-6


@pytest.mark.parametrize(
    "extra,message",
    [
        (["reconstruction", "--tokenizer", "{root}/nope", "--num", "2"], "does not exist"),
        (["reconstruction", "--tokenizer", "{root}/tok", "--num", "2", "--tokens", "1,x"], "comma-separated"),
        (["reconstruction", "--tokenizer", "{root}/tok", "--num", "2", "--tokens", "4,2"], "increasing"),
        (["reconstruction", "--tokenizer", "{root}/tok", "--num", "2", "--tokens", "1,8"], "only K=4"),
        (["reconstruction", "--tokenizer", "{root}/tok", "--num", "0"], "--num must be at least 1"),
        (["reconstruction", "--tokenizer", "{root}/tok", "--num", "2", "--frames", "10"], "cannot take 10-frame"),
        (["generation", "--generator", "{root}/c2v", "--tokenizer", "{root}/tok", "--num", "2", "--shard", "2/2"],
         "0 <= I < N"),
        (["generation", "--generator", "{root}/c2v", "--tokenizer", "{root}/tok", "--num", "2",
          "--tokens-per-frame", "8"], "exceeds the tokenizer's 4 tokens"),
        (["generation", "--generator", "{root}/nope", "--tokenizer", "{root}/tok", "--num", "2"], "does not exist"),
        (["generation", "--tokenizer", "{root}/tok", "--num", "2"], "needs --generator"),
        (["generation", "--generator", "{root}/c2v", "--tokenizer", "{root}/tok", "--num", "2", "--frames", "1"],
         "at least 2 frames"),
        (["generation", "--merge"], "generate shards into it first"),
    ],
)
def test_user_errors_exit_2_with_one_line(runs, tmp_path, extra, message, capsys):
    args = [a.replace("{root}", str(runs)) for a in extra]
    code = main(["eval", *args, "--out", str(tmp_path / "out"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out" / "reconstruction.json").exists()


def test_shipped_probe_loads_without_training(tmp_path, monkeypatch):
    assert SHIPPED_PROBE.is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("the shipped probe should have been loaded, not trained")

    monkeypatch.setattr("videoflextok.eval.probe_train.train_probe", no_training)
    probe = load_or_train_probe(ProbeTrainConfig(), cache_dir=tmp_path)  # empty cache: must not train
    assert not any(tmp_path.iterdir())
    data = ShapesDataset(64, 9, 48, seed=777, split="all")  # the probe's own resolution and length
    videos = torch.stack([data[i]["video"] for i in range(48)])
    score = class_score(probe.describe(videos), [data.sample(i).label for i in range(48)])
    assert score >= 0.95, score
