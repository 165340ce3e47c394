"""The device registry (APP-7): which senders may deliver events, by address and certificate.

A device is named and has an IP address or CIDR network, the SHA-256 fingerprint of its TLS
client certificate, or both. :class:`DeviceRegistry` answers "which registered device is this
connection?" for a running service, and is kept current like the tokens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mamori.access.addresses import Network, normalise_address, parse_ip, to_network
from mamori.access.certs import load_device_cert, normalise_fingerprint
from mamori.access.db import check_name, connect, now_text, transaction
from mamori.access.errors import AccessError
from mamori.access.watch import DEFAULT_INTERVAL, Watched
from mamori.home import Home


def cert_fingerprint(der: bytes) -> str:
    """The SHA-256 of a DER certificate, lowercase hex: how devices are recognised."""
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device."""

    name: str
    address: str | None
    """An IP address or CIDR network (normalised), or None."""
    fingerprint: str | None
    """SHA-256 of its DER client certificate, lowercase hex, or None."""
    cert_pem: bytes | None
    """Its certificate, when one was registered (a trust anchor for mutual TLS)."""
    created: str
    revoked_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "fingerprint": self.fingerprint,
            "certificate": self.cert_pem is not None,
            "created": self.created,
            "revoked_at": self.revoked_at,
        }


_COLUMNS = "name, address, fingerprint, cert_pem, created, revoked_at"


def _device(row: tuple[Any, ...]) -> Device:
    name, address, fingerprint, pem, created, revoked_at = row
    return Device(
        name,
        address,
        fingerprint,
        None if pem is None else pem.encode("ascii"),
        created,
        revoked_at,
    )


def add_device(
    home: Home,
    name: str,
    *,
    address: str | None = None,
    cert_pem: bytes | None = None,
    fingerprint: str | None = None,
) -> Device:
    """Register a device; with a certificate, its fingerprint is computed and the PEM kept."""
    check_name(name, "device")
    if address is None and cert_pem is None and fingerprint is None:
        raise AccessError(
            f"the device {name!r} needs an address, a certificate or a fingerprint",
            hint="give --address IP/CIDR, --cert FILE.pem or --fingerprint HEX (or several)",
        )
    addr = None if address is None else normalise_address(address)
    fp = None if fingerprint is None else normalise_fingerprint(fingerprint)
    pem: str | None = None
    if cert_pem is not None:
        der, pem = load_device_cert(cert_pem)
        cert_fp = cert_fingerprint(der)
        if fp is not None and fp != cert_fp:
            raise AccessError(
                f"the fingerprint given ({fp}) is not the certificate's ({cert_fp})",
                hint="give only --cert (the fingerprint is computed from it), or check both",
            )
        fp = cert_fp
    created = now_text()
    conn = connect(home.access_db)
    try:
        with transaction(conn):
            _check_free(conn, name, fp)
            conn.execute(
                "INSERT INTO devices(name, address, fingerprint, cert_pem, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, addr, fp, pem, created),
            )
    except sqlite3.Error as e:
        raise AccessError(f"cannot add the device {name!r}: {e}") from e
    finally:
        conn.close()
    return Device(name, addr, fp, None if pem is None else pem.encode("ascii"), created)


def _check_free(conn: sqlite3.Connection, name: str, fp: str | None) -> None:
    if conn.execute("SELECT 1 FROM devices WHERE name = ?", (name,)).fetchone():
        raise AccessError(
            f"a device named {name!r} already exists",
            hint="choose another name (revoked names stay taken, so the audit trail is unambiguous)",
        )
    if fp is None:
        return
    other = conn.execute(
        "SELECT name FROM devices WHERE fingerprint = ? AND revoked_at IS NULL", (fp,)
    ).fetchone()
    if other:
        raise AccessError(
            f"the certificate {fp} is already registered to the device {other[0]!r}",
            hint=f"revoke {other[0]!r} first (`mamori devices revoke {other[0]}`) if it moved",
        )


def list_devices(home: Home) -> list[Device]:
    """Every device, active and revoked, by name."""
    conn = connect(home.access_db)
    try:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM devices ORDER BY name").fetchall()  # noqa: S608 (a constant)
    except sqlite3.Error as e:
        raise AccessError(f"cannot read the devices: {e}") from e
    finally:
        conn.close()
    return [_device(row) for row in rows]


