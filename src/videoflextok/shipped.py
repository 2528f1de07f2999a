"""The models shipped inside the package, found through ``importlib.resources`` (so they load the same from a source
checkout, an editable install, an installed wheel, or a zipped package).

    from videoflextok import demo_tokenizer
    tokenizer = demo_tokenizer()          # 64x64, 17 frames, K = 32 tokens per latent frame
"""

from __future__ import annotations

import contextlib
import importlib.resources
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from videoflextok.errors import CheckpointError

DEMO_TOKENIZER = ("weights", "demo_tokenizer")  # package-relative folder of the demo tokenizer
_NEEDED = ("config.json", "model.safetensors")


@contextlib.contextmanager
def demo_tokenizer_folder() -> Iterator[Path]:
    """A real folder holding the shipped demo tokenizer's checkpoint files, for the duration of the block (the
    package's own folder when it is on disk, else a temporary copy). CheckpointError when the files are missing."""
    resource = importlib.resources.files("videoflextok").joinpath(*DEMO_TOKENIZER)
    missing = [name for name in _NEEDED if not resource.joinpath(name).is_file()]
    if missing:
        raise CheckpointError(f"the shipped demo tokenizer is missing ({', '.join(missing)} not in the package); "
                              "reinstall videoflextok, or pass --tokenizer DIR with a tokenizer trained by "
                              "`videoflextok train tokenizer`")
    if isinstance(resource, Path):
        yield resource
        return
    with tempfile.TemporaryDirectory(prefix="videoflextok-demo-") as tmp:
        for entry in resource.iterdir():
            if entry.is_file():
                (Path(tmp) / entry.name).write_bytes(entry.read_bytes())
        yield Path(tmp)


def demo_tokenizer(device: str | torch.device = "cpu"):
    """The demo tokenizer shipped with the package (a :class:`~videoflextok.VideoFlexTok` in eval mode)."""
    from videoflextok.tokenizer.model import VideoFlexTok

    with demo_tokenizer_folder() as folder:
        return VideoFlexTok.from_pretrained(folder, device=device).eval()
