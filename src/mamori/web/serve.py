"""Run the application with uvicorn, inside the host's event loop, on a socket it already holds.

`mamori up` binds its ports itself (so a port in use is reported before anything starts) and
owns SIGTERM: uvicorn must neither bind nor install signal handlers. It runs here as one more
task of the service's event loop and stops when the service's `stop` event is set, after the
requests in flight have been answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mamori.web.errors import WebError

__all__ = ["GRACEFUL_SHUTDOWN_S", "serve_http", "tls_context"]

GRACEFUL_SHUTDOWN_S: Final = 10
"""How long requests in flight may take to finish once `stop` is set."""

# TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3's suites are all of that already).
_TLS12_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20"


def tls_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """A server context: TLS 1.2 or later, modern suites, HTTP/1.1; raises WebError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    for what, path in (("certificate", certfile), ("key", keyfile)):
        if not path.is_file():
            raise WebError(
                f"the TLS {what} {path} does not exist",
                hint="check [tls] cert and key in the configuration",
            )
    try:
        context.load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as e:
        raise WebError(
            f"cannot load the TLS certificate {certfile} with the key {keyfile}: {e}",
            hint="both must be PEM files, and the key must be the certificate's",
        ) from e
    return context


class _Protocol(HttpToolsProtocol):
    """httptools, with Nagle's algorithm off on every connection.

    asyncio turns it off only for sockets whose `proto` is IPPROTO_TCP; a listening socket
    made with ``socket.socket(AF_INET, SOCK_STREAM)`` has proto 0, and so do the connections
    it accepts. With Nagle on, the answer's body waits for the client's delayed ACK of its
    headers: about 40 ms added to every acknowledgement.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling (the host process keeps SIGTERM/SIGINT)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn 0.54's serve() wraps itself in this; the original replaces the process's
        # SIGINT/SIGTERM handlers and re-raises captured signals on exit.
        yield


async def serve_http(
    app: Callable[..., Any],
    sock: socket.socket,
    *,
    certfile: Path,
    keyfile: Path,
    stop: asyncio.Event,
) -> None:
    """Serve `app` over HTTPS on `sock` (bound, listening or not yet) until `stop` is set.

    Returns once the requests in flight have been answered (at most
    :data:`GRACEFUL_SHUTDOWN_S` seconds after `stop`; then they are cancelled). `sock` is
    closed on return. Raises :class:`WebError` when the server cannot start (certificate,
    socket); the socket is closed then too.
    """
    try:
        context = tls_context(certfile, keyfile)
        config = uvicorn.Config(
            app,
            http=_Protocol,
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            # The client address is the socket's peer: never taken from X-Forwarded-For,
            # which a sender could forge (it is stored as log.source.address and checked
            # against the device registry).
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ssl_context_factory=lambda _config, _default: context,
        )
        config.load()
    except WebError:
        sock.close()
        raise
    except Exception as e:  # uvicorn's own checks; nothing has started
        sock.close()
        raise WebError(
            f"the HTTPS server cannot be configured: {e}",
            hint="this is a bug in mamori",
        ) from e
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="mamori-https")
    stopping = asyncio.create_task(stop.wait(), name="mamori-https-stop")
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        try:
            await serving
        except (Exception, SystemExit) as e:  # uvicorn calls sys.exit when startup fails
            if server.started:
                raise WebError(f"the HTTPS server failed: {e!r}") from e
            where = _address(sock)
            raise WebError(
                f"the HTTPS server could not start on {where}: {e!r}",
                hint="the socket must be a bound TCP stream socket",
            ) from e
    except asyncio.CancelledError:
        server.should_exit = server.force_exit = True
        serving.cancel()
        with contextlib.suppress(BaseException):
            await serving
        raise
    finally:
        stopping.cancel()
        _close_leftovers(server)
        sock.close()


def _address(sock: socket.socket) -> str:
    try:
        return str(sock.getsockname())
    except OSError:
        return "a closed socket"


def _close_leftovers(server: uvicorn.Server) -> None:
    """Connections still open after the graceful period (a body still arriving) are closed."""
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.abort()
