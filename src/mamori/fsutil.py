"""Small file-system helpers: files created with tight modes, written durably and atomically."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` with exactly `mode` and write `data`, fsynced; refuse to replace a file.

    O_EXCL never overwrites, O_NOFOLLOW never writes through a planted link, and the mode is
    set on the open descriptor (the umask may have narrowed it), so the file is never readable
    by others for an instant.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` atomically: a temporary file, fsync, rename over, fsync the directory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        write_new(tmp, data, mode)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_private(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = True) -> None:
    """Write a file readable only as `mode` allows; with `exclusive`, refuse to replace one.

    A crash leaves either nothing or the whole file.
    """
    if exclusive:
        write_new(path, data, mode)
        fsync_dir(path.parent)
    else:
        write_atomic(path, data, mode)


def fsync_dir(path: Path) -> None:
    """Make a directory entry (a file created or renamed in it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
