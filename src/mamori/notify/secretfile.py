"""Reading a secret from its own file: refused when others may read it (fail closed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mamori.notify.errors import NotifyError


def read_secret(path: Path, setting: str) -> bytes:
    """The file's bytes without a trailing line break; refuses a file group or others can
    read or write, a file that is not a regular file, and an empty one.

    `setting` names the key that points here (e.g. `[smtp] password_file`) for the message.
    The secret itself never appears in an error.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NotifyError(
            f"cannot read {path} ({setting}): {e.strerror}",
            hint=f"create it (mode 600) or correct {setting} in mamori.toml",
        ) from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotifyError(f"{path} ({setting}) is not a regular file")
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise NotifyError(
                f"{path} ({setting}) is accessible to others (mode {stat.S_IMODE(st.st_mode):o})",
                hint=f"chmod 600 {path}",
            )
        chunks: list[bytes] = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 65536:
                raise NotifyError(f"{path} ({setting}) is larger than 64 KiB: not a secret")
    finally:
        os.close(fd)
    data = b"".join(chunks).rstrip(b"\r\n")
    if not data:
        raise NotifyError(f"{path} ({setting}) is empty", hint="write the secret into it")
    return data
