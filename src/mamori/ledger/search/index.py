"""The search index: derived data in its own SQLite file, kept up to date from the ledger.

`HOME/index/search.db` holds nothing that cannot be recomputed from the ledger, so it is
written with `synchronous=NORMAL` (a power cut may lose the last transactions, never corrupt
the file: https://sqlite.org/pragma.html#pragma_synchronous) and, if it is lost or damaged,
`mamori ledger reindex` rebuilds it. It is a separate file so that indexing never takes the
ledger's write lock: the index only reads the ledger.

Tables: `search_fts` (FTS5: analysed text in column `t`, field tokens in `k`, rowid = ledger
index), `search_doc` (index -> event time), `search_ip` (source and destination addresses),
`search_meta` (progress, versions) and `search_forgotten` (pruned ranges already removed).
docs/search.md describes the design and the measurements behind it.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mamori.ledger.errors import LedgerError
from mamori.ledger.search import fields as F
from mamori.ledger.search.query import (
    MAX_TIME_US,
    MIN_TIME_US,
    Node,
    Param,
    QueryError,
    combine,
    condition_sql,
    field_filter,
    is_set,
    members_sql,
    parse,
    plan,
)
from mamori.ledger.store import Reader, wrap_sqlite

INDEX_NAME = "search.db"
SCHEMA_VERSION = "1"

# Retention prunes bodies first and tells the index afterwards, when the text is gone from the
# ledger. A contentless FTS5 table can only delete a row given the values it indexed, so it
# is used only where SQLite can delete by rowid from one (contentless_delete, SQLite 3.43);
# before that the table keeps its own copy of the text (about twice the index size).
CONTENTLESS_DELETE = sqlite3.sqlite_version_info >= (3, 43, 0)
# columnsize=0 drops the per-row token counts that only bm25() ranking reads (results are
# ordered by index); contentless_delete needs them, so it keeps them.
FTS_OPTIONS = "content = '', contentless_delete = 1" if CONTENTLESS_DELETE else "columnsize = 0"
ANALYZER = f"1;{'contentless-delete' if CONTENTLESS_DELETE else 'content'}"
"""What the indexed text, the tokens and the table layout depend on: an index written under
another analyzer (an older mamori, another SQLite) is rebuilt rather than mixed with."""

DEFAULT_BATCH = 20_000
PARALLEL_MIN = 100_000
"""Backlogs at least this long are parsed by worker processes while this one writes."""
MAX_LIMIT = 100_000
NARROW = 20_000
"""A lookup holding fewer events than this is collected once; a larger one is probed per row."""
REBUILD_SHARE = 0.5
"""Forgetting more than this share of the indexed events rebuilds the index instead."""

# unicode61 over text whose CJK runs are already bigrams (fields.analyze).
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS search_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS search_doc(idx INTEGER PRIMARY KEY, time INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS search_doc_time ON search_doc(time)",
    "CREATE TABLE IF NOT EXISTS search_ip(ip BLOB NOT NULL, role INTEGER NOT NULL, "
    "idx INTEGER NOT NULL, PRIMARY KEY(ip, role, idx)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS search_ip_idx ON search_ip(idx)",
    "CREATE TABLE IF NOT EXISTS search_forgotten(first INTEGER NOT NULL, "
    "last INTEGER NOT NULL, PRIMARY KEY(first, last)) WITHOUT ROWID",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
    f"t, k, tokenize = 'unicode61', {FTS_OPTIONS})",
)
_TABLES = ("search_fts", "search_doc", "search_ip", "search_forgotten", "search_meta")
# FTS5 buffers new rows in memory and writes a segment when the buffer passes `hashsize`
# bytes (default 1 MiB); bigger segments mean less merging while a large backlog is indexed.
_FTS_TUNING = (("hashsize", 16 << 20), ("automerge", 8))


@dataclass(frozen=True, slots=True)
class Hit:
    """One event found: its ledger index, when it was received, the event and its entry bytes."""

    index: int
    received_us: int
    event: dict[str, Any]
    entry: bytes
    """The leaf entry bytes exactly as hashed, for an inclusion proof (`--with-proof`)."""


@dataclass(slots=True)
class _Rows:
    """One batch of entries, ready to insert: what a worker process sends back."""

    start: int
    end: int
    docs: list[tuple[int, int]] = field(default_factory=list)
    texts: list[tuple[int, str, str]] = field(default_factory=list)
    ips: list[tuple[bytes, int, int]] = field(default_factory=list)


def _extract_rows(
    start: int, end: int, entries: Iterable[tuple[int, int, bytes | None]], ledger: Path
) -> _Rows:
    rows = _Rows(start, end)
    for idx, received_us, body in entries:
        if body is None:  # pruned by retention: its text must not be findable
            continue
        ex = F.extract(_event_of(body, idx, ledger), received_us)
        rows.docs.append((idx, ex.time_us))
        rows.texts.append((idx, ex.text, ex.tokens))
        rows.ips.extend((key, role, idx) for role, key in ex.ips)
    return rows


_worker_reader: Reader | None = None


def _extract_range(ledger: str, start: int, end: int) -> _Rows:
    """Worker process: read and analyse entries start..end-1 of the ledger."""
    global _worker_reader
    if _worker_reader is None or str(_worker_reader.path) != ledger:
        _worker_reader = Reader(Path(ledger))
    return _extract_rows(start, end, _worker_reader.entries(start, end), Path(ledger))


class SearchIndex:
    """The search index of one ledger. One object per thread; processes may share the file."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    @classmethod
    def open(cls, index_dir: Path) -> SearchIndex:
        """Open `index_dir/search.db`, creating the directory and file (owner-only) if needed."""
        path = index_dir / INDEX_NAME
        try:
            index_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create the file with its final mode; SQLite gives -wal and -shm the same mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as e:
            raise LedgerError(
                f"cannot create the search index at {path}: {e.strerror}",
                hint="check that the home directory exists and is writable by this user",
            ) from e
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # Derived data: a commit lost in a power cut is simply indexed again.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=MEMORY")
            index = cls(path, conn)
            with index._write():
                index._create()
        except sqlite3.Error as e:
            raise _index_error(e, path) from e
        return index

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ state

    def _create(self) -> None:
        """Create missing tables; start over if the index was written by another version."""
        version = self._meta_if_any("schema_version")
        analyzer = self._meta_if_any("analyzer")
        if version is not None and (version != SCHEMA_VERSION or analyzer != ANALYZER):
            for table in _TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            version = None
        for statement in _SCHEMA:
            self.conn.execute(statement)
        if version is None:
            self._set_meta("schema_version", SCHEMA_VERSION)
            self._set_meta("analyzer", ANALYZER)
            for name, value in _FTS_TUNING:
                self.conn.execute(
                    "INSERT INTO search_fts(search_fts, rank) VALUES (?, ?)", (name, value)
                )

    def _meta_if_any(self, key: str) -> str | None:
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'search_meta'"
        ).fetchone()
        return None if exists is None else self._meta(key)

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM search_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO search_meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def indexed_size(self) -> int:
        """How many ledger entries the index covers: entries 0 .. indexed_size()-1."""
        try:
            value = self._meta("next_index")
        except sqlite3.Error as e:
            raise _index_error(e, self.path) from e
        return 0 if value is None else int(value)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the index's write lock at once (BEGIN IMMEDIATE)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ indexing

    def catch_up(
        self, reader: Reader, *, batch: int = DEFAULT_BATCH, workers: int | None = None
    ) -> int:
        """Index every acknowledged entry not yet indexed; return how many entries were read.

        Acknowledged means covered by the latest signed checkpoint, so every hit can be proved.
        Each batch is one transaction that also records the progress: an interrupted run
        resumes where it stopped, and entries are never indexed twice. Pruned ranges the
        ledger lists that were not forgotten yet are forgotten (see :meth:`forget`).

        `workers` processes parse events while this one writes; None picks 0 for a backlog
        under :data:`PARALLEL_MIN` and one less than the CPUs (at most 4) otherwise.
        """
        if batch < 1:
            raise LedgerError(f"the batch size must be at least 1, not {batch}")
        try:
            target = self._follow_ledger(reader)
            processed = 0
            backlog = target - self.indexed_size()
            if backlog > 0:
                if workers is None:
                    workers = min(4, (os.cpu_count() or 1) - 1) if backlog >= PARALLEL_MIN else 0
                if workers > 0 and backlog > batch:
                    processed += self._catch_up_parallel(reader, target, batch, workers)
                while True:
                    with self._write():
                        start = self.indexed_size()  # inside the lock: others may have indexed
                        if start >= target:
                            break
                        end = min(target, start + batch)
                        entries = reader.entries(start, end)
                        self._insert(_extract_rows(start, end, entries, reader.path), reader)
                    processed += end - start
            self._forget_pruned(reader)
        except sqlite3.Error as e:
            raise _index_error(e, self.path) from e
        return processed

    def _catch_up_parallel(self, reader: Reader, target: int, batch: int, workers: int) -> int:
        """Index in batches parsed by worker processes; stops early if they cannot run."""
        start = self.indexed_size()
        ranges = iter([(s, min(s + batch, target)) for s in range(start, target, batch)])
        processed = 0
        context = multiprocessing.get_context("spawn")  # never fork a process holding SQLite
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                pending: deque[Future[_Rows]] = deque()

                def submit() -> None:
                    r = next(ranges, None)
                    if r is not None:
                        pending.append(pool.submit(_extract_range, str(reader.path), *r))

                for _ in range(2 * workers):
                    submit()
                while pending:
                    rows = pending.popleft().result()
                    submit()
                    with self._write():
                        if self.indexed_size() != rows.start:  # another process got here first
                            pool.shutdown(cancel_futures=True)
                            break
                        self._insert(rows, reader)
                    processed += rows.end - rows.start
        except (RuntimeError, OSError, ImportError):
            # No worker processes here (a sandbox, a script without a __main__ guard, a broken
            # pool): the caller indexes the rest in this process; every batch done is kept.
            pass
        return processed

    def _insert(self, rows: _Rows, reader: Reader) -> None:
        """Add a batch and record it as indexed; call inside a write transaction."""
        overlap = self.conn.execute(
            "SELECT 1 FROM search_forgotten WHERE last >= ? AND first < ? LIMIT 1",
            (rows.start, rows.end),
        ).fetchone()
        if overlap is not None:
            # Retention pruned part of this batch after a worker read it: keep only entries
            # that still have a body (the ledger is the authority).
            ids = [d[0] for d in rows.docs]
            gone = {i for i in ids if (e := reader.entry(i)) is None or e[1] is None}
            if gone:
                rows.docs = [d for d in rows.docs if d[0] not in gone]
                rows.texts = [t for t in rows.texts if t[0] not in gone]
                rows.ips = [i for i in rows.ips if i[2] not in gone]
        self.conn.executemany("INSERT INTO search_doc(idx, time) VALUES (?, ?)", rows.docs)
        self.conn.executemany("INSERT INTO search_fts(rowid, t, k) VALUES (?, ?, ?)", rows.texts)
        self.conn.executemany("INSERT INTO search_ip(ip, role, idx) VALUES (?, ?, ?)", rows.ips)
        self._set_meta("next_index", str(rows.end))

    def _follow_ledger(self, reader: Reader) -> int:
        """The ledger's acknowledged size; start over if it is not the ledger indexed.

        It is another ledger when its origin differs, or when it is shorter than the index
        (a ledger restored from an older backup, say).
        """
        cp = reader.latest_checkpoint()
        origin = "" if cp is None else cp.note.split("\n", 1)[0]
        size = 0 if cp is None else cp.tree_size
        known = self._meta("origin")
        if known is not None and (known != origin or self.indexed_size() > size):
            self._clear()
            known = None
        if known is None:
            with self._write():
                self._set_meta("origin", origin)
        return size

    def forget(self, reader: Reader, first: int, last: int) -> int:
        """Make entries first..last (inclusive) agree with the ledger after retention pruned.

        Every indexed entry of the range whose body the ledger no longer has is removed; the
        few it kept (earlier ledger.pruned events) stay findable. Returns how many were
        removed. Retention calls this after pruning; :meth:`catch_up` also forgets every range
        in the ledger's `pruned` table it has not forgotten yet, so a missed call is made up
        for, and a call made before the pruning is harmless.
        """
        if first < 0 or last < first:
            raise LedgerError(f"cannot forget the range {first}..{last}: it is empty or negative")
        try:
            pruned = any(a == first and b == last for a, b, _ in reader.pruned_ranges())
            with self._write():  # under the lock: no batch can be inserted meanwhile
                dead = self._dead(reader, first, last)
                total = int(self.conn.execute("SELECT count(*) FROM search_doc").fetchone()[0])
                rebuild = total > 0 and len(dead) > REBUILD_SHARE * total
                if not rebuild:
                    self._delete(dead)
                    if pruned:
                        self.conn.execute(
                            "INSERT OR IGNORE INTO search_forgotten(first, last) VALUES (?, ?)",
                            (first, last),
                        )
            if rebuild:
                # Deleting row by row re-reads and re-tokenizes each row; indexing what is left
                # from scratch is quicker.
                self._clear()
                self.catch_up(reader)
        except sqlite3.Error as e:
            raise _index_error(e, self.path) from e
        return len(dead)

    def _dead(self, reader: Reader, first: int, last: int) -> list[int]:
        """Indexed entries of first..last that have no body in the ledger any more."""
        indexed = {
            int(r[0])
            for r in self.conn.execute(
                "SELECT idx FROM search_doc WHERE idx BETWEEN ? AND ?", (first, last)
            )
        }
        if not indexed:
            return []
        alive = {idx for idx, _, body in reader.entries(first, last + 1) if body is not None}
        return sorted(indexed - alive)

    def _delete(self, ids: list[int]) -> None:
        rows = [(i,) for i in ids]
        self.conn.executemany("DELETE FROM search_fts WHERE rowid = ?", rows)
        self.conn.executemany("DELETE FROM search_doc WHERE idx = ?", rows)
        self.conn.executemany("DELETE FROM search_ip WHERE idx = ?", rows)

    def _forget_pruned(self, reader: Reader) -> None:
        done = {
            (int(a), int(b))
            for a, b in self.conn.execute("SELECT first, last FROM search_forgotten")
        }
        for first, last, _event in reader.pruned_ranges():
            if (first, last) not in done:
                self.forget(reader, first, last)

    def rebuild(
        self, reader: Reader, *, batch: int = DEFAULT_BATCH, workers: int | None = None
    ) -> int:
        """Drop everything and index the ledger again (`mamori ledger reindex`)."""
        try:
            self._clear()
        except sqlite3.Error as e:
            raise _index_error(e, self.path) from e
        n = self.catch_up(reader, batch=batch, workers=workers)
        self.optimize()
        return n

    def _clear(self) -> None:
        with self._write():
            for table in _TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            self._create()

    def optimize(self) -> None:
        """Merge the full-text index into one segment (faster queries; worth it after a rebuild)."""
        try:
            with self._write():
                self.conn.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
        except sqlite3.Error as e:
            raise _index_error(e, self.path) from e

    # ------------------------------------------------------------------ querying

    def find(
        self,
        node: Node | None,
        *,
        since_us: int | None = None,
        until_us: int | None = None,
        limit: int,
        before: int | None = None,
    ) -> list[int]:
        """Ledger indices of the matching events, newest (highest index) first.

        Only indices below `before` when it is given (to page). The plan: the FTS5 part of the
        query drives when it is selective (it yields rows newest first and stops at `limit`);
        otherwise a selective time range or address range drives; when everything is broad,
        FTS5 drives again, since the first rows it yields are then likely to match.
        """
        try:
            return self._find(node, since_us, until_us, limit, before)
        except sqlite3.Error as e:
            raise _index_error(e, self.path) from e

    def _find(
        self,
        node: Node | None,
        since_us: int | None,
        until_us: int | None,
        limit: int,
        before: int | None,
    ) -> list[int]:
        # SQL text here and in query.py is assembled only from constant fragments and the
        # column names below; every value, user text included, is a bound parameter.
        p = plan(node)
        sizes: dict[Node, bool] = {}

        def broad(n: Node) -> bool:
            if n not in sizes:
                sizes[n] = self._at_least(*members_sql(n))
            return sizes[n]

        bounds = [(op, us) for op, us in ((">=", since_us), ("<", until_us)) if us is not None]
        time_params: list[Param] = [us for _, us in bounds]

        def in_range(column: str) -> str:
            return " AND ".join(f"{column} {op} ?" for op, _ in bounds)

        time_sql = in_range("time")
        in_time = "SELECT s.idx FROM search_doc AS s WHERE " + in_range("s.time")  # noqa: S608
        match_sql = "SELECT f.rowid FROM search_fts AS f WHERE f.search_fts MATCH ?"
        # Size only what decides the plan. Sizing a selective match costs as much as running
        # it, so a match alone is never sized; a narrow match drives whatever else there is.
        match_broad = (
            p.match is not None
            and bool(p.rest or time_sql)
            and self._at_least(match_sql, (p.match,))
        )
        if p.match is not None and not match_broad:
            by_fts, time_narrow = True, False  # few rows: each tested against the time range
        else:
            time_narrow = bool(time_sql) and not self._at_least(in_time, tuple(time_params))
            rest_narrow = any(is_set(n) and not broad(n) for n in p.rest)
            by_fts = p.match is not None and not (time_narrow or rest_narrow)

        # The outer row is `o` (FTS5) or `d` (search_doc); see query.ID_COLUMNS.
        id_col = "+o.rowid" if by_fts else "d.idx"
        where: list[str] = []
        params: list[Param] = []
        if p.match is not None:
            if by_fts:
                where.append("o.search_fts MATCH ?")
            elif match_broad:
                where.append(
                    "EXISTS (SELECT 1 FROM search_fts AS f WHERE f.search_fts MATCH ? "
                    "AND f.rowid = d.idx)"
                )
            else:
                where.append("d.idx IN (" + match_sql + ")")
            params.append(p.match)
        for n in p.rest:
            sql, ps = condition_sql(n, id_col, broad)
            where.append(sql)
            params.extend(ps)
        if time_sql:
            if not by_fts:
                # A wide range is tested row by row (+ keeps SQLite from reading it through
                # the time index and sorting it all); a narrow one is read through the index.
                where.append(in_range("d.time" if time_narrow else "+d.time"))
            elif time_narrow:
                where.append("+o.rowid IN (" + in_time + ")")
            else:
                probe = "EXISTS (SELECT 1 FROM search_doc AS s WHERE s.idx = +o.rowid AND "
                where.append(probe + in_range("s.time") + ")")
            params.extend(time_params)
        if before is not None:
            # No unary + here: FTS5 seeks straight to rowids below `before`.
            where.append(("o.rowid" if by_fts else "d.idx") + " < ?")
            params.append(before)
        if by_fts:  # FTS5 yields rowids in order: ORDER BY rowid DESC costs nothing
            head = "SELECT o.rowid FROM search_fts AS o WHERE "
            order = " ORDER BY o.rowid DESC LIMIT ?"
        elif time_narrow:  # read the few rows in the time range through its index
            head = "SELECT d.idx FROM search_doc AS d INDEXED BY search_doc_time WHERE "
            order = " ORDER BY d.idx DESC LIMIT ?"
        else:  # newest first along the primary key, stopping at the limit
            head = "SELECT d.idx FROM search_doc AS d WHERE "
            order = " ORDER BY d.idx DESC LIMIT ?"
        sql = head + (" AND ".join(where) or "1") + order
        return [int(r[0]) for r in self.conn.execute(sql, [*params, limit])]

    def _at_least(self, members: str, params: tuple[Param, ...]) -> bool:
        """Whether the SELECT yields at least :data:`NARROW` rows (it reads no more)."""
        sql = "SELECT count(*) FROM (" + members + " LIMIT ?)"  # noqa: S608
        row = self.conn.execute(sql, [*params, NARROW]).fetchone()
        return int(row[0]) >= NARROW


