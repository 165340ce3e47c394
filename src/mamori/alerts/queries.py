"""Reading the alert store: one alert with its events and history, lists, counts."""

from __future__ import annotations

import builtins
import sqlite3
from typing import Any, Final

from mamori.alerts.core import StoreCore
from mamori.alerts.db import COLUMNS, alert_of, db_path, failed
from mamori.alerts.errors import AlertsError
from mamori.alerts.model import Alert, AlertDetail, AlertState, HistoryAction, HistoryEntry
from mamori.detect.detection import SEVERITIES

LIST_MAX: Final = 1000


class Queries(StoreCore):
    """:meth:`get`, :meth:`open_counts`, :meth:`alerts_for_incident` and :meth:`list`."""

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
