"""What the parts of :class:`~mamori.alerts.store.AlertStore` share: the connection, its write
transactions, reading one alert, the history, the audit records and the notifications.

:class:`StoreCore` is the base of :class:`~mamori.alerts.intake.Intake` (detections in, the
periodic work), :class:`~mamori.alerts.changes.Changes` (people's changes) and
:class:`~mamori.alerts.queries.Queries` (reading); the store is all three.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

from mamori import audit
from mamori.alerts import notifying
from mamori.alerts.db import COLUMNS, alert_of, db_path, failed
from mamori.alerts.errors import AlertNotFound, AlertsError, AuditNotRecorded
from mamori.alerts.model import Alert, AlertState, HistoryAction
from mamori.alerts.settings import AlertsConfig
from mamori.errors import MamoriError
from mamori.home import Home

Now: TypeAlias = float | dt.datetime | None
"""A moment: UTC epoch seconds (a zone-aware datetime is accepted too); None: the clock's."""


class StoreCore:
    """The alerts of one home over one SQLite connection (see :mod:`mamori.alerts.store`)."""

    def __init__(self, home: Home, conn: sqlite3.Connection, cfg: AlertsConfig) -> None:
        self.home = home
        self.cfg = cfg
        self._conn = conn

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

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
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
        problems: list[str],
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

    def _notify(self, problems: list[str], alert: Alert, kind: notifying.Kind) -> bool:
        """Queue a notification; a failure is recorded as ``alert.notification_failed``."""
        try:
            notifying.notify_alert(self.home, alert, kind)
        except AlertsError as e:
            fields = {**brief(alert), "kind": kind, "error": e.message}
            self._record_quietly(problems, "alert.notification_failed", fields, "failure")
            return False
        return True

    @staticmethod
    def _raise_problems(problems: list[str], done: str) -> None:
        if problems:
            raise AuditNotRecorded(
                f"{done}, but {len(problems)} audit event(s) could not be recorded: {problems[0]}",
                hint="the changes stand; make the outbox writable again (disk space, "
                "permissions) and note them in your records",
            )


def epoch(now: Now) -> float:
    """`now` as UTC epoch seconds (the clock's when None); a time without a zone is refused."""
    if now is None:
        return time.time()
    if isinstance(now, dt.datetime):
        if now.tzinfo is None:
            raise AlertsError("a time without a zone", hint="pass datetime.now(datetime.UTC)")
        return now.timestamp()
    return float(now)


def brief(alert: Alert) -> dict[str, Any]:
    """The fields every audit event of an alert carries."""
    return {
        "id": int(alert.id),
        "rule": alert.rule,
        "severity": alert.severity,
        "dedup_key": alert.dedup_key,
        "state": alert.state.value,
    }


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _not_found(alert_id: int) -> AlertNotFound:
    return AlertNotFound(
        f"there is no alert {alert_id}", hint="list them with `mamori alerts list`"
    )
