"""People's changes to an alert (and the incidents package's): acknowledge, close, link to an
incident. Each is one write transaction, then its audit event."""

from __future__ import annotations

from mamori.alerts.core import Now, StoreCore, brief, epoch
from mamori.alerts.errors import AlertsError, TransitionRefused
from mamori.alerts.model import ACTOR_MAX, INCIDENT_MAX, NOTE_MAX, Alert, AlertState, HistoryAction


class Changes(StoreCore):
    """:meth:`acknowledge`, :meth:`close` and :meth:`link_incident`."""

    def acknowledge(self, alert_id: int, actor: str, note: str = "", now: Now = None) -> Alert:
        """open → acknowledged, by `actor`, with an optional note; ``alert.acknowledged``."""
        at = epoch(now)
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
        fields = {**brief(alert), "actor": actor, "note": note}
        self._record("alert.acknowledged", fields, done=f"alert {alert_id} was acknowledged")
        return alert

    def close(self, alert_id: int, actor: str, reason: str, now: Now = None) -> Alert:
        """open or acknowledged → closed (final), by `actor`, for `reason` (required);
        ``alert.closed``."""
        at = epoch(now)
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
        fields = {**brief(alert), "actor": actor, "reason": reason, "was": state.value}
        self._record("alert.closed", fields, done=f"alert {alert_id} was closed")
        return alert

    def link_incident(
        self, alert_id: int, incident_id: str | int, actor: str, now: Now = None
    ) -> Alert:
        """Link the alert to an incident (any state; once). Linking it again to the same
        incident changes nothing; to another is refused. ``alert.linked``."""
        at = epoch(now)
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
        fields = {**brief(alert), "incident": incident, "actor": actor}
        self._record(
            "alert.linked", fields, done=f"alert {alert_id} was linked to incident {incident}"
        )
        return alert


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
