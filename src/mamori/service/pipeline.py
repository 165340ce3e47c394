"""From received frames to the sink: batched, normalised in worker processes, kept in order.

Receivers call :meth:`Pipeline.add` from their protocol callbacks. Frames gathered during one
turn of the event loop form a batch; big batches are normalised to ECS in a process pool (the
parse is CPU-bound and would otherwise hold the event loop), small ones inline (no IPC
latency). Batches reach the sink in the order they were formed, whatever order the workers
finish in. When too many events are in flight, the pipeline pauses every transport of its
receiver (TCP back-pressure: senders buffer); a lossy pipeline (UDP) drops instead and counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import cast

from mamori.ingest.framing import Frame
from mamori.ingest.normalise import Source, SyslogBatch, normalise_syslog_batch
from mamori.service.contracts import Ack
from mamori.service.errors import SinkRejected
from mamori.service.metrics import Metrics
from mamori.service.sink import LedgerSink

INLINE_MAX = 64
"""Batches up to this many frames are normalised in the event loop's process."""
BATCH_MAX = 4096


def _watch_parent(parent: int) -> None:  # pragma: no cover - runs in worker processes
    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The normalisation pool: spawned processes that exit when `mamori up` dies."""
    if workers <= 0:
        # One per CPU: the event loop's own share (framing, IPC, the writer) is about a third
        # of a worker's per message, so on two cores two workers beat one (measured: 26k → 37k
        # messages/s, docs/benchmarks.md).
        workers = max(1, os.cpu_count() or 2)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )


class Pipeline:
    """One receiver's path to the sink."""

    def __init__(
        self,
        receiver: str,
        sink: LedgerSink,
        *,
        pool: Executor | None,
        timezone: str,
        metrics: Metrics,
        lossy: bool = False,
        max_inflight: int = 65536,
    ) -> None:
        self.receiver = receiver
        self.sink = sink
        self.pool = pool
        self.timezone = timezone
        self.metrics = metrics
        self.lossy = lossy
        self.max_inflight = max_inflight
        self.transports: set[asyncio.BaseTransport] = set()
        self.on_reject: Callable[[], None] | None = None
        self._frames: list[Frame] = []
        self._ids: list[int] = []
        self._sources: list[Source] = []
        self._source_ids: dict[Source, int] = {}
        self._scheduled = False
        self._inflight = 0
        self._paused = False
        self._order: deque[tuple[asyncio.Future[list[bytes]], list[Source], list[int]]] = deque()
        self._consumer: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def overloaded(self) -> bool:
        return self._inflight >= self.max_inflight

    def add(self, frames: list[Frame], source: Source) -> None:
        """Take frames from one source (call from the event loop)."""
        if not frames:
            return
        self.metrics.received.labels(self.receiver).inc(len(frames))
        sid = self._source_ids.get(source)
        if sid is None:
            sid = self._source_ids[source] = len(self._sources)
            self._sources.append(source)
        self._frames.extend(frames)
        self._ids.extend([sid] * len(frames))
        if len(self._frames) >= BATCH_MAX:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what has been gathered on its way now."""
        self._scheduled = False
        if not self._frames:
            return
        batch = SyslogBatch(
            self._frames, self._ids, self._sources, time.time_ns() // 1000, self.timezone
        )
        sources, ids = self._sources, self._ids
        self._frames, self._ids, self._sources, self._source_ids = [], [], [], {}
        n = len(batch.frames)
        self._inflight += n
        self._idle.clear()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[bytes]]
        if self.pool is None or n <= INLINE_MAX:
            fut = loop.create_future()
            fut.set_result(normalise_syslog_batch(batch))
        else:
            try:
                fut = asyncio.wrap_future(self.pool.submit(normalise_syslog_batch, batch))
            except (BrokenProcessPool, RuntimeError):
                fut = loop.create_future()
                fut.set_result(normalise_syslog_batch(batch))
        self._order.append((fut, sources, ids))
        if self._inflight >= self.max_inflight and not self.lossy:
            self._pause()
        if self._consumer is None or self._consumer.done():
            self._consumer = loop.create_task(self._consume())

    async def _consume(self) -> None:
        while self._order:
            fut, sources, ids = self._order[0]
            try:
                events = await fut
            except BrokenProcessPool:
                events = []
            self._order.popleft()
            n = len(ids)
            if not events and n:
                self._done(n)
                continue
            if self.lossy:
                if not self.sink.offer(events, receiver=self.receiver):
                    for sid in ids:
                        self.sink.note_drop(self.receiver, sources[sid].address or "?")
                    self._done(n)
                    continue
                self._done(n)  # queued in the sink; its room is the sink's business now
                continue
            try:
                durable = await self.sink.enqueue(events, receiver=self.receiver)
            except SinkRejected:
                self._rejected(n)
                continue
            durable.add_done_callback(functools.partial(self._settled, n=n))
        if self._inflight == 0:
            self._idle.set()

    def _settled(self, fut: asyncio.Future[Ack], *, n: int) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._rejected(n)
            return
        self._done(n)

    def _rejected(self, n: int) -> None:
        self.metrics.rejected.labels(self.receiver).inc(n)
        self._done(n)
        if self.on_reject is not None:
            self.on_reject()

    def _done(self, n: int) -> None:
        self._inflight -= n
        if self._paused and self._inflight <= self.max_inflight // 2:
            self._resume()
        if self._inflight == 0 and not self._order:
            self._idle.set()

    def _pause(self) -> None:
        self._paused = True
        for t in list(self.transports):
            with contextlib.suppress(RuntimeError, AttributeError):
                cast(asyncio.ReadTransport, t).pause_reading()

    def _resume(self) -> None:
        self._paused = False
        for t in list(self.transports):
            if not t.is_closing():
                with contextlib.suppress(RuntimeError, AttributeError):
                    cast(asyncio.ReadTransport, t).resume_reading()

    @property
    def paused(self) -> bool:
        return self._paused

    async def drain(self) -> None:
        """Wait until everything added so far is durable (or refused)."""
        self.flush()
        await self._idle.wait()
