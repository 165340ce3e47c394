"""HOME/alerts.db: the schema, opening it (private mode, WAL), and rows as :class:`Alert`.

Every statement that uses it is parameterised; the only SQL built from pieces joins fixed
fragments of this package, never a value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from mamori.alerts.errors import AlertsUnavailable
from mamori.alerts.model import Alert, AlertId, AlertState
from mamori.fsutil import cannot_use, open_private_db
from mamori.home import Home

DB_NAME: Final = "alerts.db"

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS alerts(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    clauses TEXT NOT NULL,
    summary TEXT NOT NULL,
    correlation INTEGER NOT NULL,
    grp TEXT NOT NULL,
    fields TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'closed')),
    count INTEGER NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0,
    events_kept INTEGER NOT NULL DEFAULT 0,
    events_dropped INTEGER NOT NULL DEFAULT 0,
    first_event INTEGER,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    raised_at REAL NOT NULL,
    detected_at REAL NOT NULL,
    announced_at REAL NOT NULL,
    level INTEGER NOT NULL DEFAULT 0,
    escalated_at REAL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    closed_at REAL,
    closed_by TEXT,
    close_reason TEXT,
    incident TEXT,
    pending_absorbed INTEGER NOT NULL DEFAULT 0,
    pending_suppressed INTEGER NOT NULL DEFAULT 0,
    reported_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_key ON alerts(dedup_key, id);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts(state, id);
CREATE INDEX IF NOT EXISTS alerts_incident ON alerts(incident) WHERE incident IS NOT NULL;
CREATE INDEX IF NOT EXISTS alerts_pending ON alerts(id)
    WHERE pending_absorbed > 0 OR pending_suppressed > 0;
CREATE TABLE IF NOT EXISTS alert_events(
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    idx INTEGER NOT NULL,
    PRIMARY KEY (alert_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_history(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    at REAL NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_history_alert ON alert_history(alert_id, id);
CREATE TABLE IF NOT EXISTS seen(
    fingerprint TEXT PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_at ON seen(at);
"""

COLUMNS: Final = (
    "id, rule, title, severity, clauses, dedup_key, summary, correlation, grp, fields, state, "
    "count, suppressed, events_kept + events_dropped, first_event, first_seen, last_seen, "
    "raised_at, detected_at, announced_at, level, escalated_at, acknowledged_at, "
    "acknowledged_by, closed_at, closed_by, close_reason, incident"
)
"""The columns :func:`alert_of` reads, in its order."""


def db_path(home: Home) -> Path:
    return home.root / DB_NAME


def connect(home: Home) -> sqlite3.Connection:
    """The store, created mode 0600, WAL, synchronous FULL, schema applied."""
    return open_private_db(db_path(home), SCHEMA, failed)


def failed(path: Path, e: Exception) -> AlertsUnavailable:
    """The error of a store that cannot be opened, read or written."""
    return cannot_use(AlertsUnavailable, f"the alert store {path}", e)


def dumps(value: Any) -> str:
    """JSON text of a value from a detection (anything that is not JSON becomes a string)."""
    return orjson.dumps(value, default=str).decode("utf-8")


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def alert_of(row: Sequence[Any]) -> Alert:
    """An :class:`Alert` from a row of :data:`COLUMNS`."""
    group = orjson.loads(row[8])
    return Alert(
        id=AlertId(int(row[0])),
        rule=str(row[1]),
        title=str(row[2]),
        severity=str(row[3]),
        clauses=tuple(str(c) for c in orjson.loads(row[4])),
        dedup_key=str(row[5]),
        summary=str(row[6]),
        correlation=bool(row[7]),
        group=tuple((str(k), str(v)) for k, v in group),
        fields=orjson.loads(row[9]),
        state=AlertState(row[10]),
        count=int(row[11]),
        suppressed=int(row[12]),
        event_count=int(row[13]),
        first_event=None if row[14] is None else int(row[14]),
        first_seen=float(row[15]),
        last_seen=float(row[16]),
        raised_at=float(row[17]),
        detected_at=float(row[18]),
        announced_at=float(row[19]),
        level=int(row[20]),
        escalated_at=_opt_float(row[21]),
        acknowledged_at=_opt_float(row[22]),
        acknowledged_by=_opt_str(row[23]),
        closed_at=_opt_float(row[24]),
        closed_by=_opt_str(row[25]),
        close_reason=_opt_str(row[26]),
        incident=_opt_str(row[27]),
    )
