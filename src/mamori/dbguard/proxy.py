"""The database guard's listeners: one :class:`Proxy` per ``[[dbguard]]`` table.

``mamori up`` calls :func:`start_proxies` with its ledger sink and closes the group before
the sink when it stops. ``mamori dbguard proxy`` runs one proxy alone with a sink of its own
(:func:`run_standalone`), which it can only do while no other process writes the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from mamori.audit import audit_event
from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.guard import Guard
from mamori.dbguard.outbox import EventOutbox
from mamori.dbguard.session import ClientSession, Context
from mamori.dbguard.settings import DbGuardConfig
from mamori.dbguard.stats import ProxyStats, Reading
from mamori.dbguard.upstream import Upstream, client_context
from mamori.home import Home
from mamori.ledger.errors import LedgerError
from mamori.service.contracts import EventSink
from mamori.service.log import Log

MIN_KEY_BYTES: Final = 16
GuardFactory = Callable[[DbGuardConfig], Guard]


@dataclass(frozen=True, slots=True)
class Listening:
    """Where one proxy listens (port 0 in the configuration: the port chosen)."""

    name: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def read_key(home: Home, cfg: DbGuardConfig) -> bytes | None:
    """The end-user HMAC key (the file's bytes, surrounding white space removed)."""
    if not cfg.end_user_key_file:
        return None
    path = home.path(cfg.end_user_key_file)
    try:
        key = path.read_bytes().strip()
    except OSError as e:
        raise DbGuardError(
            f'[dbguard "{cfg.name}"] cannot read end_user_key_file {path}: {e.strerror}',
            hint="create it with `openssl rand -hex 32 > FILE && chmod 600 FILE`",
        ) from e
    if len(key) < MIN_KEY_BYTES:
        raise DbGuardError(
            f'[dbguard "{cfg.name}"] the end-user key in {path} is shorter than '
            f"{MIN_KEY_BYTES} bytes",
            hint="make a longer one: `openssl rand -hex 32 > FILE`",
        )
    return key


def _bind(cfg: DbGuardConfig) -> socket.socket:
    host, port = cfg.listen.host, cfg.listen.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        reason = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be used ({e.strerror})"
        raise DbGuardError(
            f'dbguard "{cfg.name}": {host} port {port} {reason}',
            hint=f'stop the program using it, or change listen in [dbguard "{cfg.name}"]',
        ) from e
    return sock


class Proxy:
    """One listening proxy in front of one database server."""

    def __init__(
        self, home: Home, cfg: DbGuardConfig, sink: EventSink, *, log: Log, guard: Guard
    ) -> None:
        self.home = home
        self.cfg = cfg
        self.sink = sink
        self.log = log
        self.guard = guard
        self._sock: socket.socket | None = None
        self._accept: asyncio.Task[None] | None = None
        self.ctx: Context | None = None
        self.listening = Listening(cfg.name, cfg.listen.host, cfg.listen.port)

    async def start(self) -> None:
        """Check the settings and files, bind, start accepting. Raises DbGuardError."""
        cfg = self.cfg
        key = read_key(self.home, cfg)
        tls = self._client_tls() if cfg.client_tls else None
        ca = self.home.path(cfg.upstream_ca) if cfg.upstream_ca else None
        upstream = Upstream(
            cfg.upstream,
            cfg.upstream_tls,
            client_context(cfg.upstream_tls, ca),
            float(cfg.connect_timeout_s),
        )
        outbox = EventOutbox(
            self.sink, f"dbguard-{cfg.name}", self.log, per_session=cfg.events_per_session
        )
        self._sock = _bind(cfg)
        host, port = self._sock.getsockname()[:2]
        self.listening = Listening(cfg.name, str(host), int(port))
        outbox.start()
        self.ctx = Context(cfg.name, cfg, self.guard, outbox, upstream, tls, key, self.log)
        self._accept = asyncio.get_running_loop().create_task(self._accept_loop())
        self.log.info(
            "dbguard proxy listening",
            proxy=cfg.name,
            address=self.listening.address,
            upstream=str(cfg.upstream),
            upstream_tls=cfg.upstream_tls.value,
        )

    def _client_tls(self) -> ssl.SSLContext:
        from mamori.tlsutil import ensure_server_cert, server_context

        ensure_server_cert(self.home)
        tls = self.home.config().tls
        ctx = server_context(
            self.home.path(tls.cert),
            self.home.path(tls.key),
            client_ca=self.home.path(tls.client_ca) if tls.client_ca else None,
            require_client_cert=False,
        )
        ctx.set_alpn_protocols(["postgresql"])
        return ctx

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._sock is not None and self.ctx is not None
        ctx = self.ctx
        while True:
            try:
                conn, addr = await loop.sock_accept(self._sock)
            except OSError as e:  # EMFILE and the like: wait, do not spin
                self.log.error("dbguard cannot accept a connection", proxy=ctx.name, error=str(e))
                await asyncio.sleep(0.5)
                continue
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = ClientSession(ctx, conn, (str(addr[0]), int(addr[1])))
            ctx.sessions.add(session)
            task = loop.create_task(session.run())
            ctx.tasks.add(task)
            task.add_done_callback(ctx.tasks.discard)
            task.add_done_callback(_forget(ctx, session))

    def reading(self) -> Reading:
        """The counters /metrics exports for this proxy."""
        ctx = self.ctx
        if ctx is None:
            return Reading(self.cfg.name, ProxyStats(), lambda: 0, lambda: 0)
        return Reading(ctx.name, ctx.stats, lambda: len(ctx.sessions), ctx.outbox.queued)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, end the sessions (an idle client is told why), store their events."""
        if self._accept is not None:
            self._accept.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept
        if self._sock is not None:
            self._sock.close()
        ctx = self.ctx
        if ctx is None:
            return
        for s in list(ctx.sessions):
            await s.shutdown()
        if ctx.tasks:
            _done, pending = await asyncio.wait(list(ctx.tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        await ctx.outbox.close(timeout=timeout)


def _forget(ctx: Context, session: ClientSession) -> Callable[[asyncio.Task[None]], None]:
    def done(_task: asyncio.Task[None]) -> None:
        ctx.sessions.discard(session)

    return done


class ProxyGroup:
    """The proxies `mamori up` runs."""

    def __init__(
        self, proxies: Sequence[Proxy], on_close: Sequence[Callable[[], None]] = ()
    ) -> None:
        self.proxies = list(proxies)
        self.on_close = list(on_close)

    @property
    def listeners(self) -> list[Listening]:
        return [p.listening for p in self.proxies]

    def readings(self) -> list[Reading]:
        return [p.reading() for p in self.proxies]

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.proxies))
        for done in self.on_close:
            done()


async def start_proxies(
    home: Home,
    configs: Sequence[DbGuardConfig],
    sink: EventSink,
    *,
    log: Log,
    guard_factory: GuardFactory | None = None,
) -> ProxyGroup:
    """Start one proxy per ``[[dbguard]]`` table, their events going to `sink`.

    `guard_factory` builds each proxy's :class:`Guard` (default
    :class:`~mamori.dbguard.guards.FirewallGuards`: analysis, firewall, policies). Raises
    DbGuardError (a port taken, a key file missing) after closing what it had started.
    """
    started: list[Proxy] = []

    def on_error(part: str, e: BaseException) -> None:
        log.error("dbguard check failed", part=part, error=type(e).__name__)

    on_close: list[Callable[[], None]] = []
    if guard_factory is None:
        # The SQL analysis, the firewall with the home's allowlist, the policies of each table.
        from mamori.dbguard.guards import FirewallGuards

        guards = FirewallGuards(home, on_error=on_error)
        guard_factory = guards
        on_close.append(guards.close)
    try:
        for cfg in configs:
            proxy = Proxy(home, cfg, sink, log=log, guard=guard_factory(cfg))
            await proxy.start()
            started.append(proxy)
    except BaseException:
        await ProxyGroup(started, on_close).close()
        raise
    return ProxyGroup(started, on_close)


async def run_standalone(
    home: Home,
    cfg: DbGuardConfig,
    *,
    out: IO[str] | None = None,
    log: Log | None = None,
    guard_factory: GuardFactory | None = None,
    ready: Callable[[ProxyGroup], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """``mamori dbguard proxy``: one proxy with a ledger sink of its own, until SIGTERM/SIGINT
    (or `stop`). Refuses when another process (``mamori up``) writes the ledger."""
    from mamori.service.metrics import Metrics
    from mamori.service.sink import LedgerSink

    out = out if out is not None else sys.stdout
    log = log if log is not None else Log(component="dbguard")
    loop = asyncio.get_running_loop()
    sink = LedgerSink(home, metrics=Metrics(), log=log)
    try:
        await asyncio.to_thread(sink.open)
    except LedgerError as e:
        if isinstance(e.__cause__, BlockingIOError):
            raise DbGuardError(
                f"another mamori process (mamori up) writes the ledger of {home.root}",
                hint="configure the proxy as a [[dbguard]] table in mamori.toml and restart "
                "mamori up, which runs it; or stop mamori up first",
            ) from e
        raise
    sink.start(loop)
    stop = stop if stop is not None else asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        group = await start_proxies(home, [cfg], sink, log=log, guard_factory=guard_factory)
    except BaseException:
        await sink.close()
        raise
    where = {"listen": group.listeners[0].address, "upstream": str(cfg.upstream)}
    await sink.submit([audit_event("dbguard.proxy_start", fields=where)], receiver="mamori")
    _banner(out, home.root, cfg, group)
    if ready is not None:
        ready(group)
    await stop.wait()
    await group.close()
    await sink.close(final_events=[audit_event("dbguard.proxy_stop", fields=where)])
    return 0


def _banner(out: IO[str], root: Path, cfg: DbGuardConfig, group: ProxyGroup) -> None:
    lines = [
        f"mamori dbguard proxy {cfg.name}: listening on {group.listeners[0].address}",
        f"  upstream {cfg.upstream} (TLS {cfg.upstream_tls.value}); client TLS "
        f"{'on' if cfg.client_tls else 'off'}",
        f"  events to the ledger in {root}",
        "stop with Ctrl-C or SIGTERM",
    ]
    with contextlib.suppress(OSError, ValueError):
        out.write("\n".join(lines) + "\n")
        out.flush()
