"""A value loaded from the access database and reloaded soon after the database changes.

A running service asks for the current value on every request; at most once per `interval` the
question costs one `PRAGMA data_version` on a kept connection, which changes whenever another
connection commits (https://sqlite.org/pragma.html#pragma_data_version), and only then is the
value loaded again. So a `mamori tokens revoke` reaches the service within about a second, and
the common case is a time check and an attribute read: cheap enough for an event loop thread.

Fail closed: when the database cannot be read, the value becomes the `unavailable` one (no
token, no device) until a later check succeeds, and :attr:`Watched.error` says why.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from mamori.access.db import cannot_open, connect
from mamori.access.errors import AccessError

T = TypeVar("T")

DEFAULT_INTERVAL = 1.0
"""Seconds between two checks of the database for changes."""

_REFRESH_BUSY_MS = 100
"""How long a check may wait for a lock. WAL readers wait only while the database recovers."""


class Watched(Generic[T]):
    """`load(conn)`'s result, reloaded when the database at `path` changed."""

    def __init__(
        self,
        path: Path,
        load: Callable[[sqlite3.Connection], T],
        unavailable: T,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._load = load
        self._unavailable = unavailable
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = connect(path)
        self._conn.execute(f"PRAGMA busy_timeout={_REFRESH_BUSY_MS}")
        self._version: int | None = None
        self._value = unavailable
        self._ok = False
        self._checked = clock()
        self.error: AccessError | None = None
        """Why the last check failed; None after a successful one."""
        self.generation = 0
        """Counts the loads: a caller caching something derived (a TLS context) compares it."""
        if not self._check():
            assert self.error is not None
            self.close()
            raise self.error

    @property
    def ok(self) -> bool:
        """True when the value was read from the database at the last check."""
        return self._ok

    def get(self) -> T:
        """The current value; checks the database first when `interval` has passed."""
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            self._check()
        return self._value

    def refresh(self) -> None:
        """Check the database now, whatever the interval."""
        self._checked = self._clock()
        self._check()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _check(self) -> bool:
        # Another thread checking now: its result will do.
        if not self._lock.acquire(blocking=False):
            return self._ok
        try:
            try:
                row = self._conn.execute("PRAGMA data_version").fetchone()
                version = int(row[0])
                if self._ok and version == self._version:
                    return True
                value = self._load(self._conn)
            except (sqlite3.Error, ValueError) as e:
                self._value = self._unavailable
                self._ok = False
                self.error = cannot_open(self._path, e)
                return False
            self._value = value
            self._version = version
            self._ok = True
            self.error = None
            self.generation += 1
            return True
        finally:
            self._lock.release()
