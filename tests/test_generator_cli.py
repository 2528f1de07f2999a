"""End to end: pretokenize (resumable) -> ``videoflextok train generator`` a few steps -> ``videoflextok generate``
a video for a class and for a prompt; user errors end with one sentence and exit code 2."""

from __future__ import annotations

import json

import pytest
import torch

from videoflextok.checkpoint import save_pretrained
from videoflextok.cli.main import main
from videoflextok.data.video_io import read_video
from videoflextok.errors import ConfigError
from videoflextok.generator.model import VideoGenerator
from videoflextok.generator.token_shards import TokenShardDataset
from videoflextok.tokenizer.model import VideoFlexTok

TOKENIZER = ("resolution=16", "K=4", "encoder_depth=1", "encoder_dim=32", "encoder_heads=2", "decoder_depth=1",
             "decoder_dim=32", "decoder_heads=2", "sample_steps=2")
GENERATOR = ("depth=1", "width=32", "heads=2", "tokens_per_frame=4", "text_dim=16", "max_text_tokens=16")



@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A saved tiny tokenizer, a token folder of 16 `shapes` clips, and one trained generator per conditioning."""
    root = tmp_path_factory.mktemp("gen_e2e")
    torch.manual_seed(0)
    save_pretrained(VideoFlexTok.from_preset("tiny", TOKENIZER), root / "tok")
    shards = root / "shards"
    args = ["pretokenize", "--tokenizer", str(root / "tok"), "--dataset", "shapes", "--out", str(shards),
            "--shard-size", "8", "--device", "cpu"]
    assert main([*args, "--num", "12"]) == 0
    assert json.loads((shards / "index.json").read_text())["shards"][-1]["count"] == 4
    assert main([*args, "--num", "16"]) == 0  # resumes: one more shard of 4 clips
    train = ("train.steps=3", "train.batch_size=4", "train.lr=1e-3", "train.warmup_steps=0", "train.device=cpu",
             "train.val_every=0", "train.progress=false", "train.checkpoint_every=0", "train.log_every=1")
    for kind in ("c2v", "t2v"):
        assert main(["train", "generator", "--preset", f"tiny-{kind}", "--tokens", str(shards), "--out",
                     str(root / kind), *(f"model.{o}" for o in GENERATOR), *train]) == 0
        assert (root / kind / "checkpoints" / "latest").read_text().strip() == "step_00000003"
    return root


def test_pretokenize_writes_resumable_shards(workdir, capsys):
    data = TokenShardDataset(workdir / "shards")
    index = json.loads((workdir / "shards" / "index.json").read_text())
    assert [s["count"] for s in index["shards"]] == [8, 4, 4] and len(data) == 16
    item = data[3]
    assert item["tokens"].shape == (5, 4) and item["tokens"].dtype == torch.long
    assert 0 <= int(item["tokens"].min()) and int(item["tokens"].max()) < 64000
    assert 0 <= item["label"] < 32 and item["caption"]
    # tokens equal a fresh tokenization of the same clip
    from videoflextok.checkpoint import load_pretrained
    from videoflextok.data import DataConfig, build_dataset

    tok = load_pretrained(VideoFlexTok, workdir / "tok")
    clip = build_dataset(DataConfig(dataset="shapes", resolution=16, num_frames=17, length=16, random_start=False))[3]
    assert torch.equal(tok.tokenize(clip["video"][None])[0], item["tokens"])
    assert clip["caption"] == item["caption"] and clip["label"] == item["label"]
    with pytest.raises(ConfigError, match="model.tokens_per_frame is 16"):
        data.check_fits(VideoGenerator.from_preset("tiny-c2v").config)
    with pytest.raises(ConfigError, match="model.max_latent_frames is 3"):
        data.check_fits(VideoGenerator.from_preset("tiny-c2v", [*GENERATOR, "max_latent_frames=3"]).config)
    # same settings again: nothing to do; different settings into the same folder: one-sentence error
    assert main(["pretokenize", "--tokenizer", str(workdir / "tok"), "--num", "16", "--out",
                 str(workdir / "shards"), "--device", "cpu"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    code = main(["pretokenize", "--tokenizer", str(workdir / "tok"), "--num", "16", "--seed", "5", "--out",
                 str(workdir / "shards"), "--device", "cpu"])
    assert code == 2 and "different settings" in capsys.readouterr().err


@pytest.mark.parametrize("kind,cond", [("c2v", ["--class", "3"]), ("t2v", ["--prompt", "a red circle moves up"])])
def test_generate_writes_a_decoded_video(workdir, kind, cond, capsys):
    out = workdir / f"{kind}.mp4"
    code = main(["generate", "--generator", str(workdir / kind), "--tokenizer", str(workdir / "tok"), *cond,
                 "--tokens-per-frame", "2", "--num-frames", "17", "--out", str(out), "--cfg", "2.0",
                 "--temperature", "0.9", "--top-k", "50", "--seed", "1", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    assert out.is_file()
    video, _ = read_video(out)
    assert video.shape[0] == 3 and video.shape[1] == 17 and video.shape[2:] == (16, 16)


@pytest.mark.parametrize(
    "kind,extra,message",
    [
        ("c2v", ["--class", "32"], "class id 32 is outside"),
        ("c2v", ["--prompt", "a dog"], "class-conditioned"),
        ("t2v", ["--prompt", "  "], "prompt is empty"),
        ("t2v", ["--class", "1"], "text-conditioned"),
        ("c2v", ["--class", "1", "--tokens-per-frame", "5"], "tokens per frame must be between 1 and 4"),
        ("c2v", ["--class", "1", "--num-frames", "33"], "latent frames must be between 1 and 5"),
        ("c2v", ["--class", "1", "--num-frames", "20"], "this tokenizer takes 1 + 4n frames"),
    ],
)
def test_generate_user_errors_exit_2_with_one_sentence(workdir, kind, extra, message, capsys):
    out = workdir / "never.mp4"
    code = main(["generate", "--generator", str(workdir / kind), "--tokenizer", str(workdir / "tok"), *extra,
                 "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["c2v", "t2v"])
def test_loss_falls_on_the_pretokenized_shapes_set(workdir, kind):
    torch.manual_seed(0)
    model = VideoGenerator.from_preset(f"tiny-{kind}", GENERATOR).train()
    batch = torch.utils.data.default_collate(list(TokenShardDataset(workdir / "shards")))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    for _ in range(15):  # each step costs ~0.5 s on one CPU thread: the 64000-way output layer dominates
        loss = model.training_losses(batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 10.0  # ~ log(64000) = 11.07 at the start
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses
