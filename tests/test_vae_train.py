"""Training the VAE with the shared engine, and caching its latents for tokenizer training
(``videoflextok cache-latents``): resumable shards that the tokenizer trains on without the VAE."""

from __future__ import annotations

import json

import pytest
import torch

from videoflextok.cli.main import main
from videoflextok.data import DataConfig, build_dataset
from videoflextok.tokenizer.model import VideoFlexTok, preset_config
from videoflextok.train.vae_task import load_run_config, run
from videoflextok.vae import VideoVAE
from videoflextok.vae.latent_cache import LatentCacheDataset

SMALL = [
    "model.base_channels=8", "model.latent_channels=4", "data.resolution=16", "data.num_frames=5",
    "data.length=16", "train.steps=4", "train.batch_size=2", "train.warmup_steps=1", "train.device=cpu",
    "train.progress=false", "train.val_every=4", "train.val_batch_size=2", "train.sample_video=false",
    "train.log_every=1", "train.checkpoint_every=0",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae_run")
    result = run(load_run_config("tiny", SMALL), out)
    return out, result


def test_train_vae_with_the_shared_engine(trained_vae) -> None:
    out, result = trained_vae
    assert result.step == 4 and result.checkpoint is not None
    vae = VideoVAE.from_pretrained(out)
    assert vae.config.latent_channels == 4 and vae.config.base_channels == 8
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("psnr" in str(line) for line in lines)
    assert all(torch.isfinite(p).all() for p in vae.parameters())


def test_run_config_checks_frames() -> None:
    with pytest.raises(ValueError, match="1 \\+ 4n"):
        load_run_config("tiny", ["data.num_frames=6"])


def test_cache_latents_resumable_and_trains_a_tokenizer(trained_vae, tmp_path, capsys) -> None:
    vae_dir, _ = trained_vae
    out = tmp_path / "latents"
    args = ["cache-latents", "--vae", str(vae_dir), "--dataset", "shapes", "--num", "6", "--shard-size", "4",
            "--resolution", "16", "--frames", "17", "--batch-size", "3", "--device", "cpu",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    index = json.loads((out / "index.json").read_text())
    assert [s["count"] for s in index["shards"]] == [4, 2]
    data = LatentCacheDataset(out)
    assert len(data) == 6 and data[0]["latent"].shape == (4, 5, 2, 2)
    # the stored latents are the VAE's posterior means of the dataset clips
    vae = VideoVAE.from_pretrained(vae_dir).eval()
    clips = build_dataset(DataConfig(dataset="shapes", resolution=16, num_frames=17, length=6, random_start=False))
    with torch.no_grad():
        expected = vae.encode(clips[5]["video"][None])[0]
    torch.testing.assert_close(data[5]["latent"], expected, rtol=1e-5, atol=1e-5)
    assert data[5]["caption"] == clips[5]["caption"]
    # resume: nothing to do; more clips extend the folder; other settings are refused
    capsys.readouterr()
    assert main(args) == 0 and "nothing to do" in capsys.readouterr().out
    args8 = [a if a != "6" else "8" for a in args]
    assert main(args8) == 0 and len(LatentCacheDataset(out)) == 8
    assert main([*args8[:-1], str(out), "--seed", "3"]) == 2
    assert "different settings" in capsys.readouterr().err
    # a tokenizer without the VAE (compressor.path unset) trains on the cached latents
    cfg = preset_config("tiny", [
        "resolution=16", "K=4", "compressor.kind=vae", "compressor.spatial_factor=8", "compressor.channels=4",
        "patch_size=1", "encoder_depth=1", "decoder_depth=1", "encoder_dim=64", "decoder_dim=64",
        "encoder_heads=1", "decoder_heads=1",
    ])  # fmt: skip
    tok = VideoFlexTok(cfg).train()
    batch = torch.utils.data.default_collate([data[i] for i in range(4)])
    losses = tok.training_losses(batch)
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])


def test_cache_latents_rejects_bad_frames(trained_vae, tmp_path, capsys) -> None:
    vae_dir, _ = trained_vae
    code = main(["cache-latents", "--vae", str(vae_dir), "--num", "2", "--frames", "16", "--out", str(tmp_path / "x")])
    assert code == 2 and "1 + 4*n" in capsys.readouterr().err
