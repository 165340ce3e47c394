"""The alert store, HOME/alerts.db: detections in, alerts out, each change an audit event.

:meth:`AlertStore.ingest` takes the detections of a batch and raises, absorbs or suppresses
each (:mod:`mamori.alerts.policy` decides); :meth:`~AlertStore.acknowledge`,
:meth:`~AlertStore.close` and :meth:`~AlertStore.link_incident` are what people (and the
incidents package) do; :meth:`~AlertStore.escalate_due` is what `mamori up` runs periodically.

Every change is committed first and then recorded with :func:`mamori.audit.record`, as
:mod:`mamori.access.trail` does: when the record fails, the change stands and the AlertsError
raised says so. Notifications go through :func:`mamori.alerts.notifying.notify_alert` after
the records; one that cannot be queued is itself recorded (``alert.notification_failed``).

A store holds one SQLite connection: open one per thread (the console opens one per request).
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Final, TypeAlias

from mamori import audit
from mamori.alerts import notifying
from mamori.alerts.db import COLUMNS, alert_of, connect, db_path, dumps, failed
from mamori.alerts.errors import (
    AlertNotFound,
    AlertsError,
    AlertsUnavailable,
    AuditNotRecorded,
    TransitionRefused,
)
from mamori.alerts.model import (
    ACTOR_MAX,
    INCIDENT_MAX,
    MAX_EVENTS,
    NOTE_MAX,
    Alert,
    AlertDetail,
    AlertId,
    AlertState,
    Change,
    ChangeKind,
    HistoryAction,
    HistoryEntry,
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
from mamori.alerts.settings import AlertsConfig
from mamori.detect.detection import SEVERITIES, Detection
from mamori.errors import MamoriError
from mamori.home import Home

SYSTEM_ACTOR: Final = "mamori"
"""The actor of the service's own changes in an alert's history (raised, escalated)."""
SEEN_DAYS: Final = 7
"""Fingerprints of ingested detections are kept this long, to ignore replays."""
LIST_MAX: Final = 1000

Now: TypeAlias = float | dt.datetime | None
"""A moment: UTC epoch seconds (a zone-aware datetime is accepted too); None: the clock's."""


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


