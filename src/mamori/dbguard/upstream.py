"""Connections from the proxy to the PostgreSQL server: TCP, the SSLRequest dance, TLS.

TLS to the server follows libpq's sslmode names (``[[dbguard]] upstream_tls``): ``disable``
never asks; ``prefer`` asks and goes on in clear text if the server says no; ``require`` asks
and refuses a server that says no; ``verify-full`` also checks the certificate against
``upstream_ca`` (or the system's CAs) and the host name.

The SSLRequest is answered by one byte. It is read alone from the socket, so bytes a machine in
the middle might slip in after the ``S`` stay in the kernel and become part of the TLS stream,
where they break the handshake instead of being taken as the server's (CVE-2021-23222).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from mamori.dbguard import protocol as p
from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.settings import Address, UpstreamTls


class UpstreamError(DbGuardError):
    """The server cannot be reached, or not as securely as configured."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the server is and how to talk to it."""

    address: Address
    tls: UpstreamTls
    context: ssl.SSLContext | None
    """None for ``disable``."""
    connect_timeout_s: float = 10.0


def client_context(mode: UpstreamTls, ca_file: Path | None) -> ssl.SSLContext | None:
    """The TLS context for a mode; raises UpstreamError when the CA file is unusable."""
    if mode is UpstreamTls.DISABLE:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if mode is UpstreamTls.VERIFY_FULL:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            if ca_file is not None:
                ctx.load_verify_locations(cafile=ca_file)
            else:
                ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        except (OSError, ssl.SSLError) as e:
            raise UpstreamError(
                f"cannot read the server's CA from {ca_file}: {e}",
                hint="[[dbguard]] upstream_ca must name a PEM file of CA certificates",
            ) from e
    else:
        # prefer and require encrypt without checking whom to: libpq's meaning of the names.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _recv_exact(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await loop.sock_recv(sock, n - len(buf))
        if not chunk:
            raise UpstreamError("the database server closed the connection")
        buf += chunk
    return bytes(buf)


async def _tcp(up: Upstream) -> socket.socket:
    loop = asyncio.get_running_loop()
    host, port = up.address.host, up.address.port
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise UpstreamError(f"cannot resolve the database server {host}: {e}") from e
    last: OSError | None = None
    for family, kind, proto, _name, addr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
        except OSError as e:
            sock.close()
            last = e
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    reason = last.strerror if last is not None and last.strerror else str(last)
    raise UpstreamError(f"cannot connect to the database server {up.address}: {reason}")


async def connect(up: Upstream) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
    """A connection to the server, TLS as configured: (reader, writer, encrypted)."""
    try:
        async with asyncio.timeout(up.connect_timeout_s):
            return await _connect(up)
    except TimeoutError as e:
        raise UpstreamError(
            f"the database server {up.address} did not answer within {up.connect_timeout_s:g} s"
        ) from e


async def _connect(up: Upstream) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
    loop = asyncio.get_running_loop()
    sock = await _tcp(up)
    try:
        encrypted = False
        if up.context is not None:
            await loop.sock_sendall(sock, p.SSLRequest().encode())
            answer = await _recv_exact(loop, sock, 1)
            if answer == b"S":
                encrypted = True
            elif up.tls is not UpstreamTls.PREFER:
                raise UpstreamError(
                    f"the database server {up.address} does not offer TLS, and "
                    f'upstream_tls = "{up.tls.value}" requires it',
                    hint="turn ssl on in postgresql.conf, or lower upstream_tls",
                )
            elif answer != b"N":
                raise UpstreamError("the database server answered the TLS request wrongly")
        if encrypted:
            reader, writer = await asyncio.open_connection(
                sock=sock,
                ssl=up.context,
                server_hostname=up.address.host if up.tls is UpstreamTls.VERIFY_FULL else None,
                ssl_handshake_timeout=up.connect_timeout_s,
            )
        else:
            reader, writer = await asyncio.open_connection(sock=sock)
    except ssl.SSLError as e:
        sock.close()
        raise UpstreamError(
            f"TLS with the database server {up.address} failed: {e.reason or e}",
            hint=f"check upstream_ca and that the server's certificate names {up.address.host}",
        ) from e
    except BaseException:
        sock.close()
        raise
    return reader, writer, encrypted


async def send_cancel(up: Upstream, pid: int, key: bytes) -> None:
    """Send a CancelRequest for the backend (`pid`, `key`) on a new connection (§55.2.7)."""
    reader, writer, _ = await connect(up)
    try:
        writer.write(p.cancel_request(pid, key))
        await writer.drain()
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(up.connect_timeout_s):
                await reader.read(1)  # the server closes the connection when done
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
