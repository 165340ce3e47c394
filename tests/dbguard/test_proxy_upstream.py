"""The proxy's leg to the server: TLS modes, SCRAM over two TLS connections, the server
going away, a server that cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import asyncpg  # type: ignore[import-untyped]
import psycopg
import pytest

from mamori.dbguard.settings import Address, UpstreamTls
from tests.dbguard.harness import ProxyRunner
from tests.dbguard.pg import PgCluster


class Relay:
    """A TCP forwarder between the proxy and the server, to cut the line at will."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        with contextlib.suppress(OSError):
            b.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """The server is gone: every connection reset, nothing more accepted."""
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)  # wakes the pipe threads, ends the line
                s.close()


@pytest.fixture
def relay(pg: PgCluster) -> Iterator[Relay]:
    r = Relay(("127.0.0.1", pg.port))
    try:
        yield r
    finally:
        r.cut()


def test_server_gone_mid_session_gives_08006(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner], relay: Relay
) -> None:
    r = run_proxy(upstream=Address("127.0.0.1", relay.port))
    with psycopg.connect(pg.dsn("app", port=r.port), autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        threading.Timer(0.5, relay.cut).start()
        with pytest.raises(psycopg.OperationalError) as caught:
            conn.execute("SELECT pg_sleep(5)")
        assert caught.value.sqlstate == "08006"
        assert "connection to the database server was lost" in str(caught.value)
    queries = r.events("query")
    assert queries[-1]["event"]["outcome"] == "failure"
    assert queries[-1]["mamori"]["dbguard"]["sqlstate"] == "08006"
    assert r.events("disconnect")[0]["mamori"]["dbguard"]["reason"] == "server disconnected"


def test_server_unreachable(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = int(s.getsockname()[1])
    r = run_proxy(upstream=Address("127.0.0.1", dead))
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(pg.dsn("app", port=r.port))
    assert "database server is unreachable" in str(caught.value)
    (failure,) = r.events("connect")
    assert failure["event"]["outcome"] == "failure"
    assert failure["mamori"]["dbguard"]["sqlstate"] == "08006"


def test_require_refuses_a_server_without_tls(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    plain = socket.create_server(("127.0.0.1", 0))
    port = int(plain.getsockname()[1])

    def say_no() -> None:
        with contextlib.suppress(OSError):
            conn, _ = plain.accept()
            conn.recv(8)
            conn.sendall(b"N")
            time.sleep(0.5)
            conn.close()

    threading.Thread(target=say_no, daemon=True).start()
    try:
        r = run_proxy(upstream=Address("127.0.0.1", port), upstream_tls=UpstreamTls.REQUIRE)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.dsn("app", port=r.port))
        (failure,) = r.events("connect")
        assert "does not offer TLS" in failure["mamori"]["dbguard"]["error"]
    finally:
        plain.close()


def _psql(pg: PgCluster, r: ProxyRunner, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            "psql",
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ],
        env=pg.env("app", PGPORT=str(r.port), **env),
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_verify_full_to_the_server_and_scram(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy(
        upstream=Address("localhost", pg.port),
        upstream_tls=UpstreamTls.VERIFY_FULL,
        upstream_ca=str(pg.ca_file),
    )
    # A client in clear text: the server offers SCRAM-SHA-256-PLUS over the proxy's TLS, the
    # proxy hides it, the client does plain SCRAM.
    plain = _psql(pg, r, PGSSLMODE="disable")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == b"t"  # the server sees TLS: the proxy's
    # TLS on both legs, channel binding off: plain SCRAM works.
    both = _psql(pg, r, PGSSLMODE="require", PGCHANNELBINDING="disable")
    assert both.returncode == 0, both.stderr
    # TLS on both legs, libpq's default channel_binding=prefer: RFC 5802's downgrade check
    # would fail at the server; the proxy says why and what to do.
    prefer = _psql(pg, r, PGSSLMODE="require")
    assert prefer.returncode == 2
    assert b"channel binding cannot cross the database guard" in prefer.stderr
    assert b"channel_binding=disable" in prefer.stderr
    # Demanding channel binding cannot work through a TLS-terminating proxy at all.
    required = _psql(pg, r, PGSSLMODE="require", PGCHANNELBINDING="require")
    assert required.returncode == 2
    failures = r.events("auth_failure")
    assert [f["mamori"]["dbguard"]["sqlstate"] for f in failures] == ["28000"]


def test_asyncpg_over_tls_on_both_legs(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy(
        upstream=Address("localhost", pg.port),
        upstream_tls=UpstreamTls.VERIFY_FULL,
        upstream_ca=str(pg.ca_file),
    )
    ctx = ssl.create_default_context(cafile=str(r.home.root / "tls" / "server.crt"))

    async def work() -> object:
        conn = await asyncpg.connect(
            host="localhost",
            port=r.port,
            user="app",
            password=pg.password("app"),
            database="app",
            ssl=ctx,
        )
        try:
            return await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        finally:
            await conn.close()

    assert asyncio.run(work()) is True


def test_verify_full_refuses_a_wrong_certificate(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy(
        upstream=Address("127.0.0.1", pg.port),
        upstream_tls=UpstreamTls.VERIFY_FULL,
        upstream_ca="tls/server.crt",  # mamori's own certificate: not the server's CA
    )
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn("app", port=r.port))
    (failure,) = r.events("connect")
    assert "TLS with the database server" in failure["mamori"]["dbguard"]["error"]


def test_server_killed_mid_session(run_proxy: Callable[..., ProxyRunner]) -> None:
    doomed = PgCluster.create()  # a cluster of its own: this one is shut down hard
    try:
        r = run_proxy(upstream=Address("127.0.0.1", doomed.port))
        with psycopg.connect(doomed.dsn("app", port=r.port), autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            threading.Timer(0.5, doomed.stop, kwargs={"mode": "immediate"}).start()
            with pytest.raises(psycopg.OperationalError) as caught:
                conn.execute("SELECT pg_sleep(10)")
            assert caught.value.sqlstate == "08006", caught.value
        assert r.events("query")[-1]["mamori"]["dbguard"]["sqlstate"] == "08006"
    finally:
        doomed.destroy()
