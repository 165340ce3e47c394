"""Incidents: create, step, update, merge, reopen, close (FLT-1, LAW-4), each an audit event.

Each function takes an open :class:`~mamori.incidents.store.IncidentStore`, the values of the
change, the actor and `now`; it checks the change (the workflow in
:mod:`mamori.incidents.workflow`), commits it, then records its audit event. Alerts are read
and linked through :mod:`mamori.incidents.linkage` only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from mamori.errors import MamoriError
from mamori.incidents import linkage, trail
from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import (
    BREACH_FIELDS,
    AlertId,
    AlertRef,
    BreachDetails,
    Category,
    CsirtMessage,
    Incident,
    IncidentId,
    Level,
    ReportKind,
    Stage,
    Step,
    StepKind,
    iso,
)
from mamori.incidents.notices import announce, note_breaches
from mamori.incidents.store import IncidentStore
from mamori.incidents.workflow import Action, Timer, step_action, timers, transition

__all__ = [
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
    "step_incident",
    "update_incident",
]

SEVERITIES: Final = ("informational", "low", "medium", "high", "critical")
"""Sigma levels, lowest first (alert severities)."""

SEVERITY_LEVELS: Final[dict[str, tuple[Level, Level]]] = {
    "critical": (Level.HIGH, Level.HIGH),
    "high": (Level.HIGH, Level.MEDIUM),
    "medium": (Level.MEDIUM, Level.MEDIUM),
    "low": (Level.LOW, Level.MEDIUM),
    "informational": (Level.LOW, Level.LOW),
}
"""(urgency, impact) an incident starts with, from its most severe alert; both can be changed."""

_LEVEL_RANK: Final = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}

MAX_TITLE: Final = 200
MAX_TEXT: Final = 20_000


def severity_rank(severity: str) -> int:
    """0 (informational) … 4 (critical); an unknown level ranks as medium."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 2


@dataclass(frozen=True, slots=True)
class Outcome:
    """An incident after a change, and what went wrong after the change was made.

    `problems` are things that failed once the change itself was committed and recorded
    (linking an alert in the alert store, the CSIRT report of a breach): the change stands,
    each problem says what to do.
    """

    incident: Incident
    message: CsirtMessage | None = None
    """The CSIRT report sent with the change (a breach's first report), if any."""
    problems: tuple[str, ...] = ()


def _text(
    value: str, what: str, limit: int = MAX_TEXT, *, required: bool = False, line: bool = False
) -> str:
    """`value` stripped and checked: not empty when `required`, at most `limit` characters, no
    control characters (with `line`, no line breaks either: titles go into mail subjects)."""
    value = value.strip()
    if required and not value:
        raise IncidentsError(f"{what} is empty", hint=f"give {what}")
    if len(value) > limit:
        raise IncidentsError(
            f"{what} is {len(value)} characters long", hint=f"keep it to {limit} characters"
        )
    if any((ord(c) < 32 and (line or c not in "\n\t")) or c == "\x7f" for c in value):
        raise IncidentsError(
            f"{what} holds control characters{' or line breaks' if line else ''}",
            hint="remove them",
        )
    return value


def _actor(actor: str) -> str:
    return _text(actor, "the actor (--as)", 200, required=True, line=True)


def _aware(t: dt.datetime, what: str) -> dt.datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise IncidentsError(f"{what} must carry its time zone", hint="e.g. 2026-11-27T10:15+09:00")
    return t


def check_breach(b: BreachDetails) -> BreachDetails:
    """Every LAW-4 field given (the number of persons may be unknown: None)."""
    missing = [f"{name} ({ja})" for name, ja in BREACH_FIELDS if not getattr(b, name).strip()]
    if missing:
        raise IncidentsError(
            f"a personal-information breach needs {', '.join(missing)} (LAW-4)",
            hint="write what is known now (e.g. 調査中); update it as the facts come in",
        )
    if not [d for d in b.data_items if d.strip()]:
        raise IncidentsError(
            "a personal-information breach needs the data items concerned (LAW-4)",
            hint="e.g. --data-item 氏名 --data-item メールアドレス (調査中 while unknown)",
        )
    if b.persons_affected is not None and b.persons_affected < 0:
        raise IncidentsError("the number of persons affected cannot be negative")
    for name, ja in BREACH_FIELDS:
        _text(getattr(b, name), ja)
    return replace(
        b,
        **{name: getattr(b, name).strip() for name, _ in BREACH_FIELDS},
        data_items=tuple(d.strip() for d in b.data_items if d.strip()),
    )


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


