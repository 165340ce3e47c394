"""Merging two incidents into one (FLT-1: one incident per event, however it was detected)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from mamori.incidents import trail
from mamori.incidents.checks import LEVEL_RANK, clean_actor, clean_text, uniq
from mamori.incidents.effects import Outcome, changes, link_alerts, record_steps
from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import Incident, Stage
from mamori.incidents.store import IncidentStore
from mamori.incidents.workflow import Action, transition


def _check(into: Incident, other: Incident) -> None:
    if into.id == other.id:
        raise IncidentsError("an incident cannot be merged into itself")
    for inc in (into, other):
        if inc.stage is Stage.CLOSED:
            raise IncidentsError(
                f"{inc.id} is closed", hint=f"reopen it first: `mamori incidents reopen {inc.id}`"
            )
    if other.breach is not None and into.breach is None:
        raise IncidentsError(
            f"{other.id} is a personal-information breach and {into.id} is not",
            hint=f"merge the other way round: `mamori incidents merge {other.id} {into.id}`",
        )


def _merged(store: IncidentStore, into: Incident, other: Incident) -> Incident:
    """`into` with what `other` brings: the higher urgency and impact, the earlier detection
    and occurrence, the hosts and users of both."""
    urgency = max(into.urgency, other.urgency, key=LEVEL_RANK.__getitem__)
    impact = max(into.impact, other.impact, key=LEVEL_RANK.__getitem__)
    occurred = [o for o in (into.occurred_at, other.occurred_at) if o is not None]
    return replace(
        into,
        urgency=urgency,
        impact=impact,
        priority=store.config.priority(urgency, impact),
        detected_at=min(into.detected_at, other.detected_at),
        occurred_at=min(occurred, default=None),
        hosts=uniq(into.hosts, other.hosts),
        users=uniq(into.users, other.users),
    )


def merge_incidents(
    store: IncidentStore,
    into_id: str,
    other_id: str,
    *,
    actor: str,
    now: dt.datetime,
    note: str = "",
) -> Outcome:
    """Merge `other` into `into`: its alerts, hosts and users move, the higher urgency and
    impact and the earlier detection are kept, and `other` is closed "merged into INTO"."""
    actor = clean_actor(actor)
    note = clean_text(note, "the note")
    with store.transaction() as conn:
        into = store.get(into_id)
        other = store.get(other_id)
        _check(into, other)
        reason = f"merged into {into.id}"
        t = transition(other, Action.MERGE, actor=actor, at=now, note=note, reason=reason)
        new = _merged(store, into, other)
        store.set_fields(conn, into.id, new)
        store.move_alerts(conn, other.id, into.id, actor, now)
        store.add_steps(conn, other.id, t.steps, t.stage)
        store.set_fields(conn, other.id, replace(other, merged_into=into.id))
    moved = [a.id for a in other.alerts]
    trail.record(
        store.home,
        "incident.merged",
        {
            "incident": into.id,
            "merged": other.id,
            "alerts": moved,
            "changes": changes(into, new, detected=True),
            "note": note,
        },
        actor=actor,
        at=now,
        done=f"{other.id} was merged into {into.id}",
    )
    record_steps(store, other, t.steps, extra={"merged_into": into.id})
    problems = link_alerts(store, moved, into.id, actor, now, replacing=other.id)
    return Outcome(store.get(into.id), None, problems)
