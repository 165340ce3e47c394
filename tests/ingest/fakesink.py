"""An in-memory :class:`~mamori.service.contracts.EventSink` for receiver tests.

It stores each batch's events and marks together (as the ledger sink does in one
transaction), can be told to refuse submissions, and lets a test wait until events arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mamori.service.contracts import Ack, EventSink
from mamori.service.errors import SinkRejected


@dataclass
class Batch:
    """One accepted submission."""

    receiver: str
    events: list[bytes]
    marks: dict[str, str]


@dataclass
class FakeSink:
    """Stores events in memory; `marks` start as given (a restarted service's stored marks)."""

    marks: dict[str, str] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)
    reject_next: int = 0
    """Refuse this many of the next submissions (SinkRejected), then accept again."""
    rejecting: bool = False
    """Refuse every submission while True."""
    offer_room: bool = True
    """What :meth:`offer` answers."""
    calls: int = 0
    refused: int = 0
    _changed: asyncio.Event | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    # --- the protocol ------------------------------------------------------------------------

    async def submit(
        self,
        events: Sequence[bytes],
        *,
        receiver: str,
        marks: Mapping[str, str] | None = None,
    ) -> Ack:
        self.calls += 1
        await asyncio.sleep(0)  # a real sink always yields to the loop
        if self.rejecting or self.reject_next > 0:
            self.reject_next = max(0, self.reject_next - 1)
            self.refused += 1
            raise SinkRejected("the fake sink was told to refuse")
        return self._store(events, receiver, marks)

    def offer(self, events: Sequence[bytes], *, receiver: str) -> bool:
        if not self.offer_room:
            return False
        self._store(events, receiver, None)
        return True

    def position(self, key: str) -> str | None:
        return self.marks.get(key)

    # --- for tests ---------------------------------------------------------------------------

    @property
    def events(self) -> list[bytes]:
        return [e for b in self.batches for e in b.events]

    def docs(self) -> list[dict[str, Any]]:
        """The stored events, decoded."""
        out: list[dict[str, Any]] = []
        for e in self.events:
            value = orjson.loads(e)
            assert isinstance(value, dict)
            out.append(value)
        return out

    async def wait_until(
        self, predicate: Callable[[FakeSink], bool], timeout: float = 10.0
    ) -> None:
        """Wait until `predicate(self)` holds after some submission (TimeoutError if not)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await self._event().wait()
                self._event().clear()

    def _event(self) -> asyncio.Event:
        # One event per loop: a test may run the sink under several asyncio.run calls.
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._changed, self._loop = asyncio.Event(), loop
        return self._changed

    def _store(
        self, events: Sequence[bytes], receiver: str, marks: Mapping[str, str] | None
    ) -> Ack:
        first = sum(len(b.events) for b in self.batches)
        batch = Batch(receiver, list(events), dict(marks or {}))
        # Events and marks in one step, as the ledger stores them in one transaction.
        self.batches.append(batch)
        self.marks.update(batch.marks)
        with contextlib.suppress(RuntimeError):  # offer() may be called outside a loop
            self._event().set()
        return Ack(count=len(batch.events), first=first)


def _conforms(sink: FakeSink) -> EventSink:
    return sink  # mypy checks that FakeSink implements the protocol