def _uniq(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for g in groups for v in g if v.strip()))


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
    actor = _actor(actor)
    _aware(now, "now")
    alerts = _alerts(store, alert_ids)
    if not alerts and not (title or "").strip():
        raise IncidentsError(
            "an incident needs a title or at least one alert",
            hint="pass --title … or --from-alert ID",
        )
    top = max(alerts, key=lambda a: severity_rank(a.severity)) if alerts else None
    title = _text(
        title or (" ".join(top.title.split()) if top else ""),
        "the title",
        MAX_TITLE,
        required=True,
        line=True,
    )
    description = _text(description or (top.summary if top else ""), "the description")
    if category is Category.BREACH:
        if breach is None:
            raise IncidentsError(
                "a personal-information breach needs its details (LAW-4)",
                hint="pass --what-happened, --damage, --containment, --recovery, "
                "--persons-response, --persons-affected and --data-item",
            )
        breach = check_breach(replace(breach, recognised_at=now))
    elif breach is not None:
        raise IncidentsError(
            f"breach details were given for a {category.value} incident",
            hint="use --category breach for a personal-information breach",
        )
    default_u, default_i = (
        SEVERITY_LEVELS.get(top.severity, (Level.MEDIUM, Level.MEDIUM))
        if top
        else ((Level.HIGH, Level.MEDIUM) if category is Category.BREACH else (Level.MEDIUM,) * 2)
    )
    urgency = urgency or default_u
    impact = impact or default_i
    detected = _aware(detected_at, "the detection time") if detected_at else now
    if detected > now:
        raise IncidentsError(f"the detection time {iso(detected)} is in the future")
    occurred: dt.datetime | None
    if occurred_at is not None:
        occurred = _aware(occurred_at, "the occurrence time")
        if occurred > detected:
            raise IncidentsError(
                f"the occurrence time {iso(occurred)} is after the detection {iso(detected)}"
            )
    else:
        occurred = min((a.first_seen for a in alerts if a.first_seen is not None), default=None)
        occurred = None if occurred is None else min(occurred, detected)
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
            hosts=_uniq(hosts, *(a.values("host.name") for a in alerts)),
            users=_uniq(users, *(a.values("user.name") for a in alerts)),
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
    problems = _link_all(store, [a.id for a in alerts], iid, actor, now)
    problems += announce(store, store.get(iid))
    message = None
    if breach is not None:
        message, problem = _breach_report(store, iid, actor, now)
        problems += problem
    return Outcome(store.get(iid), message, problems)


def _link_all(
    store: IncidentStore,
    alert_ids: Sequence[AlertId],
    iid: IncidentId,
    actor: str,
    now: dt.datetime,
    replacing: IncidentId | None = None,
) -> tuple[str, ...]:
    problems: list[str] = []
    for aid in alert_ids:
        try:
            if replacing is None:
                linkage.link(store.home, aid, iid, actor, now)
            else:
                linkage.link(store.home, aid, iid, actor, now, replacing=replacing)
        except MamoriError as e:
            problems.append(
                f"alert {aid} is linked to {iid} here, but the alert store could not be told: "
                f"{e.message}"
            )
    return tuple(problems)


def _breach_report(
    store: IncidentStore, iid: IncidentId, actor: str, now: dt.datetime
) -> tuple[CsirtMessage | None, tuple[str, ...]]:
    """LAW-4: report a breach to the CSIRT at once; a failure is returned, not raised."""
    from mamori.incidents.csirt import csirt_report

    kind = ReportKind.FOLLOWUP if store.messages(iid) else ReportKind.FIRST
    try:
        return csirt_report(store, iid, kind, "", actor=actor, now=now), ()
    except MamoriError as e:
        trail.record(
            store.home,
            "incident.csirt_sent",
            {"incident": iid, "kind": kind.value, "error": e.message},
            actor=actor,
            at=now,
            outcome="failure",
            done=f"the breach report of {iid} failed",
        )
        return None, (
            f"the breach report to the CSIRT was NOT sent: {e.diagnostics()}\n"
            f"  then send it: `mamori incidents csirt {iid} --kind {kind.value}` "
            "(its timer csirt_first_report is running)",
        )


