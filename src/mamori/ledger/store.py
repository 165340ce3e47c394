"""The ledger's SQLite store: schema, connections, and the reads every other part uses.

One database file, `HOME/ledger/ledger.db`, in WAL mode: the single writer appends while any
number of readers read a consistent snapshot without blocking it (SQLite WAL, §2.2 of
https://sqlite.org/wal.html). The schema makes the no-delete rule structural: triggers refuse
every DELETE of an event and every UPDATE except retention's pruning of a body to NULL, and
refuse any change to a checkpoint. A person with file access can drop the triggers, which is
why `mamori ledger verify` exists; the triggers stop mistakes and careless tools.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mamori.ledger.errors import LedgerError

DB_NAME = "ledger.db"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- One row per event, never deleted. body holds the leaf entry bytes exactly as hashed;
-- retention may set it to NULL past the retention date (the leaf hash stays in the tiles).
CREATE TABLE IF NOT EXISTS events(
    idx INTEGER PRIMARY KEY,
    received INTEGER NOT NULL,
    body BLOB
);
-- C2SP tlog-tiles, height 8: derived from the events, kept so proofs cost O(log n) reads.
CREATE TABLE IF NOT EXISTS tiles(
    level INTEGER NOT NULL,
    number INTEGER NOT NULL,
    width INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY(level, number)
) WITHOUT ROWID;
-- Every signed checkpoint, one per committed batch.
CREATE TABLE IF NOT EXISTS checkpoints(
    tree_size INTEGER PRIMARY KEY,
    created INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL
);
-- Ranges whose bodies retention pruned, each named by the signed ledger.pruned event that
-- announced it (the event is the authority; this table lets verify find it quickly).
CREATE TABLE IF NOT EXISTS pruned(
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    event_idx INTEGER NOT NULL,
    PRIMARY KEY(first, last)
) WITHOUT ROWID;
-- Cosignatures received from witnesses, by tree size.
CREATE TABLE IF NOT EXISTS cosignatures(
    tree_size INTEGER NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY(tree_size, witness)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'ledger events cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS events_only_prune BEFORE UPDATE ON events
WHEN NEW.idx IS NOT OLD.idx OR NEW.received IS NOT OLD.received OR NEW.body IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'ledger events cannot be changed; only retention prunes a body'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints cannot be deleted'); END;
"""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint as stored: its size, root, creation time (µs) and the signed note."""

    tree_size: int
    created_us: int
    root: bytes
    note: str


def db_path(ledger_dir: Path) -> Path:
    """Where the ledger database lives inside `HOME/ledger`."""
    return ledger_dir / DB_NAME


def connect_writer(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database for the single writer."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # WAL + synchronous=FULL: a commit is on disk (fsync of the WAL) before it returns.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.executescript(SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    except sqlite3.Error as e:
        raise _wrap(e, path) from e
    return conn


def connect_reader(path: Path) -> sqlite3.Connection:
    """Open the database read-only; the writer is never blocked by it."""
    if not path.exists():
        raise LedgerError(
            f"no ledger database at {path}",
            hint="run `mamori init --home DIR` first, or point --home at an initialised home",
        )
    # A reader opens the file read-write but refuses writes (query_only): a `mode=ro`
    # connection cannot create the WAL index (-shm) when the writer has closed, and two such
    # readers then wait on each other. `mode=ro` stays as the fallback for read-only media
    # (an auditor's copy).
    try:
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        except sqlite3.OperationalError as e:
            if "readonly" not in str(e) and "unable to open" not in str(e):
                raise
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
    except sqlite3.Error as e:
        raise _wrap(e, path) from e
    return conn


def _wrap(e: sqlite3.Error, path: Path) -> LedgerError:
    text = str(e)
    if isinstance(e, sqlite3.DatabaseError) and "not a database" in text:
        return LedgerError(
            f"{path} is corrupted or not a mamori ledger ({text})",
            hint="restore the file from a backup; `mamori ledger verify` then says what is intact",
        )
    if "readonly" in text or "read-only" in text:
        return LedgerError(
            f"{path} is read-only ({text})",
            hint="give the mamori user write access to the home directory",
        )
    if "disk is full" in text or "database or disk is full" in text:
        return LedgerError(
            f"the disk holding {path} is full ({text})",
            hint="free space on that volume; nothing acknowledged was lost",
        )
    if "locked" in text:
        return LedgerError(
            f"{path} is locked by another process ({text})",
            hint="wait for the other mamori process to finish, or stop it",
        )
    if "unable to open" in text:
        return LedgerError(
            f"cannot open {path} ({text})",
            hint="check that the home exists and that its directories are accessible",
        )
    return LedgerError(f"ledger database error at {path}: {text}")


def wrap_sqlite(e: sqlite3.Error, path: Path) -> LedgerError:
    """Turn a SQLite error into a LedgerError that names the file and the fix."""
    return _wrap(e, path)


def read_tiles(
    conn: sqlite3.Connection, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Tile hashes by (level, number) over any connection; absent tiles are left out."""
    out: dict[tuple[int, int], bytes] = {}
    for level, number in keys:
        row = conn.execute(
            "SELECT hashes FROM tiles WHERE level = ? AND number = ?", (level, number)
        ).fetchone()
        if row is not None:
            out[(level, number)] = bytes(row[0])
    return out


