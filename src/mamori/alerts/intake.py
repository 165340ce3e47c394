"""The service's side of the alert store: detections in (raised, absorbed, suppressed or
replayed; :mod:`mamori.alerts.policy` decides) and the periodic work (escalations, the counts
of absorbed and suppressed detections, forgetting old fingerprints)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final

from mamori.alerts.core import Now, StoreCore, brief, epoch
from mamori.alerts.db import COLUMNS, alert_of, dumps
from mamori.alerts.model import (
    MAX_EVENTS,
    Alert,
    AlertId,
    AlertState,
    Change,
    ChangeKind,
    HistoryAction,
)
from mamori.alerts.policy import (
    Latest,
    classify,
    escalation_due,
    fingerprint,
    normal_severity,
    notifies,
    report_due,
)
from mamori.detect.detection import SEVERITIES, Detection

SYSTEM_ACTOR: Final = "mamori"
"""The actor of the service's own changes in an alert's history (raised, escalated)."""
SEEN_DAYS: Final = 7
"""Fingerprints of ingested detections are kept this long, to ignore replays."""


@dataclass(frozen=True, slots=True)
class _Report:
    """Absorbed and suppressed detections counted since the alert's last report."""

    alert: AlertId
    rule: str
    severity: str
    dedup_key: str
    absorbed: int
    suppressed: int
    count: int
    suppressed_total: int
    state: str