def get_incident(store: IncidentStore, incident_id: str) -> Incident:
    return store.get(incident_id)


def list_incidents(
    store: IncidentStore, *, include_closed: bool = False, limit: int = 1000
) -> list[Incident]:
    """Open incidents (or all), newest detection first."""
    return store.incidents(include_closed=include_closed, limit=limit)


def incident_timers(store: IncidentStore, incident_id: str, now: dt.datetime) -> list[Timer]:
    return timers(store.get(incident_id), now)


def _apply(
    store: IncidentStore,
    incident_id: str,
    action: Action,
    *,
    actor: str,
    now: dt.datetime,
    note: str = "",
    reason: str = "",
) -> tuple[Incident, Incident, tuple[Step, ...]]:
    """Check `action` against the workflow and store its steps: (before, after, steps)."""
    actor = _actor(actor)
    note = _text(note, "the note")
    reason = _text(reason, "the reason")
    with store.transaction() as conn:
        before = store.get(incident_id)
        t = transition(before, action, actor=actor, at=_aware(now, "now"), note=note, reason=reason)
        store.add_steps(conn, before.id, t.steps, t.stage)
    return before, store.get(before.id), t.steps


def _record_steps(
    store: IncidentStore, before: Incident, steps: Sequence[Step], *, extra: dict[str, Any]
) -> None:
    for s in steps:
        action = {
            StepKind.SKIPPED: "incident.skipped",
            StepKind.REACHED: "incident.stage",
            StepKind.REOPENED: "incident.reopened",
            StepKind.CLOSED: "incident.closed",
            StepKind.MERGED: "incident.closed",
            StepKind.DETECTED: "incident.stage",
        }[s.kind]
        trail.record(
            store.home,
            action,
            {
                "incident": before.id,
                "seq": s.seq,
                "kind": s.kind.value,
                "stage": s.stage.value,
                "from": before.stage.value,
                "priority": before.priority.value,
                "note": s.note,
                "reason": s.reason,
                **extra,
            },
            actor=s.actor,
            at=s.at,
            done=f"{before.id}: {s.kind.value} {s.stage.value}",
        )


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
    before, after, steps = _apply(
        store, incident_id, step_action(stage), actor=actor, now=now, note=note, reason=skip_reason
    )
    _record_steps(store, before, steps, extra={})
    return after


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
    before, after, steps = _apply(
        store, incident_id, Action.REOPEN, actor=actor, now=now, note=note, reason=reason
    )
    _record_steps(store, before, steps, extra={})
    return after


def close_incident(
    store: IncidentStore, incident_id: str, *, actor: str, now: dt.datetime, note: str = ""
) -> Incident:
    """Close a reported incident (P1/P2 and breaches: after a completed review)."""
    before, after, steps = _apply(store, incident_id, Action.CLOSE, actor=actor, now=now, note=note)
    _record_steps(store, before, steps, extra={})
    return after


