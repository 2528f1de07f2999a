"""The config machinery: strict dicts, coercion of override strings, presets."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from videoflextok.config import apply_overrides, from_dict, parse_overrides, to_dict
from videoflextok.errors import ConfigError


@dataclass
class Inner:
    lr: float = 1e-3
    steps: int = 10
    levels: tuple[int, ...] = (8, 8, 8)
    name: str | None = None
    flag: bool = False


@dataclass
class Outer:
    train: Inner = field(default_factory=Inner)
    width: int = 64


def test_round_trip_through_dict():
    cfg = Outer(train=Inner(lr=0.5, levels=(5, 5)), width=32)
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_overrides_are_coerced_to_field_types():
    cfg = apply_overrides(
        Outer(), ["train.lr=3e-4", "train.steps=100", "train.levels=8,5,5", "train.flag=true", "width=16"]
    )
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.train.steps == 100 and isinstance(cfg.train.steps, int)
    assert cfg.train.levels == (8, 5, 5)
    assert cfg.train.flag is True
    assert cfg.width == 16
    assert apply_overrides(cfg, ["train.name=null"]).train.name is None
    assert apply_overrides(cfg, ["train.levels=[4, 4]"]).train.levels == (4, 4)


def test_unknown_key_names_the_valid_keys():
    with pytest.raises(ConfigError, match="unknown config key 'train.lrr'.*flag, levels, lr, name, steps"):
        apply_overrides(Outer(), ["train.lrr=1"])


@pytest.mark.parametrize("item", ["train.steps=ten", "train.lr=fast", "train.flag=maybe", "width=1.5"])
def test_wrong_type_is_a_config_error(item):
    with pytest.raises(ConfigError, match="must be"):
        apply_overrides(Outer(), [item])


def test_malformed_override():
    with pytest.raises(ConfigError):
        parse_overrides(["train.lr"])
    with pytest.raises(ConfigError):
        parse_overrides(["=3"])


def test_longest_prefix_is_the_longest_supported_length():
    from videoflextok.tokenizer.model import preset_config

    for preset in ("tiny", "demo"):
        cfg = preset_config(preset)
        for frames in range(0, 140):
            brute = max((t for t in range(1, frames + 1) if cfg.supports_frames(t)), default=0)
            assert cfg.longest_prefix(frames) == brute, (preset, frames)
        assert cfg.longest_prefix(129, capped=False) == 129 and cfg.longest_prefix(130, capped=False) == 129
