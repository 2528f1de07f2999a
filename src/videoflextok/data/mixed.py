"""``shapes+pans``: the synthetic ``shapes`` clips and the real-photograph ``pans`` clips in one dataset.

Item ``i`` comes from ``pans`` with probability ``pans_fraction`` (a draw that depends only on the seed, the split
and ``i``), else from ``shapes``; each source is indexed by ``i`` itself, so both stay deterministic and every
item of the mix is reproducible. Labels keep their source's meaning (shapes: 32 classes, pans: 10 motions).
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from videoflextok.data.pans import PansDataset
from videoflextok.data.shapes import ShapesDataset

_SPLIT_CODE = {"train": 0, "heldout": 1, "all": 2}


class ShapesPansDataset(Dataset):
    """``length`` clips ``{"video": [3, T, H, W] in [-1, 1], "label", "caption"}``, a ``pans_fraction`` of them pans."""

    def __init__(self, shapes: ShapesDataset, pans: PansDataset, pans_fraction: float, seed: int = 0,
                 split: str = "train") -> None:
        if len(shapes) != len(pans):
            raise ValueError(f"both sources need the same length, got {len(shapes)} and {len(pans)}")
        if not 0.0 <= pans_fraction <= 1.0:
            raise ValueError(f"pans_fraction must be in [0, 1], got {pans_fraction}")
        self.shapes = shapes
        self.pans = pans
        self.pans_fraction = pans_fraction
        self.seed = seed
        self.split = split

    def __len__(self) -> int:
        return len(self.shapes)

    def is_pan(self, index: int) -> bool:
        """True when item ``index`` is a ``pans`` clip."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        draw = np.random.default_rng([self.seed, _SPLIT_CODE[self.split], index, 11]).random()
        return bool(draw < self.pans_fraction)

    def __getitem__(self, index: int) -> dict:
        return (self.pans if self.is_pan(index) else self.shapes)[index]
