"""TLS for the receivers: the self-signed server pair, server contexts, client fingerprints.

Mutual TLS with self-signed device certificates: OpenSSL verifies every client certificate it
accepts against its trust anchors and cannot be told to take an arbitrary one and leave the
decision to us. So the certificates of registered devices are made trust anchors themselves
(`extra_trusted`, from :meth:`mamori.access.DeviceRegistry.trusted_cert_pems`), with
X509_V_FLAG_PARTIAL_CHAIN so that any certificate in the store anchors a chain, self-signed or
not. Whether a verified certificate belongs to an active device is then decided by fingerprint
(:func:`peer_fingerprint`, :meth:`mamori.access.DeviceRegistry.match`). See docs/access.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mamori.config import TlsConfig
from mamori.errors import MamoriError
from mamori.fsutil import write_private

if TYPE_CHECKING:
    from mamori.home import Home

VALIDITY = dt.timedelta(days=730)
"""How long a generated server certificate is valid: about two years."""

_BACKDATE = dt.timedelta(minutes=5)
"""Generated certificates start a little in the past, for senders whose clocks run late."""


class TlsError(MamoriError):
    """A certificate or key is missing, unreadable or unusable."""


def generate_self_signed(
    cert_path: Path,
    key_path: Path,
    hostnames: Sequence[str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Write a new ECDSA P-256 key (0600) and a self-signed server certificate for it (0644).

    The certificate names localhost, this machine's host name, 127.0.0.1, ::1 and `hostnames`
    (DNS names or IP addresses), is valid for about two years, and is for server use only
    (extended key usage serverAuth). Refuses to overwrite either file.
    """
    names = _subject_alt_names(hostnames or ())
    key = ec.generate_private_key(ec.SECP256R1())
    start = (now or dt.datetime.now(dt.UTC)) - _BACKDATE
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mamori")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(start)
        .not_valid_after(start + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        # Clients in X.509 strict mode (Python 3.13's default context) expect it, even here.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        write_private(key_path, key_pem, mode=0o600)
    except FileExistsError as e:
        raise TlsError(
            f"{key_path} already exists; refusing to overwrite a key",
            hint="remove it yourself if you mean to replace the certificate and key",
        ) from e
    except OSError as e:
        raise _cannot_write(key_path, e) from e
    try:
        write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except OSError as e:
        key_path.unlink()  # a key without its certificate would block the next attempt
        if isinstance(e, FileExistsError):
            raise TlsError(
                f"{cert_path} already exists; refusing to overwrite a certificate",
                hint="remove it yourself if you mean to replace the certificate and key",
            ) from e
        raise _cannot_write(cert_path, e) from e


def _cannot_write(path: Path, e: OSError) -> TlsError:
    return TlsError(f"cannot write {path}: {e.strerror}", hint="check the directory's permissions")


def _subject_alt_names(extra: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    seen: set[str] = set()

    def add(name: str, *, strict: bool) -> None:
        name = name.strip().lower()
        if not name or name in seen:
            return
        seen.add(name)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
            return
        except ValueError:
            pass
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError as e:
            if not strict:
                return  # this machine's odd host name: the certificate works without it
            raise TlsError(
                f"{name!r} is not a host name or IP address",
                hint="give DNS names such as mamori.example.jp, or addresses",
            ) from e
        if any(c.isspace() or c in "/\\@" for c in ascii_name):
            if not strict:
                return
            raise TlsError(f"{name!r} is not a host name or IP address")
        out.append(x509.DNSName(ascii_name))

    for name in ("localhost", socket.gethostname(), "127.0.0.1", "::1"):
        add(name, strict=False)
    for name in extra:
        add(name, strict=True)
    return out


def ensure_server_cert(home: Home) -> bool:
    """Create the self-signed server pair if neither file exists at the default paths.

    Returns True when it created the pair. Certificates at paths the configuration names
    explicitly are the operator's to provide: a missing one is an error, as is a certificate
    without its key or a key without its certificate.
    """
    tls = home.config().tls
    cert, key = home.path(tls.cert), home.path(tls.key)
    have_cert, have_key = cert.exists(), key.exists()
    if have_cert and have_key:
        return False
    default = TlsConfig()
    is_default = (tls.cert, tls.key) == (default.cert, default.key)
    if have_cert or have_key:
        present, missing = (cert, key) if have_cert else (key, cert)
        if is_default:
            hint = (
                f"restore {missing} from your backup; or remove {present} too and mamori makes a "
                "new self-signed pair (senders that pinned the old certificate then need the new one)"
            )
        else:
            hint = f"restore {missing}, or point [tls] cert and key at a matching pair"
        raise TlsError(
            f"{missing} is missing, but {present} exists: the pair is incomplete", hint=hint
        )
    if not is_default:
        raise TlsError(
            f"the TLS certificate {cert} and key {key} named in [tls] do not exist",
            hint="put your certificate and key there, or restore the defaults "
            f'cert = "{default.cert}" and key = "{default.key}" for a self-signed pair',
        )
    try:
        cert.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise _cannot_write(cert.parent, e) from e
    generate_self_signed(cert, key)
    return True


def server_context(
    cert: Path,
    key: Path,
    *,
    client_ca: Path | None,
    extra_trusted: Sequence[bytes] = (),
    require_client_cert: bool,
    now: dt.datetime | None = None,
) -> ssl.SSLContext:
    """A server-side context, TLS 1.2 or later, presenting `cert`.

    Client certificates are asked for when there is something to check them against: the CAs
    in `client_ca` and the PEM certificates in `extra_trusted` (each a trust anchor; see the
    module docstring). Then a client without a certificate is let in unless
    `require_client_cert`, and a client with a certificate none of them vouches for is refused.
    """
    _check_pair(cert, key, now or dt.datetime.now(dt.UTC))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise TlsError(
            f"cannot use the TLS certificate {cert} with the key {key}: {e}",
            hint="check that they are a matching PEM pair",
        ) from e
    if client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise TlsError(
                f"cannot read client CAs from {client_ca}: {reason}",
                hint='check [tls] client_ca: a PEM file of CA certificates, or "" for none',
            ) from e
    if extra_trusted:
        try:
            ctx.load_verify_locations(
                cadata="".join(pem.decode("ascii") + "\n" for pem in extra_trusted)
            )
        except (UnicodeDecodeError, ssl.SSLError) as e:
            raise TlsError(
                f"a registered device certificate cannot be used as a trust anchor: {e}",
                hint="find it with `mamori devices list` and register it again (revoke, add)",
            ) from e
    if ctx.cert_store_stats()["x509"] == 0:
        if require_client_cert:
            raise TlsError(
                "client certificates are required, but no certificate can be trusted",
                hint="set [tls] client_ca to your CA file, or register devices with "
                "`mamori devices add NAME --cert FILE.pem`; or set require_client_cert = false",
            )
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def _check_pair(cert: Path, key: Path, now: dt.datetime) -> None:
    """Name the exact problem with a certificate and key before OpenSSL gives its terse one."""
    cert_pem = _read(cert, "certificate", "[tls] cert")
    key_pem = _read(key, "key", "[tls] key")
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError as e:
        raise TlsError(
            f"{cert} is not a PEM certificate", hint="give the server certificate in PEM form"
        ) from e
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as e:
        raise TlsError(
            f"the key {key} is protected by a password",
            hint=f"store it without one, readable only by mamori: "
            f"`openssl pkey -in {key} -out KEY && chmod 600 KEY`",
        ) from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise TlsError(
            f"{key} is not a PEM private key", hint="give the server's private key in PEM form"
        ) from e
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != private.public_key().public_bytes(*spki):
        raise TlsError(
            f"the key {key} does not belong to the certificate {cert}",
            hint="point [tls] cert and key at a matching pair",
        )
    if leaf.not_valid_after_utc <= now:
        raise TlsError(
            f"the TLS certificate {cert} expired at {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ}",
            hint="install a new certificate; for the self-signed default, remove both files and "
            "run `mamori up` again to have a new pair made (then give senders the new one)",
        )


def _read(path: Path, what: str, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise TlsError(
            f"cannot read the TLS {what} {path}: {e.strerror}",
            hint=f"check {setting} in mamori.toml and the file's permissions",
        ) from e


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> str | None:
    """SHA-256 of the client's DER certificate, lowercase hex (as the device registry keeps
    them); None when the client sent none. Call it after the handshake."""
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None
