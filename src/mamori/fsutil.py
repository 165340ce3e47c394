"""Small file-system helpers: files created with tight modes, written durably and atomically."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, TypeVar

from mamori.errors import MamoriError

HOME_FILE_HINT: Final = "check that the home is writable by this user and the disk not full"
"""What to check when a file of the home cannot be used."""

_Error = TypeVar("_Error", bound=MamoriError)


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


def open_private_sqlite(path: Path, schema: str) -> sqlite3.Connection:
    """A small SQLite database of the home's (access, outbox): created empty with mode 0600
    before SQLite touches it (SQLite would use 0644 less the umask, and gives -wal and -shm the
    main file's mode), WAL, synchronous=FULL (written means on disk), `schema` applied.

    Raises OSError or sqlite3.Error; callers turn them into their own package's error.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(schema)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def open_private_db(
    path: Path, schema: str, failed: Callable[[Path, Exception], Exception]
) -> sqlite3.Connection:
    """:func:`open_private_sqlite` for a package: its OSError or sqlite3.Error is raised as
    ``failed(path, e)`` (the package's error, e.g. made with :func:`cannot_use`), chained."""
    try:
        return open_private_sqlite(path, schema)
    except (OSError, sqlite3.Error) as e:
        raise failed(path, e) from e


def cannot_use(error: type[_Error], what: str, e: BaseException) -> _Error:
    """`error` saying that `what` (a file of the home, named with its path) cannot be used, why
    (:func:`failure_reason`), and what to check (:data:`HOME_FILE_HINT`)."""
    return error(f"cannot use {what}: {failure_reason(e)}", hint=HOME_FILE_HINT)


def failure_reason(e: BaseException) -> str:
    """Why a file, database or certificate could not be used, for a message that names the
    file itself: an OSError's strerror (without its errno and path), anything else as it
    prints."""
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


@contextlib.contextmanager
def private_sqlite_session(
    path: Path, schema: str, error: type[_Error], what: str
) -> Iterator[sqlite3.Connection]:
    """A connection to the database at `path` (its folder created 0700, the file as
    :func:`open_private_sqlite` makes it), closed at the end; any sqlite3 error, opening or
    inside, is `error` naming `what` (:func:`cannot_use`)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = open_private_sqlite(path, schema)
    except (OSError, sqlite3.Error) as e:
        raise cannot_use(error, f"{what} {path}", e) from e
    try:
        yield conn
    except sqlite3.Error as e:
        raise cannot_use(error, f"{what} {path}", e) from e
    finally:
        conn.close()


@contextlib.contextmanager
def immediate_transaction(
    conn: sqlite3.Connection, unstored: Callable[[sqlite3.Error], _Error] | None = None
) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT: anything raised inside rolls the change back; a COMMIT that
    fails (a deferred constraint, a full disk) is rolled back too, and raises ``unstored(error)``
    when given — for a change that recorded an audit event inside it, which is then recorded
    for a change that was not stored, and the message must say so — else the sqlite3 error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        if conn.in_transaction:  # a refused COMMIT leaves the transaction open
            conn.execute("ROLLBACK")
        if unstored is None:
            raise
        raise unstored(e) from e
