"""Shared pieces of the web tests: fakes for what is outside the web package, a throwaway TLS
certificate, and the real application served by the real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from mamori.service.contracts import Ack
from mamori.service.errors import SinkRejected
from mamori.service.metrics import Metrics
from mamori.web import WebContext, create_app, serve_http

MAX_BODY = 256 * 1024
"""The body limit of the test server: small, so 413s are cheap to provoke."""

INGEST = "mamori_ingest-token-for-tests"
METRICS = "mamori_metrics-token-for-tests"
TOKENS = {INGEST: ("sender-1", "ingest"), METRICS: ("prometheus", "metrics")}


@dataclass(frozen=True)
class Who:
    name: str
    scope: str


class FakeTokens:
    """TokenCheck over a fixed table: one scope per token, like the real verifier."""

    def __init__(self, table: Mapping[str, tuple[str, str]]) -> None:
        self.table = dict(table)

    def verify(self, token: str, scope: str) -> Who | None:
        entry = self.table.get(token)
        if entry is None or entry[1] != scope:
            return None
        return Who(*entry)


@dataclass
class FakeSink:
    """An EventSink over a list: stores (mode "store"), spools, rejects, or waits first."""

    mode: str = "store"
    delay: float = 0.0
    events: list[bytes] = field(default_factory=list)
    calls: int = 0

    async def submit(
        self,
        events: Sequence[bytes],
        *,
        receiver: str,
        marks: Mapping[str, str] | None = None,
    ) -> Ack:
        assert receiver == "http"
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "reject":
            raise SinkRejected(
                "the spool is full and the policy is reject", hint="retry in a few seconds"
            )
        first = len(self.events)
        self.events.extend(events)
        if self.mode == "spool":
            return Ack(count=len(events), first=None, spooled=True)
        return Ack(count=len(events), first=first)

    def offer(self, events: Sequence[bytes], *, receiver: str) -> bool:
        raise AssertionError("the HTTP receiver never offers")

    def position(self, key: str) -> str | None:
        return None

    def docs(self) -> list[dict[str, Any]]:
        return [orjson.loads(e) for e in self.events]

    def reset(self) -> None:
        self.mode, self.delay, self.events, self.calls = "store", 0.0, [], 0


@dataclass
class FakeSources:
    """The device registry: refuses the addresses in `refused`, remembers every check."""

    refused: set[str] = field(default_factory=set)
    checked: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, receiver: str, ip: str) -> bool:
        self.checked.append((receiver, ip))
        return ip not in self.refused


@dataclass(frozen=True)
class Cert:
    certfile: Path
    keyfile: Path


def make_cert(directory: Path) -> Cert:
    """A self-signed P-256 certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mamori test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = directory / "server.crt", directory / "server.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Cert(certfile, keyfile)


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    return make_cert(tmp_path_factory.mktemp("tls"))


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class ServerThread:
    """serve_http on its own event loop in a thread; `stop()` sets the stop event."""

    def __init__(self, app: FastAPI, cert: Cert) -> None:
        self.sock = listening_socket()
        self.port: int = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, args=(app, cert), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self, app: FastAPI, cert: Cert) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve_http(
                app, self.sock, certfile=cert.certfile, keyfile=cert.keyfile, stop=self._stop
            )

        try:
            asyncio.run(main())
        except BaseException as e:  # reported to the test that stops the server
            self.error = e
            self._ready.set()

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "serve_http did not return after stop"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


@dataclass
class Live:
    """The served application and its fakes."""

    url: str
    port: int
    cafile: Path
    sink: FakeSink
    sources: FakeSources
    metrics: Metrics
    app: FastAPI

    def counter(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(f"{name}_total", {"receiver": "http"})
        return value or 0.0


def make_app(sink: FakeSink, sources: FakeSources, metrics: Metrics) -> FastAPI:
    ctx = WebContext(
        sink=sink,
        tokens=FakeTokens(TOKENS),
        source_check=sources,
        metrics=metrics,
        max_body_bytes=MAX_BODY,
    )
    app = create_app(ctx)

    @app.get("/api/v1/test-boom")
    async def boom() -> None:
        # Names the token, as careless code might: the log line must not.
        raise RuntimeError(f"boom while handling {INGEST}")

    return app


@pytest.fixture(scope="session")
def _live(cert: Cert) -> Iterator[Live]:
    sink, sources, metrics = FakeSink(), FakeSources(), Metrics()
    app = make_app(sink, sources, metrics)
    server = ServerThread(app, cert)
    yield Live(server.url, server.port, cert.certfile, sink, sources, metrics, app)
    server.stop()
    assert server.error is None, server.error


@pytest.fixture
def live(_live: Live) -> Live:
    """The session's server, its sink and registry reset for the test."""
    _live.sink.reset()
    _live.sources.refused.clear()
    _live.sources.checked.clear()
    return _live
