"""Privilege drift (DB-1): snapshots of a server's roles and grants, an approved baseline, and
the drift between them as audit events.

* :func:`snapshot` reads a server's privileges (psycopg, one read-only transaction);
* :func:`approve` stores a snapshot as the baseline of its server and database
  (``HOME/dbguard-privileges/``, private files) and records ``dbguard.privileges_approved``;
* :func:`diff` (pure, :mod:`mamori.dbguard.privmodel`) lists what changed;
* :func:`check` takes a snapshot, diffs it against the baseline and records each drift not
  already reported as a ``dbguard.privilege_drift`` audit event (outcome ``failure``), which
  the alert rules fire on. ``mamori up`` runs it periodically for ``[[dbguard]]
  privileges_dsn``.

Connection strings may hold a password: it is never printed, logged or stored. Prefer a
passfile (``PGPASSFILE``, ``~/.pgpass``) or libpq's environment variables; an empty
connection string uses them alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from mamori import audit
from mamori.dbguard import privsql
from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.privmodel import (
    ATTRIBUTES,
    DefaultGrant,
    Drift,
    DriftKind,
    Grant,
    Membership,
    Role,
    Snapshot,
    diff,
)
from mamori.fsutil import write_private
from mamori.home import Home
from mamori.ledger.canonical import canonical

__all__ = [
    "APPROVED_ACTION",
    "DRIFT_ACTION",
    "Baseline",
    "CheckResult",
    "Drift",
    "DriftKind",
    "Snapshot",
    "approve",
    "baselines",
    "check",
    "diff",
    "load_baseline",
    "mask_conninfo",
    "snapshot",
]

APPROVED_ACTION: Final = "dbguard.privileges_approved"
DRIFT_ACTION: Final = "dbguard.privilege_drift"
DIRNAME: Final = "dbguard-privileges"
CONNECT_TIMEOUT_S: Final = 10
STATEMENT_TIMEOUT: Final = "60s"

# --- passwords never shown ---------------------------------------------------------------------

_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(\w[\w+.-]*://[^/@:\s]*:)([^@\s]*)(@)")


def mask_conninfo(text: str) -> str:
    """`text` with every ``password=…`` value and URI password replaced by ``***``."""
    text = _KV_PASSWORD.sub(r"\1***", text)
    return _URI_PASSWORD.sub(r"\1***\3", text)


def _scrub(message: str, conninfo: str) -> str:
    """A library's message with the connection string's password (wherever it appears) and
    anything shaped like one masked."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(conninfo).get("password")
    except Exception:  # an unparseable string: mask by shape only
        password = None
    if isinstance(password, str) and password:
        message = message.replace(password, "***")
    return mask_conninfo(message)


