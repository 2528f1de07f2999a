"""Videos in, tensors out: video file I/O (PyAV) and the datasets.

Datasets (pick with :class:`DataConfig`.dataset):

- ``shapes``: synthetic moving shapes with ground-truth attributes, labels and captions (:mod:`.shapes`);
- ``pans``: camera pans and zooms over scikit-image photographs (:mod:`.pans`);
- ``folder`` / ``manifest``: a user's video files (:mod:`.folder`, :mod:`.manifest`).

Every item is ``{"video": [3, T, H, W] float in [-1, 1], "label": int (-1 unknown), "caption": str}``.
This package never imports model code.
"""

from videoflextok.data.config import DataConfig
from videoflextok.data.folder import VideoFileDataset
from videoflextok.data.loader import EpochIndex, build_dataset, seed_worker
from videoflextok.data.pans import PansDataset
from videoflextok.data.samples import sample_videos
from videoflextok.data.shapes import ShapesDataset
from videoflextok.data.video_io import VideoMeta, probe_video, read_video, write_video

__all__ = [
    "DataConfig",
    "EpochIndex",
    "PansDataset",
    "ShapesDataset",
    "VideoFileDataset",
    "VideoMeta",
    "build_dataset",
    "probe_video",
    "read_video",
    "sample_videos",
    "seed_worker",
    "write_video",
]