class Reader:
    """Read access to one ledger database. Every method reads; none writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect_reader(path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self.conn.execute(
            "SELECT tree_size, created, root, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
        return (
            None
            if row is None
            else StoredCheckpoint(int(row[0]), int(row[1]), bytes(row[2]), str(row[3]))
        )

    def checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        row = self.conn.execute(
            "SELECT tree_size, created, root, note FROM checkpoints WHERE tree_size = ?",
            (tree_size,),
        ).fetchone()
        return (
            None
            if row is None
            else StoredCheckpoint(int(row[0]), int(row[1]), bytes(row[2]), str(row[3]))
        )

    def checkpoints(self) -> Iterator[StoredCheckpoint]:
        for row in self.conn.execute(
            "SELECT tree_size, created, root, note FROM checkpoints ORDER BY tree_size"
        ):
            yield StoredCheckpoint(int(row[0]), int(row[1]), bytes(row[2]), str(row[3]))

    def tree_size(self) -> int:
        """The size of the latest signed checkpoint: everything acknowledged."""
        cp = self.latest_checkpoint()
        return 0 if cp is None else cp.tree_size

    def stored_rows(self) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM events").fetchone()
        return int(row[0])

    def entries(
        self, start: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, int, bytes | None]]:
        """(index, received µs, entry bytes or None when pruned) for start <= index < end."""
        if end is None:
            cur = self.conn.execute(
                "SELECT idx, received, body FROM events WHERE idx >= ? ORDER BY idx", (start,)
            )
        else:
            cur = self.conn.execute(
                "SELECT idx, received, body FROM events WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, end),
            )
        while True:
            rows = cur.fetchmany(4096)
            if not rows:
                return
            yield from rows

    def entry_chunks(
        self, start: int = 0, end: int | None = None, size: int = 4096
    ) -> Iterator[list[tuple[int, int, bytes | None]]]:
        """Like :meth:`entries`, a list of up to `size` rows at a time (for bulk checks)."""
        sql = "SELECT idx, received, body FROM events WHERE idx >= ?"
        params: tuple[int, ...] = (start,)
        if end is not None:
            sql += " AND idx < ?"
            params = (start, end)
        cur = self.conn.execute(sql + " ORDER BY idx", params)
        while rows := cur.fetchmany(size):
            yield rows

    def entry(self, index: int) -> tuple[int, bytes | None] | None:
        row = self.conn.execute(
            "SELECT received, body FROM events WHERE idx = ?", (index,)
        ).fetchone()
        return None if row is None else (int(row[0]), None if row[1] is None else bytes(row[1]))

    def first_index_at_or_after(self, received_us: int) -> int:
        """The first index received at or after the given time (received is monotonic)."""
        row = self.conn.execute(
            "SELECT MIN(idx) FROM events WHERE received >= ?", (received_us,)
        ).fetchone()
        return self.stored_rows() if row is None or row[0] is None else int(row[0])

    def read_tiles(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Tile hashes by (level, number); a tile not stored is absent from the result."""
        return read_tiles(self.conn, keys)

    def tiles_at_level(self, level: int) -> Iterator[tuple[int, bytes]]:
        """(number, hashes) of every stored tile of one level, in order."""
        cur = self.conn.execute(
            "SELECT number, hashes FROM tiles WHERE level = ? ORDER BY number", (level,)
        )
        while rows := cur.fetchmany(256):
            for number, hashes in rows:
                yield int(number), bytes(hashes)

    def tiles_above(self, level: int) -> Iterator[tuple[int, int, bytes]]:
        """(level, number, hashes) of every stored tile above `level`."""
        cur = self.conn.execute(
            "SELECT level, number, hashes FROM tiles WHERE level > ? ORDER BY level, number",
            (level,),
        )
        while rows := cur.fetchmany(256):
            for lv, number, hashes in rows:
                yield int(lv), int(number), bytes(hashes)

    def pruned_ranges(self) -> list[tuple[int, int, int]]:
        return [
            (int(a), int(b), int(c))
            for a, b, c in self.conn.execute(
                "SELECT first, last, event_idx FROM pruned ORDER BY first"
            )
        ]

    def checkpoints_with_cosignatures(self) -> Iterator[StoredCheckpoint]:
        """Checkpoints that have at least one stored cosignature."""
        for row in self.conn.execute(
            "SELECT c.tree_size, c.created, c.root, c.note FROM checkpoints c "
            "WHERE c.tree_size IN (SELECT tree_size FROM cosignatures) ORDER BY c.tree_size"
        ).fetchall():
            yield StoredCheckpoint(int(row[0]), int(row[1]), bytes(row[2]), str(row[3]))

    def cosignatures(self, tree_size: int) -> list[str]:
        return [
            str(r[0])
            for r in self.conn.execute(
                "SELECT line FROM cosignatures WHERE tree_size = ? ORDER BY witness", (tree_size,)
            )
        ]
