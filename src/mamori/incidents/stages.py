"""An incident's steps through the FLT-1 workflow: step forward, reopen, close; its timers.

Each change is checked against :mod:`mamori.incidents.workflow` inside the store's write
transaction, committed, then recorded as one audit event per step.
"""

from __future__ import annotations

import datetime as dt

from mamori.incidents.checks import aware, clean_actor, clean_text
from mamori.incidents.effects import record_steps
from mamori.incidents.model import Incident, Stage
from mamori.incidents.store import IncidentStore
from mamori.incidents.workflow import Action, Timer, step_action, timers, transition


def _act(
    store: IncidentStore,
    incident_id: str,
    action: Action,
    *,
    actor: str,
    now: dt.datetime,
    note: str = "",
    reason: str = "",
) -> Incident:
    """Check `action` against the workflow, store its steps, record them; the incident after."""
    actor = clean_actor(actor)
    note = clean_text(note, "the note")
    reason = clean_text(reason, "the reason")
    with store.transaction() as conn:
        before = store.get(incident_id)
        t = transition(before, action, actor=actor, at=aware(now, "now"), note=note, reason=reason)
        store.add_steps(conn, before.id, t.steps, t.stage)
    record_steps(store, before, t.steps, extra={})
    return store.get(before.id)


def step_incident(
    store: IncidentStore,
    incident_id: str,
    stage: Stage,
    *,
    actor: str,
    now: dt.datetime,
    note: str = "",
    skip_reason: str = "",
) -> Incident:
    """Move to `stage` (forward only; stages passed over need `skip_reason`)."""
    action = step_action(stage)
    return _act(store, incident_id, action, actor=actor, now=now, note=note, reason=skip_reason)


def reopen_incident(
    store: IncidentStore,
    incident_id: str,
    *,
    reason: str,
    actor: str,
    now: dt.datetime,
    note: str = "",
) -> Incident:
    """Back to `isolated` from `reported` or `closed`, with a reason."""
    return _act(store, incident_id, Action.REOPEN, actor=actor, now=now, note=note, reason=reason)


def close_incident(
    store: IncidentStore, incident_id: str, *, actor: str, now: dt.datetime, note: str = ""
) -> Incident:
    """Close a reported incident (P1/P2 and breaches: after a completed review)."""
    return _act(store, incident_id, Action.CLOSE, actor=actor, now=now, note=note)


def incident_timers(store: IncidentStore, incident_id: str, now: dt.datetime) -> list[Timer]:
    """The incident's due times at `now` and whether each was met."""
    return timers(store.get(incident_id), now)
