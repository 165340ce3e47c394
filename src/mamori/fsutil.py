"""Small file-system helpers: files created with tight modes, written atomically."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = True) -> None:
    """Write a file readable only by its owner; with `exclusive`, refuse to replace one.

    The file is created with its final mode (never world-readable for an instant), fsynced, and
    its directory fsynced, so a crash leaves either nothing or the whole file.
    """
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync_dir(path: Path) -> None:
    """Make a directory entry (a file created or renamed in it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
