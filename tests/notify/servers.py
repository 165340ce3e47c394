"""Real servers for the notify tests: a test CA, SMTP (aiosmtpd) and an HTTPS webhook receiver."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mamori.home import Home
from tests.service.svc import free_port


@dataclass(frozen=True)
class Pki:
    """A CA and a server certificate it signed for localhost, 127.0.0.1 and ::1 (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mamori test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def configure(home: Home, text: str) -> Home:
    """Append `text` (TOML: [smtp], [[route]] tables) to the home's mamori.toml."""
    with home.config_path.open("a", encoding="utf-8") as f:
        f.write("\n" + text)
    home.config()  # fails now, naming the key, if the text is wrong
    return home


def write_secret(home: Home, name: str, value: bytes, mode: int = 0o600) -> str:
    """A secret file under HOME/secrets; returns its path relative to the home."""
    d = home.root / "secrets"
    d.mkdir(mode=0o700, exist_ok=True)
    path = d / name
    path.write_bytes(value)
    path.chmod(mode)
    return f"secrets/{name}"


# ---- SMTP -------------------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    envelopes: list[Envelope] = field(default_factory=list)
    reject_rcpt: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.reject_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as TEST1"

    def messages(self) -> list[EmailMessage]:
        out = []
        for env in self.envelopes:
            raw = env.original_content
            assert isinstance(raw, bytes)
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out

    def raw(self) -> list[bytes]:
        return [e.original_content for e in self.envelopes if e.original_content is not None]


class Authenticator:
    """Accepts one login and password; remembers every attempt's login."""

    def __init__(self, login: str, password: str) -> None:
        self.login = login.encode()
        self.password = password.encode()
        self.attempts: list[bytes] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.attempts.append(auth_data.login)
        ok = auth_data.login == self.login and auth_data.password == self.password
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: Authenticator | None = None,
    inbox: Inbox | None = None,
    port: int | None = None,
) -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 and a free port: plain, STARTTLS (required), or
    implicit TLS; with AUTH required when `auth` is given."""
    box = inbox or Inbox()
    port = port or free_port()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if auth is not None:
        kwargs.update(authenticator=auth, auth_required=True)
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        ssl_context=implicit_tls,
        server_hostname="mx.test",
        **kwargs,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


# ---- HTTPS webhook receiver -------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str


@dataclass
class Receiver:
    """What the webhook server got, and the statuses it answers with (then 200); a status
    may come with headers, as (status, {"Retry-After": "600"})."""

    statuses: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_server(ctx: ssl.SSLContext | None) -> Iterator[tuple[Receiver, int]]:
    """A real HTTP(S) server on 127.0.0.1 in a thread, recording every POST."""
    rx = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with rx.lock:
                rx.requests.append(Received(dict(self.headers.items()), body, self.path))
                answer = rx.statuses.pop(0) if rx.statuses else 200
            status, extra = answer if isinstance(answer, tuple) else (answer, {})
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if ctx is not None:
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield rx, int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
