"""`mamori up`: start every part in one asyncio process, stop them in order on a signal.

Start: check the configuration and the TLS pair, open the ledger (replaying a spool an earlier
run left), bind every socket (a taken port is an error naming it), start receivers, the HTTPS
application and file tails, record `mamori.start` (and `config.changed`, `ledger.key_used`),
print where it listens and write `HOME/run/listen.json`.

Stop (SIGTERM or SIGINT): stop accepting (listening sockets closed, HTTP finishes the requests
in flight), finish reading what connections already sent, wait until every batch is durable,
record `mamori.stop` (its commit signs the final checkpoint), exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from mamori import __version__
from mamori.access.devices import DeviceRegistry
from mamori.access.tokens import TokenVerifier
from mamori.audit import audit_event
from mamori.config import Config
from mamori.errors import MamoriError
from mamori.fsutil import write_atomic
from mamori.home import Home
from mamori.ingest.tail import run_tail
from mamori.service.detection import start_operations
from mamori.service.errors import ServiceError
from mamori.service.gate import SourceGate
from mamori.service.log import Log
from mamori.service.metrics import Metrics
from mamori.service.pipeline import Pipeline, worker_pool
from mamori.service.sink import LedgerSink
from mamori.service.syslog import StreamReceiver, TlsReceiver, UdpReceiver
from mamori.service.udpdrops import kernel_drops
from mamori.tlsutil import ensure_server_cert, server_context
from mamori.web.app import WebContext, create_app
from mamori.web.serve import serve_http

CONFIG_DIGEST_MARK = "config_digest"
UDP_RCVBUF = 8 << 20


@dataclass(slots=True)
class Listener:
    name: str
    """syslog-udp, syslog-tcp, syslog-tls, https"""
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(slots=True)
class _Parts:
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    udp: list[asyncio.DatagramTransport] = field(default_factory=list)
    pipelines: list[Pipeline] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)


def _bind(host: str, port: int, kind: int, what: str, config_key: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind, socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if kind == socket.SOCK_DGRAM:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(1024)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        reason = "is in use" if e.errno in (98, 48) else f"cannot be used ({e.strerror})"
        raise ServiceError(
            f"{what}: {host} port {port} {reason}",
            hint=f"stop the program using it, or choose another port with {config_key} in mamori.toml",
        ) from e
    return sock


def config_digest(home: Home) -> str:
    return hashlib.sha256(home.config_path.read_bytes()).hexdigest()


class Service:
    """The running service; :func:`run` drives it."""

    def __init__(self, home: Home, *, out: IO[str] | None = None, log: Log | None = None) -> None:
        self.home = home
        self.cfg: Config = home.config()
        self.out = out if out is not None else sys.stdout
        self.log = log if log is not None else Log()
        self.metrics = Metrics()
        self.sink = LedgerSink(home, metrics=self.metrics, log=self.log)
        self.parts = _Parts()
        self.stop_event = asyncio.Event()
        self._pool: Any = None
        self._ssl: ssl.SSLContext | None = None
        self._trusted: set[bytes] = set()
        self._last_good_ssl: ssl.SSLContext | None = None
        self.proxies: Any = None
        """The database guard's proxies (``[[dbguard]]``), a ProxyGroup once started."""

    # -- start --------------------------------------------------------------------------------

    async def start(self) -> None:
        t0 = time.monotonic()
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        created = ensure_server_cert(self.home)
        if created:
            self.log.info("created a self-signed server certificate", cert=cfg.tls.cert)
        self.registry = DeviceRegistry(self.home)
        self.tokens = TokenVerifier(self.home)
        await asyncio.to_thread(self.sink.open)
        self.sink.start(loop)
        self.gate = SourceGate(
            self.registry,
            self.sink,
            self.metrics,
            require_registered=cfg.devices.require_registered,
        )
        try:
            await self._start_receivers(loop)
            if cfg.dbguard:
                from mamori.dbguard.proxy import start_proxies

                self.proxies = await start_proxies(self.home, cfg.dbguard, self.sink, log=self.log)
                from mamori.dbguard.stats import DbGuardCollector

                self.metrics.registry.register(DbGuardCollector(self.proxies.readings))
                for x in self.proxies.listeners:
                    listener = Listener(f"dbguard-{x.name}", x.host, x.port)
                    self.parts.listeners.append(listener)
                    self.log.info("listening", receiver=listener.name, address=listener.address)
        except BaseException:
            await self._stop_parts()
            await self.sink.close()
            raise
        tasks, on_commit = start_operations(
            self.home, cfg, log=self.log, metrics=self.metrics, stop=self.stop_event
        )
        self.parts.tasks.extend(tasks)
        self.sink.on_commit = on_commit
        await self._record_start()
        self._write_listen()
        self._banner(time.monotonic() - t0)

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            cfg = self.cfg.tls
            trusted = self.registry.trusted_cert_pems()
            self._trusted = set(trusted)
            self._ssl = server_context(
                self.home.path(cfg.cert),
                self.home.path(cfg.key),
                client_ca=self.home.path(cfg.client_ca) if cfg.client_ca else None,
                extra_trusted=trusted,
                require_client_cert=cfg.require_client_cert,
            )
            self._last_good_ssl = self._ssl
        return self._ssl

    async def _start_receivers(self, loop: asyncio.AbstractEventLoop) -> None:
        cfg = self.cfg
        sy = cfg.syslog
        pool = self._pool = worker_pool(cfg.ingest.workers)
        max_inflight = cfg.ingest.queue_events

        def pipeline(name: str, *, lossy: bool = False) -> Pipeline:
            p = Pipeline(
                name,
                self.sink,
                pool=pool,
                timezone=sy.timezone,
                metrics=self.metrics,
                lossy=lossy,
                max_inflight=max_inflight,
            )
            p.on_reject = lambda: _close_all(p)
            self.parts.pipelines.append(p)
            return p

        if sy.udp:
            sock = _bind(sy.host, sy.port, socket.SOCK_DGRAM, "syslog over UDP", "[syslog] port")
            udp_pipe = pipeline("syslog-udp", lossy=True)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpReceiver(udp_pipe, self.gate, sy.max_message_bytes), sock=sock
            )
            self.parts.udp.append(transport)
            self._listening("syslog-udp", sock)
            self.parts.tasks.append(
                loop.create_task(self._watch_kernel_drops(os.fstat(sock.fileno()).st_ino))
            )
        if sy.tcp:
            sock = _bind(sy.host, sy.port, socket.SOCK_STREAM, "syslog over TCP", "[syslog] port")
            tcp_pipe = pipeline("syslog-tcp")
            server = await loop.create_server(
                lambda: StreamReceiver(
                    tcp_pipe,
                    self.gate,
                    max_message=sy.max_message_bytes,
                    idle_timeout=sy.idle_timeout_s,
                    tls=False,
                ),
                sock=sock,
            )
            self.parts.servers.append(server)
            self._listening("syslog-tcp", sock)
        if sy.tls:
            self._tls_context()  # a bad certificate or key fails the start, not a connection
            sock = _bind(
                sy.host, sy.tls_port, socket.SOCK_STREAM, "syslog over TLS", "[syslog] tls_port"
            )
            tls_pipe = pipeline("syslog-tls")

            def tls_receiver() -> StreamReceiver:
                return StreamReceiver(
                    tls_pipe,
                    self.gate,
                    max_message=sy.max_message_bytes,
                    idle_timeout=sy.idle_timeout_s,
                    tls=True,
                )

            server = await loop.create_server(
                lambda: TlsReceiver(tls_receiver(), self._tls_context(), self.gate), sock=sock
            )
            self.parts.servers.append(server)
            self._listening("syslog-tls", sock)
            self.parts.tasks.append(loop.create_task(self._refresh_trust()))
        if cfg.http.enabled:
            sock = _bind(cfg.http.host, cfg.http.port, socket.SOCK_STREAM, "HTTPS", "[http] port")
            app = create_app(
                WebContext(
                    sink=self.sink,
                    tokens=self.tokens,
                    source_check=lambda receiver, ip: self.gate.check(receiver, ip, None)[0],
                    metrics=self.metrics,
                    max_body_bytes=cfg.http.max_body_bytes,
                    home=self.home,
                )
            )
            self._listening("https", sock)
            self.parts.tasks.append(
                loop.create_task(
                    serve_http(
                        app,
                        sock,
                        certfile=self.home.path(cfg.tls.cert),
                        keyfile=self.home.path(cfg.tls.key),
                        stop=self.stop_event,
                    )
                )
            )
        tz = _zone(sy.timezone)
        for tail in cfg.tail:
            self.parts.tasks.append(
                loop.create_task(run_tail(tail, self.sink, tz, stop=self.stop_event))
            )
            self.log.info("following file", path=tail.path, format=tail.format)

    def _listening(self, name: str, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        listener = Listener(name, str(host), int(port))
        self.parts.listeners.append(listener)
        self.log.info("listening", receiver=name, address=listener.address)

    async def _watch_kernel_drops(self, inode: int) -> None:
        """Datagrams the kernel dropped (receive buffer full) count as losses too."""
        last = kernel_drops(inode)
        while not self.stop_event.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 1.0)
            now = kernel_drops(inode)
            if now is not None and last is not None and now > last:
                self.sink.note_drop("syslog-udp", "kernel", now - last)
            if now is not None:
                last = now

    async def _refresh_trust(self) -> None:
        """Follow the device registry: new handshakes use a TLS context rebuilt whenever the
        devices change, so a device registered while running is trusted, and a revoked one is
        refused at the handshake, within 5 s (a live context can gain anchors, never lose them)."""
        generation = self.registry.generation
        while not self.stop_event.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 5.0)
            current = self.registry.generation
            if current == generation:
                continue
            generation = current
            try:
                self._ssl = None
                self._tls_context()
                self.log.info(
                    "device registry changed: TLS trust rebuilt", devices_trusted=len(self._trusted)
                )
            except MamoriError as e:
                self.log.error(
                    "could not rebuild the TLS context; keeping the previous one", error=e.message
                )
                self._ssl = self._last_good_ssl

    async def _record_start(self) -> None:
        digest = config_digest(self.home)
        events = [
            audit_event(
                "mamori.start",
                fields={
                    "version": __version__,
                    "pid": os.getpid(),
                    "listeners": {x.name: x.address for x in self.parts.listeners},
                    "tree_size": self.sink.tree_size,
                    "config_sha256": digest,
                },
            ),
            audit_event(
                "ledger.key_used",
                fields={
                    "key": self.home.public_key_text().split("+")[0],
                    "use": "checkpoint signing",
                },
            ),
        ]
        previous = self.sink.position(CONFIG_DIGEST_MARK)
        if previous is not None and previous != digest:
            events.append(
                audit_event(
                    "config.changed",
                    fields={
                        "path": str(self.home.config_path),
                        "old_sha256": previous,
                        "new_sha256": digest,
                    },
                )
            )
        await self.sink.submit(events, receiver="mamori", marks={CONFIG_DIGEST_MARK: digest})

    def _write_listen(self) -> None:
        self.home.run_dir.mkdir(mode=0o700, exist_ok=True)
        doc = {
            "pid": os.getpid(),
            "listeners": {x.name: x.address for x in self.parts.listeners},
            "ports": {x.name: x.port for x in self.parts.listeners},
        }
        write_atomic(
            self.home.run_dir / "listen.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        )

    def _banner(self, seconds: float) -> None:
        lines = [
            f"mamori {__version__} up: home {self.home.root}, ledger size {self.sink.tree_size}"
        ]
        for x in self.parts.listeners:
            what = {
                "syslog-udp": "syslog  UDP ",
                "syslog-tcp": "syslog  TCP ",
                "syslog-tls": "syslog  TLS ",
                "https": "HTTPS       ",
            }.get(x.name, f"{x.name:<12}")
            extra = (
                f"  POST https://{x.address}/api/v1/events, GET /metrics"
                if x.name == "https"
                else ""
            )
            lines.append(f"  {what}{x.address}{extra}")
        for tail in self.cfg.tail:
            lines.append(f"  file        {tail.path} ({tail.format})")
        lines.append(f"ready in {seconds:.2f} s; stop with Ctrl-C or SIGTERM")
        with contextlib.suppress(OSError, ValueError):
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()
        self.log.info("ready", seconds=round(seconds, 3), tree_size=self.sink.tree_size)

    # -- stop ---------------------------------------------------------------------------------

    async def stop(self, reason: str) -> None:
        self.log.info("stopping", reason=reason)
        self.stop_event.set()
        await self._stop_parts()
        stop_event = audit_event("mamori.stop", fields={"reason": reason, "pid": os.getpid()})
        await self.sink.close(final_events=[stop_event])
        with contextlib.suppress(OSError):
            (self.home.run_dir / "listen.json").unlink()
        self.log.info("stopped", tree_size=self.sink.tree_size)

    async def _stop_parts(self) -> None:
        self.stop_event.set()
        if self.proxies is not None:
            proxies, self.proxies = self.proxies, None
            await proxies.close()  # their last statement events reach the sink before it closes
        for server in self.parts.servers:
            server.close()
        for t in self.parts.udp:
            t.close()
        # Connections already open finish what they sent (their final frames are added when
        # they close); give them a moment, then close them.
        for p in self.parts.pipelines:
            for transport in list(p.transports):
                transport.close()
        await asyncio.sleep(0)
        if self.parts.tasks:
            done, pending = await asyncio.wait(self.parts.tasks, timeout=15.0)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    self.log.error("a part stopped with an error", error=str(task.exception()))
        for p in self.parts.pipelines:
            await p.drain()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _close_all(p: Pipeline) -> None:
    for t in list(p.transports):
        t.close()


def _zone(name: str) -> Any:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if name == "local":
        return datetime.now().astimezone().tzinfo
    return ZoneInfo(name)


async def run(home: Home, *, ready: Callable[[Service], None] | None = None) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean stop."""
    service = Service(home)
    loop = asyncio.get_running_loop()
    stop_reason: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        if not stop_reason:
            stop_reason.append(sig.name)
            service.stop_event.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)

    def on_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # One structured line instead of asyncio's traceback; the part that failed is named.
        exc = context.get("exception")
        service.log.error(
            "unexpected error in the event loop",
            what=str(context.get("message", "")),
            error=repr(exc) if exc is not None else None,
        )

    loop.set_exception_handler(on_error)
    await service.start()
    if ready is not None:
        ready(service)
    await service.stop_event.wait()
    await service.stop(stop_reason[0] if stop_reason else "stopped")
    return 0


def listen_file(home: Home) -> Path:
    return home.run_dir / "listen.json"
