"""`mamori ledger append`: JSON Lines from a file or a pipe into the ledger.

Streams: memory is bounded by a few chunks and one batch, whatever the input size. A batch is
committed when it holds `batch_max_events` events or when its first event has waited
`batch_max_delay_ms`, so a slow pipe (`tail -f app.log | mamori ledger append -`) still gets
checkpoints every second. When input arrives faster than one core can parse it (a file, a fast
pipe), parsing moves to a second process (:mod:`mamori.ledger.parse_worker`) while this one
sequences and commits.
"""

from __future__ import annotations

import os
import select
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mamori.home import Home
from mamori.ledger.lines import LineSplitter
from mamori.ledger.parse_worker import Parsed, ParseWorker, parse_chunk
from mamori.ledger.writer import Sequencer
from mamori.perf import no_cyclic_gc

CHUNK = 1 << 20
PARALLEL_AFTER = 2
"""Full chunks read back to back before parsing moves to the second process."""
MAX_IN_FLIGHT = 2


@dataclass(slots=True)
class AppendResult:
    """What an append stored. appended + rejected events were stored and acknowledged."""

    appended: int = 0
    rejected: int = 0
    tree_size: int = 0
    rejections: list[tuple[int, int, str]] = field(default_factory=list)
    """(line number, index stored at, reason) for every rejected line."""

    def as_json(self) -> dict[str, int]:
        return {"appended": self.appended, "rejected": self.rejected, "tree_size": self.tree_size}


class _Batcher:
    """Collects prepared events and commits them in batches through the sequencer."""

    def __init__(
        self,
        seq: Sequencer,
        max_events: int,
        max_delay: float,
        result: AppendResult,
        on_rejected: Callable[[int, int, str], None] | None,
        on_commit: Callable[[AppendResult], None] | None,
    ) -> None:
        self.seq = seq
        self.max_events = max_events
        self.max_delay = max_delay
        self.result = result
        self.on_rejected = on_rejected
        self.on_commit = on_commit
        self.batch: list[bytes] = []
        self.pending: list[tuple[int, int, str]] = []  # (line, position in batch, reason)
        self.deadline = 0.0

    def add(self, parsed: Parsed) -> None:
        events = parsed.events
        rejected = iter(parsed.rejected)
        nxt = next(rejected, None)
        start = 0
        while start < len(events):
            if not self.batch:
                self.deadline = time.monotonic() + self.max_delay
            room = self.max_events - len(self.batch)
            take = events[start : start + room]
            base = len(self.batch)
            while nxt is not None and nxt[0] < start + len(take):
                self.pending.append((nxt[1], base + nxt[0] - start, nxt[2]))
                nxt = next(rejected, None)
            self.batch.extend(take)
            start += len(take)
            if len(self.batch) >= self.max_events:
                self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        done = self.seq.commit(self.batch)
        r = self.result
        r.appended += len(self.batch) - len(self.pending)
        r.rejected += len(self.pending)
        r.tree_size = done.tree_size
        for line_no, pos, reason in self.pending:
            r.rejections.append((line_no, done.first + pos, reason))
            if self.on_rejected is not None:
                self.on_rejected(line_no, done.first + pos, reason)
        self.batch = []
        self.pending = []
        if self.on_commit is not None:
            self.on_commit(r)


def append_fd(
    home: Home,
    fd: int,
    *,
    on_rejected: Callable[[int, int, str], None] | None = None,
    on_commit: Callable[[AppendResult], None] | None = None,
    parallel: bool = True,
) -> AppendResult:
    """Read JSON Lines from a file descriptor until EOF and append them durably.

    If a commit fails, the LedgerError propagates; `result` as last passed to `on_commit` says
    what was acknowledged before it.
    """
    cfg = home.config().ledger
    result = AppendResult()
    splitter = LineSplitter(cfg.max_event_bytes)
    worker: ParseWorker | None = None
    full_reads = 0
    pollable = not stat.S_ISREG(os.fstat(fd).st_mode)
    try:
        with no_cyclic_gc(), Sequencer(home) as seq:
            result.tree_size = seq.size
            b = _Batcher(
                seq,
                cfg.batch_max_events,
                cfg.batch_max_delay_ms / 1000,
                result,
                on_rejected,
                on_commit,
            )
            while True:
                if b.batch and pollable and worker is None:
                    wait = b.deadline - time.monotonic()
                    if wait <= 0:
                        b.flush()
                        continue
                    ready, _, _ = select.select([fd], [], [], wait)
                    if not ready:
                        b.flush()
                        continue
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                full_reads = full_reads + 1 if len(chunk) == CHUNK else 0
                if worker is None and parallel and full_reads >= PARALLEL_AFTER:
                    # Input is fast: hand parsing (and the splitter's state) to the worker
                    # from the next chunk on; this chunk is still parsed here, in order.
                    b.add(parse_chunk(splitter, chunk))
                    worker = ParseWorker(splitter)
                    continue
                if worker is None:
                    b.add(parse_chunk(splitter, chunk))
                    continue
                worker.submit(chunk)
                while worker.in_flight > MAX_IN_FLIGHT:
                    b.add(worker.result())
                if b.batch and time.monotonic() >= b.deadline:
                    b.flush()
            if worker is not None:
                worker.submit(None)
                while worker.in_flight:
                    b.add(worker.result())
            else:
                b.add(parse_chunk(splitter, None))
            b.flush()
    finally:
        if worker is not None:
            worker.close()
    return result
