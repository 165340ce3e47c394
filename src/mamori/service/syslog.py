"""Syslog receivers: UDP, TCP (RFC 6587 framing) and TLS (RFC 5425), as asyncio protocols.

Each message becomes one ledger event through a :class:`~mamori.service.pipeline.Pipeline`.
A TCP or TLS connection has its own :class:`~mamori.ingest.framing.FrameDecoder`, so both
framings work per connection and a frame split across reads is reassembled; what is left when
the peer closes is kept too (flagged by the decoder). Idle connections are closed after
`[syslog] idle_timeout_s`. The device gate (APP-7) is asked about every new connection and
every datagram's source.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import cast

from mamori.ingest.framing import Frame, FrameDecoder
from mamori.ingest.normalise import Source
from mamori.service.gate import SourceGate
from mamori.service.pipeline import Pipeline
from mamori.tlsutil import peer_fingerprint


def _address(peer: object) -> tuple[str, str]:
    """(ip, "ip:port") of a socket peer address; IPv6 in brackets."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        ip, port = str(peer[0]), peer[1]
        return ip, (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
    return "", str(peer or "?")


class UdpReceiver(asyncio.DatagramProtocol):
    """One datagram, one message. Nothing can be asked to wait: what cannot be taken is
    dropped, counted, and recorded as an `ingest.loss` event when storage allows."""

    def __init__(self, pipeline: Pipeline, gate: SourceGate, max_message: int) -> None:
        self.pipeline = pipeline
        self.gate = gate
        self.max_message = max_message
        self._sources: dict[str, Source] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        ip, address = _address(addr)
        source = self._sources.get(address)
        if source is None:
            allowed, device = self.gate.check(self.pipeline.receiver, ip, None)
            if not allowed:
                return
            source = Source(self.pipeline.receiver, address, device)
            if len(self._sources) < 65536:
                self._sources[address] = source
        if self.pipeline.overloaded or not self.pipeline.sink.accepting:
            self.pipeline.sink.note_drop(self.pipeline.receiver, ip)
            return
        if len(data) > self.max_message:
            frame = Frame(data[: self.max_message], truncated_from=len(data))
        else:
            frame = Frame(data)
        self.pipeline.add([frame], source)

    def error_received(self, exc: Exception) -> None:  # ICMP errors etc.: nothing to do
        pass


class StreamReceiver(asyncio.Protocol):
    """One TCP or TLS connection carrying RFC 6587-framed syslog."""

    def __init__(
        self,
        pipeline: Pipeline,
        gate: SourceGate,
        *,
        max_message: int,
        idle_timeout: float,
        tls: bool,
    ) -> None:
        self.pipeline = pipeline
        self.gate = gate
        self.decoder = FrameDecoder(max_message)
        self.idle_timeout = idle_timeout
        self.tls = tls
        self.transport: asyncio.Transport | None = None
        self.source: Source | None = None
        self._last = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they behave as one.
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        ip, address = _address(transport.get_extra_info("peername"))
        fingerprint = None
        if self.tls:
            fingerprint = peer_fingerprint(transport.get_extra_info("ssl_object"))
        allowed, device = self.gate.check(self.pipeline.receiver, ip, fingerprint)
        if not allowed or not self.pipeline.sink.accepting:
            transport.abort()
            return
        self.source = Source(self.pipeline.receiver, address, device)
        self.pipeline.transports.add(transport)
        self.pipeline.metrics.connections.labels(self.pipeline.receiver).inc()
        if self.pipeline.paused:
            transport.pause_reading()
        self._arm()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(self.idle_timeout / 4, 0.05), self._check_idle)

    def _check_idle(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.pipeline.paused:
            self._last = time.monotonic()  # we are the ones not reading: not the peer's fault
        if time.monotonic() - self._last >= self.idle_timeout:
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._last = time.monotonic()
        if self.source is None:
            return
        if not self.pipeline.sink.accepting:
            # Spool full under policy "reject", or stopping: close, so the sender knows.
            if self.transport is not None:
                self.transport.close()
            return
        frames = self.decoder.feed(data)
        if frames:
            self.pipeline.add(frames, self.source)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None and self.source is not None:
            self.pipeline.transports.discard(self.transport)
            self.pipeline.metrics.connections.labels(self.pipeline.receiver).dec()
            with contextlib.suppress(RuntimeError):
                self.pipeline.add(self.decoder.finish(), self.source)
        self.source = None


_CERT_REFUSALS = frozenset(
    {"CERTIFICATE_VERIFY_FAILED", "PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_REQUIRED"}
)


class _TlsView:
    """What a :class:`StreamReceiver` sees of a TLS connection: the TCP transport, plus the
    TLS object as `ssl_object`. Writing never happens (syslog receivers only read)."""

    def __init__(self, plain: asyncio.Transport, tls: ssl.SSLObject) -> None:
        self._plain = plain
        self._tls = tls

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "ssl_object":
            return self._tls
        return self._plain.get_extra_info(name, default)

    def close(self) -> None:
        self._plain.close()

    def abort(self) -> None:
        self._plain.abort()

    def is_closing(self) -> bool:
        return self._plain.is_closing()

    def pause_reading(self) -> None:
        self._plain.pause_reading()

    def resume_reading(self) -> None:
        self._plain.resume_reading()


class TlsReceiver(asyncio.Protocol):
    """Syslog over TLS (RFC 5425): TLS done here with memory BIOs, then a StreamReceiver.

    Doing the handshake ourselves (rather than the event loop's SSL layer) lets a handshake
    refused for the client certificate — none, or one that no trusted CA or registered device
    vouches for — be seen and recorded as `device.unregistered` (APP-7); the event loop's SSL
    layer only reports such failures in debug mode.
    """

    def __init__(
        self,
        receiver: StreamReceiver,
        context: ssl.SSLContext,
        gate: SourceGate,
        *,
        handshake_timeout: float = 10.0,
    ) -> None:
        self.receiver = receiver
        self.gate = gate
        self.handshake_timeout = handshake_timeout
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_side=True)
        self._plain: asyncio.Transport | None = None
        self._ready = False
        self._timer: asyncio.TimerHandle | None = None
        self._ip = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._plain = cast(asyncio.Transport, transport)
        self._ip, _ = _address(transport.get_extra_info("peername"))
        self._timer = asyncio.get_running_loop().call_later(self.handshake_timeout, self._too_slow)

    def _too_slow(self) -> None:
        if not self._ready and self._plain is not None:
            self._plain.abort()

    def _flush(self) -> None:
        data = self._out.read()
        if data and self._plain is not None and not self._plain.is_closing():
            self._plain.write(data)

    def data_received(self, data: bytes) -> None:
        plain = self._plain
        if plain is None:
            return
        self._in.write(data)
        if not self._ready:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except ssl.SSLError as e:
                self._flush()  # the alert, so the client knows why
                plain.close()
                if e.reason in _CERT_REFUSALS:
                    reason = getattr(e, "verify_message", None) or str(e.reason)
                    self.gate.refused_certificate(self.receiver.pipeline.receiver, self._ip, reason)
                return
            self._ready = True
            if self._timer is not None:
                self._timer.cancel()
            self._flush()
            self.receiver.connection_made(cast(asyncio.Transport, _TlsView(plain, self._tls)))
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._tls.read(1 << 16)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLError):
                plain.close()  # close_notify, or a broken record: the connection is over
                break
            if not chunk:
                break
            chunks.append(chunk)
        self._flush()
        if chunks:
            self.receiver.data_received(b"".join(chunks))

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._ready:
            self.receiver.connection_lost(exc)
