"""Privilege snapshots and their drift (DB-1): the values, their canonical JSON, the diff.

Pure, no I/O: :mod:`mamori.dbguard.privileges` takes snapshots from a server and keeps the
approved baseline; this module says what a snapshot holds and how two of them differ.

A snapshot holds, for one database of one server:

* every role with the attributes that grant power (``SUPERUSER``, ``CREATEROLE``,
  ``CREATEDB``, ``BYPASSRLS``, ``REPLICATION``, ``LOGIN``, ``INHERIT``);
* every role membership (``GRANT role TO member``) with its grantor and options;
* every object privilege (``aclexplode`` of the ACLs, with the owner's implicit privileges
  made explicit), with grantee, grantor and grant option;
* every default privilege (``ALTER DEFAULT PRIVILEGES``) beyond the built-in defaults.

Its digest (SHA-256 of the canonical JSON of those four lists) names the state: the same
privileges always give the same digest, whenever and wherever the snapshot was taken.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, assert_never

from mamori.dbguard.errors import DbGuardError
from mamori.ledger.canonical import canonical

FORMAT: Final = 1
"""The version of the snapshot's JSON form."""

ATTRIBUTES: Final = (
    "SUPERUSER",
    "CREATEROLE",
    "CREATEDB",
    "BYPASSRLS",
    "REPLICATION",
    "LOGIN",
    "INHERIT",
)
"""Role attributes compared, as ``ALTER ROLE`` spells them."""


@dataclass(frozen=True, slots=True)
class Role:
    """A role and the attributes it has turned on."""

    name: str
    attributes: frozenset[str]
    """A subset of :data:`ATTRIBUTES`."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "attributes": sorted(self.attributes)}


@dataclass(frozen=True, slots=True)
class Membership:
    """``GRANT role TO member``: `member` may use `role`'s privileges."""

    role: str
    member: str
    grantor: str
    options: frozenset[str] = frozenset()
    """``ADMIN`` (may grant the role on), and on PostgreSQL 16+ ``INHERIT`` and ``SET``."""

    @property
    def privilege(self) -> str:
        """``MEMBER``, or ``MEMBER WITH ADMIN, INHERIT, SET OPTION``."""
        if not self.options:
            return "MEMBER"
        return f"MEMBER WITH {', '.join(sorted(self.options))} OPTION"

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "member": self.member,
            "grantor": self.grantor,
            "options": sorted(self.options),
        }


@dataclass(frozen=True, slots=True)
class Grant:
    """One privilege on one object, as ``aclexplode`` gives it."""

    object_type: str
    """``table``, ``view``, ``materialized view``, ``sequence``, ``foreign table``,
    ``column``, ``schema``, ``function``, ``procedure``, ``database``, ``large object``,
    ``language``, ``tablespace``, ``foreign data wrapper``, ``foreign server``, ``type``,
    ``parameter``."""
    object: str
    """The object's qualified, quoted name (``public.orders``, ``public.f(integer)``)."""
    grantee: str
    """A role, or ``PUBLIC``."""
    privilege: str
    """``SELECT``, ``INSERT``, ``EXECUTE``, ``USAGE``, ``CONNECT``, ``SET`` …"""
    grantor: str
    grantable: bool = False

    @property
    def what(self) -> str:
        return f"{self.privilege} WITH GRANT OPTION" if self.grantable else self.privilege

    def to_json(self) -> dict[str, Any]:
        return {
            "object_type": self.object_type,
            "object": self.object,
            "grantee": self.grantee,
            "privilege": self.privilege,
            "grantor": self.grantor,
            "grantable": self.grantable,
        }


