"""Lists of video files: every video under a folder, or a CSV / JSONL manifest.

A manifest has a ``path`` column and optional ``label`` (integer, empty = -1) and ``caption`` columns.
Relative paths are resolved against the folder that holds the manifest. Example CSV::

    path,label,caption
    clips/a.mp4,3,a dog runs on a beach
    /data/b.mkv,,

JSONL: one object per line, ``{"path": "clips/a.mp4", "label": 3, "caption": "a dog runs"}``.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from videoflextok.errors import DataError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".ogv", ".flv", ".wmv", ".ts", ".y4m"}
)


@dataclass(frozen=True)
class VideoEntry:
    """One video of a user dataset."""

    path: Path  # absolute or working-directory-relative file path
    label: int = -1  # class label, -1 when unknown
    caption: str = ""  # text description, "" when unknown


def scan_folder(folder: str | Path) -> list[VideoEntry]:
    """Every file with a video extension under ``folder`` (recursively, sorted; hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"video folder '{folder}' does not exist or is not a folder")
    paths = sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not paths:
        raise DataError(
            f"folder '{folder}' holds no video files (looked for {', '.join(sorted(VIDEO_EXTENSIONS))})"
        )
    return [VideoEntry(p) for p in paths]


def read_manifest(path: str | Path) -> list[VideoEntry]:
    """Entries of a ``.csv`` or ``.jsonl`` manifest (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest file '{path}' does not exist")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        raise DataError(f"manifest file '{path}' is not readable UTF-8 text") from None
    if suffix == ".csv":
        rows = _csv_rows(text, path)
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(text, path)
    else:
        raise DataError(f"manifest '{path}' must be a .csv or .jsonl file")
    entries = [_entry(row, line, path) for line, row in rows]
    if not entries:
        raise DataError(f"manifest '{path}' lists no videos")
    missing = sum(not e.path.is_file() for e in entries)
    if missing:
        log.warning("manifest %s: %d of %d listed files do not exist; they will be skipped", path, missing,
                    len(entries))
    return entries


def _csv_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "path" not in [f.strip() for f in reader.fieldnames]:
        raise DataError(f"manifest '{path}' needs a header row with a 'path' column")
    rows = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        if any((v or "").strip() for v in row.values() if isinstance(v, str)):
            rows.append((line, row))
    return rows


def _jsonl_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError:
            raise DataError(f"manifest '{path}' line {line} is not valid JSON") from None
        if not isinstance(row, dict):
            raise DataError(f"manifest '{path}' line {line} must be a JSON object with a 'path' key")
        rows.append((line, row))
    return rows


def _entry(row: dict, line: int, manifest: Path) -> VideoEntry:
    raw_path = row.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise DataError(f"manifest '{manifest}' line {line} has no 'path'")
    file = Path(raw_path.strip()).expanduser()
    if not file.is_absolute():
        file = manifest.parent / file
    label = row.get("label")
    if label is None or (isinstance(label, str) and not label.strip()):
        label = -1
    try:
        if isinstance(label, bool) or (isinstance(label, float) and not label.is_integer()):
            raise ValueError
        label = int(label)
    except (TypeError, ValueError):
        raise DataError(f"manifest '{manifest}' line {line} has a label that is not an integer: {label!r}") from None
    caption = row.get("caption") or ""
    if not isinstance(caption, str):
        raise DataError(f"manifest '{manifest}' line {line} has a caption that is not text")
    return VideoEntry(file, label, caption.strip())
