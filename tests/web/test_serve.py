"""serve_http: uvicorn in the caller's event loop, on the caller's socket, stopped by an event."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import threading
import time
from pathlib import Path
from types import FrameType

import httpx
import pytest

from mamori.service.metrics import Metrics
from mamori.web import WebError, serve_http, tls_context
from tests.web.conftest import (
    INGEST,
    Cert,
    FakeSink,
    FakeSources,
    ServerThread,
    listening_socket,
    make_app,
    make_cert,
)


def _client(cert: Cert) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(cert.certfile)), timeout=30)


def test_stop_waits_for_the_request_in_flight(cert: Cert) -> None:
    sink = FakeSink(delay=1.0)
    server = ServerThread(make_app(sink, FakeSources(), Metrics()), cert)
    answers: list[httpx.Response] = []

    def send() -> None:
        with _client(cert) as c:
            answers.append(
                c.post(
                    server.url + "/api/v1/events",
                    content=b'{"a": 1}',
                    headers={
                        "Authorization": f"Bearer {INGEST}",
                        "Content-Type": "application/json",
                    },
                )
            )

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 10
    while sink.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.calls == 1  # the request is in the sink, not yet answered
    started = time.monotonic()
    server.stop()
    sender.join(10)
    assert server.error is None, server.error
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json() == {"accepted": 1, "first": 0, "last": 0}
    assert time.monotonic() - started < 5
    # The listening socket is closed: nothing answers on the port any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_stop_before_start_returns(cert: Cert) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        stop.set()
        sock = listening_socket()
        app = make_app(FakeSink(), FakeSources(), Metrics())
        await asyncio.wait_for(
            serve_http(app, sock, certfile=cert.certfile, keyfile=cert.keyfile, stop=stop), 15
        )
        assert sock.fileno() == -1

    asyncio.run(main())


def test_signal_handlers_stay_the_hosts(cert: Cert) -> None:
    # Run in the main thread, where uvicorn would otherwise install its own handlers.
    assert threading.current_thread() is threading.main_thread()
    seen: list[int] = []

    def host_handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    previous = {s: signal.signal(s, host_handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:

        async def main() -> None:
            stop = asyncio.Event()
            sock = listening_socket()
            port = sock.getsockname()[1]
            app = make_app(FakeSink(), FakeSources(), Metrics())
            task = asyncio.create_task(
                serve_http(app, sock, certfile=cert.certfile, keyfile=cert.keyfile, stop=stop)
            )
            context = ssl.create_default_context(cafile=str(cert.certfile))
            async with httpx.AsyncClient(verify=context) as c:
                r = await c.get(f"https://127.0.0.1:{port}/api/v1/health")
                assert r.status_code == 200
            assert signal.getsignal(signal.SIGTERM) is host_handler
            assert signal.getsignal(signal.SIGINT) is host_handler
            signal.raise_signal(signal.SIGTERM)  # the host sees it; the server keeps serving
            await asyncio.sleep(0.3)
            assert not task.done()
            stop.set()
            await asyncio.wait_for(task, 15)

        asyncio.run(main())
        assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is host_handler
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_cancelling_closes_the_socket(cert: Cert) -> None:
    async def main() -> None:
        sock = listening_socket()
        app = make_app(FakeSink(), FakeSources(), Metrics())
        task = asyncio.create_task(
            serve_http(
                app, sock, certfile=cert.certfile, keyfile=cert.keyfile, stop=asyncio.Event()
            )
        )
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sock.fileno() == -1

    asyncio.run(main())


@pytest.mark.parametrize("problem", ["missing", "mismatched", "not pem"])
def test_certificate_problems_are_web_errors(cert: Cert, tmp_path: Path, problem: str) -> None:
    certfile, keyfile = cert.certfile, cert.keyfile
    if problem == "missing":
        certfile = tmp_path / "nope.crt"
    elif problem == "mismatched":
        keyfile = make_cert(tmp_path / "other").keyfile
    else:
        keyfile = tmp_path / "garbage.key"
        keyfile.write_text("not a key\n")

    async def main() -> None:
        sock = listening_socket()
        app = make_app(FakeSink(), FakeSources(), Metrics())
        with pytest.raises(WebError) as exc:
            await asyncio.wait_for(
                serve_http(app, sock, certfile=certfile, keyfile=keyfile, stop=asyncio.Event()), 15
            )
        assert exc.value.hint
        assert sock.fileno() == -1
        if problem == "missing":
            assert "nope.crt" in exc.value.message

    asyncio.run(main())


def test_unusable_socket_is_a_web_error(cert: Cert) -> None:
    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        app = make_app(FakeSink(), FakeSources(), Metrics())
        with pytest.raises(WebError) as exc:
            await asyncio.wait_for(
                serve_http(
                    app, sock, certfile=cert.certfile, keyfile=cert.keyfile, stop=asyncio.Event()
                ),
                15,
            )
        assert "could not start" in exc.value.message
        assert sock.fileno() == -1

    asyncio.run(main())


def test_tls_context_is_tls_1_2_or_later(cert: Cert) -> None:
    context = tls_context(cert.certfile, cert.keyfile)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert all(c["protocol"] in ("TLSv1.2", "TLSv1.3") for c in context.get_ciphers())
    assert all("ECDHE" in c["name"] or c["protocol"] == "TLSv1.3" for c in context.get_ciphers())