class Intake(StoreCore):
    """:meth:`ingest` and :meth:`escalate_due`, with the deduplication reports they share."""

    # --- detections in -----------------------------------------------------------------------

    def ingest(self, detections: Iterable[Detection], now: Now = None) -> list[Change]:
        """Raise, absorb or suppress each detection, in order; then record and notify.

        A new alert is recorded as ``alert.raised`` and notified (kind ``alert``) unless below
        ``min_severity``. Absorbed and suppressed detections are counted on their alert and
        recorded in aggregate (``alert.deduplicated``, ``alert.suppressed``) at most once per
        suppression window per alert; :meth:`escalate_due` records what is left. A detection
        ingested before (a replay) changes nothing.
        """
        at = epoch(now)
        changes: list[Change] = []
        touched: dict[AlertId, None] = {}
        with self._write() as conn:
            for d in detections:
                fp = fingerprint(d)
                seen = conn.execute("SELECT alert_id FROM seen WHERE fingerprint = ?", (fp,))
                row = seen.fetchone()
                if row is not None:
                    changes.append(Change(ChangeKind.REPLAYED, AlertId(int(row[0])), d))
                    continue
                latest = conn.execute(
                    "SELECT id, state, detected_at, announced_at FROM alerts "
                    "WHERE dedup_key = ? ORDER BY id DESC LIMIT 1",
                    (d.dedup_key,),
                ).fetchone()
                kind = classify(
                    None
                    if latest is None
                    else Latest(AlertState(latest[1]), float(latest[2]), float(latest[3])),
                    at,
                    self.cfg,
                )
                if kind is ChangeKind.RAISED:
                    alert_id = self._insert(conn, d, at)
                else:
                    alert_id = AlertId(int(latest[0]))
                    self._count(conn, alert_id, d, at, suppressed=kind is ChangeKind.SUPPRESSED)
                    touched[alert_id] = None
                conn.execute(
                    "INSERT INTO seen(fingerprint, alert_id, at) VALUES (?, ?, ?)",
                    (fp, alert_id, at),
                )
                changes.append(Change(kind, alert_id, d))
            reports = [r for a in touched if (r := self._take_report(conn, a, at)) is not None]
        problems: list[str] = []
        raised = [c.alert for c in changes if c.kind is ChangeKind.RAISED]
        notified: set[AlertId] = set()
        for alert_id in raised:
            alert = self._alert(alert_id)
            wanted = notifies(alert.severity, self.cfg)
            self._record_quietly(
                problems,
                "alert.raised",
                {
                    "id": alert_id,
                    "rule": alert.rule,
                    "title": alert.title,
                    "severity": alert.severity,
                    "clauses": list(alert.clauses),
                    "dedup_key": alert.dedup_key,
                    "first_event": alert.first_event,
                    "events": alert.event_count,
                    "summary": alert.summary,
                    "notify": wanted,
                },
            )
            if wanted and self._notify(problems, alert, "alert"):
                notified.add(alert_id)
        self._record_reports(problems, reports)
        out = [
            replace(c, notified=True) if c.kind is ChangeKind.RAISED and c.alert in notified else c
            for c in changes
        ]
        self._raise_problems(problems, "the alerts were stored")
        return out

    def _insert(self, conn: sqlite3.Connection, d: Detection, at: float) -> AlertId:
        cur = conn.execute(
            "INSERT INTO alerts(dedup_key, rule, title, severity, clauses, summary, correlation, "
            "grp, fields, state, count, first_event, first_seen, last_seen, raised_at, "
            "detected_at, announced_at, reported_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?, ?, ?, ?, ?, ?)",
            (
                d.dedup_key,
                d.rule,
                d.title,
                normal_severity(d.severity),
                dumps(list(d.clauses)),
                d.summary,
                int(d.correlation),
                dumps([list(pair) for pair in d.group]),
                dumps(dict(d.fields)),
                d.events[0] if d.events else None,
                d.first_seen,
                d.last_seen,
                at,
                at,
                at,
                at,
            ),
        )
        assert cur.lastrowid is not None
        alert_id = AlertId(cur.lastrowid)
        self._add_events(conn, alert_id, d.events)
        self._history(conn, alert_id, at, HistoryAction.RAISED, SYSTEM_ACTOR, "")
        return alert_id

    def _count(
        self,
        conn: sqlite3.Connection,
        alert_id: AlertId,
        d: Detection,
        at: float,
        *,
        suppressed: bool,
    ) -> None:
        absorbed, held = (0, 1) if suppressed else (1, 0)
        conn.execute(
            "UPDATE alerts SET count = count + ?, suppressed = suppressed + ?, "
            "pending_absorbed = pending_absorbed + ?, pending_suppressed = pending_suppressed + ?, "
            "detected_at = ?, first_seen = MIN(first_seen, ?), last_seen = MAX(last_seen, ?) "
            "WHERE id = ?",
            (absorbed, held, absorbed, held, at, d.first_seen, d.last_seen, alert_id),
        )
        self._add_events(conn, alert_id, d.events)

    def _add_events(
        self, conn: sqlite3.Connection, alert_id: AlertId, events: Iterable[int]
    ) -> None:
        """Keep the first :data:`MAX_EVENTS` distinct indices; count the others."""
        row = conn.execute(
            "SELECT events_kept, events_dropped FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone()
        kept, dropped = int(row[0]), int(row[1])
        before = (kept, dropped)
        for index in events:
            if kept < MAX_EVENTS:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO alert_events(alert_id, idx) VALUES (?, ?)",
                    (alert_id, index),
                )
                kept += cur.rowcount
            elif (
                conn.execute(
                    "SELECT 1 FROM alert_events WHERE alert_id = ? AND idx = ?", (alert_id, index)
                ).fetchone()
                is None
            ):
                dropped += 1
        if (kept, dropped) != before:
            conn.execute(
                "UPDATE alerts SET events_kept = ?, events_dropped = ? WHERE id = ?",
                (kept, dropped, alert_id),
            )

    def _take_report(
        self, conn: sqlite3.Connection, alert_id: AlertId, at: float
    ) -> _Report | None:
        row = conn.execute(
            "SELECT rule, severity, dedup_key, pending_absorbed, pending_suppressed, reported_at, "
            "count, suppressed, state FROM alerts WHERE id = ?",
            (alert_id,),
        ).fetchone()
        if row is None or (row[3] == 0 and row[4] == 0):
            return None
        if not report_due(float(row[5]), at, self.cfg):
            return None
        conn.execute(
            "UPDATE alerts SET pending_absorbed = 0, pending_suppressed = 0, reported_at = ? "
            "WHERE id = ?",
            (at, alert_id),
        )
        return _Report(
            alert_id, str(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]),
            int(row[6]), int(row[7]), str(row[8]),
        )  # fmt: skip

    def _record_reports(self, problems: list[str], reports: Iterable[_Report]) -> None:
        for r in reports:
            base = {
                "id": r.alert,
                "rule": r.rule,
                "severity": r.severity,
                "dedup_key": r.dedup_key,
                "state": r.state,
            }
            if r.absorbed:
                fields = {**base, "count": r.absorbed, "total": r.count}
                self._record_quietly(problems, "alert.deduplicated", fields)
            if r.suppressed:
                fields = {**base, "count": r.suppressed, "total": r.suppressed_total}
                self._record_quietly(problems, "alert.suppressed", fields)

    # --- the service's periodic work -------------------------------------------------------------

    def escalate_due(self, now: Now = None) -> list[Alert]:
        """Escalate every open alert due (:func:`mamori.alerts.policy.escalation_due`):
        level + 1, ``alert.escalated``, a notification of kind ``escalation``. Also records
        the absorbed and suppressed counts whose window has passed, and forgets fingerprints
        older than :data:`SEEN_DAYS`. Returns the alerts escalated."""
        at = epoch(now)
        levels = [s for s in SEVERITIES if notifies(s, self.cfg) and self.cfg.escalate_after_s(s)]
        due: list[tuple[AlertId, float]] = []
        with self._write() as conn:
            if levels and self.cfg.max_escalations > 0:
                marks = ", ".join("?" for _ in levels)
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM alerts WHERE state = 'open' AND incident IS NULL "  # noqa: S608 (fixed fragments)
                    f"AND level < ? AND severity IN ({marks}) ORDER BY id",
                    (self.cfg.max_escalations, *levels),
                ).fetchall()
                for row in rows:
                    alert = alert_of(row)
                    if not escalation_due(alert, at, self.cfg):
                        continue
                    conn.execute(
                        "UPDATE alerts SET level = level + 1, escalated_at = ?, announced_at = ? "
                        "WHERE id = ?",
                        (at, at, alert.id),
                    )
                    note = str(alert.level + 1)
                    self._history(conn, alert.id, at, HistoryAction.ESCALATED, SYSTEM_ACTOR, note)
                    since = alert.raised_at if alert.escalated_at is None else alert.escalated_at
                    due.append((alert.id, at - since))
            pending = [
                AlertId(int(r[0]))
                for r in conn.execute(
                    "SELECT id FROM alerts WHERE pending_absorbed > 0 OR pending_suppressed > 0"
                )
            ]
            reports = [r for a in pending if (r := self._take_report(conn, a, at)) is not None]
            conn.execute("DELETE FROM seen WHERE at < ?", (at - SEEN_DAYS * 86400,))
        problems: list[str] = []
        escalated = []
        for alert_id, waited in due:
            alert = self._alert(alert_id)
            escalated.append(alert)
            fields = {
                **brief(alert),
                "level": alert.level,
                "count": alert.count,
                "waited_s": round(waited, 3),
            }
            self._record_quietly(problems, "alert.escalated", fields)
            self._notify(problems, alert, "escalation")
        self._record_reports(problems, reports)
        self._raise_problems(problems, "the escalations were stored")
        return escalated
