"""TLS: the self-signed server pair, server contexts, and mutual TLS with real handshakes."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from mamori.access import DeviceRegistry, add_device, cert_fingerprint
from mamori.home import Home
from mamori.tlsutil import (
    TlsError,
    ensure_server_cert,
    generate_self_signed,
    peer_fingerprint,
    server_context,
)
from tests.access.certs import CLIENT_AUTH, Pair, make_cert


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def server_pair(home: Home) -> tuple[Path, Path]:
    return home.tls_dir / "server.crt", home.tls_dir / "server.key"


# ---- the self-signed server certificate -------------------------------------------------------


def test_init_writes_a_private_tls_pair(home: Home) -> None:
    cert, key = server_pair(home)
    assert mode(home.tls_dir) == 0o700
    assert mode(key) == 0o600
    assert mode(cert) == 0o644
    assert ensure_server_cert(home) is False  # there already


def test_generated_certificate(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "s.crt", tmp_path / "s.key"
    generate_self_signed(cert_path, key_path, ["mamori.example.jp", "192.0.2.5", "Ünï.example"])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert mode(key_path) == 0o600 and mode(cert_path) == 0o644
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    ips = san.get_values_for_type(x509.IPAddress)
    assert "localhost" in dns and "mamori.example.jp" in dns
    assert "ünï.example".encode("idna").decode() in dns
    hostname = socket.gethostname().lower()
    assert hostname in dns or not hostname.isascii()
    assert set(ips) >= {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "192.0.2.5")}
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert 700 <= days <= 740
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC)


def test_generate_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "s.crt", tmp_path / "s.key"
    generate_self_signed(cert_path, key_path)
    before = key_path.read_bytes()
    with pytest.raises(TlsError, match="refusing to overwrite"):
        generate_self_signed(cert_path, key_path)
    assert key_path.read_bytes() == before
    with pytest.raises(TlsError, match="not a host name"):
        generate_self_signed(tmp_path / "b.crt", tmp_path / "b.key", ["has space.example"])
    assert not (tmp_path / "b.key").exists()


def test_a_failed_certificate_write_leaves_no_lone_key(tmp_path: Path) -> None:
    (tmp_path / "c.crt").write_text("someone else's")
    with pytest.raises(TlsError, match="refusing to overwrite a certificate"):
        generate_self_signed(tmp_path / "c.crt", tmp_path / "c.key")
    assert not (tmp_path / "c.key").exists()


def test_ensure_creates_the_default_pair_only_when_both_are_missing(home: Home) -> None:
    cert, key = server_pair(home)
    cert.unlink()
    key.unlink()
    assert ensure_server_cert(home) is True
    assert cert.exists() and key.exists() and mode(key) == 0o600
    cert.unlink()
    with pytest.raises(TlsError, match=r"server\.crt is missing, but .*server\.key exists") as info:
        ensure_server_cert(home)
    assert info.value.hint and "restore" in info.value.hint
    assert not cert.exists()
    key.unlink()
    home.tls_dir.rmdir()
    assert ensure_server_cert(home) is True
    assert mode(home.tls_dir) == 0o700


def test_ensure_never_creates_at_configured_paths(home: Home) -> None:
    text = home.config_path.read_text()
    home.config_path.write_text(
        text.replace('cert = "tls/server.crt"', 'cert = "mine/site.crt"').replace(
            'key = "tls/server.key"', 'key = "mine/site.key"'
        )
    )
    with pytest.raises(TlsError, match="named in \\[tls\\] do not exist") as info:
        ensure_server_cert(home)
    assert info.value.hint and 'cert = "tls/server.crt"' in info.value.hint
    assert not (home.root / "mine").exists()


# ---- server contexts: problems named before OpenSSL's terse errors ----------------------------


def test_context_basics(home: Home) -> None:
    cert, key = server_pair(home)
    ctx = server_context(cert, key, client_ca=None, require_client_cert=False)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_NONE  # nothing to check a client certificate against
    device = make_cert()
    optional = server_context(
        cert, key, client_ca=None, extra_trusted=[device.cert_pem], require_client_cert=False
    )
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    required = server_context(
        cert, key, client_ca=None, extra_trusted=[device.cert_pem], require_client_cert=True
    )
    assert required.verify_mode == ssl.CERT_REQUIRED


def test_context_errors(home: Home, tmp_path: Path) -> None:
    cert, key = server_pair(home)
    other = make_cert()
    (tmp_path / "other.key").write_bytes(other.key_pem)
    (tmp_path / "junk").write_bytes(b"junk")
    encrypted = other.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    (tmp_path / "enc.key").write_bytes(encrypted)
    cases: list[tuple[dict[str, object], str]] = [
        ({"cert": tmp_path / "none.crt"}, "cannot read the TLS certificate"),
        ({"key": tmp_path / "none.key"}, "cannot read the TLS key"),
        ({"cert": tmp_path / "junk"}, "is not a PEM certificate"),
        ({"key": tmp_path / "junk"}, "is not a PEM private key"),
        ({"key": tmp_path / "enc.key"}, "protected by a password"),
        ({"key": tmp_path / "other.key"}, "does not belong to the certificate"),
        ({"client_ca": tmp_path / "none-ca.pem"}, "cannot read client CAs"),
        ({"client_ca": tmp_path / "junk"}, "cannot read client CAs"),
        ({"extra_trusted": [b"-----BEGIN CERTIFICATE-----\nAAAA\n"]}, "registered device"),
        ({"require_client_cert": True}, "no certificate can be trusted"),
        ({"now": dt.datetime.now(dt.UTC) + dt.timedelta(days=800)}, "expired"),
    ]
    for change, message in cases:
        args: dict[str, object] = {
            "cert": cert,
            "key": key,
            "client_ca": None,
            "require_client_cert": False,
            **change,
        }
        with pytest.raises(TlsError, match=message) as info:
            server_context(**args)  # type: ignore[arg-type]
        assert info.value.hint, message


# ---- real handshakes ------------------------------------------------------------------------------


@dataclass
class Outcome:
    server_error: BaseException | None = None
    client_error: BaseException | None = None
    fingerprint: str | None = None
    received: bytes = b""

    @property
    def ok(self) -> bool:
        return self.server_error is None and self.client_error is None and self.received == b"ok"


def handshake(
    server_ctx: ssl.SSLContext,
    server_cert: Path,
    client: Pair | None,
    tmp_path: Path,
    *,
    server_hostname: str = "localhost",
) -> Outcome:
    """Connect a client (with `client`'s certificate, if any) to a server over a socket pair."""
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(cafile=server_cert)
    if client is not None:
        (tmp_path / "client.crt").write_bytes(client.cert_pem)
        (tmp_path / "client.key").write_bytes(client.key_pem)
        client_ctx.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    out = Outcome()
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                out.fingerprint = peer_fingerprint(s)
                s.sendall(b"ok")
        except (ssl.SSLError, OSError) as e:
            out.server_error = e
            a.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
            out.received = c.recv(2)
    except (ssl.SSLError, OSError) as e:
        out.client_error = e
    finally:
        b.close()
        thread.join(10)
    return out


def test_registered_self_signed_device_certificate(home: Home, tmp_path: Path) -> None:
    cert, key = server_pair(home)
    device = make_cert("sensor-1", eku=CLIENT_AUTH)
    add_device(home, "sensor-1", cert_pem=device.cert_pem)
    registry = DeviceRegistry(home)
    ctx = server_context(
        cert,
        key,
        client_ca=None,
        extra_trusted=registry.trusted_cert_pems(),
        require_client_cert=True,
    )
    out = handshake(ctx, cert, device, tmp_path)
    assert out.ok, out
    assert out.fingerprint == cert_fingerprint(device.der)
    found = registry.match("127.0.0.1", out.fingerprint)
    assert found is not None and found.name == "sensor-1"
    registry.close()


def test_device_certificate_without_extensions_or_from_an_unknown_ca(
    home: Home, tmp_path: Path
) -> None:
    cert, key = server_pair(home)
    plain = make_cert("plain")
    unknown_ca = make_cert("someone's CA", ca=True)
    issued = make_cert("issued", issuer=unknown_ca, eku=CLIENT_AUTH)
    ctx = server_context(
        cert,
        key,
        client_ca=None,
        extra_trusted=[plain.cert_pem, issued.cert_pem],
        require_client_cert=True,
    )
    for client in (plain, issued):
        out = handshake(ctx, cert, client, tmp_path)
        assert out.ok, out
        assert out.fingerprint == cert_fingerprint(client.der)


def test_required_client_certificate_refuses_a_client_without_one(
    home: Home, tmp_path: Path
) -> None:
    cert, key = server_pair(home)
    device = make_cert()
    ctx = server_context(
        cert, key, client_ca=None, extra_trusted=[device.cert_pem], require_client_cert=True
    )
    out = handshake(ctx, cert, None, tmp_path)
    assert not out.ok
    assert isinstance(out.server_error, ssl.SSLError)
    assert out.received == b""


def test_an_unknown_certificate_is_refused_even_when_optional(home: Home, tmp_path: Path) -> None:
    cert, key = server_pair(home)
    registered, stranger = make_cert("registered"), make_cert("stranger")
    ctx = server_context(
        cert, key, client_ca=None, extra_trusted=[registered.cert_pem], require_client_cert=False
    )
    out = handshake(ctx, cert, stranger, tmp_path)
    assert not out.ok and isinstance(out.server_error, ssl.SSLError)
    # Without a certificate, an optional client is let in, unidentified.
    anonymous = handshake(ctx, cert, None, tmp_path)
    assert anonymous.ok, anonymous
    assert anonymous.fingerprint is None


def test_client_ca_vouches_for_its_clients(home: Home, tmp_path: Path) -> None:
    cert, key = server_pair(home)
    ca = make_cert("agency CA", ca=True)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    client = make_cert("host-7", issuer=ca, eku=CLIENT_AUTH)
    ctx = server_context(cert, key, client_ca=tmp_path / "ca.pem", require_client_cert=True)
    out = handshake(ctx, cert, client, tmp_path)
    assert out.ok, out
    assert out.fingerprint == cert_fingerprint(client.der)
    assert not handshake(ctx, cert, make_cert("self"), tmp_path).ok


def test_no_anchors_means_no_client_certificate_is_asked_for(home: Home, tmp_path: Path) -> None:
    cert, key = server_pair(home)
    ctx = server_context(cert, key, client_ca=None, require_client_cert=False)
    out = handshake(ctx, cert, make_cert(), tmp_path)
    assert out.ok, out
    assert out.fingerprint is None


def test_the_generated_server_certificate_verifies_for_its_names(
    home: Home, tmp_path: Path
) -> None:
    cert, key = server_pair(home)
    ctx = server_context(cert, key, client_ca=None, require_client_cert=False)
    for name in ("localhost", "127.0.0.1", "::1"):
        out = handshake(ctx, cert, None, tmp_path, server_hostname=name)
        assert out.ok, (name, out)
    wrong = handshake(ctx, cert, None, tmp_path, server_hostname="elsewhere.example")
    assert isinstance(wrong.client_error, ssl.SSLCertVerificationError)