def _describe(conninfo: str) -> str:
    """``user@host:port/dbname`` from the parts the connection string gives (no password)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:  # described without it; the error says why
        return "the server"
    host = parts.get("host") or parts.get("hostaddr") or "(libpq default host)"
    where = f"{host}:{parts['port']}" if parts.get("port") else str(host)
    who = f"{parts['user']}@" if parts.get("user") else ""
    db = f"/{parts['dbname']}" if parts.get("dbname") else ""
    return f"{who}{where}{db}"


# --- snapshot --------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot(conninfo: str) -> Snapshot:
    """The privileges of the server and database `conninfo` names (libpq's environment
    variables and passfile fill in what it leaves out). Raises :class:`DbGuardError` when the
    server cannot be reached or read; its message never holds the password."""
    import psycopg

    try:
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction(), conn.cursor() as cur:
                # Everything qualified (regprocedure prints schemas), no slow surprise.
                cur.execute("SELECT pg_catalog.set_config('search_path', '', true)")
                cur.execute(
                    "SELECT pg_catalog.set_config('statement_timeout', %s, true)",
                    (STATEMENT_TIMEOUT,),
                )
                version = conn.info.server_version
                cur.execute(privsql.ROLES)
                roles = cur.fetchall()
                cur.execute(privsql.memberships(version).encode())
                members = cur.fetchall()
                cur.execute(privsql.grants(version).encode())
                grants = cur.fetchall()
                cur.execute(privsql.DEFAULT_GRANTS)
                defaults = cur.fetchall()
                cur.execute("SELECT pg_catalog.current_setting('server_version')")
                row = cur.fetchone()
            info = conn.info
            target = f"{info.dbname}@{info.host}:{info.port}"
    except psycopg.Error as e:
        raise DbGuardError(
            f"cannot read the privileges of {_describe(conninfo)}: {_scrub(str(e).strip(), conninfo)}",
            hint="check the connection string (or PGHOST, PGUSER, PGDATABASE and the passfile) "
            "and that the server is up",
        ) from None  # the library's exception may carry the connection string
    return _build(target, str(row[0]) if row else "", roles, members, grants, defaults)


def _build(
    target: str,
    server_version: str,
    roles: Iterable[tuple[Any, ...]],
    members: Iterable[tuple[Any, ...]],
    grants: Iterable[tuple[Any, ...]],
    defaults: Iterable[tuple[Any, ...]],
) -> Snapshot:
    return Snapshot(
        target=target,
        server_version=server_version,
        taken_at=_now(),
        roles=frozenset(
            Role(str(r[0]), frozenset(a for a, on in zip(ATTRIBUTES, r[1:], strict=True) if on))
            for r in roles
        ),
        memberships=frozenset(
            Membership(
                str(m[0]),
                str(m[1]),
                str(m[2]),
                frozenset(
                    o for o, on in zip(("ADMIN", "INHERIT", "SET"), m[3:], strict=True) if on
                ),
            )
            for m in members
        ),
        grants=frozenset(
            Grant(str(g[0]), str(g[1]), str(g[2]), str(g[3]), str(g[4]), bool(g[5])) for g in grants
        ),
        default_grants=frozenset(
            DefaultGrant(
                str(d[0]), str(d[1]), str(d[2]), str(d[3]), str(d[4]), str(d[5]), bool(d[6])
            )
            for d in defaults
        ),
    )


# --- the baseline ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Baseline:
    """An approved snapshot, with who approved it and when."""

    snapshot: Snapshot
    approved_at: str
    actor: str
    path: Path


def _dir(home: Home) -> Path:
    d = home.root / DIRNAME
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        (d / "history").mkdir(mode=0o700, exist_ok=True)
    except OSError as e:
        raise DbGuardError(
            f"cannot create {d}: {e.strerror or e}",
            hint="check that the home is writable by this user",
        ) from e
    return d


def _slug(target: str) -> str:
    """A file name for a target: readable, and unique by a hash of the exact target."""
    readable = re.sub(r"[^A-Za-z0-9._@-]+", "_", target)[:80]
    return f"{readable}-{hashlib.sha256(target.encode()).hexdigest()[:12]}"


def approve(home: Home, snap: Snapshot, actor: str) -> Baseline:
    """Make `snap` the approved baseline of its target; records ``dbguard.privileges_approved``
    with its digest. The previous baseline stays in ``history/``."""
    d = _dir(home)
    approved_at = _now()
    doc = {"approved_at": approved_at, "actor": actor, "snapshot": snap.to_json()}
    data = canonical(doc)
    slug = _slug(snap.target)
    stamp = approved_at.replace(":", "").replace("-", "")
    digest = snap.digest
    path = d / f"{slug}.json"
    try:
        write_private(d / "history" / f"{slug}-{stamp}-{digest[7:19]}.json", data, exclusive=False)
        write_private(path, data, exclusive=False)
        (d / f"{slug}.reported").unlink(missing_ok=True)
    except OSError as e:
        raise DbGuardError(
            f"cannot store the privilege baseline in {d}: {e.strerror or e}",
            hint="check that the home is writable by this user and the disk not full",
        ) from e
    audit.record(
        home,
        APPROVED_ACTION,
        fields={
            "digest": digest,
            "target": snap.target,
            "actor": actor,
            "roles": len(snap.roles),
            "memberships": len(snap.memberships),
            "grants": len(snap.grants),
            "default_grants": len(snap.default_grants),
        },
    )
    return Baseline(snap, approved_at, actor, path)


def _read_baseline(path: Path) -> Baseline:
    try:
        value = orjson.loads(path.read_bytes())
    except OSError as e:
        raise DbGuardError(f"cannot read the privilege baseline {path}: {e.strerror or e}") from e
    except orjson.JSONDecodeError as e:
        raise DbGuardError(
            f"the privilege baseline {path} is not JSON ({e})",
            hint="approve the server's privileges again after reviewing them",
        ) from e
    if not isinstance(value, dict):
        raise DbGuardError(f"the privilege baseline {path} is not a JSON object")
    snap = Snapshot.from_json(value.get("snapshot"))
    return Baseline(snap, str(value.get("approved_at", "")), str(value.get("actor", "")), path)


def load_baseline(home: Home, target: str) -> Baseline:
    """The approved baseline of `target`; :class:`DbGuardError` when there is none."""
    path = home.root / DIRNAME / f"{_slug(target)}.json"
    if not path.exists():
        raise DbGuardError(
            f"no privilege baseline has been approved for {target}",
            hint="review the privileges (`mamori dbguard privileges snapshot --dsn DSN`), then "
            "`mamori dbguard privileges approve --dsn DSN`",
        )
    return _read_baseline(path)


def baselines(home: Home) -> list[Baseline]:
    """Every approved baseline in the home, by target."""
    d = home.root / DIRNAME
    if not d.is_dir():
        return []
    out = [_read_baseline(p) for p in sorted(d.glob("*.json"))]
    return sorted(out, key=lambda b: b.snapshot.target)


# --- checking --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What :func:`check` found."""

    baseline: Baseline
    current: Snapshot
    drifts: list[Drift]
    """Every difference from the baseline."""
    recorded: list[Drift]
    """Those recorded now: the ones not already reported by the last check."""


