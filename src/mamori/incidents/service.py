"""Incidents: create, update, list; and, re-exported here, step, merge, reopen, close (FLT-1,
LAW-4), each an audit event.

Each function takes an open :class:`~mamori.incidents.store.IncidentStore`, the values of the
change, the actor and `now`; it checks the change (:mod:`mamori.incidents.checks`, the workflow
in :mod:`mamori.incidents.workflow`), commits it, then records its audit event
(:mod:`mamori.incidents.effects`). Alerts are read and linked through
:mod:`mamori.incidents.linkage` only. The steps through the workflow are in
:mod:`mamori.incidents.stages`, merging in :mod:`mamori.incidents.merge`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mamori.incidents import linkage, trail
from mamori.incidents.checks import (
    MAX_TEXT,
    MAX_TITLE,
    SEVERITIES,
    SEVERITY_LEVELS,
    aware,
    check_breach,
    clean_actor,
    clean_text,
    severity_rank,
    uniq,
)
from mamori.incidents.effects import Outcome, breach_report, changes, link_alerts
from mamori.incidents.errors import IncidentsError
from mamori.incidents.merge import merge_incidents
from mamori.incidents.model import (
    AlertId,
    AlertRef,
    BreachDetails,
    Category,
    CsirtMessage,
    Incident,
    Level,
    Stage,
    Step,
    StepKind,
    iso,
)
from mamori.incidents.notices import announce, note_breaches
from mamori.incidents.stages import close_incident, incident_timers, reopen_incident, step_incident
from mamori.incidents.store import IncidentStore

__all__ = [
    "MAX_TEXT",
    "MAX_TITLE",
    "SEVERITIES",
    "SEVERITY_LEVELS",
    "Outcome",
    "check_breach",
    "close_incident",
    "create_incident",
    "get_incident",
    "incident_timers",
    "list_incidents",
    "merge_incidents",
    "note_breaches",
    "reopen_incident",
    "severity_rank",
    "step_incident",
    "update_incident",
]


def get_incident(store: IncidentStore, incident_id: str) -> Incident:
    return store.get(incident_id)


def list_incidents(
    store: IncidentStore, *, include_closed: bool = False, limit: int = 1000
) -> list[Incident]:
    """Open incidents (or all), newest detection first."""
    return store.incidents(include_closed=include_closed, limit=limit)


def _alerts(store: IncidentStore, alert_ids: Sequence[str]) -> list[AlertRef]:
    out: list[AlertRef] = []
    for raw in dict.fromkeys(a.strip() for a in alert_ids):
        if not raw:
            raise IncidentsError("an alert id is empty")
        owner = store.incident_of_alert(raw)
        if owner is not None:
            raise IncidentsError(
                f"alert {raw} already belongs to {owner}",
                hint=f"add to {owner} instead, or merge the incidents with "
                f"`mamori incidents merge {owner} OTHER`",
            )
        out.append(linkage.alert_summary(store.home, AlertId(raw)))
    return out


def _breach(
    category: Category, breach: BreachDetails | None, since: dt.datetime, *, needed: bool
) -> BreachDetails | None:
    """The checked breach details of an incident of `category`, recognised as a breach at
    `since`; None when none were given and none are `needed`."""
    if breach is not None:
        if category is not Category.BREACH:
            raise IncidentsError(
                f"breach details were given for a {category.value} incident",
                hint="add --category breach for a personal-information breach",
            )
        return check_breach(replace(breach, recognised_at=since))
    if needed:
        raise IncidentsError(
            "a personal-information breach needs its details (LAW-4)",
            hint="pass --what-happened, --damage, --containment, --recovery, "
            "--persons-response, --persons-affected and --data-item",
        )
    return None


def _times(
    now: dt.datetime,
    detected_at: dt.datetime | None,
    occurred_at: dt.datetime | None,
    alerts: Sequence[AlertRef],
) -> tuple[dt.datetime, dt.datetime | None]:
    """(detected, occurred): detection defaults to now, occurrence to the earliest alert's first
    event (never after the detection)."""
    detected = aware(detected_at, "the detection time") if detected_at else now
    if detected > now:
        raise IncidentsError(f"the detection time {iso(detected)} is in the future")
    if occurred_at is None:
        first = min((a.first_seen for a in alerts if a.first_seen is not None), default=None)
        return detected, None if first is None else min(first, detected)
    occurred = aware(occurred_at, "the occurrence time")
    if occurred > detected:
        raise IncidentsError(
            f"the occurrence time {iso(occurred)} is after the detection {iso(detected)}"
        )
    return detected, occurred


def create_incident(
    store: IncidentStore,
    *,
    actor: str,
    now: dt.datetime,
    title: str | None = None,
    description: str = "",
    category: Category = Category.SECURITY,
    alert_ids: Sequence[str] = (),
    urgency: Level | None = None,
    impact: Level | None = None,
    assignee: str | None = None,
    detected_at: dt.datetime | None = None,
    occurred_at: dt.datetime | None = None,
    hosts: Sequence[str] = (),
    users: Sequence[str] = (),
    breach: BreachDetails | None = None,
) -> Outcome:
    """A new incident, from alerts (merged into one) or by hand.

    From alerts: the title is the most severe alert's unless given, urgency and impact follow
    its severity unless given, the hosts and users of every alert are added, the occurrence is
    the earliest alert's first event. A breach (`category=breach`) needs `breach` and sends the
    first report to the CSIRT at once (LAW-4); when that cannot be done the incident is still
    created (its record must not be lost) and the failure is in `problems`, its
    `csirt_first_report` timer running.
    """
    actor = clean_actor(actor)
    aware(now, "now")
    alerts = _alerts(store, alert_ids)
    if not alerts and not (title or "").strip():
        raise IncidentsError(
            "an incident needs a title or at least one alert",
            hint="pass --title … or --from-alert ID",
        )
    top = max(alerts, key=lambda a: severity_rank(a.severity)) if alerts else None
    title = clean_text(
        title or (" ".join(top.title.split()) if top else ""),
        "the title",
        MAX_TITLE,
        required=True,
        line=True,
    )
    description = clean_text(description or (top.summary if top else ""), "the description")
    breach = _breach(category, breach, now, needed=category is Category.BREACH)
    default_u, default_i = (
        SEVERITY_LEVELS.get(top.severity, (Level.MEDIUM, Level.MEDIUM))
        if top
        else ((Level.HIGH, Level.MEDIUM) if category is Category.BREACH else (Level.MEDIUM,) * 2)
    )
    urgency = urgency or default_u
    impact = impact or default_i
    detected, occurred = _times(now, detected_at, occurred_at, alerts)
    priority = store.config.priority(urgency, impact)
    via = f"from alerts {', '.join(a.id for a in alerts)}" if alerts else "by hand"
    with store.transaction() as conn:
        for a in alerts:  # again inside the write lock: another command may have taken one
            owner = store.incident_of_alert(a.id)
            if owner is not None:
                raise IncidentsError(f"alert {a.id} was just added to {owner}")
        iid = store.new_id(conn, detected)
        inc = Incident(
            id=iid,
            title=title,
            description=description,
            category=category,
            urgency=urgency,
            impact=impact,
            priority=priority,
            assignee=(assignee or "").strip() or None,
            detected_at=detected,
            occurred_at=occurred,
            created_at=now,
            created_by=actor,
            stage=Stage.DETECTED,
            steps=(Step(1, StepKind.DETECTED, Stage.DETECTED, actor, detected, f"created {via}"),),
            targets=store.config.targets_for(priority),
            alerts=tuple(alerts),
            hosts=uniq(hosts, *(a.values("host.name") for a in alerts)),
            users=uniq(users, *(a.values("user.name") for a in alerts)),
            breach=breach,
            breach_report_minutes=store.config.breach_report_minutes,
        )
        store.insert(conn, inc)
        for a in alerts:
            store.link_alert(conn, iid, a, actor, now)
    trail.record(
        store.home,
        "incident.created",
        {
            "incident": iid,
            "title": inc.title,
            "category": inc.category.value,
            "urgency": urgency.value,
            "impact": impact.value,
            "priority": priority.value,
            "assignee": inc.assignee,
            "detected_at": iso(detected),
            "occurred_at": iso(occurred),
            "alerts": [a.id for a in alerts],
            "rules": list(inc.rules),
            "hosts": list(inc.hosts),
            "users": list(inc.users),
            "breach": None if breach is None else breach.as_json(),
        },
        actor=actor,
        at=now,
        done=f"{iid} was created",
    )
    problems = link_alerts(store, [a.id for a in alerts], iid, actor, now)
    problems += announce(store, store.get(iid))
    message = None
    if breach is not None:
        message, problem = breach_report(store, iid, actor, now)
        problems += problem
    return Outcome(store.get(iid), message, problems)


_UNSET: Any = object()


def _updated(
    store: IncidentStore,
    inc: Incident,
    now: dt.datetime,
    *,
    title: str | None,
    description: str | None,
    category: Category | None,
    urgency: Level | None,
    impact: Level | None,
    assignee: str | None,
    occurred_at: dt.datetime | None,
    hosts: Sequence[str] | None,
    users: Sequence[str] | None,
    breach: BreachDetails | None,
) -> Incident:
    """`inc` with the values given (see :func:`update_incident`), checked."""
    new = inc
    if title is not None:
        new = replace(
            new, title=clean_text(title, "the title", MAX_TITLE, required=True, line=True)
        )
    if description is not None:
        new = replace(new, description=clean_text(description, "the description"))
    if assignee is not _UNSET:
        new = replace(new, assignee=(assignee or "").strip() or None)
    new = replace(new, urgency=urgency or new.urgency, impact=impact or new.impact)
    if occurred_at is not None:
        if aware(occurred_at, "the occurrence time") > inc.detected_at:
            raise IncidentsError("the occurrence time is after the detection")
        new = replace(new, occurred_at=occurred_at)
    if hosts is not None:
        new = replace(new, hosts=uniq(hosts))
    if users is not None:
        new = replace(new, users=uniq(users))
    if category is not None and category is not inc.category:
        if inc.category is Category.BREACH:
            raise IncidentsError(
                f"{inc.id} is a personal-information breach and stays one on record",
                hint="if it turned out not to be one, say so in the description and the "
                "next CSIRT report",
            )
        new = replace(new, category=category)
    since = inc.breach.recognised_at if inc.breach else now
    needed = new.category is Category.BREACH and inc.breach is None
    checked = _breach(new.category, breach, since, needed=needed)
    if checked is not None:
        new = replace(new, breach=checked)
    return replace(new, priority=store.config.priority(new.urgency, new.impact))


def update_incident(
    store: IncidentStore,
    incident_id: str,
    *,
    actor: str,
    now: dt.datetime,
    title: str | None = None,
    description: str | None = None,
    category: Category | None = None,
    urgency: Level | None = None,
    impact: Level | None = None,
    assignee: str | None = _UNSET,
    occurred_at: dt.datetime | None = None,
    hosts: Sequence[str] | None = None,
    users: Sequence[str] | None = None,
    breach: BreachDetails | None = None,
) -> Outcome:
    """Change what is given (None: unchanged; `assignee=None` unassigns). The priority follows
    urgency × impact. Turning an incident into a breach needs `breach` and reports it to the
    CSIRT at once; a breach stays one."""
    actor = clean_actor(actor)
    aware(now, "now")
    with store.transaction() as conn:
        inc = store.get(incident_id)
        if inc.stage is Stage.CLOSED:
            raise IncidentsError(
                f"{inc.id} is closed", hint=f"reopen it first: `mamori incidents reopen {inc.id}`"
            )
        new = _updated(
            store, inc, now, title=title, description=description, category=category,
            urgency=urgency, impact=impact, assignee=assignee, occurred_at=occurred_at,
            hosts=hosts, users=users, breach=breach,
        )  # fmt: skip
        diff = changes(inc, new)
        if not diff:
            raise IncidentsError("nothing to change", hint="give at least one new value")
        store.set_fields(conn, inc.id, new)
    trail.record(
        store.home,
        "incident.updated",
        {"incident": inc.id, "changes": diff},
        actor=actor,
        at=now,
        done=f"{inc.id} was updated",
    )
    message: CsirtMessage | None = None
    problems: tuple[str, ...] = ()
    if new.breach is not None and inc.breach is None:
        message, problems = breach_report(store, inc.id, actor, now)
    return Outcome(store.get(inc.id), message, problems)
