"""The SQL firewall's allowlist (DB-4): statement fingerprints per role and application, in
``HOME/dbguard.db`` (SQLite, mode 0600), looked up in memory.

The proxy asks :meth:`Allowlist.allows` for every statement, so lookups never touch the disk:
the allowed keys are a set, loaded at start and reloaded when another process (``mamori dbguard
allowlist approve``) has changed the file, which SQLite's ``PRAGMA data_version`` tells at the
cost of one query, asked at most once a second. ``learn`` mode adds to the set at once and
writes in batches (every second, or every 256 new fingerprints, and at :meth:`Allowlist.close`).

Rows: (role, application, fingerprint), the normalised text first seen (constants removed),
first and last seen, count, and ``source``: ``learn``, ``approved`` (by a person, named in
``approved_by``) or ``revoked`` (kept, so that ``learn`` does not take it back in). ``*`` as the
role or the application of an approved row matches any. Every approval and revocation is an
audit event (``dbguard.allowlist_approved``, ``dbguard.allowlist_revoked``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mamori import audit
from mamori.dbguard.errors import DbGuardError
from mamori.fsutil import open_private_sqlite
from mamori.home import Home

DB_NAME: Final = "dbguard.db"
ANY: Final = "*"
SOURCES: Final = ("learn", "approved", "revoked")

SCHEMA = """
CREATE TABLE IF NOT EXISTS firewall_allowlist(
    role TEXT NOT NULL,
    application TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    normalized TEXT NOT NULL DEFAULT '',
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL CHECK (source IN ('learn', 'approved', 'revoked')),
    approved_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (role, application, fingerprint)
);
CREATE INDEX IF NOT EXISTS firewall_allowlist_fingerprint ON firewall_allowlist(fingerprint);
"""

Key = tuple[str, str, str]
"""(role, application, fingerprint)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the allowlist."""

    role: str
    application: str
    fingerprint: str
    normalized: str
    first_seen: float
    last_seen: float
    count: int
    source: str
    """``learn``, ``approved`` or ``revoked``."""
    approved_by: str


@dataclass(slots=True)
class _Pending:
    normalized: str
    first: float
    last: float
    count: int


class Allowlist:
    """The allowlist of one home. One writer per process; the CLI may write too (SQLite WAL)."""

    def __init__(
        self,
        path: Path,
        *,
        home: Home | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh_every: float = 1.0,
        flush_every: float = 1.0,
        flush_at: int = 256,
    ) -> None:
        self.path = path
        self._home = home
        self._clock = clock
        self._refresh_every = refresh_every
        self._flush_every = flush_every
        self._flush_at = flush_at
        self._lock = threading.Lock()
        self._conn = _connect(path)
        self._allowed: set[Key] = set()
        self._revoked: set[Key] = set()
        self._pending: dict[Key, _Pending] = {}
        self._version = -1
        self._checked = clock()
        self._flushed = clock()
        self._load()

    @classmethod
    def open(cls, home: Home) -> Allowlist:
        """The allowlist in ``HOME/dbguard.db``, created empty (0600) when missing."""
        return cls(home.root / DB_NAME, home=home)

    # -- the hot path

    def allows(self, role: str, application: str, fingerprint: str) -> bool:
        """Whether the fingerprint is allowed for this role and application (in memory)."""
        self._maybe_refresh()
        allowed = self._allowed
        return (
            (role, application, fingerprint) in allowed
            or (role, ANY, fingerprint) in allowed
            or (ANY, application, fingerprint) in allowed
            or (ANY, ANY, fingerprint) in allowed
        )

    def learn(
        self, role: str, application: str, fingerprint: str, normalized: str, at: float
    ) -> None:
        """Record a fingerprint seen in ``learn`` mode (a revoked one stays revoked)."""
        key = (role, application, fingerprint)
        if key in self._revoked:
            return
        self._allowed.add(key)
        p = self._pending.get(key)
        if p is None:
            self._pending[key] = _Pending(normalized, at, at, 1)
        else:
            p.last = max(p.last, at)
            p.count += 1
        if len(self._pending) >= self._flush_at or (
            self._clock() - self._flushed >= self._flush_every
        ):
            self.flush()

    # -- writes

    def flush(self) -> None:
        """Write what ``learn`` recorded since the last flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flushed = self._clock()
            if not pending:
                return
            rows = [(*k, p.normalized, p.first, p.last, p.count) for k, p in pending.items()]
            try:
                with _transaction(self._conn):
                    self._conn.executemany(
                        "INSERT INTO firewall_allowlist(role, application, fingerprint, normalized,"
                        " first_seen, last_seen, count, source) VALUES (?, ?, ?, ?, ?, ?, ?, 'learn')"
                        " ON CONFLICT(role, application, fingerprint) DO UPDATE SET"
                        " last_seen = max(last_seen, excluded.last_seen),"
                        " count = count + excluded.count"
                        " WHERE source <> 'revoked'",
                        rows,
                    )
            except sqlite3.Error as e:
                raise _failed(self.path, e) from e

    def approve(
        self,
        fingerprint: str,
        *,
        role: str,
        application: str,
        by: str,
        normalized: str = "",
        at: float | None = None,
    ) -> Entry:
        """Allow a fingerprint for a role and application (``*`` for any), as `by`."""
        if not fingerprint or not role:
            raise DbGuardError(
                "an approval needs a fingerprint and a role",
                hint="pass --role (or '*') and a fingerprint, or --sql with the statement",
            )
        now = time.time() if at is None else at
        self.flush()
        with self._lock:
            try:
                with _transaction(self._conn):
                    self._conn.execute(
                        "INSERT INTO firewall_allowlist(role, application, fingerprint, normalized,"
                        " first_seen, last_seen, count, source, approved_by)"
                        " VALUES (?, ?, ?, ?, ?, ?, 0, 'approved', ?)"
                        " ON CONFLICT(role, application, fingerprint) DO UPDATE SET"
                        " source = 'approved', approved_by = excluded.approved_by,"
                        " normalized = CASE WHEN normalized = '' THEN excluded.normalized"
                        " ELSE normalized END",
                        (role, application, fingerprint, normalized, now, now, by),
                    )
            except sqlite3.Error as e:
                raise _failed(self.path, e) from e
        self._record(
            "dbguard.allowlist_approved",
            {"fingerprint": fingerprint, "role": role, "application": application, "by": by},
        )
        self._load()
        entry = self.entries(role=role, application=application, fingerprint=fingerprint)
        return entry[0]

    def revoke(
        self, fingerprint: str, *, by: str, role: str | None = None, application: str | None = None
    ) -> int:
        """Revoke a fingerprint (for one role and application, or everywhere); returns how many
        rows it was allowed in. Revoked rows stay, so that ``learn`` does not take them back."""
        self.flush()
        where, args = _filter(role=role, application=application, fingerprint=fingerprint)
        with self._lock:
            try:
                with _transaction(self._conn):
                    cur = self._conn.execute(
                        f"UPDATE firewall_allowlist SET source = 'revoked', approved_by = ?"  # noqa: S608
                        f" WHERE {where} AND source <> 'revoked'",
                        (by, *args),
                    )
                    changed = cur.rowcount
            except sqlite3.Error as e:
                raise _failed(self.path, e) from e
        if changed:
            self._record(
                "dbguard.allowlist_revoked",
                {
                    "fingerprint": fingerprint,
                    "role": role or ANY,
                    "application": application if application is not None else ANY,
                    "by": by,
                    "rows": changed,
                },
            )
        self._load()
        return changed

    # -- reads

    def entries(
        self,
        *,
        role: str | None = None,
        application: str | None = None,
        fingerprint: str | None = None,
    ) -> list[Entry]:
        """Rows, in (role, application, first seen) order."""
        self.flush()
        where, args = _filter(role=role, application=application, fingerprint=fingerprint)
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT role, application, fingerprint, normalized, first_seen, last_seen,"  # noqa: S608
                    f" count, source, approved_by FROM firewall_allowlist WHERE {where}"
                    " ORDER BY role, application, first_seen, fingerprint",
                    args,
                ).fetchall()
            except sqlite3.Error as e:
                raise _failed(self.path, e) from e
        return [
            Entry(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4]), float(r[5]),
                  int(r[6]), str(r[7]), str(r[8]))
            for r in rows
        ]  # fmt: skip

    def close(self) -> None:
        """Flush and close."""
        try:
            self.flush()
        finally:
            with self._lock:
                self._conn.close()

    def __enter__(self) -> Allowlist:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals

    def _maybe_refresh(self) -> None:
        now = self._clock()
        if now - self._checked < self._refresh_every:
            return
        self._checked = now
        if self._data_version() != self._version:
            self.flush()
            self._load()

    def _data_version(self) -> int:
        with self._lock:
            try:
                row = self._conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error as e:
                raise _failed(self.path, e) from e
        return int(row[0])

    def _load(self) -> None:
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT role, application, fingerprint, source FROM firewall_allowlist"
                ).fetchall()
                version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as e:
                raise _failed(self.path, e) from e
        allowed: set[Key] = set()
        revoked: set[Key] = set()
        for role, application, fingerprint, source in rows:
            key = (str(role), str(application), str(fingerprint))
            (revoked if source == "revoked" else allowed).add(key)
        # what learn recorded and has not written yet stays allowed
        allowed.update(k for k in self._pending if k not in revoked)
        self._allowed, self._revoked, self._version = allowed, revoked, version

    def _record(self, action: str, fields: dict[str, object]) -> None:
        if self._home is not None:
            audit.record(self._home, action, fields=fields)


def _filter(
    *, role: str | None, application: str | None, fingerprint: str | None
) -> tuple[str, tuple[str, ...]]:
    clauses, args = ["1=1"], []
    for column, value in (
        ("role", role),
        ("application", application),
        ("fingerprint", fingerprint),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " AND ".join(clauses), tuple(args)


class _transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return open_private_sqlite(path, SCHEMA)
    except (OSError, sqlite3.Error) as e:
        raise _failed(path, e) from e


def _failed(path: Path, e: Exception) -> DbGuardError:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return DbGuardError(
        f"cannot use the firewall allowlist {path}: {reason}",
        hint="check that the home is writable by this user and the disk not full",
    )
