"""Every shipped preset is complete: each section lists every field of its config dataclass."""

from __future__ import annotations

import pytest

from videoflextok.config import from_dict, list_presets, load_yaml, preset_path, to_dict
from videoflextok.train.generator_task import GeneratorRunConfig
from videoflextok.train.tokenizer_task import TokenizerRunConfig
from videoflextok.train.vae_task import VAERunConfig

RUN_CONFIGS = {"tokenizer": TokenizerRunConfig, "vae": VAERunConfig, "generator": GeneratorRunConfig}
PRESETS = [(kind, name) for kind in RUN_CONFIGS for name in list_presets(kind)]


def _missing(given: dict, full: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in full.items():
        if key not in given:
            out.append(prefix + key)
        elif isinstance(value, dict) and isinstance(given[key], dict):
            out += _missing(given[key], value, f"{prefix}{key}.")
    return out


def test_there_are_presets_of_every_kind():
    assert {kind for kind, _ in PRESETS} == set(RUN_CONFIGS)


@pytest.mark.parametrize(("kind", "name"), PRESETS)
def test_preset_is_complete_and_loads(kind, name):
    data = load_yaml(preset_path(kind, name))
    cfg = from_dict(RUN_CONFIGS[kind], data)
    assert set(data) == {"model", "data", "train"}
    assert _missing(data, to_dict(cfg)) == []
