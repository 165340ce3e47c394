"""mamori's own actions as ledger events (self-audit), and the outbox that carries them.

:func:`audit_event` builds an ECS document for an action of mamori's (a token created, a device
revoked, ...). A command cannot always append it to the ledger itself: while `mamori up` runs,
the service holds the ledger's single-writer lock. So commands :func:`record` events in the
outbox, `HOME/outbox.db`, and the ledger writer drains it: it reads :func:`pending` events after
the last id it stored, appends them, stores that id in the same ledger transaction as the
events, then :func:`prune`s. Ids come from AUTOINCREMENT, so they only grow and are never
reused, even after a prune: an id the writer stored always means "everything up to here".
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import socket
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mamori.errors import MamoriError
from mamori.fsutil import open_private_sqlite
from mamori.home import Home
from mamori.ledger.canonical import canonical

OUTCOMES: Final = ("success", "failure", "unknown")
"""ECS `event.outcome` values."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event BLOB NOT NULL
);
"""


class AuditError(MamoriError):
    """An audit event cannot be built, recorded or read back."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who did it: the machine, the process and the operating-system user."""

    host: str
    pid: int
    user: str

    @classmethod
    def current(cls) -> Identity:
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:  # a uid without a passwd entry, common in containers
            user = str(uid)
        return cls(host=socket.gethostname(), pid=os.getpid(), user=user)


def audit_doc(
    action: str,
    *,
    when: dt.datetime,
    identity: Identity,
    outcome: str = "success",
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ECS document for one action: pure, the values given are the values used."""
    if not action:
        raise AuditError("an audit event needs an action", hint="e.g. token.created")
    if outcome not in OUTCOMES:
        raise AuditError(
            f"{outcome!r} is not an event outcome", hint=f"use one of {', '.join(OUTCOMES)}"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        raise AuditError(
            "the time of an audit event must carry its zone",
            hint="pass datetime.now(datetime.UTC)",
        )
    t = when.astimezone(dt.UTC)
    return {
        "@timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event": {"action": action, "kind": "event", "module": "mamori", "outcome": outcome},
        "host": {"name": identity.host},
        "process": {"pid": identity.pid},
        "user": {"name": identity.user},
        "mamori": {"audit": dict(fields or {})},
    }


def audit_event(
    action: str,
    *,
    outcome: str = "success",
    fields: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """The canonical JSON bytes of :func:`audit_doc` for this process, now (or at `now`)."""
    doc = audit_doc(
        action,
        when=now or dt.datetime.now(dt.UTC),
        identity=Identity.current(),
        outcome=outcome,
        fields=fields,
    )
    try:
        return canonical(doc)
    except (TypeError, ValueError, AttributeError) as e:  # AttributeError: a key not a str
        raise AuditError(f"the fields of the audit event {action!r} are not JSON: {e}") from e


def record(
    home: Home,
    action: str,
    *,
    outcome: str = "success",
    fields: Mapping[str, Any] | None = None,
) -> int:
    """Put an audit event in the outbox, durably; returns its id."""
    event = audit_event(action, outcome=outcome, fields=fields)
    conn = _connect(home.outbox_db)
    try:
        cur = conn.execute("INSERT INTO outbox(event) VALUES (?)", (event,))
        rowid = cur.lastrowid
    except sqlite3.Error as e:
        raise _failed(home.outbox_db, e) from e
    finally:
        conn.close()
    assert rowid is not None
    return rowid


def pending(home: Home, after_id: int, limit: int) -> list[tuple[int, bytes]]:
    """Up to `limit` events with ids above `after_id`, oldest first, as (id, event bytes)."""
    conn = _connect(home.outbox_db)
    try:
        rows = conn.execute(
            "SELECT id, event FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ).fetchall()
    except sqlite3.Error as e:
        raise _failed(home.outbox_db, e) from e
    finally:
        conn.close()
    return [(int(i), bytes(ev)) for i, ev in rows]


def prune(home: Home, upto_id: int) -> int:
    """Delete the events with ids up to `upto_id` (they are in the ledger); returns how many."""
    conn = _connect(home.outbox_db)
    try:
        cur = conn.execute("DELETE FROM outbox WHERE id <= ?", (upto_id,))
        count = cur.rowcount
    except sqlite3.Error as e:
        raise _failed(home.outbox_db, e) from e
    finally:
        conn.close()
    return count


def _connect(path: Path) -> sqlite3.Connection:
    """The outbox, created mode 0600, WAL."""
    try:
        return open_private_sqlite(path, SCHEMA)
    except (OSError, sqlite3.Error) as e:
        raise _failed(path, e) from e


def _failed(path: Path, e: Exception) -> AuditError:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return AuditError(
        f"cannot use the audit outbox {path}: {reason}",
        hint="check that the home is writable by this user and the disk not full",
    )