_UNSET: Any = object()


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
    actor = _actor(actor)
    _aware(now, "now")
    with store.transaction() as conn:
        inc = store.get(incident_id)
        if inc.stage is Stage.CLOSED:
            raise IncidentsError(
                f"{inc.id} is closed", hint=f"reopen it first: `mamori incidents reopen {inc.id}`"
            )
        new = inc
        if title is not None:
            new = replace(new, title=_text(title, "the title", MAX_TITLE, required=True, line=True))
        if description is not None:
            new = replace(new, description=_text(description, "the description"))
        if assignee is not _UNSET:
            new = replace(new, assignee=(assignee or "").strip() or None)
        if urgency is not None:
            new = replace(new, urgency=urgency)
        if impact is not None:
            new = replace(new, impact=impact)
        if occurred_at is not None:
            if _aware(occurred_at, "the occurrence time") > inc.detected_at:
                raise IncidentsError("the occurrence time is after the detection")
            new = replace(new, occurred_at=occurred_at)
        if hosts is not None:
            new = replace(new, hosts=_uniq(hosts))
        if users is not None:
            new = replace(new, users=_uniq(users))
        if category is not None and category is not inc.category:
            if inc.category is Category.BREACH:
                raise IncidentsError(
                    f"{inc.id} is a personal-information breach and stays one on record",
                    hint="if it turned out not to be one, say so in the description and the "
                    "next CSIRT report",
                )
            new = replace(new, category=category)
        becomes_breach = new.category is Category.BREACH and inc.breach is None
        if breach is not None:
            if new.category is not Category.BREACH:
                raise IncidentsError(
                    f"breach details were given for a {new.category.value} incident",
                    hint="add --category breach",
                )
            since = inc.breach.recognised_at if inc.breach else now
            new = replace(new, breach=check_breach(replace(breach, recognised_at=since)))
        elif becomes_breach:
            raise IncidentsError(
                "a personal-information breach needs its details (LAW-4)",
                hint="pass --what-happened, --damage, --containment, --recovery, "
                "--persons-response, --persons-affected and --data-item",
            )
        new = replace(new, priority=store.config.priority(new.urgency, new.impact))
        changes = _changes(inc, new)
        if not changes:
            raise IncidentsError("nothing to change", hint="give at least one new value")
        store.set_fields(conn, inc.id, new)
    trail.record(
        store.home,
        "incident.updated",
        {"incident": inc.id, "changes": changes},
        actor=actor,
        at=now,
        done=f"{inc.id} was updated",
    )
    message: CsirtMessage | None = None
    problems: tuple[str, ...] = ()
    if becomes_breach:
        message, problems = _breach_report(store, inc.id, actor, now)
    return Outcome(store.get(inc.id), message, problems)


def _changes(old: Incident, new: Incident) -> dict[str, list[Any]]:
    a, b = old.as_json(), new.as_json()
    keys = ("title", "description", "category", "urgency", "impact", "priority", "assignee",
            "occurred_at", "hosts", "users", "breach")  # fmt: skip
    return {k: [a[k], b[k]] for k in keys if a[k] != b[k]}


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
    actor = _actor(actor)
    note = _text(note, "the note")
    with store.transaction() as conn:
        into = store.get(into_id)
        other = store.get(other_id)
        if into.id == other.id:
            raise IncidentsError("an incident cannot be merged into itself")
        for inc in (into, other):
            if inc.stage is Stage.CLOSED:
                raise IncidentsError(
                    f"{inc.id} is closed",
                    hint=f"reopen it first: `mamori incidents reopen {inc.id}`",
                )
        if other.breach is not None and into.breach is None:
            raise IncidentsError(
                f"{other.id} is a personal-information breach and {into.id} is not",
                hint=f"merge the other way round: `mamori incidents merge {other.id} {into.id}`",
            )
        reason = f"merged into {into.id}"
        t = transition(other, Action.MERGE, actor=actor, at=now, note=note, reason=reason)
        urgency = max(into.urgency, other.urgency, key=_LEVEL_RANK.__getitem__)
        impact = max(into.impact, other.impact, key=_LEVEL_RANK.__getitem__)
        occurred = [o for o in (into.occurred_at, other.occurred_at) if o is not None]
        new = replace(
            into,
            urgency=urgency,
            impact=impact,
            priority=store.config.priority(urgency, impact),
            detected_at=min(into.detected_at, other.detected_at),
            occurred_at=min(occurred, default=None),
            hosts=_uniq(into.hosts, other.hosts),
            users=_uniq(into.users, other.users),
        )
        store.set_fields(conn, into.id, new)
        conn.execute(
            "UPDATE incident_alerts SET incident_id = ?, linked_at = ?, linked_by = ? "
            "WHERE incident_id = ?",
            (into.id, iso(now), actor, other.id),
        )
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
            "changes": _changes(into, new) | _detected_change(into, new),
            "note": note,
        },
        actor=actor,
        at=now,
        done=f"{other.id} was merged into {into.id}",
    )
    _record_steps(store, other, t.steps, extra={"merged_into": into.id})
    problems = _link_all(store, moved, into.id, actor, now, replacing=other.id)
    return Outcome(store.get(into.id), None, problems)


def _detected_change(old: Incident, new: Incident) -> dict[str, list[Any]]:
    if old.detected_at == new.detected_at:
        return {}
    return {"detected_at": [iso(old.detected_at), iso(new.detected_at)]}