class AlertStore:
    """The alerts of one home. Use :meth:`open`, and as a context manager."""

    def __init__(self, home: Home, conn: sqlite3.Connection, cfg: AlertsConfig) -> None:
        self.home = home
        self.cfg = cfg
        self._conn = conn

    @classmethod
    def open(cls, home: Home, cfg: AlertsConfig | None = None) -> AlertStore:
        """The store of `home` (created on first use), with `cfg` or the home's `[alerts]`."""
        if cfg is None:
            try:
                cfg = home.config().alerts
            except MamoriError as e:
                raise AlertsUnavailable(
                    f"the configuration cannot be read: {e.message}", hint=e.hint
                ) from e
        return cls(home, connect(home), cfg)

    def disconnect(self) -> None:
        """Close the connection (the context manager does)."""
        self._conn.close()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()

    # --- detections in -----------------------------------------------------------------------

    def ingest(self, detections: Iterable[Detection], now: Now = None) -> builtins.list[Change]:
        """Raise, absorb or suppress each detection, in order; then record and notify.

        A new alert is recorded as ``alert.raised`` and notified (kind ``alert``) unless below
        ``min_severity``. Absorbed and suppressed detections are counted on their alert and
        recorded in aggregate (``alert.deduplicated``, ``alert.suppressed``) at most once per
        suppression window per alert; :meth:`escalate_due` records what is left. A detection
        ingested before (a replay) changes nothing.
        """
        at = _at(now)
        changes: builtins.list[Change] = []
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

    def _record_reports(self, problems: builtins.list[str], reports: Iterable[_Report]) -> None:
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

    # --- people's changes ----------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, note: str = "", now: Now = None) -> Alert:
        """open → acknowledged, by `actor`, with an optional note; ``alert.acknowledged``."""
        at = _at(now)
        actor, note = _actor(actor), _text(note, "note")
        with self._write() as conn:
            state = self._state(conn, alert_id)
            if state is not AlertState.OPEN:
                raise TransitionRefused(
                    f"alert {alert_id} is {state.value}: only an open alert can be acknowledged",
                    hint="an acknowledged alert is closed when handled: "
                    f"`mamori alerts close {alert_id} --reason TEXT`"
                    if state is AlertState.ACKNOWLEDGED
                    else "a closed alert is final; a new detection raises a new alert",
                )
            conn.execute(
                "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?, "
                "acknowledged_by = ? WHERE id = ?",
                (at, actor, alert_id),
            )
            self._history(conn, alert_id, at, HistoryAction.ACKNOWLEDGED, actor, note)
        alert = self._alert(alert_id)
        fields = {**_brief(alert), "actor": actor, "note": note}
        self._record("alert.acknowledged", fields, done=f"alert {alert_id} was acknowledged")
        return alert

    def close(self, alert_id: int, actor: str, reason: str, now: Now = None) -> Alert:
        """open or acknowledged → closed (final), by `actor`, for `reason` (required);
        ``alert.closed``."""
        at = _at(now)
        actor, reason = _actor(actor), _text(reason, "reason")
        if not reason:
            raise AlertsError(
                "closing an alert needs a reason",
                hint='say why, e.g. --reason "false positive: the backup job\'s account"',
            )
        with self._write() as conn:
            state = self._state(conn, alert_id)
            if state is AlertState.CLOSED:
                raise TransitionRefused(
                    f"alert {alert_id} is closed already: closed is final",
                    hint="a new detection of the same kind raises a new alert",
                )
            conn.execute(
                "UPDATE alerts SET state = 'closed', closed_at = ?, closed_by = ?, "
                "close_reason = ? WHERE id = ?",
                (at, actor, reason, alert_id),
            )
            self._history(conn, alert_id, at, HistoryAction.CLOSED, actor, reason)
        alert = self._alert(alert_id)
        fields = {**_brief(alert), "actor": actor, "reason": reason, "was": state.value}
        self._record("alert.closed", fields, done=f"alert {alert_id} was closed")
        return alert

    def link_incident(
        self, alert_id: int, incident_id: str | int, actor: str, now: Now = None
    ) -> Alert:
        """Link the alert to an incident (any state; once). Linking it again to the same
        incident changes nothing; to another is refused. ``alert.linked``."""
        at = _at(now)
        actor = _actor(actor)
        incident = str(incident_id).strip()
        if not incident or len(incident) > INCIDENT_MAX:
            raise AlertsError(f"{incident_id!r} is not an incident id")
        with self._write() as conn:
            self._state(conn, alert_id)
            row = conn.execute("SELECT incident FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row[0] == incident:
                return self._alert_in(conn, alert_id)
            if row[0] is not None:
                raise TransitionRefused(
                    f"alert {alert_id} is linked to incident {row[0]} already",
                    hint="an alert belongs to one incident",
                )
            conn.execute("UPDATE alerts SET incident = ? WHERE id = ?", (incident, alert_id))
            self._history(conn, alert_id, at, HistoryAction.LINKED, actor, incident)
        alert = self._alert(alert_id)
        fields = {**_brief(alert), "incident": incident, "actor": actor}
        self._record(
            "alert.linked", fields, done=f"alert {alert_id} was linked to incident {incident}"
        )
        return alert

    # --- the service's periodic work -------------------------------------------------------------

    def escalate_due(self, now: Now = None) -> builtins.list[Alert]:
        """Escalate every open alert due (:func:`mamori.alerts.policy.escalation_due`):
        level + 1, ``alert.escalated``, a notification of kind ``escalation``. Also records
        the absorbed and suppressed counts whose window has passed, and forgets fingerprints
        older than :data:`SEEN_DAYS`. Returns the alerts escalated."""
        at = _at(now)
        levels = [s for s in SEVERITIES if notifies(s, self.cfg) and self.cfg.escalate_after_s(s)]
        due: builtins.list[tuple[AlertId, float]] = []
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
        problems: builtins.list[str] = []
        escalated = []
        for alert_id, waited in due:
            alert = self._alert(alert_id)
            escalated.append(alert)
            fields = {
                **_brief(alert),
                "level": alert.level,
                "count": alert.count,
                "waited_s": round(waited, 3),
            }
            self._record_quietly(problems, "alert.escalated", fields)
            self._notify(problems, alert, "escalation")
        self._record_reports(problems, reports)
        self._raise_problems(problems, "the escalations were stored")
        return escalated

    # --- reading ---------------------------------------------------------------------------------

    def get(self, alert_id: int) -> AlertDetail:
        """The alert with its events and history; AlertNotFound when there is none."""
        try:
            alert = self._alert(alert_id)
            conn = self._conn
            events = tuple(
                int(r[0])
                for r in conn.execute(
                    "SELECT idx FROM alert_events WHERE alert_id = ? ORDER BY idx", (alert_id,)
                )
            )
            dropped = conn.execute(
                "SELECT events_dropped FROM alerts WHERE id = ?", (alert_id,)
            ).fetchone()
            history = tuple(
                HistoryEntry(float(r[0]), HistoryAction(r[1]), str(r[2]), str(r[3]))
                for r in conn.execute(
                    "SELECT at, action, actor, note FROM alert_history WHERE alert_id = ? "
                    "ORDER BY id",
                    (alert_id,),
                )
            )
        except sqlite3.Error as e:
            raise failed(db_path(self.home), e) from e
        return AlertDetail.of(alert, events, int(dropped[0]) if dropped else 0, history)

    def open_counts(self) -> dict[str, int]:
        """Open (unacknowledged) alerts per severity, most severe first, zeros included."""
        counts = dict.fromkeys(reversed(SEVERITIES), 0)
        for severity, n in self._query(
            "SELECT severity, COUNT(*) FROM alerts WHERE state = 'open' GROUP BY severity", ()
        ):
            counts[str(severity)] = int(n)
        return counts

    def alerts_for_incident(self, incident_id: str | int) -> builtins.list[Alert]:
        """The alerts linked to the incident, oldest first."""
        rows = self._query(
            f"SELECT {COLUMNS} FROM alerts WHERE incident = ? ORDER BY id",  # noqa: S608 (fixed)
            (str(incident_id).strip(),),
        )
        return [alert_of(r) for r in rows]

    def list(
        self,
        state: AlertState | str | None = None,
        severity: str | None = None,
        rule: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> builtins.list[Alert]:
        """Alerts newest first, filtered by state, severity and rule; page with `before_id`
        (the id of the last alert of the previous page)."""
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if state is not None:
            try:
                params.append(AlertState(state).value)
            except ValueError:
                raise AlertsError(
                    f"{state!r} is not an alert state",
                    hint=f"use one of {', '.join(s.value for s in AlertState)}",
                ) from None
            where.append("state = ?")
        if severity is not None:
            if severity not in SEVERITIES:
                raise AlertsError(
                    f"{severity!r} is not a severity", hint=f"use one of {', '.join(SEVERITIES)}"
                )
            where.append("severity = ?")
            params.append(severity)
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if not 1 <= limit <= LIST_MAX:
            raise AlertsError(f"limit {limit} is out of range", hint=f"use 1 to {LIST_MAX}")
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._query(
            f"SELECT {COLUMNS} FROM alerts {clause}ORDER BY id DESC LIMIT ?",  # noqa: S608 (fixed)
            (*params, limit),
        )
        return [alert_of(r) for r in rows]

    # --- helpers ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue, no upgrade deadlock)."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise failed(db_path(self.home), e) from e
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            _rollback(conn)
            raise failed(db_path(self.home), e) from e
        except BaseException:
            _rollback(conn)
            raise

    def _query(self, sql: str, params: tuple[Any, ...]) -> builtins.list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise failed(db_path(self.home), e) from e

    def _alert(self, alert_id: int) -> Alert:
        try:
            return self._alert_in(self._conn, alert_id)
        except sqlite3.Error as e:
            raise failed(db_path(self.home), e) from e

    @staticmethod
    def _alert_in(conn: sqlite3.Connection, alert_id: int) -> Alert:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608 (fixed columns)
            (alert_id,),
        ).fetchone()
        if row is None:
            raise _not_found(alert_id)
        return alert_of(row)

    @staticmethod
    def _state(conn: sqlite3.Connection, alert_id: int) -> AlertState:
        row = conn.execute("SELECT state FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise _not_found(alert_id)
        return AlertState(row[0])

    @staticmethod
    def _history(
        conn: sqlite3.Connection,
        alert_id: int,
        at: float,
        action: HistoryAction,
        actor: str,
        note: str,
    ) -> None:
        conn.execute(
            "INSERT INTO alert_history(alert_id, at, action, actor, note) VALUES (?, ?, ?, ?, ?)",
            (alert_id, at, action.value, actor, note),
        )

    def _record(self, action: str, fields: Mapping[str, Any], *, done: str) -> None:
        """Record the audit event of a change already committed; say so when that fails."""
        try:
            audit.record(self.home, action, fields=fields)
        except MamoriError as e:
            raise AuditNotRecorded(
                f"{done}, but its audit event ({action}) could not be recorded: {e.message}",
                hint="the change stands; make the outbox writable again (disk space, "
                "permissions) and note the change in your records",
            ) from e

    def _record_quietly(
        self,
        problems: builtins.list[str],
        action: str,
        fields: Mapping[str, Any],
        outcome: str = "success",
    ) -> None:
        """Record, noting a failure in `problems` so the other records and notifications of
        the batch still happen."""
        try:
            audit.record(self.home, action, outcome=outcome, fields=fields)
        except MamoriError as e:
            problems.append(f"{action}: {e.message}")

    def _notify(self, problems: builtins.list[str], alert: Alert, kind: notifying.Kind) -> bool:
        """Queue a notification; a failure is recorded as ``alert.notification_failed``."""
        try:
            notifying.notify_alert(self.home, alert, kind)
        except AlertsError as e:
            fields = {**_brief(alert), "kind": kind, "error": e.message}
            self._record_quietly(problems, "alert.notification_failed", fields, "failure")
            return False
        return True

    @staticmethod
    def _raise_problems(problems: builtins.list[str], done: str) -> None:
        if problems:
            raise AuditNotRecorded(
                f"{done}, but {len(problems)} audit event(s) could not be recorded: {problems[0]}",
                hint="the changes stand; make the outbox writable again (disk space, "
                "permissions) and note them in your records",
            )


def _at(now: Now) -> float:
    if now is None:
        return time.time()
    if isinstance(now, dt.datetime):
        if now.tzinfo is None:
            raise AlertsError("a time without a zone", hint="pass datetime.now(datetime.UTC)")
        return now.timestamp()
    return float(now)


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _not_found(alert_id: int) -> AlertNotFound:
    return AlertNotFound(
        f"there is no alert {alert_id}", hint="list them with `mamori alerts list`"
    )


def _actor(actor: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > ACTOR_MAX or any(c < " " for c in actor):
        raise AlertsError(
            f"{actor[:ACTOR_MAX]!r} is not an actor's name",
            hint="a name of at most 128 characters without control characters",
        )
    return actor


def _text(text: str, what: str) -> str:
    text = text.strip()
    if len(text) > NOTE_MAX:
        raise AlertsError(
            f"the {what} is {len(text)} characters long", hint=f"keep it to {NOTE_MAX}"
        )
    return text


def _brief(alert: Alert) -> dict[str, Any]:
    """The fields every audit event of an alert carries."""
    return {
        "id": int(alert.id),
        "rule": alert.rule,
        "severity": alert.severity,
        "dedup_key": alert.dedup_key,
        "state": alert.state.value,
    }
