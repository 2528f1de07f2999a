"""VideoFlexTok: a coarse-to-fine, variable-length video tokenizer with a rectified-flow decoder,
and the autoregressive generators trained on its tokens.

The public classes are imported lazily so that ``import videoflextok`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "VideoFlexTok": "videoflextok.tokenizer.model",
    "VideoVAE": "videoflextok.vae.model",
    "VideoGenerator": "videoflextok.generator.model",
    "save_tokens": "videoflextok.tokenizer.token_file",
    "load_tokens": "videoflextok.tokenizer.token_file",
    "demo_tokenizer": "videoflextok.shipped",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'videoflextok' has no attribute {name!r}")
