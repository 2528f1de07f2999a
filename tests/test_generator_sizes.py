"""Generator presets: every preset loads, and the paper sizes land within 3% of the paper's parameter counts.

Counted on the meta device (no memory). Paper scaling width = 64 * depth, heads = depth; the depths are
c2v-2.2b: 34 (2.212B), t2v-1.1b: 24 (1.104B, frozen text encoder not counted), long-3.2b: 39 (3.237B).
"""

from __future__ import annotations

import pytest
import torch

from videoflextok.config import list_presets
from videoflextok.errors import ConfigError
from videoflextok.generator.config import GeneratorConfig
from videoflextok.generator.model import VideoGenerator, preset_config

PAPER = {"c2v-2.2b": 2.2e9, "t2v-1.1b": 1.1e9, "long-3.2b": 3.2e9}


def test_all_presets_are_listed_and_load():
    names = list_presets("generator")
    assert {"tiny-c2v", "tiny-t2v", *PAPER} <= set(names)
    for name in names:
        cfg = preset_config(name)
        assert cfg.vocab_size == 64000 == 8 * 8 * 8 * 5 * 5 * 5


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_sizes_on_meta_device(name):
    cfg = preset_config(name)
    assert cfg.width == 64 * cfg.depth and cfg.heads == cfg.depth and cfg.head_dim == 64
    with torch.device("meta"):
        model = VideoGenerator(cfg)
    count = model.num_params()
    assert abs(count - PAPER[name]) / PAPER[name] < 0.03, count
    assert all(p.is_meta for p in model.parameters())


def test_long_preset_holds_81_frames_at_32_tokens():
    cfg = preset_config("long-3.2b")
    assert cfg.max_latent_frames == 1 + (81 - 1) // 4 and cfg.max_seq_len == 672


def test_parameter_formula_matches_a_hand_count():
    """Per layer: attention 4w^2 + SwiGLU 3 * w * floor(8w/3) + 3 RMSNorm(w) + 2 QK-norm(head_dim)."""
    cfg = GeneratorConfig(vocab_size=100, depth=2, width=48, heads=4, tokens_per_frame=8, max_latent_frames=3,
                          num_classes=10)
    w, hidden, hd = 48, int(8 * 48 / 3), 12
    layer = 4 * w * w + 3 * w * hidden + 2 * w + 2 * hd
    expected = 2 * layer + 2 * 100 * w + w + 3 * w + 8 * w + 11 * w + w  # emb+head, start, frame, index, class, norm
    assert VideoGenerator(cfg).num_params() == expected
    assert VideoGenerator(cfg).num_params(exclude_embeddings=True) == expected - 2 * 100 * w


def test_scaling_defaults_and_overrides():
    cfg = GeneratorConfig(depth=6)
    assert (cfg.width, cfg.heads) == (384, 6)
    cfg = preset_config("tiny-c2v", ["model.depth=2", "order=raster"])
    assert cfg.depth == 2 and cfg.order == "raster"
    with pytest.raises(ConfigError, match="unknown config key 'model.dept'"):
        preset_config("tiny-c2v", ["dept=2"])
    with pytest.raises(ConfigError, match="unknown generator preset"):
        preset_config("huge")
    with pytest.raises(ConfigError, match="text_dim must be 384"):
        GeneratorConfig(conditioning="text", text_encoder="minilm", text_dim=64)