def _reported_path(home: Home, target: str) -> Path:
    return home.root / DIRNAME / f"{_slug(target)}.reported"


def _reported(path: Path) -> set[bytes]:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return set()  # nothing reported (or unreadable): report everything again
    if not isinstance(value, list):
        return set()
    return {canonical(v) for v in value if isinstance(v, dict)}


def _drift_fields(drift: Drift, snap: Snapshot, baseline: Baseline) -> dict[str, Any]:
    return {
        "kind": drift.kind.value,
        "role": drift.role,
        "object": drift.object,
        "privilege": drift.privilege,
        "grantor": drift.grantor,
        "widens": drift.kind.widens,
        "target": snap.target,
        "baseline_digest": baseline.snapshot.digest,
        "message": drift.sentence,
    }


def check(
    home: Home,
    conninfo: str,
    *,
    take: Callable[[str], Snapshot] = snapshot,
) -> CheckResult:
    """Diff the server against its approved baseline and record each drift the last check
    did not already report as a ``dbguard.privilege_drift`` audit event (outcome failure).

    A drift that goes away and comes back is recorded again; approving a new baseline starts
    over. Raises :class:`DbGuardError` when the server cannot be read or has no baseline.
    """
    current = take(conninfo)
    baseline = load_baseline(home, current.target)
    drifts = diff(baseline.snapshot, current)
    path = _reported_path(home, current.target)
    before = _reported(path)
    keys = [canonical(d.to_json()) for d in drifts]
    recorded = [d for d, k in zip(drifts, keys, strict=True) if k not in before]
    for d in recorded:
        audit.record(
            home, DRIFT_ACTION, outcome="failure", fields=_drift_fields(d, current, baseline)
        )
    if set(keys) != before:
        try:
            write_private(path, canonical([d.to_json() for d in drifts]), exclusive=False)
        except OSError as e:
            raise DbGuardError(
                f"cannot store which privilege drifts were reported in {path}: {e.strerror or e}",
                hint="check that the home is writable by this user and the disk not full",
            ) from e
    return CheckResult(baseline, current, drifts, recorded)
