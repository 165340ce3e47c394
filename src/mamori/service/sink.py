"""The ledger sink: receivers hand it events; one writer thread makes them durable.

Everything that reaches the ledger in `mamori up` goes through :class:`LedgerSink`:

- **Group commit.** Receivers enqueue batches (asyncio side); the writer thread takes whatever
  is queued (up to `[ledger] batch_max_events`) and commits it as one transaction with a signed
  checkpoint. A batch's future resolves only after that commit returned: acknowledged means
  durable.
- **Back-pressure.** The queue holds at most `[ingest] queue_events`; `enqueue` waits for room,
  and the receivers stop reading their sockets meanwhile. UDP cannot wait: `offer` returns False
  and the receiver counts the datagram as dropped.
- **Storage failure.** When a commit fails (disk full, read-only, locked, the file gone), the
  writer switches to the disk spool (:mod:`mamori.ledger.spool`): it appends a signed-later
  `ledger.store_unavailable` event and then every batch, fsynced, and acknowledges them as
  spooled. Once a second it tries the ledger again; when a commit works it replays the spool in
  order, then records `ledger.store_recovered` (and `ingest.loss` for dropped UDP datagrams)
  and goes back to direct commits. The last replayed spool sequence number is stored in the
  ledger's `meta` table in the same transaction as the events, so a crash between the ledger
  commit and the spool's cursor commit cannot store a record twice.
- **Spool full.** Policy `block`: batches stay queued, the queue fills, receivers stop reading.
  Policy `reject`: queued batches fail with :class:`SinkRejected` (HTTP 503, connections
  closed) until the spool has room again.
- **Marks.** A batch may carry marks (a tailed file's position): stored in `meta` atomically
  with its events, or as mark records in the spool right after them.
- **Outbox.** Audit events that commands recorded while this process held the writer lock are
  drained into the ledger (last drained id kept in `meta`, same transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mamori import audit
from mamori.home import Home
from mamori.ledger.errors import LedgerError
from mamori.ledger.spool import Position, Spool, SpoolError, SpoolFull
from mamori.ledger.writer import Sequencer, put_meta
from mamori.service.contracts import Ack
from mamori.service.errors import SinkRejected
from mamori.service.log import Log
from mamori.service.metrics import Metrics

MARK_PREFIX = "mark:"
SPOOL_HWM = "spool_replayed"
OUTBOX_HWM = "outbox_drained"
_MARK_RECORD = b"\x00mark "
"""Spool records starting with this are marks (JSON object), not events: an event is JSON and
always starts with `{`."""
RETRY_INTERVAL_S = 1.0


@dataclass(slots=True)
class _Item:
    events: Sequence[bytes]
    receiver: str
    marks: Mapping[str, str] | None
    future: asyncio.Future[Ack] | None
    enqueued: float


@dataclass(slots=True)
class _Loss:
    """UDP datagrams dropped while nothing could take them, per receiver and source."""

    count: int = 0
    first: float = 0.0
    last: float = 0.0
    sources: dict[str, int] = field(default_factory=dict)


class LedgerSink:
    """The :class:`mamori.service.contracts.EventSink` of `mamori up` (see the module doc)."""

    def __init__(self, home: Home, *, metrics: Metrics, log: Log) -> None:
        cfg = home.config()
        self.home = home
        self.metrics = metrics
        self.log = log
        self.batch_max = cfg.ledger.batch_max_events
        self.capacity = cfg.ingest.queue_events
        self.policy = cfg.spool.policy
        self._spool_dir = home.path(cfg.spool.path)
        self._spool_max = cfg.spool.max_bytes
        self._queue: deque[_Item] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._room: asyncio.Event | None = None
        self._closing = False
        self._rejecting = False
        self._thread: threading.Thread | None = None
        self._seq: Sequencer | None = None
        self._spool: Spool | None = None
        self._spooling = False
        self._spool_since = 0.0
        self._spooled_count = 0
        self._next_retry = 0.0
        self._next_recover = 0.0
        self._marks: dict[str, str] = {}
        self._losses: dict[str, _Loss] = {}
        self._loss_lock = threading.Lock()
        self._last_commit = time.monotonic()
        self.on_commit: Callable[[], None] | None = None
        """Called in the writer thread after each commit (live detection is woken by it)."""
        self._final_error: BaseException | None = None
        self._spool_full_blocking = False

    # -- life cycle (event loop side) ---------------------------------------------------------

    def open(self) -> None:
        """Open the ledger and the spool, replay what an earlier run spooled; synchronous.

        Refuses to start (LedgerError) when the ledger cannot be opened at all: nothing has
        been accepted yet, so failing loudly loses nothing.
        """
        self._seq = Sequencer(self.home)
        self._spool = Spool(self._spool_dir, max_bytes=self._spool_max)
        report = self._spool.open_report
        if not report.clean:
            self.log.warning(
                "spool repaired on open",
                discarded_bytes=report.discarded_bytes,
                damaged=[str(d.segment) for d in report.damage],
            )
        self._marks = {
            k[len(MARK_PREFIX) :]: v for k, v in self._seq.meta_prefix(MARK_PREFIX).items()
        }
        if report.records_pending:
            self.log.info(
                "replaying the spool left by an earlier run", records=report.records_pending
            )
            self._spooling = True
            self._spool_since = time.monotonic()
            self._collect_spooled_marks()
            self._try_recover()
        self.metrics.tree_size.set(self._seq.size)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer thread (after :meth:`open`)."""
        self._loop = loop
        self._room = asyncio.Event()
        self._room.set()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    async def close(self, final_events: Sequence[bytes] = ()) -> None:
        """Stop accepting, make everything queued durable, commit `final_events`, stop."""
        with self._cond:
            if final_events:
                self._queue.append(_Item(final_events, "mamori", None, None, time.monotonic()))
                self._queued += len(final_events)
            self._closing = True
            self._cond.notify_all()
        if self._room is not None:
            self._room.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        if self._seq is not None:
            self._seq.close()
        if self._spool is not None:
            self._spool.close()

    @property
    def accepting(self) -> bool:
        """False while batches are being refused (spool full under policy reject, stopping)."""
        return not (self._rejecting or self._closing)

    @property
    def spooling(self) -> bool:
        return self._spooling

    @property
    def tree_size(self) -> int:
        return 0 if self._seq is None else self._seq.size

    # -- EventSink ----------------------------------------------------------------------------

    async def submit(
        self,
        events: Sequence[bytes],
        *,
        receiver: str,
        marks: Mapping[str, str] | None = None,
    ) -> Ack:
        return await (await self.enqueue(events, receiver=receiver, marks=marks))

    async def enqueue(
        self,
        events: Sequence[bytes],
        *,
        receiver: str,
        marks: Mapping[str, str] | None = None,
    ) -> asyncio.Future[Ack]:
        """Queue `events` (waiting for room) and return the future of their durability.

        Order is kept: batches enqueued one after another are stored in that order.
        """
        if not events:
            raise ValueError("an empty batch cannot be submitted")
        assert self._loop is not None and self._room is not None, "start() the sink first"
        while True:
            if not self.accepting:
                raise self._rejection()
            with self._cond:
                if self._queued == 0 or self._queued + len(events) <= self.capacity:
                    fut: asyncio.Future[Ack] = self._loop.create_future()
                    self._queue.append(
                        _Item(
                            events, receiver, dict(marks) if marks else None, fut, time.monotonic()
                        )
                    )
                    self._queued += len(events)
                    self._cond.notify()
                    return fut
                self._room.clear()
            await self._room.wait()

    def offer(self, events: Sequence[bytes], *, receiver: str) -> bool:
        if not events or not self.accepting:
            return False
        with self._cond:
            if self._queued and self._queued + len(events) > self.capacity:
                return False
            self._queue.append(_Item(events, receiver, None, None, time.monotonic()))
            self._queued += len(events)
            self._cond.notify()
        return True

    def position(self, key: str) -> str | None:
        return self._marks.get(key)

    def note_drop(self, receiver: str, source: str, count: int = 1) -> None:
        """Count UDP datagrams a receiver had to drop; recorded as `ingest.loss` later."""
        now = time.time()
        with self._loss_lock:
            loss = self._losses.get(receiver)
            if loss is None:
                loss = self._losses[receiver] = _Loss(first=now)
            loss.count += count
            loss.last = now
            if source in loss.sources or len(loss.sources) < 1000:
                loss.sources[source] = loss.sources.get(source, 0) + count
        self.metrics.dropped.labels(receiver).inc(count)

    def _rejection(self) -> SinkRejected:
        if self._closing:
            return SinkRejected(
                "mamori is stopping and accepts no more events",
                hint="send them again once it is back",
            )
        return SinkRejected(
            "the ledger's storage is unavailable and the spool is full",
            hint="free space on the ledger's or the spool's volume; events are accepted again "
            "as soon as either has room",
        )

    # -- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop_forever()
        except BaseException as e:  # the thread must never die silently
            self._final_error = e
            self.log.error("the ledger writer stopped", error=str(e))
            self._fail_all(e)

    def _loop_forever(self) -> None:
        next_tick = 0.0
        last_chance = False
        while True:
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + RETRY_INTERVAL_S
                self._tick()
            with self._cond:
                while not self._closing:
                    if self._queue and not (
                        self._blocked() and time.monotonic() < self._next_retry
                    ):
                        break
                    timeout = next_tick - time.monotonic()
                    if timeout <= 0:
                        break
                    self._cond.wait(timeout)
                closing = self._closing
                if closing and self._blocked() and not last_chance:
                    last_chance = True  # one more try at storage and spool before giving up
                    self._next_retry = 0.0
                    next_tick = 0.0
                    continue
                retry_blocked = (
                    self._blocked() and bool(self._queue) and time.monotonic() >= self._next_recover
                )
            if retry_blocked:
                self._try_recover()  # storage first: the blocked batches may go straight in
            with self._cond:
                items = self._take()
            if items:
                self._process(items)
            elif closing:
                with self._cond:
                    stuck = list(self._queue)
                    self._queue.clear()
                    self._queued = 0
                # Stopping while the spool is full under "block": these batches were never
                # acknowledged; refuse them rather than wait forever.
                self._reject(stuck)
                break
        self._tick()

    def _blocked(self) -> bool:
        return self._spooling and self._spool_full_blocking

    def _take(self) -> list[_Item]:
        if self._blocked() and time.monotonic() < self._next_retry:
            return []
        items: list[_Item] = []
        n = 0
        while self._queue and (not items or n + len(self._queue[0].events) <= self.batch_max):
            item = self._queue.popleft()
            items.append(item)
            n += len(item.events)
        return items

    def _released(self, items: Sequence[_Item]) -> None:
        n = sum(len(i.events) for i in items)
        with self._cond:
            self._queued -= n
        loop, room = self._loop, self._room
        if loop is not None and room is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(room.set)

    def _requeue(self, items: Sequence[_Item]) -> None:
        with self._cond:
            self._queue.extendleft(reversed(items))

    def _process(self, items: list[_Item]) -> None:
        if not self._spooling and self._seq is not None and not self._seq.same_file():
            self._switch_to_spool(
                LedgerError(
                    f"the ledger database {self.home.ledger_db} was removed or replaced",
                    hint="restore it or remount its volume",
                )
            )
        if not self._spooling:
            try:
                self._commit_direct(items)
                return
            except LedgerError as e:
                self._switch_to_spool(e)
        self._spool_items(items)

    def _commit_direct(self, items: Sequence[_Item]) -> None:
        seq = self._seq
        assert seq is not None
        events: list[bytes] = []
        marks: dict[str, str] = {}
        for item in items:
            events.extend(item.events)
            if item.marks:
                marks.update(item.marks)
        pairs = [(MARK_PREFIX + k, v) for k, v in marks.items()]
        committed = seq.commit(
            events, also=(lambda conn, _first: put_meta(conn, pairs)) if pairs else None
        )
        self._marks.update(marks)
        self._after_commit(committed.tree_size)
        first = committed.first
        results: list[tuple[asyncio.Future[Ack] | None, Ack]] = []
        for item in items:
            results.append((item.future, Ack(len(item.events), first)))
            self.metrics.appended.labels(item.receiver).inc(len(item.events))
            first += len(item.events)
        self._released(items)
        self._resolve(results)

    def _after_commit(self, tree_size: int) -> None:
        self._last_commit = time.monotonic()
        self.metrics.tree_size.set(tree_size)
        hook = self.on_commit
        if hook is not None:
            hook()

    def _spool_items(self, items: list[_Item]) -> None:
        spool = self._spool
        assert spool is not None
        try:
            spool.append(_records(items))
            done = len(items)
        except SpoolError:
            # Too big together: spool what fits, one batch at a time, in order.
            done = 0
            for item in items:
                try:
                    spool.append(_records([item]))
                except SpoolError as e:
                    if not isinstance(e, SpoolFull):
                        self.log.error("the spool cannot be written either", error=e.message)
                    break
                done += 1
        if done:
            self._spooled(items[:done])
        if done < len(items):
            self._spool_is_full(items[done:])

    def _spooled(self, items: list[_Item]) -> None:
        spool = self._spool
        assert spool is not None
        if self._spool_full_blocking or self._rejecting:
            self.log.info("the spool has room again")
        self._spool_full_blocking = False
        self._rejecting = False
        for item in items:
            if item.marks:
                self._marks.update(item.marks)
            self.metrics.spooled.labels(item.receiver).inc(len(item.events))
        self._spooled_count += sum(len(i.events) for i in items)
        self.metrics.spool_bytes.set(spool.stats().bytes_used)
        self._released(items)
        self._resolve([(i.future, Ack(len(i.events), None, spooled=True)) for i in items])

    def _spool_is_full(self, items: list[_Item]) -> None:
        if self.policy == "reject":
            if not self._rejecting:
                self.log.error(
                    "storage unavailable and spool full: rejecting events (policy reject)"
                )
            self._rejecting = True
            self._reject(items)
            return
        if not self._spool_full_blocking:
            self.log.error("storage unavailable and spool full: receivers paused (policy block)")
        self._spool_full_blocking = True
        self._next_retry = time.monotonic() + RETRY_INTERVAL_S
        self._requeue(items)

    def _reject(self, items: Sequence[_Item]) -> None:
        error = self._rejection()
        for item in items:
            self.metrics.rejected.labels(item.receiver).inc(len(item.events))
            if item.future is None:
                self.note_drop(item.receiver, "queued", len(item.events))
        self._released(items)
        self._fail([i.future for i in items], error)

    def _switch_to_spool(self, error: LedgerError) -> None:
        self._spooling = True
        self._spool_since = time.monotonic()
        self._spooled_count = 0
        self._next_recover = time.monotonic() + RETRY_INTERVAL_S
        self.metrics.spooling.set(1)
        self.metrics.store_unavailable.inc()
        self.log.error(
            "ledger storage unavailable: spooling", error=error.message, spool=str(self._spool_dir)
        )
        event = audit.audit_event(
            "ledger.store_unavailable",
            outcome="failure",
            fields={
                "error": error.message,
                "hint": error.hint or "",
                "spool": str(self._spool_dir),
            },
        )
        assert self._spool is not None
        try:
            self._spool.append([event])
        except SpoolError as e:
            self.log.error("could not spool the store_unavailable event", error=e.message)

    # -- periodic work ------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._spooling:
            if time.monotonic() >= self._next_recover or self._closing:
                self._try_recover()
        else:
            self._drain_outbox()
            self._record_losses()
        self._update_gauges()

    def _update_gauges(self) -> None:
        now = time.monotonic()
        with self._cond:
            oldest = self._queue[0].enqueued if self._queue else now
            queued = self._queued
        self.metrics.writer_lag.set(now - oldest)
        self.metrics.queue_events.set(queued)
        self.metrics.checkpoint_age.set(now - self._last_commit)
        if self._spool is not None:
            with contextlib.suppress(SpoolError, OSError):
                self.metrics.spool_bytes.set(self._spool.stats().bytes_used)

    def _try_recover(self) -> None:
        """Replay the spool into the ledger; back to direct commits when it is empty."""
        self._next_recover = time.monotonic() + RETRY_INTERVAL_S
        spool = self._spool
        assert spool is not None
        try:
            seq = self._reopen()
            hwm = int(seq.meta(SPOOL_HWM) or 0)
            replayed = 0
            for position, records in spool.pending(batch_records=self.batch_max):
                replayed += self._replay(seq, position, records, hwm)
                spool.commit(position)
        except (LedgerError, SpoolError) as e:
            self.log.warning("the ledger is still unavailable", error=e.message)
            return
        duration = time.monotonic() - self._spool_since
        self._spooling = False
        self._spool_full_blocking = False
        self._rejecting = False
        self.metrics.spooling.set(0)
        self.metrics.spool_bytes.set(spool.stats().bytes_used)
        self.log.info(
            "ledger storage is back: spool replayed", events=replayed, seconds=round(duration, 3)
        )
        event = audit.audit_event(
            "ledger.store_recovered",
            fields={"replayed_records": replayed, "unavailable_seconds": round(duration, 3)},
        )
        try:
            self._after_commit(seq.commit([event]).tree_size)
        except LedgerError as e:
            self._switch_to_spool(e)
            return
        self._record_losses()

    def _reopen(self) -> Sequencer:
        seq = self._seq
        if seq is not None and seq.same_file() and not seq.broken:
            return seq
        if seq is not None:
            seq.close()
            self._seq = None
        self._seq = Sequencer(self.home)
        return self._seq

    def _replay(self, seq: Sequencer, position: Position, records: list[bytes], hwm: int) -> int:
        events: list[bytes] = []
        marks: dict[str, str] = {}
        for s, record in zip(position.seqs(), records, strict=True):
            if s <= hwm:
                continue  # stored by a run that died before committing the spool's cursor
            if record.startswith(_MARK_RECORD):
                with contextlib.suppress(orjson.JSONDecodeError):
                    value = orjson.loads(record[len(_MARK_RECORD) :])
                    if isinstance(value, dict):
                        marks.update({str(k): str(v) for k, v in value.items()})
            else:
                events.append(record)
        pairs = [(MARK_PREFIX + k, v) for k, v in marks.items()]
        pairs.append((SPOOL_HWM, str(position.last)))
        if events:
            committed = seq.commit(events, also=lambda conn, _first: put_meta(conn, pairs))
            self._after_commit(committed.tree_size)
        else:
            seq.set_meta(pairs)
        return len(events)

    def _collect_spooled_marks(self) -> None:
        """Marks of batches still in the spool are newer than those in the ledger."""
        assert self._spool is not None
        try:
            for _pos, records in self._spool.pending():
                for record in records:
                    if record.startswith(_MARK_RECORD):
                        with contextlib.suppress(orjson.JSONDecodeError):
                            value = orjson.loads(record[len(_MARK_RECORD) :])
                            if isinstance(value, dict):
                                self._marks.update({str(k): str(v) for k, v in value.items()})
        except SpoolError as e:
            self.log.error("could not read marks from the spool", error=e.message)

    def _drain_outbox(self) -> None:
        seq = self._seq
        if seq is None:
            return
        try:
            after = int(seq.meta(OUTBOX_HWM) or 0)
            rows = audit.pending(self.home, after, 1000)
            if not rows:
                return
            last = rows[-1][0]
            pairs = [(OUTBOX_HWM, str(last))]
            committed = seq.commit(
                [e for _i, e in rows], also=lambda conn, _f: put_meta(conn, pairs)
            )
            self._after_commit(committed.tree_size)
            audit.prune(self.home, last)
        except LedgerError as e:
            self.log.warning("could not drain the audit outbox", error=e.message)
        except Exception as e:  # the outbox is a convenience: never stop the writer for it
            self.log.warning("could not drain the audit outbox", error=str(e))

    def _record_losses(self) -> None:
        with self._loss_lock:
            losses, self._losses = self._losses, {}
        if not losses or self._seq is None:
            return
        events = [_loss_event(receiver, loss) for receiver, loss in sorted(losses.items())]
        try:
            self._after_commit(self._seq.commit(events).tree_size)
        except LedgerError as e:
            with self._loss_lock:  # keep the counts; they are recorded once storage is back
                for receiver, loss in losses.items():
                    cur = self._losses.setdefault(receiver, _Loss(first=loss.first))
                    cur.count += loss.count
                    cur.first = min(cur.first, loss.first)
                    cur.last = max(cur.last, loss.last)
                    for src, n in loss.sources.items():
                        cur.sources[src] = cur.sources.get(src, 0) + n
            self._switch_to_spool(e)

    # -- resolving futures --------------------------------------------------------------------

    def _resolve(self, results: Sequence[tuple[asyncio.Future[Ack] | None, Ack]]) -> None:
        loop = self._loop
        if loop is None:
            return
        pairs = [(f, a) for f, a in results if f is not None]
        if pairs:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_set_results, pairs)

    def _fail(self, futures: Sequence[asyncio.Future[Ack] | None], error: BaseException) -> None:
        loop = self._loop
        live = [f for f in futures if f is not None]
        if loop is not None and live:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_set_errors, live, error)

    def _fail_all(self, error: BaseException) -> None:
        with self._cond:
            items = list(self._queue)
            self._queue.clear()
            self._queued = 0
            self._closing = True
        self._fail([i.future for i in items], SinkRejected(f"the ledger writer stopped: {error}"))


def _records(items: Sequence[_Item]) -> list[bytes]:
    """Spool records of queued batches: each batch's events, then its marks if any."""
    records: list[bytes] = []
    for item in items:
        records.extend(item.events)
        if item.marks:
            records.append(_MARK_RECORD + orjson.dumps(dict(item.marks)))
    return records


def _set_results(pairs: Sequence[tuple[asyncio.Future[Ack], Ack]]) -> None:
    for fut, ack in pairs:
        if not fut.done():
            fut.set_result(ack)


def _set_errors(futures: Sequence[asyncio.Future[Ack]], error: BaseException) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_exception(error)


def _loss_event(receiver: str, loss: _Loss) -> bytes:
    top = sorted(loss.sources.items(), key=lambda kv: (-kv[1], kv[0]))[:100]
    fields: dict[str, Any] = {
        "receiver": receiver,
        "dropped": loss.count,
        "first": _iso(loss.first),
        "last": _iso(loss.last),
        "sources": [{"address": a, "dropped": n} for a, n in top],
        "sources_total": len(loss.sources),
    }
    return audit.audit_event("ingest.loss", outcome="failure", fields=fields)


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
