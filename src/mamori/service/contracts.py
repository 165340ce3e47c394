"""What the receivers and the HTTP application need from the service, as protocols.

Receivers depend on these, not on the sink's implementation, so each is tested with a small
in-memory sink and the real one is swapped in by `mamori up`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Ack:
    """A batch made durable: either stored in the ledger or, while storage fails, spooled."""

    count: int
    first: int | None
    """Ledger index of the batch's first event; None when the batch went to the spool (its
    indices are given when the spool is replayed)."""
    spooled: bool = False

    @property
    def indices(self) -> range | None:
        return None if self.first is None else range(self.first, self.first + self.count)


class EventSink(Protocol):
    """Where receivers hand canonical event bytes (see :mod:`mamori.ledger.canonical`)."""

    async def submit(
        self,
        events: Sequence[bytes],
        *,
        receiver: str,
        marks: Mapping[str, str] | None = None,
    ) -> Ack:
        """Store `events` in order; return once they are durable.

        Waits while the writer's queue is full (back-pressure: the caller stops reading its
        socket meanwhile). Raises :class:`mamori.service.errors.SinkRejected` when the events
        cannot be taken (spool full under policy "reject", or the service stopping); then
        nothing of them was stored. `marks` are positions (e.g. a tailed file's offset) stored
        atomically with the events, read back with :meth:`position`.
        """
        ...

    def offer(self, events: Sequence[bytes], *, receiver: str) -> bool:
        """Queue `events` without waiting (UDP); False when there is no room now (the caller
        counts them as dropped). Queued events are made durable like submitted ones."""
        ...

    def position(self, key: str) -> str | None:
        """The last mark stored for `key` (ledger or spool), None if none."""
        ...
