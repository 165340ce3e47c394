"""Device certificates and their SHA-256 fingerprints."""

from __future__ import annotations

import datetime as dt
import re

from mamori.access.errors import AccessError

_HEX64 = re.compile(r"[0-9a-f]{64}")
# `openssl x509 -noout -fingerprint -sha256` prints "sha256 Fingerprint=AB:CD:…".
_PREFIX = re.compile(r"(?i)^(?:sha-?256\s*fingerprint\s*=|sha-?256\s*:)\s*")


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as 64 lowercase hex digits.

    Accepts the digits in either case, bare or as colon-separated pairs, optionally after
    "sha256:" or openssl's "sha256 Fingerprint=".
    """
    s = _PREFIX.sub("", text.strip()).lower()
    if ":" in s:
        pairs = s.split(":")
        if any(len(p) != 2 for p in pairs):
            raise _bad_fingerprint(text)
        s = "".join(pairs)
    if not _HEX64.fullmatch(s):
        raise _bad_fingerprint(text)
    return s


def _bad_fingerprint(text: str) -> AccessError:
    return AccessError(
        f"{text!r} is not a SHA-256 certificate fingerprint",
        hint="give 64 hex digits, bare or as AB:CD:… pairs "
        "(`openssl x509 -in dev.pem -noout -fingerprint -sha256`), or pass --cert FILE.pem",
    )


def load_device_cert(pem: bytes, *, now: dt.datetime | None = None) -> tuple[bytes, str]:
    """One PEM certificate: its DER bytes and its PEM text (re-encoded; nothing else kept)."""
    # Imported here: every `mamori` command loads this package, few parse certificates.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise AccessError(
            "the file is not a PEM certificate",
            hint="give the device's certificate (-----BEGIN CERTIFICATE-----); convert a DER one "
            "with `openssl x509 -inform der -in dev.der -out dev.pem`",
        ) from e
    if len(certs) != 1:
        raise AccessError(
            f"the file holds {len(certs)} certificates; a device has one",
            hint="give only the device's own certificate, not its chain",
        )
    cert = certs[0]
    if cert.not_valid_after_utc <= (now or dt.datetime.now(dt.UTC)):
        raise AccessError(
            f"the certificate expired at {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
            hint="give the device a new certificate and register that one",
        )
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    except ValueError as e:  # a malformed extension
        raise AccessError(f"the certificate cannot be read: {e}") from e
    if usages is not None and not {
        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
        x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(usages):
        # OpenSSL refuses such a certificate from a TLS client, whoever trusts it.
        raise AccessError(
            "the certificate is not for TLS clients (its extended key usage lacks clientAuth)",
            hint="give the device's client certificate; create one with extendedKeyUsage = "
            "clientAuth, or with no extended key usage at all",
        )
    der = cert.public_bytes(serialization.Encoding.DER)
    return der, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
