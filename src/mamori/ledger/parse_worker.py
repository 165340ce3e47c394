"""Parsing and canonicalising input in a second process, so ingest uses two cores.

On the append path the sequencer's own work (entries, hashes, tiles, the SQLite insert, the
fsync) and the parsing of the input (splitting lines, JSON parsing, RFC 8785 canonicalisation)
each cost about as much. The sequencer must stay one thread (one writer), but parsing need not:
this worker takes raw chunks in order and returns prepared events in the same order, while the
sequencer commits the previous ones. Order is kept because there is exactly one worker and one
queue each way.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from mamori.ledger.canonical import canonical
from mamori.ledger.entries import prepare
from mamori.ledger.errors import LedgerError
from mamori.ledger.lines import LineSplitter

_POLL = 0.5


@dataclass(frozen=True, slots=True)
class Parsed:
    """The prepared events of one chunk, in input order."""

    events: list[bytes]
    rejected: list[tuple[int, int, str]]
    """(position in `events`, input line number, reason) for each rejected line."""


def parse_chunk(splitter: LineSplitter, chunk: bytes | None) -> Parsed:
    """Prepare every line `chunk` completes; None ends the input (the last unterminated line)."""
    events: list[bytes] = []
    rejected: list[tuple[int, int, str]] = []
    lines = list(splitter.feed(chunk)) if chunk is not None else []
    if chunk is None:
        last = splitter.finish()
        if last is not None:
            lines.append(last)
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    for line in lines:
        if line.truncated_from is None:
            # The common case inline: an object, canonicalised. Everything else goes through
            # prepare(), which keeps it as an ingest.rejected event.
            try:
                value = loads(line.data)
            except decode_error:
                value = None
            if type(value) is dict:
                events.append(canonical(value))
                continue
        p = prepare(line.data, line=line.number, truncated_from=line.truncated_from)
        if p.rejected is not None:
            rejected.append((len(events), line.number, p.rejected))
        events.append(p.event)
    return Parsed(events, rejected)


def _exit_with_parent(parent: int) -> None:
    """Exit at once when the appender dies (kill -9 says no goodbye).

    A watchdog thread, because the worker may be blocked anywhere: in the middle of reading a
    chunk the parent never finished writing, for one. `os._exit`, because a normal exit would
    wait for the queue's feeder thread to flush into a pipe nobody reads.
    """

    def watch() -> None:
        while True:
            time.sleep(_POLL)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _worker_main(inbox: Any, outbox: Any, splitter: LineSplitter, parent: int) -> None:
    import gc

    gc.disable()  # short-lived objects only; the cyclic GC would just walk them
    # The parent's pid comes from the parent: asked here, it may already be init's.
    _exit_with_parent(parent)
    while True:
        chunk = inbox.get()
        parsed = parse_chunk(splitter, chunk)
        # Canonical JSON never holds a raw newline (RFC 8785 escapes it in strings), so the
        # events travel as one joined bytes object: one copy instead of thousands of pickles.
        outbox.put((b"\n".join(parsed.events), len(parsed.events), parsed.rejected))
        if chunk is None:
            return


class ParseWorker:
    """One parsing process; submit chunks in order, take their results in the same order."""

    def __init__(self, splitter: LineSplitter) -> None:
        """Start the worker; it continues from `splitter`'s state (line number, partial line)."""
        ctx = multiprocessing.get_context("spawn")
        self._inbox: Any = ctx.Queue()
        self._outbox: Any = ctx.Queue()
        self._proc = ctx.Process(
            target=_worker_main,
            args=(self._inbox, self._outbox, splitter, os.getpid()),
            daemon=True,
        )
        self._proc.start()
        self.in_flight = 0

    def submit(self, chunk: bytes | None) -> None:
        """Queue a chunk (None: end of input)."""
        self._inbox.put(chunk)
        self.in_flight += 1

    def result(self) -> Parsed:
        """The next chunk's prepared events; waits for them."""
        while True:
            try:
                joined, count, rejected = self._outbox.get(timeout=_POLL)
            except queue.Empty:
                if not self._proc.is_alive():
                    raise LedgerError(
                        f"the parsing process stopped unexpectedly (exit code {self._proc.exitcode})",
                        hint="nothing after the last acknowledged event was stored; append the rest again",
                    ) from None
                continue
            self.in_flight -= 1
            return Parsed(joined.split(b"\n") if count else [], rejected)

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=5)
        self._inbox.close()
        self._outbox.close()
        self._inbox.cancel_join_thread()
