"""HOME/notify.db: the deliveries waiting, sent and failed (SQLite, mode 0600, WAL).

One row per delivery: a notification bound for one route (or for explicit recipients). A row
is *pending* until it is *sent* or *failed*. To send it, a dispatcher first claims it: one
UPDATE that succeeds for one claimant only, counts the attempt and sets `claimed_until`. So a
`mamori notify flush` beside a running service never sends a row twice at once, and a
dispatcher that died mid-send leaves a claim that lapses (the row is then tried again).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from mamori.fsutil import cannot_use, open_private_db
from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Kind, Severity, Transport

DB_NAME: Final = "notify.db"

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS delivery(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery TEXT NOT NULL UNIQUE,
    route TEXT,
    transport TEXT NOT NULL,
    recipients TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    rule TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    next_at REAL NOT NULL,
    claimed_until REAL,
    last_error TEXT,
    result TEXT,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS delivery_due ON delivery(state, next_at);
"""

_DUE: Final = "state = 'pending' AND next_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)"
"""A delivery due and not held by a dispatcher, at a moment given twice."""


class State(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to store: a notification bound for one route or for explicit recipients."""

    delivery: str
    """Its stable id: Message-ID and X-Mamori-Delivery."""
    route: str | None
    """The route's name; None for explicit recipients."""
    transport: Transport
    recipients: tuple[str, ...]
    """Explicit recipients (e-mail without a route); () for a route."""
    kind: Kind
    severity: Severity
    rule: str | None
    subject: str
    body: str
    payload: bytes
    """Canonical JSON."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored delivery."""

    id: int
    delivery: str
    route: str | None
    transport: Transport
    recipients: tuple[str, ...]
    kind: Kind
    severity: Severity
    rule: str | None
    subject: str
    body: str
    payload: bytes
    state: State
    attempts: int
    """Attempts started (a claim counts one)."""
    created: float
    """Unix seconds."""
    next_at: float
    """When it is due (pending), unix seconds."""
    claimed_until: float | None
    """A dispatcher is sending it until then."""
    last_error: str | None
    result: str | None
    """Sent: the Message-ID or HTTP status."""
    done_at: float | None

    def as_json(self) -> dict[str, Any]:
        """For `mamori notify list --json`: everything but the body and payload."""
        return {
            "id": self.id,
            "delivery": self.delivery,
            "route": self.route,
            "transport": self.transport.value,
            "recipients": list(self.recipients),
            "kind": self.kind.value,
            "severity": self.severity.value,
            "rule": self.rule,
            "subject": self.subject,
            "state": self.state.value,
            "attempts": self.attempts,
            "created": self.created,
            "next_at": self.next_at if self.state is State.PENDING else None,
            "last_error": self.last_error,
            "result": self.result,
            "done_at": self.done_at,
        }


def _row(r: sqlite3.Row) -> Delivery:
    return Delivery(
        id=int(r["id"]),
        delivery=str(r["delivery"]),
        route=r["route"],
        transport=Transport(r["transport"]),
        recipients=tuple(a for a in str(r["recipients"]).split(",") if a),
        kind=Kind(r["kind"]),
        severity=Severity(r["severity"]),
        rule=r["rule"],
        subject=str(r["subject"]),
        body=str(r["body"]),
        payload=bytes(r["payload"]),
        state=State(r["state"]),
        attempts=int(r["attempts"]),
        created=float(r["created"]),
        next_at=float(r["next_at"]),
        claimed_until=None if r["claimed_until"] is None else float(r["claimed_until"]),
        last_error=r["last_error"],
        result=r["result"],
        done_at=None if r["done_at"] is None else float(r["done_at"]),
    )


class DeliveryStore:
    """HOME/notify.db. Each call opens its own connection: safe from any thread."""

    def __init__(self, root: Path) -> None:
        self.path = root / DB_NAME

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = open_private_db(self.path, SCHEMA, _failed)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        except sqlite3.Error as e:
            raise _failed(self.path, e) from e
        finally:
            conn.close()

    def add(self, items: Sequence[NewDelivery], now: float) -> list[int]:
        """Store `items`, due now, in one transaction; their ids in order."""
        ids: list[int] = []
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for d in items:
                    cur = conn.execute(
                        "INSERT INTO delivery(delivery, route, transport, recipients, kind, "
                        "severity, rule, subject, body, payload, state, created, next_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                        (
                            d.delivery,
                            d.route,
                            d.transport.value,
                            ",".join(d.recipients),
                            d.kind.value,
                            d.severity.value,
                            d.rule,
                            d.subject,
                            d.body,
                            d.payload,
                            now,
                            now,
                        ),
                    )
                    assert cur.lastrowid is not None
                    ids.append(cur.lastrowid)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return ids

    def due(self, now: float, limit: int, only: Collection[int] | None = None) -> list[Delivery]:
        """Pending, unclaimed deliveries due at `now`, oldest first; only ids in `only` if
        given."""
        with self._conn() as conn:
            if only is None:
                rows = conn.execute(
                    f"SELECT * FROM delivery WHERE {_DUE} ORDER BY next_at, id LIMIT ?",  # noqa: S608 (fixed)
                    (now, now, limit),
                ).fetchall()
            else:
                rows = []
                for delivery_id in sorted(set(only))[:limit]:
                    rows.extend(
                        conn.execute(
                            f"SELECT * FROM delivery WHERE id = ? AND {_DUE}",  # noqa: S608 (fixed)
                            (delivery_id, now, now),
                        ).fetchall()
                    )
        return [_row(r) for r in rows]

    def claim(self, delivery_id: int, now: float, until: float) -> Delivery | None:
        """Take a due delivery for sending until `until`, counting an attempt; None when it is
        no longer due or another dispatcher holds it."""
        with self._conn() as conn:
            cur = conn.execute(
                "UPDATE delivery SET claimed_until = ?, attempts = attempts + 1 "  # noqa: S608 (fixed)
                f"WHERE id = ? AND {_DUE}",
                (until, delivery_id, now, now),
            )
            if cur.rowcount != 1:
                return None
            r = conn.execute("SELECT * FROM delivery WHERE id = ?", (delivery_id,))
            return _row(r.fetchone())

    def release(self, delivery_id: int) -> None:
        """Give a claim back unfinished (the dispatcher is stopping): due again at once."""
        with self._conn() as conn:
            conn.execute(
                "UPDATE delivery SET claimed_until = NULL WHERE id = ? AND state = 'pending'",
                (delivery_id,),
            )

    def mark_sent(self, delivery_id: int, now: float, result: str) -> None:
        self._settle(delivery_id, "state = 'sent', result = ?, done_at = ?", (result, now))

    def mark_retry(self, delivery_id: int, next_at: float, error: str) -> None:
        self._settle(delivery_id, "next_at = ?, last_error = ?", (next_at, error))

    def mark_failed(self, delivery_id: int, now: float, error: str) -> None:
        self._settle(delivery_id, "state = 'failed', last_error = ?, done_at = ?", (error, now))

    def _settle(self, delivery_id: int, assignments: str, params: tuple[Any, ...]) -> None:
        """End the claim on a delivery and set `assignments` (a fixed fragment of this module,
        its values in `params`)."""
        with self._conn() as conn:
            conn.execute(
                f"UPDATE delivery SET {assignments}, claimed_until = NULL WHERE id = ?",  # noqa: S608 (fixed)
                (*params, delivery_id),
            )

    def get(self, delivery_id: int) -> Delivery | None:
        with self._conn() as conn:
            r = conn.execute("SELECT * FROM delivery WHERE id = ?", (delivery_id,)).fetchone()
        return None if r is None else _row(r)

    def recent(self, state: State | None = None, limit: int = 1000) -> list[Delivery]:
        """The newest `limit` deliveries (in `state`, if given), newest first."""
        with self._conn() as conn:
            if state is None:
                rows = conn.execute(
                    "SELECT * FROM delivery ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM delivery WHERE state = ? ORDER BY id DESC LIMIT ?",
                    (state.value, limit),
                ).fetchall()
        return [_row(r) for r in rows]


def _failed(path: Path, e: Exception) -> NotifyError:
    return cannot_use(NotifyError, f"the delivery queue {path}", e)
