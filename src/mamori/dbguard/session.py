"""One client connection through the proxy: startup, authentication, then the two pumps.

1. **Startup** (on the raw socket, one packet at a time, so nothing the client sends after an
   SSLRequest can be taken as plain text once TLS starts — CVE-2021-23214): SSLRequest gets
   ``S`` and a TLS handshake with mamori's certificate when ``client_tls`` is on, else ``N``;
   GSSENCRequest gets ``N``; a CancelRequest is mapped to the real backend and forwarded
   (§55.2.7); the StartupMessage opens the connection to the server and is forwarded as is.
2. **Authentication** passes through: the server asks, the client answers, the proxy never
   reads a password. One rewrite: ``SCRAM-SHA-256-PLUS`` is removed from the server's SASL
   offer, because channel binding binds the client to the TLS connection it sees — the
   proxy's — while the server checks its own (docs/dbguard.md, "SCRAM and channel binding").
   The server's BackendKeyData is kept by the proxy, and the client gets a key of the proxy's.
3. **The pumps**: client → server and server → client, each message through the
   :class:`~mamori.dbguard.tracker.Tracker`; events go to the outbox; the client is read only
   while the outbox has room for its session.

Whatever a client sends ends at most its own session: a malformed message gets ErrorResponse
08P01 and the connection closed; the server going away gets ErrorResponse 08006.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import Final

from mamori.dbguard import events as ev
from mamori.dbguard import protocol as p
from mamori.dbguard.facts import Session, Verdict
from mamori.dbguard.guard import Guard
from mamori.dbguard.outbox import EventOutbox
from mamori.dbguard.pump import Pump, ServerGone
from mamori.dbguard.settings import DbGuardConfig
from mamori.dbguard.stats import ProxyStats
from mamori.dbguard.tracker import Tracker
from mamori.dbguard.upstream import Upstream, UpstreamError, connect, send_cancel
from mamori.service.log import Log

STARTUP_SERVER_LIMIT: Final = 1 << 20
"""Longest server message taken during authentication (GSS tokens, SASL data)."""
LOST: Final = "08006"
VIOLATION: Final = "08P01"
SHUTDOWN: Final = "57P01"
TOO_MANY: Final = "53300"
REFUSED: Final = "42501"
CANCELLED: Final = "57014"


class ClientGone(Exception):
    """The client closed its connection."""


@dataclass(slots=True)
class Keys:
    """The cancel keys the proxy gave its clients, and the server's keys behind them."""

    by_pid: dict[int, tuple[bytes, ClientSession]] = field(default_factory=dict)

    def issue(self, session: ClientSession, key_len: int) -> tuple[int, bytes]:
        while True:
            pid = secrets.randbelow(2**31 - 2) + 1
            if pid not in self.by_pid:
                break
        key = secrets.token_bytes(key_len)
        self.by_pid[pid] = (key, session)
        return pid, key

    def release(self, pid: int) -> None:
        self.by_pid.pop(pid, None)

    def find(self, pid: int, key: bytes) -> ClientSession | None:
        entry = self.by_pid.get(pid)
        if entry is None or not hmac.compare_digest(entry[0], key):
            return None
        return entry[1]


@dataclass(slots=True)
class Context:
    """What every session of one proxy shares."""

    name: str
    cfg: DbGuardConfig
    guard: Guard
    outbox: EventOutbox
    upstream: Upstream
    client_tls: ssl.SSLContext | None
    end_user_key: bytes | None
    log: Log
    keys: Keys = field(default_factory=Keys)
    sessions: set[ClientSession] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stats: ProxyStats = field(default_factory=ProxyStats)
    refusal_logged: float = 0.0


