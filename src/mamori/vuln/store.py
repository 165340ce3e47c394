"""The offline advisory database: OSV records in ``HOME/vuln/advisories.db`` (SQLite, WAL,
directory 0700, file 0600). See docs/vuln-database.md.

Each record is kept whole, as sorted-key compact JSON (orjson), keyed by its ``id``, beside
its ``modified`` and ``withdrawn`` dates. Two derived tables make lookups cheap: ``package``
maps (ecosystem, normalised name) to record ids, from ``affected[].package``, under the
ecosystem as written (``Debian:12``) and under its base (``Debian``); ``alias`` maps each of
``aliases[]`` to the id. PyPI names are normalised as PEP 503 says; other names are kept as
given.

A record replaces the stored copy only when its ``modified`` is newer; an older or equal one is
counted and left out. Every import is a *snapshot* row: where it came from, its sha256, how many
records, when, and the data's own date.

The age of the database is the age of its *data*, not of the last import: now minus the newest
data date of any snapshot (the newest ``modified`` among the records an import read, or the date
an export states for itself). Re-importing an old file does not make the data fresh.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from mamori.fsutil import cannot_use, open_private_sqlite
from mamori.home import Home
from mamori.vuln import matchform
from mamori.vuln.errors import VulnError

# Re-exported: the importer, the reports and the tests take these from here.
from mamori.vuln.records import InvalidRecord as InvalidRecord
from mamori.vuln.records import Prepared as Prepared
from mamori.vuln.records import format_time as format_time
from mamori.vuln.records import normalise_name as normalise_name
from mamori.vuln.records import parse_time as parse_time
from mamori.vuln.records import prepare as prepare

DIR_NAME: Final = "vuln"
DB_NAME: Final = "advisories.db"
DEFAULT_MAX_AGE_DAYS: Final = 2
"""Data older than this is stale: OSV and the Debian tracker change several times a day."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS advisory(
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    withdrawn TEXT,
    snapshot INTEGER NOT NULL,
    record BLOB NOT NULL,
    form BLOB
);
CREATE TABLE IF NOT EXISTS package(
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS package_id ON package(id);
CREATE TABLE IF NOT EXISTS alias(
    alias TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (alias, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alias_id ON alias(id);
CREATE TABLE IF NOT EXISTS snapshot(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    records INTEGER NOT NULL,
    imported INTEGER NOT NULL, replaced INTEGER NOT NULL,
    unchanged INTEGER NOT NULL, older INTEGER NOT NULL,
    problems INTEGER NOT NULL,
    imported_at TEXT NOT NULL,
    data_date TEXT
);
"""


@dataclass(frozen=True, slots=True)
class Counts:
    """What one write did."""

    imported: int = 0
    """New ids."""
    replaced: int = 0
    """Stored copies replaced by a newer ``modified``."""
    unchanged: int = 0
    """Same ``modified`` as stored: left as is."""
    older: int = 0
    """Older than the stored copy: ignored."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One import, as recorded."""

    id: int
    source: str
    kind: str
    sha256: str
    """Of the file; of a folder, of its sorted (path, sha256) list (see the importer)."""
    records: int
    """Valid records read."""
    counts: Counts
    problems: int
    imported_at: dt.datetime
    data_date: dt.datetime | None
    """The data's own date: its newest ``modified``, or the date the export states."""


@dataclass(frozen=True, slots=True)
class Status:
    """The database at a glance."""

    path: Path
    records: int
    withdrawn: int
    aliases: int
    snapshots: tuple[Snapshot, ...]
    """Newest first."""
    data_date: dt.datetime | None
    """The newest data date of any snapshot; None before the first import."""
    age: dt.timedelta | None
    """now − data_date; None when there is no data."""
    stale: bool
    """True when there is no data, or it is older than the maximum age asked."""


def classify(
    records: Sequence[Prepared], stored: dict[str, str]
) -> tuple[Counts, dict[str, Prepared]]:
    """Which records to write, given the stored ``modified`` of their ids (pure): a new id or a
    newer ``modified`` wins; the same or an older one is only counted. A later copy of an id in
    `records` is compared with the earlier one."""
    state = dict(stored)
    winners: dict[str, Prepared] = {}
    n = {"imported": 0, "replaced": 0, "unchanged": 0, "older": 0}
    for p in records:
        current = state.get(p.id)
        if current is not None and p.modified <= current:
            n["unchanged" if p.modified == current else "older"] += 1
            continue
        n["imported" if current is None else "replaced"] += 1
        winners[p.id] = p
        state[p.id] = p.modified
    return Counts(**n), winners


def _has_forms(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "form" for row in conn.execute("PRAGMA table_info(advisory)"))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _failed(path: Path, e: BaseException) -> VulnError:
    return cannot_use(VulnError, f"the vulnerability database {path}", e)


class Batch:
    """An import being written (see :meth:`Store.importing`)."""

    def __init__(self, conn: sqlite3.Connection, source: str, kind: str, now: str) -> None:
        self._conn = conn
        self._snapshot: int | None = None
        self._row = (source, kind, now)
        self._counts = Counts()
        self._records = 0

    def _snap(self) -> int:
        if self._snapshot is None:
            source, kind, now = self._row
            cur = self._conn.execute(
                "INSERT INTO snapshot(source, kind, sha256, records, imported, replaced,"
                " unchanged, older, problems, imported_at) VALUES (?,?,'',0,0,0,0,0,0,?)",
                (source, kind, now),
            )
            assert cur.lastrowid is not None
            self._snapshot = cur.lastrowid
        return self._snapshot

    def add(self, records: Sequence[Prepared]) -> Counts:
        """Write one part: a new id or a newer ``modified`` than stored (earlier parts
        included) wins; the same or an older one is only counted."""
        conn = self._conn
        snap = self._snap()
        ids = orjson.dumps(list({p.id: None for p in records}))
        stored: dict[str, str] = dict(
            conn.execute(
                "SELECT id, modified FROM advisory WHERE id IN (SELECT value FROM json_each(?))",
                (ids,),
            ).fetchall()
        )
        counts, winners = classify(records, stored)
        again = [(i,) for i in winners if i in stored]
        conn.executemany("DELETE FROM package WHERE id = ?", again)
        conn.executemany("DELETE FROM alias WHERE id = ?", again)
        conn.executemany(
            "INSERT INTO advisory(id, modified, withdrawn, snapshot, record, form)"
            " VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET modified = excluded.modified,"
            " withdrawn = excluded.withdrawn, snapshot = excluded.snapshot,"
            " record = excluded.record, form = excluded.form"
            " WHERE excluded.modified > advisory.modified",
            [(p.id, p.modified, p.withdrawn, snap, p.data, p.form) for p in winners.values()],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO package(ecosystem, name, id) VALUES (?,?,?)",
            [(eco, name, p.id) for p in winners.values() for eco, name in p.packages],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO alias(alias, id) VALUES (?,?)",
            [(a, p.id) for p in winners.values() for a in p.aliases],
        )
        self._counts = Counts(
            *(x + y for x, y in zip(astuple(self._counts), astuple(counts), strict=True))
        )
        self._records += len(records)
        return counts

    def finish(
        self, *, sha256: str, data_date: dt.datetime | None, problems: int
    ) -> tuple[Counts, int]:
        """Complete the snapshot row and commit; the counts of every part and its id."""
        snap = self._snap()
        date = None if data_date is None else format_time(data_date)
        self._conn.execute(
            "UPDATE snapshot SET sha256 = ?, records = ?, imported = ?, replaced = ?,"
            " unchanged = ?, older = ?, problems = ?, data_date = ? WHERE id = ?",
            (sha256, self._records, *astuple(self._counts), problems, date, snap),
        )
        self._conn.execute("COMMIT")
        return self._counts, snap


class Store:
    """The advisory database of one home. One writer at a time (SQLite WAL); readers any."""

    def __init__(self, path: Path, *, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._conn = open_private_sqlite(path, SCHEMA)
            self._add_forms()
        except (OSError, sqlite3.Error) as e:
            raise _failed(path, e) from e

    def _add_forms(self) -> None:
        """A database written before match forms existed (no ``form`` column) gets the column
        and a form for every stored record, once, in one transaction."""
        conn = self._conn
        if _has_forms(conn):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _has_forms(conn):  # another process may have done it meanwhile
                conn.execute("ALTER TABLE advisory ADD COLUMN form BLOB")
                rows = conn.execute("SELECT id, record FROM advisory").fetchall()
                conn.executemany(
                    "UPDATE advisory SET form = ? WHERE id = ?",
                    [(matchform.build(orjson.loads(r), i), i) for i, r in rows],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @classmethod
    def open(cls, home: Home, *, clock: Callable[[], dt.datetime] = _utcnow) -> Store:
        """The database in ``HOME/vuln/advisories.db``, created empty when missing."""
        return cls(home.root / DIR_NAME / DB_NAME, clock=clock)

    @classmethod
    def open_existing(cls, home: Home, *, clock: Callable[[], dt.datetime] = _utcnow) -> Store:
        """The database, which must exist: a scan without advisories is not a clean scan."""
        path = home.root / DIR_NAME / DB_NAME
        if not path.exists():
            raise VulnError(
                f"there is no vulnerability database in {home.root}",
                hint=f"import advisories first: `mamori vuln db import --home {home.root} PATH`",
            )
        return cls(path, clock=clock)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes

    def write(
        self,
        records: Sequence[Prepared],
        *,
        source: str,
        kind: str,
        sha256: str,
        data_date: dt.datetime | None,
        problems: int = 0,
    ) -> tuple[Counts, int]:
        """Store `records` and a snapshot row in one transaction; returns the counts and the
        snapshot's id. A newer ``modified`` replaces; an equal or older one is counted only."""
        with self.importing(source=source, kind=kind) as batch:
            batch.add(records)
            return batch.finish(sha256=sha256, data_date=data_date, problems=problems)

    @contextlib.contextmanager
    def importing(self, *, source: str, kind: str) -> Iterator[Batch]:
        """One import as one transaction, written a part at a time (:class:`Batch`): nothing
        is stored unless :meth:`Batch.finish` is called, and nothing when it raises."""
        with self._lock:
            batch = Batch(self._conn, source, kind, format_time(self._clock()))
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield batch
            except sqlite3.Error as e:
                raise _failed(self.path, e) from e
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")

    # -- queries

    def advisories_for(
        self, ecosystem: str, name: str, *, include_withdrawn: bool = False
    ) -> list[dict[str, Any]]:
        """The records naming this package in ``affected[]``, by id; withdrawn ones only when
        asked. `ecosystem` as OSV writes it: ``PyPI``, ``npm``, ``Debian:12`` (that release)
        or ``Debian`` (any release). The name is normalised as the index is."""
        rows = self._query(
            "SELECT a.record FROM package p JOIN advisory a ON a.id = p.id"
            " WHERE p.ecosystem = ? AND p.name = ? AND (? OR a.withdrawn IS NULL)"
            " ORDER BY p.id",
            (ecosystem, normalise_name(ecosystem, name), include_withdrawn),
        )
        return [orjson.loads(r[0]) for r in rows]

    def match_forms(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[tuple[str, bytes]]]:
        """For each (ecosystem, name) key, as :meth:`advisories_for` finds records: the (id,
        match form) of the records that are not withdrawn, by id, in one query. Keys without
        records are left out."""
        wanted = orjson.dumps([(eco, normalise_name(eco, name)) for eco, name in keys])
        rows = self._query(
            "SELECT k.key, a.id, a.form, CASE WHEN a.form IS NULL THEN a.record END"
            " FROM json_each(?) k"
            " JOIN package p ON p.ecosystem = k.value ->> 0 AND p.name = k.value ->> 1"
            " JOIN advisory a ON a.id = p.id"
            " WHERE a.withdrawn IS NULL ORDER BY k.key, p.id",
            (wanted,),
        )
        out: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
        for n, rid, form, record in rows:
            if form is None:  # not expected: every write and the upgrade store a form
                form = matchform.build(orjson.loads(record), rid)
            out.setdefault(keys[n], []).append((rid, form))
        return out

    def records(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The whole records of these ids (unknown ids are left out)."""
        rows = self._query(
            "SELECT id, record FROM advisory WHERE id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(list(ids)),),
        )
        return {i: orjson.loads(r) for i, r in rows}

    def get(self, advisory_id: str) -> dict[str, Any] | None:
        """One record by id, withdrawn or not; None when unknown."""
        rows = self._query("SELECT record FROM advisory WHERE id = ?", (advisory_id,))
        return orjson.loads(rows[0][0]) if rows else None

    def by_alias(self, alias: str) -> list[dict[str, Any]]:
        """The records that list `alias` (a CVE or GHSA id) in ``aliases``, or have it as id."""
        rows = self._query(
            "SELECT record FROM advisory WHERE id IN"
            " (SELECT id FROM alias WHERE alias = ? UNION SELECT ?) ORDER BY id",
            (alias, alias),
        )
        return [orjson.loads(r[0]) for r in rows]

    def count(self) -> int:
        """How many records are stored, withdrawn ones included."""
        return int(self._query("SELECT count(*) FROM advisory", ())[0][0])

    def snapshots(self) -> list[Snapshot]:
        """Every import, newest first."""
        rows = self._query(
            "SELECT id, source, kind, sha256, records, imported, replaced, unchanged, older,"
            " problems, imported_at, data_date FROM snapshot ORDER BY id DESC",
            (),
        )
        return [
            Snapshot(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                Counts(*r[5:9]),
                r[9],
                parse_time(r[10]),
                None if r[11] is None else parse_time(r[11]),
            )
            for r in rows
        ]

    def status(
        self, *, max_age_days: float = DEFAULT_MAX_AGE_DAYS, now: dt.datetime | None = None
    ) -> Status:
        """Counts, snapshots, the data's age, and whether it is stale (see the module)."""
        now = now or self._clock()
        snaps = tuple(self.snapshots())
        dates = [s.data_date for s in snaps if s.data_date is not None]
        newest = max(dates) if dates else None
        age = None if newest is None else now - newest
        counts = self._query(
            "SELECT (SELECT count(*) FROM advisory),"
            " (SELECT count(*) FROM advisory WHERE withdrawn IS NOT NULL),"
            " (SELECT count(DISTINCT alias) FROM alias)",
            (),
        )[0]
        return Status(
            path=self.path,
            records=int(counts[0]),
            withdrawn=int(counts[1]),
            aliases=int(counts[2]),
            snapshots=snaps,
            data_date=newest,
            age=age,
            stale=age is None or age > dt.timedelta(days=max_age_days),
        )

    def is_stale(
        self, max_age_days: float = DEFAULT_MAX_AGE_DAYS, *, now: dt.datetime | None = None
    ) -> bool:
        """Whether the data is older than `max_age_days` (exactly that old is not stale), or
        there is none: no data is never "up to date"."""
        return self.status(max_age_days=max_age_days, now=now).stale

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        # sqlite3 keeps a cache of prepared statements keyed by the SQL text, so each query
        # here is prepared once per connection.
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise _failed(self.path, e) from e
