"""Typed configuration: dataclasses are the source of truth, YAML files are complete presets, and
dotted overrides (``train.lr=3e-4``) change single fields.

Every config class is a plain ``@dataclass`` whose fields all have defaults. Nested configs are
dataclass-typed fields. Reading a dict (from YAML, JSON or a checkpoint) is strict: an unknown key or a
value of the wrong type raises :class:`ConfigError` naming the valid keys. Only our own dataclasses
are ever built; nothing is constructed from a class name found in a file.

Presets are YAML files shipped inside the package under ``configs/<kind>/<name>.yaml``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from videoflextok.errors import ConfigError

C = TypeVar("C")

PRESET_DIR = Path(__file__).parent / "configs"


# ----------------------------------------------------------------------------------------------------
# dict <-> dataclass


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as a plain nested dict of builtins (tuples become lists), ready for YAML/JSON."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return _plain(dataclasses.asdict(cfg))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def from_dict(cls: type[C], data: dict[str, Any] | None, where: str = "") -> C:
    """Build ``cls`` from a (possibly partial) dict; missing keys keep their defaults.

    Raises ConfigError for unknown keys and for values that cannot be coerced to the field type.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{where or cls.__name__}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key '{where}{unknown[0]}'; valid keys here are: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"invalid config '{where or cls.__name__}': {exc}") from None


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce ``value`` (from YAML or a command line string) to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        return from_dict(tp, value, where=f"{key}.")
    if origin is Union or origin is types.UnionType:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"config key '{key}' cannot be None")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"config key '{key}' must be one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (list, tuple):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = yaml.safe_load(text)
            else:
                value = [v for v in text.split(",") if v.strip() != ""]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key '{key}' must have {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, key) for v, a in zip(value, args))
        item = args[0] if args else Any
        items = [_coerce(v, item, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"config key '{key}' has unsupported value {value!r}")


# ----------------------------------------------------------------------------------------------------
# dotted overrides


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["train.lr=3e-4", "data.resolution=64"]`` -> nested dict ``{"train": {"lr": "3e-4"}, ...}``.

    Values stay strings (or YAML lists/null) and are coerced to the field types by :func:`from_dict`.
    """
    nested: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.sub=value")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override '{item}' has an empty key")
        parsed: Any = value
        stripped = value.strip()
        if stripped.startswith("[") or stripped.lower() in ("null", "none", "~"):
            try:
                parsed = yaml.safe_load(stripped)
            except yaml.YAMLError:
                raise ConfigError(f"override '{item}' has an unreadable value") from None
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{item}' conflicts with an earlier override of '{part}'")
            node = child
        node[parts[-1]] = parsed
    return nested


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins. Neither input is modified."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(cfg: C, overrides: list[str] | tuple[str, ...] | dict[str, Any]) -> C:
    """Return a new config with dotted overrides applied; unknown keys and bad types raise ConfigError."""
    update = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    return from_dict(type(cfg), merge(to_dict(cfg), update))


# ----------------------------------------------------------------------------------------------------
# YAML files and presets


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"config file '{path}' is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top level")
    return data


def save_yaml(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def list_presets(kind: str) -> list[str]:
    """Names of the YAML presets of one kind (``tokenizer``, ``vae``, ``generator``)."""
    folder = PRESET_DIR / kind
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def preset_path(kind: str, name: str) -> Path:
    path = PRESET_DIR / kind / f"{name}.yaml"
    if not path.is_file():
        names = list_presets(kind)
        raise ConfigError(f"unknown {kind} preset '{name}'; available: {', '.join(names) or 'none'}")
    return path


def model_preset(cls: type[C], kind: str, name: str, overrides: list[str] | tuple[str, ...] = ()) -> C:
    """The ``model:`` section of ``configs/<kind>/<name>.yaml`` as ``cls``, with dotted overrides applied (each
    naming a model field with or without the ``model.`` prefix: ``K=8`` or ``model.K=8``)."""
    data = load_yaml(preset_path(kind, name)).get("model") or {}
    if overrides:
        items = [o[len("model.") :] if o.startswith("model.") else o for o in overrides]
        data = merge(data, parse_overrides(items))
    return from_dict(cls, data, where="model.")
