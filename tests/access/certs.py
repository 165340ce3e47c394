"""Certificates for tests: self-signed device certificates, a small CA, and its clients."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, in PEM, plus the certificate's DER bytes."""

    cert_pem: bytes
    key_pem: bytes
    der: bytes
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def make_cert(
    name: str = "device",
    *,
    issuer: Pair | None = None,
    ca: bool = False,
    eku: list[x509.ObjectIdentifier] | None = None,
    not_after: dt.datetime | None = None,
) -> Pair:
    """A certificate for `name`: self-signed, or signed by `issuer`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    end = not_after or now + dt.timedelta(days=30)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, end) - dt.timedelta(days=1))
        .not_valid_after(end)
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hashes.SHA256())
    return Pair(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        der=cert.public_bytes(serialization.Encoding.DER),
        cert=cert,
        key=key,
    )


CLIENT_AUTH = [ExtendedKeyUsageOID.CLIENT_AUTH]
SERVER_AUTH = [ExtendedKeyUsageOID.SERVER_AUTH]
