"""Our implementation against the official inference code: every stage of the fixture model
(``tests/fixtures/official_parity``: a small random-weight model, its input and the official outputs).

Seeding follows the fixture's recipe (``config.json`` keys ``rng`` and ``two_chunk_case.rng``): the same seeds give
the same random draws, so tokens are identical and reconstructions agree to float rounding.
"""

from __future__ import annotations

import pytest
import torch

from official_fixture import HUB, SINGLE, description, io_tensors, official_state
from videoflextok.flow import Guidance
from videoflextok.tokenizer import chunking
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.tokenizer.patches import patchify

DETOKENIZE = {  # fixture tensor -> detokenize arguments
    "recon_k16": {},
    "recon_k4": {"keep_k": 4},
    "recon_k4_cfg3": {"keep_k": 4, "guidance": 3.0, "guidance_mode": "cfg"},
    "recon_k4_apg3": {"keep_k": 4, "guidance": 3.0, "guidance_mode": "apg"},
}


@pytest.fixture(scope="module")
def model() -> VideoFlexTok:
    return VideoFlexTok.from_pretrained(HUB)


@pytest.fixture(scope="module")
def model32() -> VideoFlexTok:
    """The same weights built for 32x32 frames (the two-chunk case)."""
    return VideoFlexTok.from_pretrained(HUB, resolution=32)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def test_the_config_is_read_from_the_tree(model):
    cfg, ref = model.config, description()
    assert (cfg.resolution, cfg.chunk_frames, cfg.K, cfg.patch_size) == (64, 17, ref["encoder"]["registers"]["K"], 1)
    assert (cfg.encoder_dim, cfg.encoder_depth, cfg.encoder_heads) == (64, 2, 2)
    assert (cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_heads) == (64, 2, 2)
    assert cfg.fsq_levels == tuple(ref["fsq"]["levels"])
    vae = cfg.compressor
    assert (vae.kind, vae.base_channels, vae.channel_mults, vae.num_res_blocks) == ("vidtok", 4, (1, 2, 4, 4), 2)
    assert (cfg.qk_norm, cfg.norm_eps, cfg.attn_scale, cfg.posemb, cfg.time_period) == (
        "layernorm", 1e-5, "mup", "axial", 256.0,
    )


def test_vae_posterior_matches(model, model32):
    """(The VAE decode is compared in test_vidtok.py, with the fixture decoder's conditioning measured.)"""
    for m, io in ((model, io_tensors()), (model32, io_tensors(two_chunks=True))):
        chunks = io["vae_moments"].shape[0]
        video = io["video"] if chunks == 1 else torch.cat([io["video"][:, :, :17], io["video"][:, :, 16:]])
        mean, std = m.compressor.posterior(video)
        assert _max_diff(mean, io["vae_mean"]) <= 1e-4
        assert _max_diff(mean + std * io["vae_eps"], io["vae_latents"]) <= 1e-4


def test_encoder_features_and_tokens_match(model, model32):
    for m, io in ((model, io_tensors()), (model32, io_tensors(two_chunks=True))):
        with torch.no_grad():
            features = m.encoder.features(patchify(io["vae_latents"], m.config.patch_size))
            z = torch.nn.functional.linear(features, m.encoder.to_code.weight, m.encoder.to_code.bias)
            codes, ids = m.encoder.quantize(features)
        assert _max_diff(z, io["enc_fsq_in"]) <= 1e-4
        assert torch.equal(ids, io["chunk_tokens"]) and _max_diff(codes, io["quants"]) <= 1e-6


@pytest.mark.parametrize("two_chunks", [False, True])
def test_tokenize_with_the_posterior_sample_gives_identical_ids(model, model32, two_chunks):
    io = io_tensors(two_chunks)
    m = model32 if two_chunks else model
    torch.manual_seed(description()["two_chunk_case"]["seeds"]["vae_sample_seed"] if two_chunks else 21)
    assert torch.equal(m.tokenize(io["video"], posterior="sample")[0], io["tokens"][0])
    # the posterior mean (our default) is deterministic and may differ in a few ids
    assert torch.equal(m.tokenize(io["video"])[0], m.tokenize(io["video"])[0])


def test_chunks_encoded_one_at_a_time_give_the_same_ids(model32, monkeypatch):
    """A long clip's chunks go through the VAE in pieces (bounded memory); the posterior noise is still drawn once
    for the whole batch, so the ids equal the official ones."""
    io = io_tensors(True)
    calls = []
    posterior = model32.compressor.posterior
    monkeypatch.setattr(model32.compressor, "posterior", lambda video: calls.append(len(video)) or posterior(video))
    monkeypatch.setattr(chunking, "ENCODE_VOXELS", 1)  # one chunk per compressor call
    torch.manual_seed(description()["two_chunk_case"]["seeds"]["vae_sample_seed"])
    assert torch.equal(model32.tokenize(io["video"], posterior="sample")[0], io["tokens"][0])
    assert calls == [1, 1]


@pytest.mark.parametrize("two_chunks", [False, True])
def test_one_decoder_call_matches(model, model32, two_chunks):
    io = io_tensors(two_chunks)
    m = model32 if two_chunks else model
    codes, s, b, t = io["dec_quants"], io["dec_timesteps"], 1, io["dec_quants"].shape[1]
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    cases = {
        "dec_out": ({}, False),
        "dec_out_k4": ({"keep_k": torch.tensor([4])}, False),
        "dec_out_null": ({"null": torch.ones(b, t, dtype=torch.bool)}, False),
        "dec_out_prefix1": ({"prefix": first}, True),
    }
    with torch.no_grad():
        for name, (kwargs, prefix) in cases.items():
            keep = kwargs.pop("keep_k", torch.tensor([m.config.K]))
            registers = m.decoder.embed_registers(codes, keep, **kwargs)
            out = m.latent_velocity(io["dec_noised"], s, registers, prefix=prefix)
            assert _max_diff(out, io[name]) <= 1e-4, name


