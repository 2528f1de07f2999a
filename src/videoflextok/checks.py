"""Checks on numbers a user gives (CLI options, config fields, API arguments), each failing with one ConfigError
sentence that names the option. Pure functions; nothing here imports a model.

``check_int`` refuses bools, floats and strings (``keep_k=2.5`` is an error, not a truncation); ``check_float``
refuses NaN and infinities. ``check_memory`` refuses a buffer larger than the machine's memory before it is
allocated (a huge ``--resolution`` ends in one sentence instead of an allocator traceback or the OOM killer).
"""

from __future__ import annotations

import math
import numbers
import os

from videoflextok.errors import ConfigError

MAX_RESOLUTION = 4096  # largest frame side (pixels) any dataset, tokenizer or command accepts
MAX_FRAMES = 4097  # longest clip (frames) a dataset or command accepts
MAX_FPS = 1000.0  # highest frame rate a written video may have
MAX_SEED = 2**32 - 1  # largest seed (numpy's range)
MAX_SCALE = 32  # largest nearest-neighbour upscale of a demo panel


def check_int(name: str, value: object, low: int | None = 1, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (None: unbounded); bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ConfigError(f"{name} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be at most {high}, got {value}")
    return value


def check_float(
    name: str, value: object, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """``value`` as a finite float in [low, high] (``low_open``: (low, high]); NaN, inf and non-numbers refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"{name} must be {'greater than' if low_open else 'at least'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be at most {high:g}, got {value:g}")
    return value


def check_optional(check, name: str, value: object, *args, **kwargs):
    """``check(name, value, ...)`` unless ``value`` is None (an option left at its default)."""
    return None if value is None else check(name, value, *args, **kwargs)


def physical_memory() -> int | None:
    """Bytes of RAM of this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(nbytes: int, what: str) -> None:
    """Raise ConfigError when ``nbytes`` (what ``what`` needs at once) exceeds this machine's memory."""
    total = physical_memory()
    if total is not None and nbytes > total:
        raise ConfigError(f"{what} would need {nbytes / 2**30:.1f} GiB of memory at once and this machine has "
                          f"{total / 2**30:.1f} GiB; ask for fewer or smaller clips")


PIXEL_TOLERANCE = 0.01  # how far outside [-1, 1] a pixel may lie (rounding of resizers and decoders)


def check_pixels(video) -> None:
    """Raise VideoShapeError unless every value of the float tensor ``video`` is finite and in [-1, 1] (within
    PIXEL_TOLERANCE): NaN would become garbage token ids, and 0..255 or 0..1 frames would be read as a wrong video."""
    from videoflextok.errors import VideoShapeError

    if video.numel() == 0:
        return
    lo, hi = (float(v) for v in video.detach().aminmax())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise VideoShapeError("video holds NaN or infinite values; pixels must be finite numbers in [-1, 1]")
    if lo < -1 - PIXEL_TOLERANCE or hi > 1 + PIXEL_TOLERANCE:
        raise VideoShapeError(f"video values must lie in [-1, 1], got {lo:g} to {hi:g}; scale 0..255 frames with "
                              "x / 127.5 - 1")
