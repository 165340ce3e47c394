"""The device registry: adding by address, certificate or fingerprint, matching, revoking."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time

import pytest

from mamori.access import (
    AccessError,
    Device,
    DeviceRegistry,
    add_device,
    cert_fingerprint,
    list_devices,
    revoke_device,
)
from mamori.access.devices import match, snapshot
from mamori.home import Home
from tests.access.certs import CLIENT_AUTH, SERVER_AUTH, make_cert


def test_add_by_address_normalises_it(home: Home) -> None:
    d = add_device(home, "fw", address=" 2001:DB8:0:0::/32 ")
    assert d.address == "2001:db8::/32"
    assert d.fingerprint is None and d.cert_pem is None
    assert add_device(home, "one", address="192.0.2.7/32").address == "192.0.2.7"
    assert add_device(home, "mapped", address="::ffff:192.0.2.8").address == "192.0.2.8"


def test_add_by_certificate_keeps_fingerprint_and_pem(home: Home) -> None:
    pair = make_cert("sensor-1", eku=CLIENT_AUTH)
    d = add_device(home, "sensor-1", cert_pem=pair.cert_pem)
    assert d.fingerprint == cert_fingerprint(pair.der)
    assert len(d.fingerprint) == 64 and d.fingerprint == d.fingerprint.lower()
    assert d.cert_pem == pair.cert_pem
    (listed,) = list_devices(home)
    assert listed == d


def test_add_by_fingerprint_accepts_the_usual_spellings(home: Home) -> None:
    fp = cert_fingerprint(make_cert().der)
    colons = ":".join(fp[i : i + 2] for i in range(0, 64, 2)).upper()
    assert add_device(home, "a", fingerprint=colons).fingerprint == fp
    revoke_device(home, "a")
    openssl = f"sha256 Fingerprint={colons}"
    assert add_device(home, "b", fingerprint=openssl).fingerprint == fp


def test_certificate_and_fingerprint_must_agree(home: Home) -> None:
    pair = make_cert()
    fp = cert_fingerprint(pair.der)
    d = add_device(home, "ok", cert_pem=pair.cert_pem, fingerprint=fp.upper())
    assert d.fingerprint == fp
    with pytest.raises(AccessError, match="is not the certificate's") as info:
        add_device(home, "no", cert_pem=make_cert().cert_pem, fingerprint=fp)
    assert info.value.hint


def test_private_key_in_the_file_is_not_kept(home: Home) -> None:
    pair = make_cert()
    d = add_device(home, "dev", cert_pem=pair.key_pem + pair.cert_pem)
    assert d.cert_pem == pair.cert_pem
    raw = b"".join(p.read_bytes() for p in home.root.glob("access.db*"))
    assert b"PRIVATE KEY" not in raw


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs an address, a certificate or a fingerprint"),
        ({"address": "10.0.0.5/24"}, "host bits set"),
        ({"address": "10.0.0.256"}, "not an IP address or CIDR network"),
        ({"address": "fe80::1%eth0"}, "not an IP address or CIDR network"),
        ({"address": "example.com"}, "not an IP address"),
        ({"address": ""}, "not an IP address"),
        ({"fingerprint": "abc"}, "not a SHA-256 certificate fingerprint"),
        ({"fingerprint": "g" * 64}, "not a SHA-256"),
        ({"fingerprint": "a:" * 31 + "aa"}, "not a SHA-256"),
        ({"cert_pem": b"not a certificate"}, "not a PEM certificate"),
        ({"cert_pem": b""}, "not a PEM certificate"),
    ],
)
def test_bad_input_is_refused_with_a_hint(
    home: Home, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(AccessError) as info:
        add_device(home, "dev", **kwargs)  # type: ignore[arg-type]
    assert message in info.value.message
    assert info.value.hint
    assert list_devices(home) == []


def test_host_bits_hint_names_the_network(home: Home) -> None:
    with pytest.raises(AccessError) as info:
        add_device(home, "dev", address="10.0.0.5/24")
    assert info.value.hint is not None and "10.0.0.0/24" in info.value.hint


def test_certificate_problems(home: Home) -> None:
    a, b = make_cert(), make_cert()
    with pytest.raises(AccessError, match="holds 2 certificates"):
        add_device(home, "chain", cert_pem=a.cert_pem + b.cert_pem)
    expired = make_cert(not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    with pytest.raises(AccessError, match="expired"):
        add_device(home, "old", cert_pem=expired.cert_pem)
    server_only = make_cert(eku=SERVER_AUTH)
    with pytest.raises(AccessError, match="not for TLS clients") as info:
        add_device(home, "srv", cert_pem=server_only.cert_pem)
    assert info.value.hint and "clientAuth" in info.value.hint


def test_names_and_certificates_are_unique_among_active_devices(home: Home) -> None:
    pair = make_cert()
    add_device(home, "first", cert_pem=pair.cert_pem)
    with pytest.raises(AccessError, match="already exists"):
        add_device(home, "first", address="192.0.2.1")
    with pytest.raises(AccessError, match="already registered to the device 'first'") as info:
        add_device(home, "second", cert_pem=pair.cert_pem)
    assert info.value.hint and "mamori devices revoke first" in info.value.hint
    revoke_device(home, "first")
    assert add_device(home, "second", cert_pem=pair.cert_pem).fingerprint


def test_revoke(home: Home) -> None:
    add_device(home, "fw", address="192.0.2.0/24")
    d = revoke_device(home, "fw")
    assert d.revoked_at is not None and d.address == "192.0.2.0/24"
    assert list_devices(home)[0].revoked_at == d.revoked_at
    with pytest.raises(AccessError, match="already revoked"):
        revoke_device(home, "fw")
    with pytest.raises(AccessError, match="no device named 'nope'") as info:
        revoke_device(home, "nope")
    assert info.value.hint and "devices list" in info.value.hint


def dev(
    name: str,
    address: str | None = None,
    fingerprint: str | None = None,
    revoked: bool = False,
) -> Device:
    return Device(
        name, address, fingerprint, None, "2026-01-01T00:00:00Z", "x" if revoked else None
    )


FP_A = "a" * 64
FP_B = "b" * 64
FP_C = "c" * 64

REGISTRY = snapshot(
    [
        dev("cert-anywhere", fingerprint=FP_A),
        dev("cert-and-net", address="10.1.0.0/16", fingerprint=FP_B),
        dev("lan", address="10.0.0.0/8"),
        dev("lan-host", address="10.9.9.9"),
        dev("v6", address="2001:db8::/32"),
        dev("revoked-cert", fingerprint=FP_C, revoked=True),
        dev("revoked-net", address="192.0.2.0/24", revoked=True),
    ]
)


@pytest.mark.parametrize(
    ("ip", "fingerprint", "expected"),
    [
        # A certificate-only device matches its certificate from anywhere.
        ("198.51.100.1", FP_A, "cert-anywhere"),
        (None, FP_A, "cert-anywhere"),
        ("198.51.100.1", FP_A.upper(), "cert-anywhere"),
        # A device with both needs both; with the wrong address it is not that device, though
        # the address alone may still be covered by an address-only device.
        ("10.1.2.3", FP_B, "cert-and-net"),
        ("198.51.100.1", FP_B, None),
        ("10.2.0.1", FP_B, "lan"),
        (None, FP_B, None),
        # An address inside a certificate device's network is not enough without its certificate.
        ("10.1.2.3", None, "lan"),
        # Address-only devices: the most specific network wins.
        ("10.200.0.1", None, "lan"),
        ("10.9.9.9", None, "lan-host"),
        ("::ffff:10.9.9.9", None, "lan-host"),
        ("2001:db8::5", None, "v6"),
        ("2001:db9::5", None, None),
        # A certificate match wins over an address match.
        ("10.9.9.9", FP_A, "cert-anywhere"),
        # An unknown certificate from a covered address still matches the address.
        ("10.9.9.9", "d" * 64, "lan-host"),
        # Revoked devices never match.
        ("198.51.100.1", FP_C, None),
        ("192.0.2.1", None, None),
        # Unparseable or absent sources match nothing by address.
        ("not-an-ip", None, None),
        ("", None, None),
        (None, None, None),
        ("fe80::1%eth0", None, None),
    ],
)
def test_matching_rules(ip: str | None, fingerprint: str | None, expected: str | None) -> None:
    found = match(REGISTRY, ip, fingerprint)
    assert (found.name if found else None) == expected


def test_registry_matches_and_trusts_active_certificates(home: Home) -> None:
    a, b = make_cert("a", eku=CLIENT_AUTH), make_cert("b")
    add_device(home, "a", cert_pem=a.cert_pem)
    add_device(home, "b", cert_pem=b.cert_pem, address="192.0.2.0/24")
    add_device(home, "fp-only", fingerprint="e" * 64)
    add_device(home, "net", address="198.51.100.0/24")
    r = DeviceRegistry(home, interval=0)
    assert not r.empty
    assert sorted(r.trusted_cert_pems()) == sorted([a.cert_pem, b.cert_pem])
    found = r.match("203.0.113.9", cert_fingerprint(a.der))
    assert found is not None and found.name == "a"
    assert r.match("203.0.113.9", cert_fingerprint(b.der)) is None
    found = r.match("192.0.2.44", cert_fingerprint(b.der))
    assert found is not None and found.name == "b"
    generation = r.generation
    revoke_device(home, "a")
    assert r.match("203.0.113.9", cert_fingerprint(a.der)) is None
    assert r.trusted_cert_pems() == [b.cert_pem]
    assert r.generation > generation
    r.close()


def test_registry_sees_changes_within_a_second(home: Home) -> None:
    r = DeviceRegistry(home)
    assert r.empty
    add_device(home, "net", address="198.51.100.0/24")
    start = time.monotonic()
    while r.match("198.51.100.1", None) is None:
        assert time.monotonic() - start < 1.5
        time.sleep(0.02)
    assert not r.empty
    r.close()


def test_registry_fails_closed_and_is_not_empty_then(home: Home) -> None:
    add_device(home, "net", address="198.51.100.0/24")
    r = DeviceRegistry(home, interval=0)
    assert r.match("198.51.100.1", None) is not None
    conn = sqlite3.connect(home.access_db)
    conn.execute("ALTER TABLE devices RENAME TO devices_gone")
    conn.commit()
    assert r.match("198.51.100.1", None) is None
    assert r.trusted_cert_pems() == []
    assert not r.empty  # unknown is not empty: a caller must not open up
    assert r.error is not None
    conn.execute("ALTER TABLE devices_gone RENAME TO devices")
    conn.commit()
    conn.close()
    assert r.match("198.51.100.1", None) is not None
    r.close()


def test_device_json_never_holds_the_certificate(home: Home) -> None:
    pair = make_cert()
    d = add_device(home, "dev", cert_pem=pair.cert_pem, address="192.0.2.1")
    doc = d.as_json()
    assert doc["certificate"] is True
    assert doc["fingerprint"] == cert_fingerprint(pair.der)
    assert "BEGIN" not in repr(doc)
