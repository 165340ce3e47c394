"""Detection over the ledger: the live engine of `mamori up` and `mamori detect run` (I/O edge).

:class:`LedgerDetector` reads ledger entries in index order and feeds them to a
:class:`~mamori.detect.stream.StreamDetector` built from the built-in catalogue and the rules in
``[detect] rules``, with the business calendar and the denied networks as enrichment. The live
engine keeps its position, the next ledger index to read, in ``HOME/detect.db``; it is stored
after the detections of a step have been handed to alerting, so a crash between the two replays
that step: detection is at-least-once, and alerting's deduplication absorbs the replay.

Correlation windows live in memory. When the live engine starts at a position past zero, it
first re-reads the entries of the longest correlation timespan before that position (by
receive time) to refill the windows; detections made only of those earlier entries were made
before the restart and are dropped, so a restart neither loses a correlation that straddles it
nor repeats one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from mamori.config import Config
from mamori.detect.calendar import from_config
from mamori.detect.detection import Detection
from mamori.detect.enrich import Enricher
from mamori.detect.errors import DetectError
from mamori.detect.rules import LoadProblem, LoadResult, load_paths
from mamori.detect.stream import StreamDetector
from mamori.fsutil import open_private_sqlite
from mamori.home import Home
from mamori.ledger.store import Reader

DB_NAME: Final = "detect.db"
LIVE: Final = "live"
"""The cursor of the live engine."""

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS cursor(
    name TEXT PRIMARY KEY,
    next_index INTEGER NOT NULL CHECK (next_index >= 0)
);
"""

_US: Final = 1_000_000


def load_rules(home: Home, cfg: Config, extra: Iterable[str | Path] = ()) -> LoadResult:
    """The rules detection runs: the built-in catalogue unless ``[detect] builtin = false``, the
    paths of ``[detect] rules`` (relative ones in the home), and `extra`."""
    paths: list[Path] = []
    if cfg.detect.builtin:
        from mamori.detect.catalogue import BUILTIN_DIR

        paths.append(BUILTIN_DIR)
    paths.extend(home.path(p) for p in cfg.detect.rules)
    paths.extend(Path(p) for p in extra)
    return load_paths(paths)


@dataclass
class Built:
    """A stream detector for a home, what could not be loaded, and its longest window."""

    detector: StreamDetector
    problems: list[LoadProblem]
    max_timespan_s: float
    rules: int
    """Rules loaded (base and correlation)."""


def build_detector(home: Home, cfg: Config, extra: Iterable[str | Path] = ()) -> Built:
    """A stream detector for this home's rules, calendar and denied networks."""
    try:
        calendar = from_config(cfg.calendar)
    except ValueError as e:
        raise DetectError(f"the business calendar cannot be built: {e}") from e
    enricher = Enricher(calendar, cfg.detect.denied_networks)
    loaded = load_rules(home, cfg, extra)
    detector, problems = StreamDetector.from_load(loaded, enricher=enricher)
    span = max((float(c.timespan.seconds) for c in loaded.correlations), default=0.0)
    return Built(detector, problems, span, len(loaded.rules) + len(loaded.correlations))


class Cursors:
    """Named positions in the ledger (``HOME/detect.db``)."""

    def __init__(self, home: Home) -> None:
        self.path = home.root / DB_NAME
        try:
            self.conn = open_private_sqlite(self.path, SCHEMA)
        except sqlite3.Error as e:
            raise DetectError(f"cannot open {self.path}: {e}") from e

    def get(self, name: str = LIVE) -> int:
        row = self.conn.execute("SELECT next_index FROM cursor WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def put(self, next_index: int, name: str = LIVE) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO cursor(name, next_index) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET next_index = excluded.next_index",
                (name, next_index),
            )

    def close(self) -> None:
        self.conn.close()


@dataclass
class Step:
    """What one :meth:`LedgerDetector.step` read and found."""

    detections: list[Detection]
    start: int
    """The first index read (not counting a warm-up)."""
    next_index: int
    """Where the next step starts."""
    pruned: int = 0
    """Entries whose body retention had removed (nothing to evaluate)."""
    unreadable: int = 0
    """Entries that are not a ledger entry holding an event object (never expected)."""

    @property
    def read(self) -> int:
        return self.next_index - self.start


def _event_of(body: bytes) -> dict[str, Any] | None:
    """The event of a ledger entry (``{"event": {...}, "index": …, "received": …}``)."""
    try:
        entry = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    event = entry.get("event") if isinstance(entry, dict) else None
    return event if isinstance(event, dict) else None


@dataclass
class LedgerDetector:
    """A stream detector reading the ledger from a position."""

    detector: StreamDetector
    next_index: int = 0
    warm_up_s: float = 0.0
    """How far back (receive time) to re-read at the first step to refill correlation windows."""
    warm: bool = field(default=False)

    def _warm_up(self, reader: Reader) -> None:
        """Refill correlation windows from the entries just before :attr:`next_index`."""
        self.warm = True
        span = self.warm_up_s
        if self.next_index == 0 or span <= 0:
            return
        found = reader.entry(self.next_index - 1)
        if found is None:
            return
        since = found[0] - int(span * _US)
        start = reader.first_index_at_or_after(since)
        for chunk in reader.entry_chunks(start, self.next_index):
            for idx, received, body in chunk:
                event = None if body is None else _event_of(body)
                if event is not None:
                    # Whatever fires from these alone fired before the restart: dropped.
                    self.detector.feed_event(idx, event, received=received / _US)

    def step(self, reader: Reader, limit: int = 50_000, end: int | None = None) -> Step:
        """Read up to `limit` entries from :attr:`next_index` (not past `end`), evaluate them."""
        if not self.warm:
            self._warm_up(reader)
        start = self.next_index
        stop = start + limit if end is None else min(end, start + limit)
        out: list[Detection] = []
        pruned = 0
        unreadable = 0
        nxt = start
        for chunk in reader.entry_chunks(start, stop):
            for idx, received, body in chunk:
                nxt = idx + 1
                if body is None:
                    pruned += 1
                    continue
                event = _event_of(body)
                if event is None:
                    unreadable += 1
                    continue
                out.extend(self.detector.feed_event(idx, event, received=received / _US))
        self.next_index = max(nxt, start)
        return Step(out, start, self.next_index, pruned, unreadable)

    def finish(self) -> list[Detection]:
        """End of a history run: close every correlation window."""
        return self.detector.flush()


def history(
    home: Home,
    cfg: Config,
    *,
    since_us: int | None = None,
    until_us: int | None = None,
    extra: Sequence[str | Path] = (),
) -> tuple[list[Detection], list[LoadProblem], int]:
    """`mamori detect run`: the rules over the entries received in [since, until).

    Returns the detections, the rules that could not be used, and how many entries were read.
    """
    built = build_detector(home, cfg, extra)
    with Reader(home.ledger_db) as reader:
        start = 0 if since_us is None else reader.first_index_at_or_after(since_us)
        end = reader.stored_rows() if until_us is None else reader.first_index_at_or_after(until_us)
        run = LedgerDetector(built.detector, start, warm=True)
        found: list[Detection] = []
        read = 0
        while run.next_index < end:
            step = run.step(reader, end=end)
            found.extend(step.detections)
            read += step.read
            if step.read == 0:
                break
        found.extend(run.finish())
    return found, built.problems, read
