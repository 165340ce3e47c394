"""What the console's operations pages read: the dashboard's event rate, spool state and open
alerts (from :mod:`mamori.alerts`), the ledger's checkpoint history and witness state, and
mamori's own audit trail.

Blocking functions (SQLite, the search index): the routes run them in a worker thread. Every
query is parameterised and bounded (primary keys, the search index, ``LIMIT``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mamori.alerts.errors import AlertsError
from mamori.alerts.model import Alert, iso
from mamori.alerts.store import AlertStore
from mamori.home import Home
from mamori.ledger.search.index import SearchIndex
from mamori.ledger.search.query import And, Node, Or, field_filter
from mamori.ledger.store import Reader
from mamori.web.ledgerview import _event, _get, _text, iso_us

__all__ = [
    "ALERT_LIMIT",
    "AUDIT_PAGE",
    "CHECKPOINT_PAGE",
    "AuditPage",
    "AuditRow",
    "CheckpointPage",
    "CheckpointRow",
    "OpenAlertRow",
    "OpenAlerts",
    "Rate",
    "SpoolState",
    "audit_trail",
    "checkpoint_history",
    "event_rate",
    "open_alerts",
    "spool_state",
    "valid_filter",
]

ALERT_LIMIT: Final = 20
"""At most this many alerts on the dashboard."""
AUDIT_PAGE: Final = 50
"""Events per page of the audit trail."""
CHECKPOINT_PAGE: Final = 25
"""Checkpoints per page of the ledger page."""
_US_PER_S: Final = 1_000_000
_FILTER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def valid_filter(text: str) -> bool:
    """Whether `text` may be an action or account-name filter (names as the access layer
    allows them, actions as mamori writes them): nothing that could be read as a query."""
    return _FILTER.fullmatch(text) is not None


# --- the dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """Events received in the last minute and the last hour (the ledger's received times)."""

    last_minute: int
    last_hour: int


def _first_received_at_or_after(reader: Reader, rows: int, since_us: int) -> int:
    """The first index received at or after `since_us`: a binary search over the primary key
    (received times only grow), O(log n) look-ups instead of a scan."""
    lo, hi = 0, rows
    while lo < hi:
        mid = (lo + hi) // 2
        row = reader.conn.execute("SELECT received FROM events WHERE idx = ?", (mid,)).fetchone()
        if row is None or int(row[0]) >= since_us:
            hi = mid
        else:
            lo = mid + 1
    return lo


def event_rate(home: Home, now_us: int) -> Rate:
    """Events received in the minute and the hour before `now_us`."""
    with Reader(home.ledger_db) as reader:
        rows = reader.stored_rows()
        minute = _first_received_at_or_after(reader, rows, now_us - 60 * _US_PER_S)
        hour = _first_received_at_or_after(reader, rows, now_us - 3600 * _US_PER_S)
    return Rate(last_minute=rows - minute, last_hour=rows - hour)


@dataclass(frozen=True, slots=True)
class SpoolState:
    """The sink's spool, when the console runs inside `mamori up`."""

    spooling: bool
    spool_bytes: int | None


def spool_state(sink: object | None, metrics: object | None) -> SpoolState | None:
    """The spool's state from the service's sink and metrics; None when the application runs
    without the ledger sink (no ``spooling`` flag: not `mamori up`)."""
    spooling = getattr(sink, "spooling", None)
    if not isinstance(spooling, bool):
        return None
    size: int | None = None
    registry = getattr(metrics, "registry", None)
    getter = getattr(registry, "get_sample_value", None)
    if callable(getter):
        value = getter("mamori_spool_bytes")
        if isinstance(value, int | float):
            size = int(value)
    return SpoolState(spooling=spooling, spool_bytes=size)


def _own(event: Mapping[str, Any]) -> bool:
    """Whether `event` is mamori's own (module mamori, not stamped by a receiver: a sender
    cannot make its events look like mamori's)."""
    return _get(event, "event.module") == "mamori" and _get(event, "mamori.receiver") is None


@dataclass(frozen=True, slots=True)
class OpenAlertRow:
    """An open alert, as the dashboard shows it."""

    id: int
    severity: str
    title: str
    summary: str
    count: int
    raised: str
    """When it was raised (ISO 8601, UTC)."""


@dataclass(frozen=True, slots=True)
class OpenAlerts:
    """The dashboard's open alerts: the newest, and how many per severity."""

    rows: list[OpenAlertRow]
    """At most :data:`ALERT_LIMIT`, newest first."""
    counts: dict[str, int]
    """Open alerts per severity, most severe first."""
    unavailable: bool = False
    """The alert store could not be read (shown as such, never as "no alerts")."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _open_row(a: Alert) -> OpenAlertRow:
    return OpenAlertRow(a.id, a.severity, a.title, a.summary, a.count, iso(a.raised_at) or "")


def open_alerts(home: Home, now_us: int) -> OpenAlerts:
    """The open (unacknowledged) alerts of the alert store, newest first, at most
    :data:`ALERT_LIMIT`, and their counts per severity. `now_us` is unused: an open alert is
    shown however old it is."""
    try:
        with AlertStore.open(home) as store:
            rows = [_open_row(a) for a in store.list(state="open", limit=ALERT_LIMIT)]
            return OpenAlerts(rows, store.open_counts())
    except AlertsError:
        return OpenAlerts([], {}, unavailable=True)


# --- the ledger page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """One checkpoint and the witnesses that cosigned it."""

    tree_size: int
    time: str
    root: str
    witnesses: list[str]


@dataclass(frozen=True, slots=True)
class CheckpointPage:
    """A page of checkpoints, latest first; where the next (older) page starts; and each
    witness's latest cosigned size."""

    rows: list[CheckpointRow]
    next_before: int | None
    witnesses: list[tuple[str, int]]


def checkpoint_history(home: Home, before: int | None, limit: int) -> CheckpointPage:
    """Checkpoints below tree size `before` (all when None), latest first, at most `limit`."""
    bound = 2**62 if before is None else before
    with Reader(home.ledger_db) as reader:
        conn = reader.conn
        found = conn.execute(
            "SELECT tree_size, created, root FROM checkpoints WHERE tree_size < ? "
            "ORDER BY tree_size DESC LIMIT ?",
            (bound, limit + 1),
        ).fetchall()
        rows: list[CheckpointRow] = []
        for size, created, root in found[:limit]:
            names = [
                str(r[0])
                for r in conn.execute(
                    "SELECT witness FROM cosignatures WHERE tree_size = ? ORDER BY witness",
                    (int(size),),
                )
            ]
            rows.append(CheckpointRow(int(size), iso_us(int(created)), bytes(root).hex(), names))
        witnesses = [
            (str(r[0]), int(r[1]))
            for r in conn.execute(
                "SELECT witness, MAX(tree_size) FROM cosignatures GROUP BY witness ORDER BY witness"
            )
        ]
    more = len(found) > limit
    return CheckpointPage(rows, rows[-1].tree_size if more and rows else None, witnesses)


# --- the audit trail -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One of mamori's own events, as the audit trail shows it."""

    index: int
    time: str
    action: str
    outcome: str
    name: str
    actor: str
    detail: str
    alert: bool


@dataclass(frozen=True, slots=True)
class AuditPage:
    rows: list[AuditRow]
    next_before: int | None


_SHOWN: Final = frozenset({"name", "actor", "alert"})


def _audit_row(idx: int, event: Mapping[str, Any]) -> AuditRow:
    fields = _get(event, "mamori.audit")
    fields = fields if isinstance(fields, Mapping) else {}
    detail = ", ".join(f"{k}={_text(v)}" for k, v in sorted(fields.items()) if k not in _SHOWN)
    ts = event.get("@timestamp")
    return AuditRow(
        index=idx,
        time=ts if isinstance(ts, str) else "",
        action=_text(_get(event, "event.action")),
        outcome=_text(_get(event, "event.outcome")),
        name=_text(fields.get("name")),
        actor=_text(fields.get("actor") or _get(event, "user.name")),
        detail=detail[:300],
        alert=fields.get("alert") is True,
    )


def audit_trail(home: Home, *, action: str, user: str, before: int | None, limit: int) -> AuditPage:
    """mamori's own events (``event.module: mamori``), newest first, optionally of one action
    and about or by one account (``mamori.audit.name``, ``mamori.audit.actor``, ``user.name``).
    `action` and `user` must pass :func:`valid_filter` (or be empty)."""
    parts: list[Node] = [field_filter("event.module", "mamori")]
    if action:
        parts.append(field_filter("action", action))
    if user:
        parts.append(
            Or(
                (
                    field_filter("mamori.audit.name", user),
                    field_filter("mamori.audit.actor", user),
                    field_filter("user", user),
                )
            )
        )
    node: Node = parts[0] if len(parts) == 1 else And(tuple(parts))
    rows: list[AuditRow] = []
    with Reader(home.ledger_db) as reader, SearchIndex.open(home.index_dir) as index:
        index.catch_up(reader)
        cursor = before
        while len(rows) < limit + 1:
            want = limit + 1 - len(rows)
            ids = index.find(node, limit=want, before=cursor)
            for idx in ids:
                found = reader.entry(idx)
                event = None if found is None or found[1] is None else _event(found[1])
                if event is not None and _own(event):
                    rows.append(_audit_row(idx, event))
            if len(ids) < want:
                break
            cursor = ids[-1]
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].index if more else None)