def _event_of(body: bytes, idx: int, ledger: Path) -> Mapping[str, Any]:
    try:
        entry = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise _bad_entry(idx, ledger, f"it is not JSON ({e})") from e
    event = entry.get("event") if isinstance(entry, dict) else None
    if not isinstance(event, dict):
        raise _bad_entry(idx, ledger, 'it has no "event" object')
    return event


def _bad_entry(idx: int, ledger: Path, why: str) -> LedgerError:
    return LedgerError(
        f"ledger entry {idx} in {ledger} cannot be indexed: {why}",
        hint="run `mamori ledger verify --home DIR`: the ledger file may have been altered",
    )


def _index_error(e: sqlite3.Error, path: Path) -> LedgerError:
    text = str(e)
    if "malformed" in text or "corrupt" in text or "not a database" in text:
        return LedgerError(
            f"the search index {path} is damaged ({text})",
            hint="delete it and run `mamori ledger reindex --home DIR`: it is rebuilt from the "
            "ledger and nothing is lost",
        )
    return wrap_sqlite(e, path)


def search(
    index: SearchIndex,
    reader: Reader,
    query: str,
    *,
    since_us: int | None = None,
    until_us: int | None = None,
    fields: Mapping[str, str] | None = None,
    limit: int,
) -> list[Hit]:
    """Events matching `query` and every `fields` filter, newest first, at most `limit`.

    `fields` holds `--field name=value` options, each the same as `name:value` in the query.
    Times are µs UTC: since <= event time < until, the event time being its @timestamp (the
    received time when it has none). The index first catches up with the ledger, so every
    acknowledged event is searched.
    """
    node = combine([parse(query), *(field_filter(k, v) for k, v in (fields or {}).items())])
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"the limit must be from 1 to {MAX_LIMIT}, not {limit}")
    for name, value in (("--since", since_us), ("--until", until_us)):
        if value is not None and not MIN_TIME_US <= value <= MAX_TIME_US:
            raise QueryError(f"{name} is outside the years 1 to 9999")
    index.catch_up(reader)
    hits: list[Hit] = []
    before: int | None = None
    while len(hits) < limit:
        want = limit - len(hits)
        ids = index.find(node, since_us=since_us, until_us=until_us, limit=want, before=before)
        for idx in ids:
            row = reader.entry(idx)
            if row is None:
                continue
            received_us, body = row
            if body is None:  # pruned after it was found
                continue
            hits.append(Hit(idx, received_us, dict(_event_of(body, idx, reader.path)), body))
        if len(ids) < want:
            break
        before = ids[-1]
    return hits