def revoke_device(home: Home, name: str) -> Device:
    """Revoke the device `name`; a running service stops matching it within about a second."""
    conn = connect(home.access_db)
    try:
        with transaction(conn):
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM devices WHERE name = ?",  # noqa: S608 (a constant)
                (name,),
            ).fetchone()
            if row is None:
                raise AccessError(
                    f"there is no device named {name!r}", hint="see `mamori devices list`"
                )
            if row[5] is not None:
                raise AccessError(
                    f"the device {name!r} was already revoked at {row[5]}", hint="nothing to do"
                )
            when = now_text()
            conn.execute("UPDATE devices SET revoked_at = ? WHERE name = ?", (when, name))
    except sqlite3.Error as e:
        raise AccessError(f"cannot revoke the device {name!r}: {e}") from e
    finally:
        conn.close()
    return dataclasses.replace(_device(row), revoked_at=when)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The active devices, arranged for matching."""

    devices: tuple[Device, ...] = ()
    by_fingerprint: dict[str, tuple[Network | None, Device]] = field(default_factory=dict)
    by_address: tuple[tuple[Network, Device], ...] = ()
    """Devices with an address and no fingerprint, most specific network first."""


def snapshot(devices: list[Device]) -> Snapshot:
    """Arrange active devices for :func:`match` (revoked ones are left out)."""
    active = tuple(d for d in devices if d.revoked_at is None)
    by_fp: dict[str, tuple[Network | None, Device]] = {}
    by_addr: list[tuple[Network, Device]] = []
    for d in active:
        net = None if d.address is None else to_network(d.address)
        if d.fingerprint is not None:
            by_fp[d.fingerprint] = (net, d)
        elif net is not None:
            by_addr.append((net, d))
    by_addr.sort(key=lambda nd: (-nd[0].prefixlen, nd[1].name))
    return Snapshot(active, by_fp, tuple(by_addr))


def match(snap: Snapshot, ip: str | None, fingerprint: str | None) -> Device | None:
    """The device a connection from `ip` presenting `fingerprint` belongs to, if any.

    A device with a fingerprint matches only that certificate, and only from its address when it
    has one. A device with only an address matches any source inside it, the most specific
    network first. A certificate match wins over an address match.
    """
    addr = parse_ip(ip)
    if fingerprint:
        hit = snap.by_fingerprint.get(fingerprint.lower())
        if hit is not None:
            net, device = hit
            if net is None or (addr is not None and addr in net):
                return device
    if addr is not None:
        for net, device in snap.by_address:
            if addr in net:
                return device
    return None


def _load(conn: sqlite3.Connection) -> Snapshot:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM devices WHERE revoked_at IS NULL").fetchall()  # noqa: S608 (a constant)
    return snapshot([_device(row) for row in rows])


class DeviceRegistry:
    """The active devices, held in memory and kept current (like :class:`TokenVerifier`).

    When the database cannot be read, nothing matches (fail closed) until it can again;
    :attr:`error` says why.
    """

    def __init__(
        self,
        home: Home,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._devices: Watched[Snapshot] = Watched(
            home.access_db, _load, Snapshot(), interval=interval, clock=clock
        )

    def match(self, ip: str | None, fingerprint: str | None) -> Device | None:
        """The registered device for this source address and certificate, or None."""
        return match(self._devices.get(), ip, fingerprint)

    def trusted_cert_pems(self) -> list[bytes]:
        """The certificates of the active devices: trust anchors for a TLS server."""
        return [d.cert_pem for d in self._devices.get().devices if d.cert_pem is not None]

    @property
    def empty(self) -> bool:
        """True when the registry was read and holds no active device."""
        devices = self._devices.get().devices
        return self._devices.ok and not devices

    @property
    def generation(self) -> int:
        """Changes whenever the devices were re-read: rebuild what depends on them."""
        self._devices.get()
        return self._devices.generation

    @property
    def error(self) -> AccessError | None:
        """Why the last check of the database failed; None when it succeeded."""
        return self._devices.error

    def refresh(self) -> None:
        """Re-read the database now if it changed."""
        self._devices.refresh()

    def close(self) -> None:
        self._devices.close()
