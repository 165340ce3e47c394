"""`mamori ledger append`: JSON Lines from a file or a pipe into the ledger.

Streams: memory is bounded by one batch, whatever the input size. A batch is committed when it
holds `batch_max_events` events or when its first event has waited `batch_max_delay_ms`, so a
slow pipe (`tail -f app.log | mamori ledger append -`) still gets checkpoints every second.
"""

from __future__ import annotations

import gc
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mamori.home import Home
from mamori.ledger.entries import prepare
from mamori.ledger.lines import Line, LineSplitter
from mamori.ledger.writer import Sequencer

CHUNK = 1 << 20


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


def append_fd(
    home: Home,
    fd: int,
    *,
    on_rejected: Callable[[int, int, str], None] | None = None,
    on_commit: Callable[[AppendResult], None] | None = None,
) -> AppendResult:
    """Read JSON Lines from a file descriptor until EOF and append them durably.

    If a commit fails, the LedgerError propagates; `result` as last passed to `on_commit` says
    what was acknowledged before it.
    """
    cfg = home.config().ledger
    result = AppendResult()
    splitter = LineSplitter(cfg.max_event_bytes)
    max_events = cfg.batch_max_events
    max_delay = cfg.batch_max_delay_ms / 1000
    batch: list[bytes] = []
    pending: list[tuple[int, int, str]] = []  # (line, position in batch, reason)
    deadline = 0.0
    # The batch's many small objects would make the cyclic GC walk them again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with Sequencer(home) as seq:
            result.tree_size = seq.size

            def flush() -> None:
                nonlocal batch, pending
                if not batch:
                    return
                done = seq.commit(batch)
                result.appended += len(batch) - len(pending)
                result.rejected += len(pending)
                result.tree_size = done.tree_size
                for line_no, pos, reason in pending:
                    result.rejections.append((line_no, done.first + pos, reason))
                    if on_rejected is not None:
                        on_rejected(line_no, done.first + pos, reason)
                batch = []
                pending = []
                if on_commit is not None:
                    on_commit(result)

            def take(line: Line) -> None:
                nonlocal deadline
                p = prepare(line.data, line=line.number, truncated_from=line.truncated_from)
                if not batch:
                    deadline = time.monotonic() + max_delay
                if p.rejected is not None:
                    pending.append((line.number, len(batch), p.rejected))
                batch.append(p.event)
                if len(batch) >= max_events:
                    flush()

            pollable = _pollable(fd)
            while True:
                if batch and pollable:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        flush()
                        continue
                    ready, _, _ = select.select([fd], [], [], wait)
                    if not ready:
                        flush()
                        continue
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                for line in splitter.feed(chunk):
                    take(line)
            last = splitter.finish()
            if last is not None:
                take(last)
            flush()
    finally:
        if gc_was_enabled:
            gc.enable()
    return result


def _pollable(fd: int) -> bool:
    """Pipes, sockets and terminals can be waited on; regular files are always ready."""
    import stat

    mode = os.fstat(fd).st_mode
    return not stat.S_ISREG(mode)
