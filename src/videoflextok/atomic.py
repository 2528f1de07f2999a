"""Atomic file and folder writes: readers (and a crash at any moment) see either the old file or the complete new
one.

Every file this package writes for a user (checkpoints, videos, token shards, statistics, plots, caches)
goes through :func:`atomic_file`: write to a temp file in the same folder, fsync, rename over the target.
:func:`check_out_folder` / :func:`check_out_file` check a command's ``--out`` before anything is written, and
:func:`make_folder` then creates it with any missing parents (the rule of every command).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from videoflextok.errors import ConfigError

TMP_PREFIX = ".tmp-"  # every temp file or folder starts with it, so leftovers of a crash can be found


def umask() -> int:
    """The process umask (read without changing it for longer than a moment)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_path(path: Path) -> None:
    """Flush one file (or a folder's entry table) to disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path`` (same extension, so format-by-extension writers work). When the block
    ends without error the temp file is fsynced, given the usual permissions and renamed over ``path``; on any
    error it is removed and ``path`` is untouched. The folder must exist."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp creates 0600
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a small text file atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def _check_ancestors(path: Path, what: str) -> None:
    """The nearest existing folder above ``path`` is a folder we may write into (missing folders between are made
    later, by the command, once its inputs are checked)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{what} '{path}' cannot be made: '{parent}' is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} '{path}' cannot be made: the folder '{parent}' is not writable")


def check_out_folder(out: str | os.PathLike) -> Path:
    """``out`` as an output folder that can be made: not an existing file, and no file where a folder above it
    must be. Raises ConfigError with one sentence otherwise; creates nothing (callers create it, parents
    included, with :func:`make_folder` once every input is checked)."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out '{folder}' exists and is not a folder")
    _check_ancestors(folder, "--out")
    return folder


def check_out_file(out: str | os.PathLike, suffixes: tuple[str, ...] = ()) -> Path:
    """``out`` as an output file that can be written: not a folder, one of ``suffixes`` (lower case, when given),
    and no file where a folder above it must be. Creates nothing (see :func:`make_folder`)."""
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"--out '{path}' is a folder; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        choices = f"{', '.join(suffixes[:-1])} or {suffixes[-1]}" if len(suffixes) > 1 else suffixes[0]
        raise ConfigError(f"--out must end in {choices} (the extension picks the format), got '{path.name}'")
    _check_ancestors(path, "--out")
    return path


def make_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and any missing parents (every command does this for its --out, after its checks)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def atomic_folder(final: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside ``final``; on success fsync its files and rename it to ``final``.

    An existing ``final`` is replaced (moved aside, then deleted). On any error the temp folder is
    removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{final.name}-", dir=final.parent))
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp creates 0700; give the folder the usual permissions
        yield tmp
        for f in tmp.iterdir():
            f.chmod(0o666 & ~umask())
            fsync_path(f)
        fsync_path(tmp)
        if final.exists():
            old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        fsync_path(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of one file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}