@dataclass(frozen=True, slots=True)
class DefaultGrant:
    """A privilege that objects `owner` creates will get (``ALTER DEFAULT PRIVILEGES``)."""

    owner: str
    schema: str
    """The schema it applies in; empty for every schema."""
    object_type: str
    """``tables``, ``sequences``, ``functions``, ``types`` or ``schemas``."""
    grantee: str
    privilege: str
    grantor: str
    grantable: bool = False

    @property
    def what(self) -> str:
        return f"{self.privilege} WITH GRANT OPTION" if self.grantable else self.privilege

    @property
    def object(self) -> str:
        where = f" in schema {self.schema}" if self.schema else ""
        return f"new {self.object_type} of {self.owner}{where}"

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "schema": self.schema,
            "object_type": self.object_type,
            "grantee": self.grantee,
            "privilege": self.privilege,
            "grantor": self.grantor,
            "grantable": self.grantable,
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The privileges of one database (and the cluster's roles) at one moment."""

    target: str
    """Which server and database: ``dbname@host:port`` (never a password)."""
    server_version: str
    taken_at: str
    """RFC 3339, UTC."""
    roles: frozenset[Role]
    memberships: frozenset[Membership]
    grants: frozenset[Grant]
    default_grants: frozenset[DefaultGrant]

    def content(self) -> dict[str, Any]:
        """The privileges alone, sorted: what the digest covers."""
        return {
            "roles": sorted((r.to_json() for r in self.roles), key=canonical),
            "memberships": sorted((m.to_json() for m in self.memberships), key=canonical),
            "grants": sorted((g.to_json() for g in self.grants), key=canonical),
            "default_grants": sorted((d.to_json() for d in self.default_grants), key=canonical),
        }

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical JSON of :meth:`content`."""
        return "sha256:" + hashlib.sha256(canonical(self.content())).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "target": self.target,
            "server_version": self.server_version,
            "taken_at": self.taken_at,
            "digest": self.digest,
            **self.content(),
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785): stable, byte for byte, for the same snapshot."""
        return canonical(self.to_json())

    @classmethod
    def from_json(cls, value: Any) -> Snapshot:
        """The snapshot a :meth:`to_json` document holds; :class:`DbGuardError` if it is not
        one or its digest does not match its content."""
        try:
            if not isinstance(value, dict) or value.get("format") != FORMAT:
                raise ValueError("not a privilege snapshot of format 1")
            snap = cls(
                target=_str(value["target"]),
                server_version=_str(value["server_version"]),
                taken_at=_str(value["taken_at"]),
                roles=frozenset(
                    Role(_str(r["name"]), _words(r["attributes"])) for r in _list(value["roles"])
                ),
                memberships=frozenset(
                    Membership(
                        _str(m["role"]), _str(m["member"]), _str(m["grantor"]), _words(m["options"])
                    )
                    for m in _list(value["memberships"])
                ),
                grants=frozenset(
                    Grant(
                        _str(g["object_type"]),
                        _str(g["object"]),
                        _str(g["grantee"]),
                        _str(g["privilege"]),
                        _str(g["grantor"]),
                        _bool(g["grantable"]),
                    )
                    for g in _list(value["grants"])
                ),
                default_grants=frozenset(
                    DefaultGrant(
                        _str(d["owner"]),
                        _str(d["schema"]),
                        _str(d["object_type"]),
                        _str(d["grantee"]),
                        _str(d["privilege"]),
                        _str(d["grantor"]),
                        _bool(d["grantable"]),
                    )
                    for d in _list(value["default_grants"])
                ),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DbGuardError(
                f"not a privilege snapshot: {e}",
                hint="take a new one with `mamori dbguard privileges approve --dsn DSN`",
            ) from e
        if value.get("digest") != snap.digest:
            raise DbGuardError(
                "the privilege snapshot's digest does not match its content (edited or damaged)",
                hint="review the server's privileges and approve them again",
            )
        return snap


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{v!r} is not a string")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{v!r} is not true or false")
    return v


def _list(v: Any) -> list[Mapping[str, Any]]:
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise TypeError("expected a list of objects")
    return v


def _words(v: Any) -> frozenset[str]:
    if not isinstance(v, list):
        raise TypeError(f"{v!r} is not a list")
    return frozenset(_str(x) for x in v)


# --- drift -----------------------------------------------------------------------------------


class DriftKind(enum.StrEnum):
    """What changed since the approved baseline."""

    ROLE_ADDED = "role_added"
    ROLE_REMOVED = "role_removed"
    ATTRIBUTE_ON = "attribute_on"
    ATTRIBUTE_OFF = "attribute_off"
    MEMBERSHIP_ADDED = "membership_added"
    MEMBERSHIP_REMOVED = "membership_removed"
    PRIVILEGE_GRANTED = "privilege_granted"
    PRIVILEGE_REVOKED = "privilege_revoked"
    DEFAULT_GRANTED = "default_granted"
    DEFAULT_REVOKED = "default_revoked"

    @property
    def widens(self) -> bool:
        """True when the change gives someone more power than approved."""
        match self:
            case (
                DriftKind.ROLE_ADDED
                | DriftKind.ATTRIBUTE_ON
                | DriftKind.MEMBERSHIP_ADDED
                | DriftKind.PRIVILEGE_GRANTED
                | DriftKind.DEFAULT_GRANTED
            ):
                return True
            case (
                DriftKind.ROLE_REMOVED
                | DriftKind.ATTRIBUTE_OFF
                | DriftKind.MEMBERSHIP_REMOVED
                | DriftKind.PRIVILEGE_REVOKED
                | DriftKind.DEFAULT_REVOKED
            ):
                return False
            case _:
                assert_never(self)


_ORDER: Final = {k: i for i, k in enumerate(DriftKind)}


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference between the approved baseline and the server now."""

    kind: DriftKind
    role: str
    """The role it is about: the role added, removed or altered, the member, the grantee."""
    object: str
    """What it is on: ``role alice``, ``table public.orders``, ``default privileges on tables
    of alice in schema app``."""
    privilege: str
    """The attribute (``SUPERUSER``), the membership (``MEMBER WITH ADMIN OPTION``) or the
    privilege (``SELECT``, ``SELECT WITH GRANT OPTION``)."""
    grantor: str = ""

    def sort_key(self) -> tuple[int, str, str, str, str]:
        return (_ORDER[self.kind], self.role, self.object, self.privilege, self.grantor)

    @property
    def sentence(self) -> str:
        """The change for a person."""
        by = f" (granted by {self.grantor})" if self.grantor else ""
        match self.kind:
            case DriftKind.ROLE_ADDED:
                attrs = f" with {self.privilege}" if self.privilege else ""
                return f"role {self.role} was created{attrs}"
            case DriftKind.ROLE_REMOVED:
                return f"role {self.role} was dropped"
            case DriftKind.ATTRIBUTE_ON:
                return f"role {self.role} was given {self.privilege}"
            case DriftKind.ATTRIBUTE_OFF:
                return f"role {self.role} lost {self.privilege}"
            case DriftKind.MEMBERSHIP_ADDED:
                return f"{self.role} was made {self.privilege} of {self.object}{by}"
            case DriftKind.MEMBERSHIP_REMOVED:
                return f"{self.role} is no longer {self.privilege} of {self.object}{by}"
            case DriftKind.PRIVILEGE_GRANTED | DriftKind.DEFAULT_GRANTED:
                return f"{self.privilege} on {self.object} was granted to {self.role}{by}"
            case DriftKind.PRIVILEGE_REVOKED | DriftKind.DEFAULT_REVOKED:
                return f"{self.privilege} on {self.object} was revoked from {self.role}{by}"
            case _:
                assert_never(self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "role": self.role,
            "object": self.object,
            "privilege": self.privilege,
            "grantor": self.grantor,
            "widens": self.kind.widens,
            "sentence": self.sentence,
        }


def diff(baseline: Snapshot, current: Snapshot) -> list[Drift]:
    """Everything that differs between the baseline and the current snapshot, in a stable
    order: by kind (the order of :class:`DriftKind`), then role, object, privilege."""
    out: list[Drift] = []
    old_roles = {r.name: r for r in baseline.roles}
    new_roles = {r.name: r for r in current.roles}
    for name in new_roles.keys() - old_roles.keys():
        attrs = " ".join(a for a in ATTRIBUTES if a in new_roles[name].attributes)
        out.append(Drift(DriftKind.ROLE_ADDED, name, f"role {name}", attrs))
    for name in old_roles.keys() - new_roles.keys():
        out.append(Drift(DriftKind.ROLE_REMOVED, name, f"role {name}", ""))
    for name in old_roles.keys() & new_roles.keys():
        before, after = old_roles[name].attributes, new_roles[name].attributes
        out.extend(Drift(DriftKind.ATTRIBUTE_ON, name, f"role {name}", a) for a in after - before)
        out.extend(Drift(DriftKind.ATTRIBUTE_OFF, name, f"role {name}", a) for a in before - after)
    out.extend(_members(DriftKind.MEMBERSHIP_ADDED, current.memberships - baseline.memberships))
    out.extend(_members(DriftKind.MEMBERSHIP_REMOVED, baseline.memberships - current.memberships))
    out.extend(_grants(DriftKind.PRIVILEGE_GRANTED, current.grants - baseline.grants))
    out.extend(_grants(DriftKind.PRIVILEGE_REVOKED, baseline.grants - current.grants))
    out.extend(
        _defaults(DriftKind.DEFAULT_GRANTED, current.default_grants - baseline.default_grants)
    )
    out.extend(
        _defaults(DriftKind.DEFAULT_REVOKED, baseline.default_grants - current.default_grants)
    )
    out.sort(key=Drift.sort_key)
    return out


def _members(kind: DriftKind, items: Iterable[Membership]) -> Iterable[Drift]:
    for m in items:
        yield Drift(kind, m.member, f"role {m.role}", m.privilege, m.grantor)


def _grants(kind: DriftKind, items: Iterable[Grant]) -> Iterable[Drift]:
    for g in items:
        yield Drift(kind, g.grantee, f"{g.object_type} {g.object}", g.what, g.grantor)


def _defaults(kind: DriftKind, items: Iterable[DefaultGrant]) -> Iterable[Drift]:
    for d in items:
        yield Drift(kind, d.grantee, d.object, d.what, d.grantor)