class ClientSession:
    """One client connection (see the module docstring)."""

    def __init__(self, ctx: Context, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.ctx = ctx
        self.sock = sock
        self.peer = peer
        self.id = secrets.token_hex(8)
        self.session = Session(self.id, "", "", client_ip=peer[0], client_port=peer[1])
        self.c_reader: asyncio.StreamReader | None = None
        self.c_writer: asyncio.StreamWriter | None = None
        self.s_reader: asyncio.StreamReader | None = None
        self.s_writer: asyncio.StreamWriter | None = None
        self.tracker: Tracker | None = None
        self.backend: tuple[int, bytes] | None = None
        self.our_pid = 0
        self.started = time.monotonic()
        self.opened = False
        self.end_reason = ""
        self.upstream_tls = False
        self._enc = "utf-8"
        self._version = "3.0"

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the client until either side is done; never raises."""
        try:
            await self._run()
        except (ClientGone, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            self.end_reason = self.end_reason or "client disconnected"
        except ServerGone:
            self.end_reason = self.end_reason or "server disconnected"
            await self._say_fatal(LOST, "mamori: the connection to the database server was lost")
        except TimeoutError:
            self.end_reason = "startup timed out"
            await self._say_fatal(VIOLATION, "mamori: the connection startup took too long")
        except p.ProtocolError as e:
            self.ctx.stats.protocol_violations += 1
            self.end_reason = "protocol violation by the client"
            self.ctx.log.warning(
                "dbguard: a client broke the protocol",
                proxy=self.ctx.name,
                client=self.peer[0],
                error=e.message,
            )
            self._note("client_protocol_violation", e.message)
            await self._say_fatal(VIOLATION, f"mamori: invalid message: {e.message}")
        except asyncio.CancelledError:
            self.end_reason = self.end_reason or "proxy stopped"
        except Exception as e:  # a bug: this session ends, the proxy goes on
            self.end_reason = "internal error"
            self.ctx.log.error(
                "dbguard: a session ended by an internal error",
                proxy=self.ctx.name,
                session=self.id,
                error=type(e).__name__,
            )
            await self._say_fatal("XX000", "mamori: internal error in the database guard")
        finally:
            await self._close()

    async def _run(self) -> None:
        cfg = self.ctx.cfg
        async with asyncio.timeout(cfg.startup_timeout_s):
            start = await self._negotiate()
            if start is None:
                return
            if not self._admitted():
                await self._say_fatal(
                    TOO_MANY,
                    "mamori: sorry, too many clients already",
                    hint="the database guard's max_client_connections is reached; "
                    "try again later or raise it",
                )
                return
            if not await self._open(start):
                return
            if not await self._authenticate():
                return
        self.opened = True
        self.ctx.outbox.put(
            self.id,
            [
                ev.connect_event(
                    self.session, proxy=self.ctx.name, at=time.time(), protocol=self._version
                )
            ],
        )
        await self._pump()

    def _admitted(self) -> bool:
        """Whether one more session fits under ``max_client_connections`` (counted as
        PostgreSQL counts: sessions past their startup message)."""
        ctx = self.ctx
        ctx.stats.sessions_total += 1
        if len(ctx.sessions) <= ctx.cfg.max_client_connections:
            return True
        ctx.stats.sessions_refused += 1
        self.end_reason = "too many connections"
        now = time.monotonic()
        if now - ctx.refusal_logged >= 60:
            ctx.refusal_logged = now
            ctx.log.warning(
                "dbguard: refusing connections, max_client_connections reached",
                proxy=ctx.name,
                limit=ctx.cfg.max_client_connections,
            )
        return False

    async def _close(self) -> None:
        t = self.tracker
        if t is not None:
            t.end(f"the session ended: {self.end_reason or 'closed'}")
            self._events()
        if self.opened:
            self.ctx.outbox.put(
                self.id,
                [
                    ev.disconnect_event(
                        self.session,
                        proxy=self.ctx.name,
                        at=time.time(),
                        duration_s=time.monotonic() - self.started,
                        statements=t.statements if t else 0,
                        rows_returned=t.rows_total if t else 0,
                        reason=self.end_reason or "closed",
                    )
                ],
            )
        if self.our_pid:
            self.ctx.keys.release(self.our_pid)
        for w in (self.s_writer, self.c_writer):
            if w is not None:
                w.close()
        if self.c_writer is None:
            self.sock.close()
        for w in (self.s_writer, self.c_writer):
            if w is not None:
                with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
                    async with asyncio.timeout(2):
                        await w.wait_closed()

    async def shutdown(self) -> None:
        """The proxy is stopping: tell an idle client why, then close."""
        t = self.tracker
        if t is not None and t.idle and self.c_writer is not None:
            self.end_reason = "proxy stopped"
            with contextlib.suppress(OSError, RuntimeError):
                self.c_writer.write(
                    p.error_response(
                        SHUTDOWN,
                        "mamori: terminating connection: the database guard is stopping",
                        severity="FATAL",
                        enc=self._enc,
                    )
                )
        for w in (self.c_writer, self.s_writer):
            if w is not None:
                w.close()

    # -- startup ------------------------------------------------------------------------------

    async def _recv_raw(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        buf = bytearray()
        while len(buf) < n:
            chunk = await loop.sock_recv(self.sock, n - len(buf))
            if not chunk:
                raise ClientGone
            buf += chunk
        return bytes(buf)

    async def _startup_packet(self) -> p.StartupPacket:
        if self.c_reader is None:
            head = await self._recv_raw(4)
            return p.decode_startup(await self._recv_raw(p.startup_length(head) - 4))
        head = await self.c_reader.readexactly(4)
        return p.decode_startup(await self.c_reader.readexactly(p.startup_length(head) - 4))

    async def _wrap(self, tls: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 16)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol,
            self.sock,
            ssl=tls,
            ssl_handshake_timeout=self.ctx.cfg.startup_timeout_s if tls else None,
        )
        self.c_reader = reader
        self.c_writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        if tls is not None:
            self.session = replace(
                self.session, tls=True, tls_client=_subject(transport.get_extra_info("peercert"))
            )

    async def _negotiate(self) -> p.StartupMessage | None:
        loop = asyncio.get_running_loop()
        asked_ssl = asked_gss = False
        while True:
            pkt = await self._startup_packet()
            if isinstance(pkt, p.SSLRequest) and not asked_ssl and self.c_reader is None:
                asked_ssl = True
                if self.ctx.client_tls is None:
                    await loop.sock_sendall(self.sock, b"N")
                    continue
                await loop.sock_sendall(self.sock, b"S")
                await self._wrap(self.ctx.client_tls)
                continue
            if isinstance(pkt, p.GSSENCRequest) and not asked_gss and self.c_reader is None:
                asked_gss = True  # GSSAPI encryption is not offered
                await loop.sock_sendall(self.sock, b"N")
                continue
            if isinstance(pkt, (p.SSLRequest, p.GSSENCRequest)):
                raise p.ProtocolError("encryption was asked for twice")
            break
        if self.c_reader is None:
            await self._wrap(None)
        if isinstance(pkt, p.CancelRequest):
            await self._forward_cancel(pkt)
            return None
        assert isinstance(pkt, p.StartupMessage)
        self._version = f"{pkt.version >> 16}.{pkt.version & 0xFFFF}"
        user = pkt.get("user")
        if not user:
            raise p.ProtocolError("the startup message names no user")
        self.session = replace(
            self.session,
            role=_clean(user),
            database=_clean(pkt.get("database") or user),
            application=_clean(pkt.get("application_name")),
        )
        return pkt

    async def _forward_cancel(self, req: p.CancelRequest) -> None:
        target = self.ctx.keys.find(req.pid, req.key)
        if target is None:
            return  # as PostgreSQL: an unknown key gets no answer
        await target.cancel("client")

    async def cancel(self, by: str) -> None:
        """Cancel what this session's backend is running (a client's request or a policy)."""
        if self.backend is None:
            return
        pid, key = self.backend
        try:
            await send_cancel(self.ctx.upstream, pid, key)
        except (UpstreamError, OSError, ssl.SSLError) as e:
            self.ctx.log.warning(
                "dbguard: could not send a cancel request", proxy=self.ctx.name, error=str(e)
            )
            return
        self.ctx.stats.cancels += 1
        self.ctx.outbox.put(
            self.id, [ev.cancel_event(self.session, proxy=self.ctx.name, at=time.time(), by=by)]
        )

    async def _open(self, start: p.StartupMessage) -> bool:
        try:
            self.s_reader, self.s_writer, self.upstream_tls = await connect(self.ctx.upstream)
        except UpstreamError as e:
            self.end_reason = "server unreachable"
            self.ctx.log.warning(
                "dbguard: cannot reach the database server", proxy=self.ctx.name, error=e.message
            )
            self.ctx.outbox.put(
                self.id,
                [
                    ev.connect_failure_event(
                        self.session,
                        proxy=self.ctx.name,
                        at=time.time(),
                        sqlstate=LOST,
                        error=e.message,
                    )
                ],
            )
            await self._say_fatal(LOST, "mamori: the database server is unreachable")
            return False
        self.s_writer.write(start.encode())
        return True

    async def _server_message(self) -> tuple[int, bytes, bytes]:
        assert self.s_reader is not None
        try:
            head = await self.s_reader.readexactly(5)
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            raise ServerGone from e
        length = int.from_bytes(head[1:5], "big")
        if length < 4 or length > STARTUP_SERVER_LIMIT:
            raise ServerGone
        try:
            payload = await self.s_reader.readexactly(length - 4)
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            raise ServerGone from e
        return head[0], payload, head + payload

    async def _client_message(self) -> tuple[int, bytes, bytes]:
        assert self.c_reader is not None
        head = await self.c_reader.readexactly(5)
        length = int.from_bytes(head[1:5], "big")
        if length < 4 or length > self.ctx.cfg.max_client_message_bytes:
            raise p.ProtocolError(f"a message claims {length} bytes")
        payload = await self.c_reader.readexactly(length - 4)
        return head[0], payload, head + payload

    async def _authenticate(self) -> bool:
        """Relay authentication; True once the server is ready for queries."""
        assert self.c_writer is not None and self.s_writer is not None
        hid_plus = False
        while True:
            kind, payload, raw = await self._server_message()
            if kind == 0x52:  # R
                auth = p.decode_backend(kind, payload)
                assert isinstance(auth, p.Authentication)
                if p.SCRAM_PLUS in auth.mechanisms:
                    auth = auth.without(p.SCRAM_PLUS)
                    raw = auth.encode()
                    hid_plus = True
                self.c_writer.write(raw)
                if auth.expects_response:
                    ckind, cpayload, craw = await self._client_message()
                    if ckind != 0x70:
                        raise p.ProtocolError("an authentication answer was expected")
                    if (
                        auth.code == p.AUTH_SASL
                        and hid_plus
                        and self.upstream_tls
                        and p.sasl_initial(cpayload).gs2_flag == "y"
                    ):
                        await self._refuse_channel_binding()
                        return False
                    self.s_writer.write(craw)
                continue
            if kind == 0x4B:  # K
                key = p.decode_backend(kind, payload)
                assert isinstance(key, p.BackendKeyData)
                self.backend = (key.pid, key.key)
                self.our_pid, ours = self.ctx.keys.issue(self, len(key.key))
                self.c_writer.write(p.BackendKeyData(self.our_pid, ours).encode())
                continue
            if kind == 0x45:  # E
                err = p.decode_backend(kind, payload, self._enc)
                assert isinstance(err, p.ErrorResponse)
                self._auth_failed(err)
                self.c_writer.write(raw)
                await self.c_writer.drain()
                return False
            if kind == 0x53:  # S
                ps = p.decode_backend(kind, payload)
                assert isinstance(ps, p.ParameterStatus)
                if ps.name == "client_encoding":
                    self._enc = p.codec(ps.value)
                elif ps.name == "application_name":
                    self.session = replace(self.session, application=_clean(ps.value))
            elif kind == 0x5A:  # Z
                status = p.decode_backend(kind, payload)
                assert isinstance(status, p.ReadyForQuery)
                self.c_writer.write(raw)
                self._start_tracker(status.status)
                return True
            elif kind not in (0x4E, 0x76):  # NoticeResponse, NegotiateProtocolVersion
                raise ServerGone
            self.c_writer.write(raw)

    def _auth_failed(self, err: p.ErrorResponse) -> None:
        self.end_reason = "authentication failed"
        state = err.sqlstate
        at = time.time()
        if state.startswith("28"):
            event = ev.auth_failure_event(
                self.session, proxy=self.ctx.name, at=at, sqlstate=state, error=err.get("M")
            )
        else:  # e.g. 3D000 no such database, 53300 too many connections
            event = ev.connect_failure_event(
                self.session, proxy=self.ctx.name, at=at, sqlstate=state, error=err.get("M")
            )
        self.ctx.outbox.put(self.id, [event])

    async def _refuse_channel_binding(self) -> None:
        # RFC 5802 §6: a client that supports channel binding says "y" when the server offers
        # none; a server that does support it (PostgreSQL over TLS does) must then fail the
        # exchange as a downgrade. The proxy cannot make both ends agree, so it says why.
        self.end_reason = "channel binding cannot cross the proxy"
        self.ctx.outbox.put(
            self.id,
            [
                ev.auth_failure_event(
                    self.session,
                    proxy=self.ctx.name,
                    at=time.time(),
                    sqlstate="28000",
                    error="SCRAM channel binding cannot cross the database guard",
                )
            ],
        )
        await self._say_fatal(
            "28000",
            "mamori: SCRAM channel binding cannot cross the database guard, which ends TLS",
            hint="connect with channel_binding=disable (libpq, psycopg), or set "
            '[[dbguard]] upstream_tls = "disable" for a server on a trusted network',
        )

    def _start_tracker(self, status: str) -> None:
        t = Tracker(
            self.session,
            self.ctx.guard,
            end_user_key=self.ctx.end_user_key,
            end_user_max_age_s=self.ctx.cfg.end_user_max_age_s,
        )
        t.enc = self._enc
        t.txn = status
        self.tracker = t

    # -- the pumps ----------------------------------------------------------------------------

    async def _pump(self) -> None:
        await Pump(self).run()

    # -- events -------------------------------------------------------------------------------

    def _events(self) -> None:
        t = self.tracker
        if t is None or not (t.finished or t.notes):
            return
        name, log_text = self.ctx.name, self.ctx.cfg.log_statement_text
        out: list[bytes] = []
        stats = self.ctx.stats
        stats.statements += len(t.finished)
        for f in t.finished:
            stats.rows_returned += f.result.rows_returned
            if not f.result.ok:
                stats.statements_failed += 1
                if f.result.sqlstate in (REFUSED, CANCELLED) and (
                    f.decision.verdict is Verdict.BLOCK or f.result.cancelled_by
                ):
                    stats.statements_blocked += 1
            out.append(
                ev.statement_event(
                    f.stmt,
                    f.result,
                    f.analysis,
                    f.decision,
                    proxy=name,
                    operation=f.operation,
                    log_text=log_text,
                    extra=f.extra,
                )
            )
            if f.decision.verdict >= Verdict.ALERT:
                stats.statements_alerted += 1
                out.append(
                    ev.decision_event(
                        f.stmt,
                        f.analysis,
                        f.decision,
                        proxy=name,
                        operation=f.operation,
                        log_text=log_text,
                    )
                )
        t.finished.clear()
        for n in t.notes:
            if n.kind == "end_user_unverified" and n.claim is not None:
                out.append(
                    ev.end_user_event(
                        n.session, proxy=name, at=n.at, claimed=n.claim.user, problem=n.detail
                    )
                )
            else:
                what, _, detail = n.detail.partition(": ")
                out.append(
                    ev.anomaly_event(n.session, proxy=name, at=n.at, anomaly=what, detail=detail)
                )
        t.notes.clear()
        self.session = t.session
        self.ctx.outbox.put(self.id, out)

    def _note(self, anomaly: str, detail: str) -> None:
        if not self.session.role:
            return  # before the startup message: nothing to attribute it to
        self.ctx.outbox.put(
            self.id,
            [
                ev.anomaly_event(
                    self.session,
                    proxy=self.ctx.name,
                    at=time.time(),
                    anomaly=anomaly,
                    detail=detail,
                )
            ],
        )

    async def _say_fatal(self, sqlstate: str, text: str, *, hint: str = "") -> None:
        """Send the client a FATAL ErrorResponse if it can still be told anything."""
        data = p.error_response(sqlstate, text, hint=hint, severity="FATAL", enc=self._enc)
        with contextlib.suppress(OSError, RuntimeError, ssl.SSLError):
            if self.c_writer is not None:
                if self.tracker is not None and not self.tracker.idle:
                    self.tracker.to_client.clear()
                self.c_writer.write(data)
                async with asyncio.timeout(2):
                    await self.c_writer.drain()
            else:
                loop = asyncio.get_running_loop()
                async with asyncio.timeout(2):
                    await loop.sock_sendall(self.sock, data)


def _clean(text: str) -> str:
    return ev.clean(text)[:256]


def _subject(cert: object) -> str:
    """An RFC 4514-style subject from ``getpeercert()``'s dictionary ("" without one)."""
    if not isinstance(cert, dict):
        return ""
    rdns = cert.get("subject") or ()
    parts: list[str] = []
    for rdn in rdns:
        for attr in rdn:
            if isinstance(attr, tuple) and len(attr) == 2:
                short = {"commonName": "CN", "organizationName": "O", "countryName": "C"}.get(
                    str(attr[0]), str(attr[0])
                )
                parts.append(f"{short}={attr[1]}")
    return ",".join(reversed(parts))