@pytest.mark.parametrize("name", list(DETOKENIZE))
def test_detokenize_matches_with_the_seeding_recipe(model, name):
    io = io_tensors()
    rng = description()["rng"]
    generator = torch.Generator().manual_seed(rng["chunk_noise_seed"])
    torch.manual_seed(rng["detok_global_seed"])
    kwargs = {"guidance": 1.0, **DETOKENIZE[name]}
    out = model.detokenize([io["tokens"][0]], steps=4, noise=io["noise"], generator=generator, posterior="sample",
                           **kwargs)
    assert out.shape == io[name].shape
    assert _max_diff(out, io[name].clamp(-1, 1)) <= 1e-3


def test_the_single_file_loads_to_the_same_model(model):
    single = VideoFlexTok.from_pretrained(SINGLE, resolution=64)
    assert single.config == model.config
    ours, theirs = model.state_dict(), single.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    # without a resolution, the single file's model covers the largest frames its position tables allow
    assert VideoFlexTok.from_pretrained(SINGLE).config.resolution == 8 * 16


def test_every_official_tensor_is_used(model):
    n_official = sum(t.numel() for t in official_state().values())
    ours = sum(t.numel() for t in model.state_dict().values())
    cfg = model.config
    # ours keeps one null vector per register (the official one repeated) and registers for 5 latent frames
    assert ours == n_official + (cfg.K - 1) * cfg.decoder_dim


def _recon_seeds(m, name, io):
    seeds = description()["two_chunk_case"]["seeds"]
    generator = torch.Generator().manual_seed(seeds["chunk_noise_seed"])
    torch.manual_seed(seeds["detok_global_seed"])
    kwargs = {"guidance": 1.0, **DETOKENIZE[name]}
    return m.detokenize([io["tokens"][0]], steps=4, noise=io["noise"], generator=generator, posterior="sample",
                        **kwargs)


@pytest.mark.parametrize("name", list(DETOKENIZE))
def test_two_chunks_first_chunk_and_the_draws_for_the_second(model32, name):
    """Chunk 1 matches; chunk 2 is conditioned on a latent drawn exactly as the official code draws it."""
    io = io_tensors(two_chunks=True)
    out = _recon_seeds(model32, name, io)
    assert out.shape == io[name].shape == (1, 3, 33, 32, 32)
    assert _max_diff(out[:, :, :17], io[name][:, :, :17].clamp(-1, 1)) <= 1e-3
    # the official chunk 1's last frame (unclamped), encoded after the same global-RNG draws as in detokenize
    torch.manual_seed(description()["two_chunk_case"]["seeds"]["detok_global_seed"])
    condition = model32._condition_latent(io[name][:, :, 16:17], "sample")
    assert _max_diff(condition, io[f"{name}_c2_cond_latents"]) <= 1e-4
    generator = torch.Generator().manual_seed(description()["two_chunk_case"]["seeds"]["chunk_noise_seed"])
    assert torch.equal(model32._draw_noise(1, 5, generator), io["noise_chunk2"])


@pytest.mark.parametrize("name", list(DETOKENIZE))
def test_two_chunks_second_chunk_from_the_official_inputs(model32, name):
    """Chunk 2 decoded from the official conditioning latent, noise and tokens matches the official frames.

    (The whole two-chunk call is not compared past chunk 1: the random-weight VAE turns the ~1e-6 rounding
    differences of the transformers into ~1e-4 in chunk 1's last frame, and chunk 2 re-encodes that frame.)
    """
    io, m = io_tensors(two_chunks=True), model32
    kwargs = DETOKENIZE[name]
    tokens = io[f"{name}_c2_tokens"]
    keep = kwargs.get("keep_k", m.config.K)
    codes = m.encoder.fsq.ids_to_codes(tokens[:, :, :keep])
    codes = torch.cat([codes, codes.new_zeros(1, 5, m.config.K - keep, codes.shape[-1])], dim=2)
    prefix = torch.zeros(1, 5, dtype=torch.bool)
    prefix[:, 0] = True
    registers = m.decoder.embed_registers(codes, torch.tensor([keep]), prefix=prefix)
    guide = Guidance(kwargs.get("guidance", 1.0), kwargs.get("guidance_mode", "cfg"), 0.0, 0.6, 0.0)
    with torch.no_grad():
        latents = m._sample_chunk(registers, io["noise_chunk2"], io[f"{name}_c2_cond_latents"], 4, guide)
        video = m.compressor.decode(latents)
    # the shrunk random VAE amplifies fp32 rounding (its official fp32 decode of these latents is up to 6e-4 from an
    # fp64 decode, ours up to 5.5e-4): bound the worst pixel by that scale and the mean tightly
    err = (video[:, :, 1:].clamp(-1, 1) - io[name][:, :, 17:].clamp(-1, 1)).abs()
    assert err.max() <= 2e-3 and err.mean() <= 1e-5  # measured max 8e-5 .. 1.2e-3, mean ~2.5e-6
