"""Errors a user can cause. Each carries one clear sentence; the CLI prints it and exits with code 2.

Programming errors (bugs) are not in this hierarchy: they keep their tracebacks.
"""

from __future__ import annotations


class VideoFlexTokError(Exception):
    """Base class of every error caused by user input (paths, videos, tokens, configs, checkpoints)."""


class ConfigError(VideoFlexTokError, ValueError):
    """A config key, value, type or preset name is wrong."""


class VideoError(VideoFlexTokError):
    """A video file cannot be used."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video path does not exist."""


class NotAVideoError(VideoError):
    """The file exists but is not a decodable video."""


class VideoShapeError(VideoError, ValueError):
    """A video tensor has the wrong shape, length or resolution for a model."""


class FrameCountError(VideoShapeError):
    """A clip's frame count is not of the form 1 + temporal_factor * n."""


class NoFramesError(VideoError):
    """The container opened but holds zero decodable frames."""


class ClipTooShortError(VideoError):
    """The video has fewer frames than requested."""


class TokenError(VideoFlexTokError, ValueError):
    """Token ids given to a model are malformed (dtype, range, shape, length)."""


class CheckpointError(VideoFlexTokError):
    """A checkpoint folder is missing, truncated, tampered with or of an unknown format."""


class DataError(VideoFlexTokError):
    """A dataset, manifest or data folder cannot be used."""
