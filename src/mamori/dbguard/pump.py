"""The two directions of an authenticated session, as transport callbacks.

Startup and authentication use asyncio streams (one awaited read at a time reads best there).
Once the session is open, every chunk either side sends goes through the tracker and on to the
other side; with streams that costs a future, a task wake-up and a ``drain`` per chunk and
direction, a large share of a short statement's time. So the pump takes the two transports
over (``transport.set_protocol``) and handles each chunk in ``data_received``, straight from the
event loop (docs/benchmarks.md, "Database guard — proxy throughput").

Flow control, as the streams gave it:

* a side whose transport's write buffer is full (``pause_writing``) stops the reading of the
  side that feeds it, until it drains (``resume_writing``);
* the client is not read while its session has more than ``events_per_session`` events waiting
  for the ledger (:meth:`EventOutbox.room`): back-pressure, not loss;
* the client is also not read while its own write buffer is full: a client that sends
  statements to be refused without reading the refusals waits.

The session's end comes back to :meth:`Pump.run` as its result or exception: ``ServerGone``
when the server goes away mid-session, :class:`~mamori.dbguard.protocol.ProtocolError` for a
client's malformed message, anything else as the bug it is.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from mamori.dbguard import protocol as p

if TYPE_CHECKING:
    from mamori.dbguard.session import ClientSession


class ServerGone(Exception):
    """The server closed the connection or broke the protocol mid-session."""


class Pump:
    """Both directions of one session (see the module docstring)."""

    def __init__(self, session: ClientSession) -> None:
        s = session
        assert s.c_reader is not None and s.c_writer is not None
        assert s.s_reader is not None and s.s_writer is not None and s.tracker is not None
        self.s = s
        self.t = s.tracker
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.c_tr: Any = s.c_writer.transport
        self.s_tr: Any = s.s_writer.transport
        self.limit = s.ctx.cfg.max_client_message_bytes
        self.outbox = s.ctx.outbox
        self.buf = bytearray()
        self.c_holds: set[str] = set()
        """Why the client is not read now: ``server_full``, ``client_full``, ``outbox``."""
        self.s_holds: set[str] = set()

    async def run(self) -> None:
        """Take the transports over and serve until the session ends."""
        s = self.s
        assert s.c_reader is not None and s.s_reader is not None
        c_old, s_old = self.c_tr.get_protocol(), self.s_tr.get_protocol()
        # What the streams already read comes first (a client may pipeline its first
        # statements behind the startup; the server its first notices behind ReadyForQuery).
        c_left, s_left = _take(s.c_reader), _take(s.s_reader)
        c_eof, s_eof = s.c_reader.at_eof(), s.s_reader.at_eof()
        self.c_tr.set_protocol(_Side(self, self.from_client, self._client_lost, c_old, "c"))
        self.s_tr.set_protocol(_Side(self, self.from_server, self._server_lost, s_old, "s"))
        self.c_tr.resume_reading()
        self.s_tr.resume_reading()
        if s_left:
            self.from_server(s_left)
        if c_left:
            self.from_client(c_left)
        if s_eof:
            self._server_lost(None)
        if c_eof:
            self._client_lost(None)
        await self.done

    # -- the end --------------------------------------------------------------------------------

    def _end(self, error: BaseException | None = None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)

    def _client_lost(self, exc: Exception | None) -> None:
        self.s.end_reason = self.s.end_reason or "client disconnected"
        self._end()

    def _server_lost(self, exc: Exception | None) -> None:
        if self.t.fatal or self.t.terminated:
            self.s.end_reason = self.s.end_reason or "server closed the session"
            self._end()
        else:
            self._end(ServerGone())

    # -- client → server --------------------------------------------------------------------------

    def from_client(self, data: bytes) -> None:
        if self.done.done():
            return
        try:
            self._from_client(data)
        except BaseException as e:  # reported by run(): this session ends, no other
            self._end(e)

    def _from_client(self, data: bytes) -> None:
        t, buf = self.t, self.buf
        buf += data
        pos = 0
        forward: list[bytes] = []
        while (got := p.frame(buf, pos, self.limit)) is not None:
            kind, start, end = got
            out = t.front(kind, bytes(buf[start:end]), bytes(buf[pos:end]))
            if out:
                forward.append(out)
            if t.to_client:  # the proxy's own answer (a refusal) when nothing is owed
                self.c_tr.write(bytes(t.to_client))
                t.to_client.clear()
            pos = end
            if t.terminated:
                break
        del buf[:pos]
        if forward:
            self.s_tr.write(b"".join(forward) if len(forward) > 1 else forward[0])
        self.s._events()
        if t.terminated:
            self.s.end_reason = "client terminated"
            self._end()
            return
        if self.outbox.full(self.s.id):
            self._hold_client("outbox")
            task = self.loop.create_task(self._wait_outbox())
            self.s.ctx.tasks.add(task)
            task.add_done_callback(self.s.ctx.tasks.discard)

    async def _wait_outbox(self) -> None:
        await self.outbox.room(self.s.id)
        self._release_client("outbox")

    # -- server → client --------------------------------------------------------------------------

    def from_server(self, data: bytes) -> None:
        if self.done.done():
            return
        try:
            self._from_server(data)
        except BaseException as e:
            self._end(e)

    def _from_server(self, data: bytes) -> None:
        t = self.t
        try:
            out = t.back(data)
        except p.ProtocolError as e:
            self.s.end_reason = "protocol violation by the server"
            self.s.ctx.log.error(
                "dbguard: the database server broke the protocol",
                proxy=self.s.ctx.name,
                error=e.message,
            )
            self.s._note("server_protocol_violation", e.message)
            raise ServerGone from e
        if out:
            self.c_tr.write(out)
        self.s._events()
        if t.want_cancel:
            t.want_cancel = ()
            task = self.loop.create_task(self.s.cancel("policy"))
            self.s.ctx.tasks.add(task)
            task.add_done_callback(self.s.ctx.tasks.discard)

    # -- flow control ---------------------------------------------------------------------------

    def _hold_client(self, why: str) -> None:
        if not self.c_holds:
            self.c_tr.pause_reading()
        self.c_holds.add(why)

    def _release_client(self, why: str) -> None:
        if why in self.c_holds:
            self.c_holds.discard(why)
            if not self.c_holds and not self.c_tr.is_closing():
                self.c_tr.resume_reading()

    def full(self, side: str) -> None:
        """`side`'s transport cannot take more for now: stop reading what feeds it."""
        if side == "s":
            self._hold_client("server_full")
        else:
            self._hold_client("client_full")
            if not self.s_holds:
                self.s_tr.pause_reading()
            self.s_holds.add("client_full")

    def drained(self, side: str) -> None:
        if side == "s":
            self._release_client("server_full")
        else:
            self._release_client("client_full")
            if "client_full" in self.s_holds:
                self.s_holds.discard("client_full")
                if not self.s_holds and not self.s_tr.is_closing():
                    self.s_tr.resume_reading()


class _Side(asyncio.Protocol):
    """One transport's callbacks, handed to the pump. The stream protocol it replaced still
    hears of the connection's end, so that the stream writer's ``wait_closed`` returns."""

    def __init__(
        self,
        pump: Pump,
        on_data: Any,
        on_lost: Any,
        old: asyncio.BaseProtocol,
        side: str,
    ) -> None:
        self.pump = pump
        self.on_data = on_data
        self.on_lost = on_lost
        self.old = old
        self.side = side

    def data_received(self, data: bytes) -> None:
        self.on_data(data)

    def eof_received(self) -> bool:
        return False  # close the transport: the session ends with either side

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost(exc)
        self.old.connection_lost(exc)

    def pause_writing(self) -> None:
        self.pump.full(self.side)

    def resume_writing(self) -> None:
        self.pump.drained(self.side)


def _take(reader: asyncio.StreamReader) -> bytes:
    """The bytes a stream reader holds and nobody read yet (taken out of it)."""
    buf: bytearray = reader._buffer  # type: ignore[attr-defined]
    data = bytes(buf)
    buf.clear()
    return data
