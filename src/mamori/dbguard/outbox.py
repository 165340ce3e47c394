"""Statement events on their way to the ledger, without slowing the statements down.

Sessions :meth:`EventOutbox.put` events and go on forwarding; one background task hands them
to the :class:`~mamori.service.contracts.EventSink` in order (one ``submit`` at a time, each
taking everything queued so far, so batches grow with the load). Each session may have at most
``per_session`` events waiting, and the proxy at most ``max_waiting`` in all: beyond either,
:meth:`EventOutbox.full` says so and :meth:`EventOutbox.room` makes the session stop reading its
client until the ledger has caught up (back-pressure, not loss). The proxy-wide bound is what
keeps memory flat when the ledger is slower than the clients: without it, a hundred busy
sessions could hold a million events. When the sink
refuses a batch (:class:`~mamori.service.errors.SinkRejected`: the spool full under policy
``reject``), nothing of it was stored; the batch is offered again a second later, in its
place, and the sessions wait meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Final

from mamori.errors import MamoriError
from mamori.service.contracts import EventSink
from mamori.service.log import Log

BATCH_MAX: Final = 4096
MAX_WAITING: Final = 8192
"""Events a proxy holds for the ledger, all sessions (about 10 MB of statement events; the
writer takes up to BATCH_MAX at a time, so this costs no throughput)."""
RETRY_S: Final = 1.0


class EventOutbox:
    """Ordered, bounded, background delivery of events to a sink (see the module doc)."""

    def __init__(
        self,
        sink: EventSink,
        receiver: str,
        log: Log,
        *,
        per_session: int,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.sink = sink
        self.receiver = receiver
        self.log = log
        self.per_session = per_session
        self.max_waiting = max(max_waiting, per_session)
        self._queue: deque[tuple[str, bytes]] = deque()
        self._waiting: dict[str, int] = {}
        self._drained = asyncio.Event()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.delivered = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.receiver)

    def put(self, session: str, events: Sequence[bytes]) -> None:
        """Queue `events` of `session`, in order; never waits."""
        if not events:
            return
        for e in events:
            self._queue.append((session, e))
        self._waiting[session] = self._waiting.get(session, 0) + len(events)
        self._idle.clear()
        self._wake.set()

    def queued(self) -> int:
        """Events not yet handed to the sink, all sessions."""
        return len(self._queue)

    def waiting(self, session: str) -> int:
        return self._waiting.get(session, 0)

    def full(self, session: str) -> bool:
        """Whether `session` is to stop reading its client for now."""
        return (
            self._waiting.get(session, 0) > self.per_session or len(self._queue) > self.max_waiting
        )

    async def room(self, session: str) -> None:
        """Return when :meth:`full` no longer holds for `session`."""
        while self.full(session):
            await self._drained.wait()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is delivered; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (up to `timeout`), then stop."""
        if not await self.flush(timeout) and self._queue:
            self.log.error(
                "dbguard events could not be stored before stopping",
                receiver=self.receiver,
                events=len(self._queue),
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            n = min(len(self._queue), BATCH_MAX)
            batch = [self._queue[i] for i in range(n)]
            try:
                await self.sink.submit([e for _s, e in batch], receiver=self.receiver)
            except (MamoriError, OSError) as e:
                if not self._failing:
                    self.log.error(
                        "the ledger refused dbguard events; sessions wait until it takes them",
                        receiver=self.receiver,
                        error=e.message if isinstance(e, MamoriError) else str(e),
                    )
                self._failing = True
                await asyncio.sleep(RETRY_S)
                continue
            if self._failing:
                self.log.info("the ledger takes dbguard events again", receiver=self.receiver)
                self._failing = False
            for _ in range(n):
                self._queue.popleft()
            self.delivered += n
            for session, _e in batch:
                left = self._waiting.get(session, 0) - 1
                if left > 0:
                    self._waiting[session] = left
                else:
                    self._waiting.pop(session, None)
            drained, self._drained = self._drained, asyncio.Event()
            drained.set()  # every waiting session looks again
