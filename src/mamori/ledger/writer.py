"""The sequencer: the ledger's one writer.

It gives each event the next index and the batch's received time, hashes the entries, extends
the tiles, signs a checkpoint, and commits all of it in ONE transaction (group commit). The
commit is durable (WAL with synchronous=FULL fsyncs before returning), and only then does
:meth:`Sequencer.commit` return: that is the moment an event counts as acknowledged.

One writer per log is enforced with an exclusive lock on `HOME/ledger/writer.lock`; a second
writer is refused with a message naming the holder. Readers never block the writer (WAL).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from mamori.home import Home
from mamori.ledger.checkpoint import Checkpoint, sign_checkpoint
from mamori.ledger.entries import ENTRY_FORMAT, format_received
from mamori.ledger.errors import LedgerError
from mamori.ledger.note import Signer
from mamori.ledger.store import connect_writer, read_tiles, wrap_sqlite
from mamori.ledger.tiles import TileBuilder

_INSERT_EVENT = "INSERT INTO events(idx, received, body) VALUES (?, ?, ?)"
_UPSERT_TILE = "INSERT OR REPLACE INTO tiles(level, number, width, hashes) VALUES (?, ?, ?, ?)"
_INSERT_CHECKPOINT = "INSERT INTO checkpoints(tree_size, created, root, note) VALUES (?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class Committed:
    """What one durable commit acknowledged."""

    first: int
    """Index of the batch's first event."""
    count: int
    tree_size: int
    """Size of the tree (and of the checkpoint signed) after the commit."""
    received_us: int


class _ConnTiles:
    """The TileSource the builder resumes from: the writer's own connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def read_tiles(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return read_tiles(self.conn, keys)


class Sequencer:
    """The single writer of one ledger."""

    def __init__(self, home: Home) -> None:
        self.home = home
        cfg = home.config()
        self.origin = cfg.ledger.origin
        self.signer = Signer(self.origin, home.signing_key())
        self._broken = False
        self._lock_fd = _take_lock(home.ledger_dir / "writer.lock")
        try:
            if not home.ledger_db.exists():
                raise LedgerError(
                    f"the ledger database {home.ledger_db} is missing",
                    hint="restore it, or mount the volume it lives on; "
                    "mamori never starts a new ledger in place of a lost one",
                )
            self.conn = connect_writer(home.ledger_db)
            st = home.ledger_db.stat()
            self._identity = (st.st_dev, st.st_ino)
            self._load_state()
        except BaseException:
            os.close(self._lock_fd)
            raise

    def _load_state(self) -> None:
        row = self.conn.execute(
            "SELECT tree_size, root FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
        self.size = 0 if row is None else int(row[0])
        stored = self.conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM events").fetchone()[0]
        if int(stored) != self.size:
            raise LedgerError(
                f"the ledger holds {stored} event rows but its latest checkpoint covers {self.size}",
                hint="the database was changed outside mamori: run `mamori ledger verify` to see where",
            )
        last = self.conn.execute("SELECT MAX(received) FROM events").fetchone()[0]
        self.last_received = 0 if last is None else int(last)
        self.builder = TileBuilder.resume(self.size, _ConnTiles(self.conn))
        if row is not None and self.builder.root() != bytes(row[1]):
            raise LedgerError(
                "the stored tiles do not match the latest checkpoint",
                hint="the database was changed outside mamori: run `mamori ledger verify` to see where",
            )

    @property
    def broken(self) -> bool:
        """True after a failed commit whose aftermath could not be read back."""
        return self._broken

    def meta(self, key: str) -> str | None:
        """A value of the ledger's `meta` table (service state kept with the events)."""
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as e:
            raise wrap_sqlite(e, self.home.ledger_db) from e
        return None if row is None else str(row[0])

    def meta_prefix(self, prefix: str) -> dict[str, str]:
        """Every `meta` entry whose key starts with `prefix`."""
        try:
            rows = self.conn.execute(
                "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        except sqlite3.Error as e:
            raise wrap_sqlite(e, self.home.ledger_db) from e
        return {str(k): str(v) for k, v in rows}

    def set_meta(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Store `meta` entries in a transaction of their own (no events)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            put_meta(self.conn, pairs)
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._recover()
            raise wrap_sqlite(e, self.home.ledger_db) from e

    def same_file(self) -> bool:
        """False when the database file was removed or replaced since it was opened."""
        try:
            st = self.home.ledger_db.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            os.close(self._lock_fd)

    def __enter__(self) -> Sequencer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def commit(
        self,
        events: Sequence[bytes],
        *,
        also: Callable[[sqlite3.Connection, int], None] | None = None,
    ) -> Committed:
        """Append canonical event bytes as one durable batch and sign a checkpoint.

        Returns only once the batch is on disk. On failure nothing of the batch is stored, the
        writer's state is reloaded from the database, and a LedgerError says why. `also` runs
        inside the same transaction with the index of the batch's first event (retention uses it).
        """
        if not events:
            raise LedgerError("an empty batch cannot be committed")
        if self._broken:
            raise LedgerError(
                "the ledger could not be read back after a failed commit",
                hint="fix the storage problem reported before, then restart; nothing acknowledged was lost",
            )
        now = time.time_ns() // 1000
        # Received times never go backwards, even when the clock does: export and search
        # rely on received being monotonic in the index.
        received_us = max(now, self.last_received)
        received = format_received(received_us)
        first = self.size
        fmt = ENTRY_FORMAT
        entries = [fmt % (e, i, received) for i, e in enumerate(events, first)]
        sha256 = hashlib.sha256
        leaves = [sha256(b"\x00" + e).digest() for e in entries]
        self.builder.append(leaves)
        size = first + len(entries)
        root = self.builder.root()
        note = sign_checkpoint(Checkpoint(self.origin, size, root), self.signer)
        tiles = self.builder.dirty_tiles()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                _INSERT_EVENT, zip(range(first, size), repeat(received_us), entries, strict=False)
            )
            conn.executemany(_UPSERT_TILE, tiles)
            conn.execute(_INSERT_CHECKPOINT, (size, now, root, note))
            if also is not None:
                also(conn, first)
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._recover()
            raise wrap_sqlite(e, self.home.ledger_db) from e
        self.size = size
        self.last_received = received_us
        return Committed(first, len(entries), size, received_us)

    def _recover(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        try:
            self._load_state()
        except (sqlite3.Error, LedgerError):
            # The store cannot be read back now (disk gone, file damaged): the in-memory tree
            # may be ahead of it, so refuse further commits rather than sign a wrong root.
            self._broken = True


def put_meta(conn: sqlite3.Connection, pairs: Sequence[tuple[str, str]]) -> None:
    """Upsert `meta` entries inside the caller's transaction (for `commit(also=...)`)."""
    conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", pairs)


def _take_lock(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise LedgerError(
            f"cannot open the writer lock {path}: {e.strerror}",
            hint="check that the home exists and is writable by this user",
        ) from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
        holder = _read_holder(fd)
        os.close(fd)
        raise LedgerError(
            f"another mamori process{holder} is writing to this ledger",
            hint="a ledger has one writer: stop the other process, or send events to it instead",
        ) from e
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    return fd


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
