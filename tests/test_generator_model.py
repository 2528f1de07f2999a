"""VideoGenerator: KV cache == full recompute, CFG, null conditions, causality, padding, errors."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from videoflextok.errors import ConfigError, TokenError
from videoflextok.generator.config import GeneratorConfig
from videoflextok.generator.model import VideoGenerator

COND = {"class": [3, 0, 4], "text": ["a red square moves left", "blue", "two circles bounce, fast!"]}


def tiny(conditioning: str = "class", **kw) -> VideoGenerator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(
        vocab_size=40, tokens_per_frame=4, max_latent_frames=3, depth=2, width=32, heads=2,
        num_classes=5, conditioning=conditioning, text_dim=16, max_text_tokens=12, **kw,
    )
    return VideoGenerator(cfg).eval()


@pytest.mark.parametrize("conditioning", ["class", "text"])
@pytest.mark.parametrize("order", ["time_first", "raster"])
def test_kv_cache_logits_equal_full_recompute(conditioning, order):
    model = tiny(conditioning, order=order)
    cond = COND[conditioning]
    tokens, cached = model.generate(cond, 3, 4, generator=torch.Generator().manual_seed(1), return_logits=True)
    assert tokens.shape == (3, 3, 4) and tokens.dtype == torch.long
    full, _ = model(tokens, cond)  # one teacher-forced pass over the sampled tokens
    assert_close(cached, full, rtol=1e-4, atol=1e-5)
    tokens2, recomputed = model.generate(
        cond, 3, 4, generator=torch.Generator().manual_seed(1), use_kv_cache=False, return_logits=True
    )
    assert torch.equal(tokens, tokens2)
    assert_close(cached, recomputed, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("conditioning", ["class", "text"])
def test_kv_cache_with_cfg_matches_batched_cfg_forward(conditioning):
    model = tiny(conditioning)
    cond = COND[conditioning]
    seeds = dict(temperature=0.9, top_k=20, top_p=0.95, cfg_scale=2.5)
    tokens, cached = model.generate(cond, 2, 3, generator=torch.Generator().manual_seed(2), return_logits=True, **seeds)
    cond_logits, _ = model(tokens, cond)  # two separate teacher-forced passes, combined by hand
    null_logits, _ = model(tokens, cond, null=torch.ones(len(cond), dtype=torch.bool))
    assert_close(cached, null_logits + 2.5 * (cond_logits - null_logits), rtol=1e-4, atol=1e-5)
    again = model.generate(cond, 2, 3, generator=torch.Generator().manual_seed(2), use_kv_cache=False, **seeds)
    assert torch.equal(tokens, again)


@pytest.mark.parametrize("conditioning", ["class", "text"])
def test_cfg_scale_one_is_the_conditional_model_and_zero_the_null_model(conditioning):
    model = tiny(conditioning)
    cond = COND[conditioning]
    ids = torch.randint(0, 40, (3, 3, 4))
    cond_logits, _ = model(ids, cond)
    null_logits, _ = model(ids, cond, null=torch.ones(3, dtype=torch.bool))
    assert not torch.allclose(cond_logits, null_logits, atol=1e-3)  # the condition matters
    # generation at scale 0 draws from the null model, at scale 1 from the conditional model
    tokens, logits = model.generate(cond, 3, 4, cfg_scale=0.0, generator=torch.Generator().manual_seed(0),
                                    return_logits=True)
    assert_close(logits, model(tokens, cond, null=torch.ones(3, dtype=torch.bool))[0], rtol=1e-4, atol=1e-5)
    tokens, logits = model.generate(cond, 3, 4, cfg_scale=1.0, generator=torch.Generator().manual_seed(0),
                                    return_logits=True)
    assert_close(logits, model(tokens, cond)[0], rtol=1e-4, atol=1e-5)


def test_missing_label_or_caption_is_the_null_condition():
    model = tiny("class")
    ids = torch.randint(0, 40, (2, 2, 4))
    a, _ = model(ids, [-1, -1])
    b, _ = model(ids, [1, 2], null=torch.ones(2, dtype=torch.bool))
    assert_close(a, b)
    model = tiny("text")
    a, _ = model(ids, ["", "  "])
    b, _ = model(ids, ["red", "blue"], null=torch.ones(2, dtype=torch.bool))
    assert_close(a, b)


@pytest.mark.parametrize("conditioning", ["class", "text"])
def test_condition_dropout_trains_the_null_condition(conditioning):
    model = tiny(conditioning, cond_dropout=0.5).train()
    tokens = torch.randint(0, 40, (16, 3, 4))
    batch = {"tokens": tokens, "label": torch.arange(16) % 5, "caption": [f"clip {i}" for i in range(16)]}
    torch.manual_seed(0)
    model.training_losses(batch)["loss"].backward()
    null_grad = (model.class_cond.embed.weight.grad[5] if conditioning == "class" else model.text_cond.null.grad)
    assert null_grad.abs().sum() > 0
    # without dropout (eval mode) the null condition receives no gradient
    model.zero_grad(set_to_none=False)
    model.eval()
    model.training_losses(batch)["loss"].backward()
    null_grad = (model.class_cond.embed.weight.grad[5] if conditioning == "class" else model.text_cond.null.grad)
    assert null_grad.abs().sum() == 0


@pytest.mark.parametrize("order", ["time_first", "raster"])
def test_logits_are_causal_in_sequence_order(order):
    model = tiny("class", order=order)
    seq = torch.randint(0, 40, (1, 12))
    base, _ = model(seq, [1], num_frames=3)
    for i in (0, 5, 11):
        changed = seq.clone()
        changed[0, i] = (changed[0, i] + 1) % 40
        logits, _ = model(changed, [1], num_frames=3)
        assert_close(logits[:, : i + 1], base[:, : i + 1])  # positions <= i never see token i
        if i < 11:
            assert not torch.allclose(logits[:, i + 1 :], base[:, i + 1 :])


def test_text_padding_does_not_change_a_caption_s_logits():
    model = tiny("text")
    ids = torch.randint(0, 40, (2, 2, 4))
    alone, _ = model(ids[:1], ["red"])
    padded, _ = model(ids, ["red", "a much longer caption with many words in it"])
    assert_close(alone, padded[:1], rtol=1e-5, atol=1e-5)
    other, _ = model(ids[:1], ["green"])
    assert not torch.allclose(alone, other, atol=1e-4)


def test_sampling_is_seeded_and_batched():
    model = tiny("class")
    a = model.generate([1, 2], 3, 2, generator=torch.Generator().manual_seed(7))
    b = model.generate([1, 2], 3, 2, generator=torch.Generator().manual_seed(7))
    c = model.generate([1, 2], 3, 2, generator=torch.Generator().manual_seed(8))
    assert a.shape == (2, 3, 2) and torch.equal(a, b) and not torch.equal(a, c)
    greedy = model.generate([1, 2], 3, 2, temperature=0)
    one = model.generate([2], 3, 2, temperature=0)
    assert torch.equal(greedy[1:], one)  # a row does not depend on its batch mates
    top1 = model.generate([1, 2], 3, 2, top_k=1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(top1, greedy)


def _one_sentence(exc: Exception) -> str:
    text = str(exc)
    assert "\n" not in text and text.count(". ") == 0
    return text


def test_user_errors_are_one_sentence():
    c2v, t2v = tiny("class"), tiny("text")
    with pytest.raises(ConfigError, match="class id 9 is outside") as err:
        c2v.generate([1, 9], 2, 2)
    _one_sentence(err.value)
    with pytest.raises(ConfigError, match="class id -1 is outside"):
        c2v.generate([-1], 2, 2)
    with pytest.raises(ConfigError, match="prompt is empty") as err:
        t2v.generate(["a dog", "   "], 2, 2)
    _one_sentence(err.value)
    with pytest.raises(ConfigError, match="tokens per frame must be between 1 and 4") as err:
        c2v.generate([1], 2, 5)
    _one_sentence(err.value)
    with pytest.raises(ConfigError, match="latent frames must be between 1 and 3") as err:
        t2v.generate(["a dog"], 4, 2)
    _one_sentence(err.value)
    with pytest.raises(ConfigError, match="text prompts"):
        c2v.generate(["a dog"], 2, 2)
    with pytest.raises(ConfigError, match="class ids"):
        t2v.generate([1], 2, 2)
    with pytest.raises(TokenError, match=r"token ids must lie in \[0, 40\)"):
        c2v(torch.full((1, 2, 2), 40), [1])
    with pytest.raises(ConfigError, match="tokens per frame"):
        c2v(torch.zeros(1, 2, 5, dtype=torch.long), [1])


@pytest.mark.parametrize("conditioning", ["class", "text"])
def test_save_and_load_round_trip(conditioning, tmp_path):
    model = tiny(conditioning)
    cond = COND[conditioning]
    ids = torch.randint(0, 40, (3, 2, 4))
    model.save_pretrained(tmp_path / "gen")
    loaded = VideoGenerator.from_pretrained(tmp_path / "gen").eval()
    assert loaded.config == model.config
    assert_close(loaded(ids, cond)[0], model(ids, cond)[0])
    assert not any("encoder" in name for name in loaded.state_dict())  # the frozen text encoder is not saved


def test_training_label_outside_the_classes_is_a_config_error():
    with pytest.raises(ConfigError, match="class id 7 is outside this model's 5 classes"):
        tiny("class").training_losses({"tokens": torch.zeros(2, 2, 4, dtype=torch.long), "label": torch.tensor([1, 7])})
