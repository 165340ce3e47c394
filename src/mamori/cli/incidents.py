"""`mamori incidents …` (FLT-1…4, LAW-4) and `mamori tickets …` (OPS-1).

Thin: each command parses its arguments and calls one function of :mod:`mamori.incidents`,
which checks the change, commits it and records its audit event. `--as NAME` names the actor
(default: the operating-system user); `--json` prints JSON. A change that stands although
something after it failed (an alert not linked in the alert store, a breach report not sent)
prints what to do and exits with status 1.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from mamori.cli.common import HomeOption, print_json
from mamori.home import open_home
from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import (
    BreachDetails,
    Category,
    Incident,
    Level,
    PastOccurrences,
    Priority,
    ReportKind,
)
from mamori.incidents.model import Stage as StageName
from mamori.incidents.store import IncidentStore
from mamori.incidents.tickets import TicketCategory, TicketStatus, TicketStore
from mamori.incidents.workflow import Timer

incidents_app = typer.Typer(
    help="Incidents: the FLT-1 workflow, timers, CSIRT reports, reviews (docs/incidents.md).",
    no_args_is_help=True,
)
countermeasure_app = typer.Typer(
    help="Permanent countermeasures of post-incident reviews (FLT-2).", no_args_is_help=True
)
incidents_app.add_typer(countermeasure_app, name="countermeasure")
tickets_app = typer.Typer(
    help="Service-desk tickets (OPS-1): open, comment, status, monthly stats.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ActorOption = Annotated[
    str | None,
    typer.Option("--as", metavar="NAME", help="Who acts (default: the operating-system user)."),
]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The incident, e.g. INC-2026-0001.")]
TicketArg = Annotated[str, typer.Argument(metavar="ID", help="The ticket, e.g. TKT-2026-0001.")]
NoteOption = Annotated[str, typer.Option(help="A note recorded with the step.")]


def _actor(name: str | None) -> str:
    if name is not None:
        return name
    from mamori.audit import Identity

    return Identity.current().user


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _t(t: dt.datetime, zone: dt.tzinfo) -> str:
    """A time for a person, in the calendar zone: 2026-11-27 10:15 JST."""
    local = t.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


@contextmanager
def _incidents(home: str | None) -> Iterator[IncidentStore]:
    store = IncidentStore.open(open_home(home))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _tickets(home: str | None) -> Iterator[TicketStore]:
    store = TicketStore.open(open_home(home))
    try:
        yield store
    finally:
        store.close()


def _when(text: str | None, store: IncidentStore, what: str) -> dt.datetime | None:
    """An ISO 8601 time; one without a zone is in the calendar zone."""
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise IncidentsError(
            f"{what} {text!r} is not a time", hint="write it as 2026-11-27T10:15 (+09:00)"
        ) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=store.zone)


def _finish(problems: Sequence[str]) -> None:
    """Report what failed after a change that stands; exit 1 when anything did."""
    for p in problems:
        sys.stderr.write(f"mamori: {p}\n")
    if problems:
        raise typer.Exit(1)


def _print_incident(inc: Incident) -> None:
    print(f"{inc.id}  [{inc.priority.value}] {inc.title}")
    print(
        f"  stage {inc.stage.value} ({inc.stage.ja})  category {inc.category.value}  "
        f"urgency {inc.urgency.value}  impact {inc.impact.value}  "
        f"assignee {inc.assignee or '-'}"
    )


def _breach(
    what_happened: str | None,
    damage: str | None,
    containment: str | None,
    recovery: str | None,
    persons_response: str | None,
    persons_affected: str | None,
    data_items: list[str] | None,
) -> BreachDetails | None:
    given = (what_happened, damage, containment, recovery, persons_response, persons_affected)
    if all(v is None for v in given) and not data_items:
        return None
    count: int | None = None
    if persons_affected is not None and persons_affected.strip().lower() not in ("unknown", ""):
        try:
            count = int(persons_affected)
        except ValueError:
            raise IncidentsError(
                f"--persons-affected {persons_affected!r} is not a number",
                hint="give a whole number, or `unknown`",
            ) from None
    return BreachDetails(
        what_happened=what_happened or "",
        damage=damage or "",
        containment=containment or "",
        recovery=recovery or "",
        persons_response=persons_response or "",
        persons_affected=count,
        data_items=tuple(data_items or ()),
        recognised_at=_now(),  # the service sets it
    )


# Options shared by create and update: the LAW-4 fields of a personal-information breach.
WhatOpt = Annotated[str | None, typer.Option(help="Breach: what happened (発生した事態).")]
DamageOpt = Annotated[str | None, typer.Option(help="Breach: the damage (被害の状況).")]
ContainOpt = Annotated[
    str | None, typer.Option(help="Breach: containment of further harm (二次被害の防止策).")
]
RecoveryOpt = Annotated[str | None, typer.Option(help="Breach: recovery (復旧策).")]
PersonsOpt = Annotated[
    str | None, typer.Option(help="Breach: response to the persons affected (本人への対応).")
]
CountOpt = Annotated[
    str | None,
    typer.Option(metavar="N|unknown", help="Breach: number of persons affected (本人の数)."),
]
ItemsOpt = Annotated[
    list[str] | None,
    typer.Option("--data-item", help="Breach: a kind of personal data concerned (repeatable)."),
]


@incidents_app.command("list")
def incidents_list(
    all_: Annotated[bool, typer.Option("--all", help="Include closed incidents.")] = False,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List open incidents (or all), newest detection first, with breached timers."""
    from mamori.incidents.service import list_incidents
    from mamori.incidents.workflow import TimerState, timers

    now = _now()
    with _incidents(home) as store:
        found = list_incidents(store, include_closed=all_)
    rows = []
    for inc in found:
        breached = [t.name for t in timers(inc, now) if t.state is TimerState.BREACHED]
        rows.append((inc, breached))
    if json_out:
        print_json([{**inc.as_json(), "breached": b} for inc, b in rows])
        return
    if not rows:
        sys.stderr.write("no incidents\n")
        return
    print(f"{'ID':<15} {'PRIO':<4} {'STAGE':<18} {'DETECTED':<20} {'BREACHED':<20} TITLE")
    for inc, b in rows:
        detected = _t(inc.detected_at, store.zone)
        print(
            f"{inc.id:<15} {inc.priority.value:<4} {inc.stage.value:<18} {detected:<20} "
            f"{','.join(b) or '-':<20} {inc.title}"
        )


@incidents_app.command("show")
def incidents_show(id_: IdArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Show an incident: steps, timers, alerts, CSIRT reports, review, countermeasures."""
    from mamori.incidents.workflow import timers

    now = _now()
    with _incidents(home) as store:
        inc = store.get(id_)
        messages = store.messages(inc.id)
        review = store.review(inc.id)
        cms = store.countermeasures(inc.id)
        merged = store.merged_from(inc.id)
        zone = store.zone
        today = now.astimezone(zone).date()
    ts = timers(inc, now)
    if json_out:
        print_json(
            {
                **inc.as_json(),
                "timers": [t.as_json() for t in ts],
                "csirt_messages": [m.as_json() for m in messages],
                "review": None if review is None else review.as_json(),
                "countermeasures": [c.as_json(today) for c in cms],
                "merged_from": merged,
            }
        )
        return
    _print_incident(inc)
    if inc.description:
        print(f"  {inc.description}")
    if inc.merged_into:
        print(f"  merged into {inc.merged_into}")
    if merged:
        print(f"  merged from {', '.join(merged)}")
    for a in inc.alerts:
        print(f"  alert {a.id}: {a.title} ({a.severity}, rule {a.rule})")
    print("steps:")
    for s in inc.steps:
        why = f"  reason: {s.reason}" if s.reason else ""
        note = f"  note: {s.note}" if s.note else ""
        print(f"  {s.seq:>3} {_t(s.at, zone)} {s.kind.value:<9} {s.stage.value:<18} "
              f"{s.actor}{why}{note}")  # fmt: skip
    print("timers:")
    _print_timers(ts, zone, indent="  ")
    for m in messages:
        print(f"CSIRT #{m.number} {m.kind.value} {_t(m.sent_at, zone)} {m.subject}")
    if review is not None:
        state = "completed" if review.completed else "in progress"
        print(f"review ({state}): cause: {review.cause or '-'}; recurrence: "
              f"{review.recurrence.value if review.recurrence else '-'}")  # fmt: skip
    for c in cms:
        late = " OVERDUE" if c.overdue(today) else ""
        print(f"countermeasure {c.id}: {c.text} (owner {c.owner}, due {c.due}, "
              f"{c.state.value}{late})")  # fmt: skip


@incidents_app.command("create")
def incidents_create(
    from_alert: Annotated[
        list[str] | None,
        typer.Option("--from-alert", metavar="ID", help="An alert to open it from (repeatable)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="The title (default: the alert's).")] = None,
    description: Annotated[str, typer.Option(help="What is known.")] = "",
    category: Annotated[Category, typer.Option(help="The kind of incident.")] = Category.SECURITY,
    urgency: Annotated[Level | None, typer.Option(help="Default: from alert severity.")] = None,
    impact: Annotated[Level | None, typer.Option(help="Default: from alert severity.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Who handles it.")] = None,
    host: Annotated[list[str] | None, typer.Option(help="An affected host (repeatable).")] = None,
    user: Annotated[list[str] | None, typer.Option(help="An affected user (repeatable).")] = None,
    detected_at: Annotated[
        str | None, typer.Option(metavar="TIME", help="When detected (default: now).")
    ] = None,
    occurred_at: Annotated[
        str | None, typer.Option(metavar="TIME", help="When it started (default: first event).")
    ] = None,
    what_happened: WhatOpt = None,
    damage: DamageOpt = None,
    containment: ContainOpt = None,
    recovery: RecoveryOpt = None,
    persons_response: PersonsOpt = None,
    persons_affected: CountOpt = None,
    data_item: ItemsOpt = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Open an incident from one or more alerts (merged into one) or by hand (--title).

    A personal-information breach (--category breach) needs every LAW-4 field and is reported
    to the CSIRT at once.
    """
    from mamori.incidents.service import create_incident

    with _incidents(home) as store:
        out = create_incident(
            store,
            actor=_actor(actor),
            now=_now(),
            title=title,
            description=description,
            category=category,
            alert_ids=from_alert or (),
            urgency=urgency,
            impact=impact,
            assignee=assignee,
            detected_at=_when(detected_at, store, "--detected-at"),
            occurred_at=_when(occurred_at, store, "--occurred-at"),
            hosts=host or (),
            users=user or (),
            breach=_breach(
                what_happened,
                damage,
                containment,
                recovery,
                persons_response,
                persons_affected,
                data_item,
            ),
        )
    if json_out:
        print_json({**out.incident.as_json(), "problems": list(out.problems)})
    else:
        _print_incident(out.incident)
        if out.message is not None:
            print(f"sent to the CSIRT: {out.message.subject}")
    _finish(out.problems)


@incidents_app.command("step")
def incidents_step(
    id_: IdArg,
    stage: Annotated[StageName, typer.Argument(help="The stage reached.")],
    note: NoteOption = "",
    skip_reason: Annotated[
        str, typer.Option(help="Why the stages passed over are skipped (required then).")
    ] = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Move an incident forward to STAGE (isolated, vendor_contacted, recovery_confirmed,
    reported); stages passed over need --skip-reason and are recorded as skipped."""
    from mamori.incidents.service import step_incident

    with _incidents(home) as store:
        inc = step_incident(
            store, id_, stage, actor=_actor(actor), now=_now(), note=note, skip_reason=skip_reason
        )
    _show(inc, json_out)


def _show(inc: Incident, json_out: bool) -> None:
    if json_out:
        print_json(inc.as_json())
    else:
        _print_incident(inc)


@incidents_app.command("update")
def incidents_update(
    id_: IdArg,
    title: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    category: Annotated[Category | None, typer.Option()] = None,
    urgency: Annotated[Level | None, typer.Option()] = None,
    impact: Annotated[Level | None, typer.Option()] = None,
    assignee: Annotated[str | None, typer.Option()] = None,
    unassign: Annotated[bool, typer.Option("--unassign", help="Remove the assignee.")] = False,
    host: Annotated[
        list[str] | None, typer.Option(help="Replace the affected hosts (repeatable).")
    ] = None,
    user: Annotated[
        list[str] | None, typer.Option(help="Replace the affected users (repeatable).")
    ] = None,
    occurred_at: Annotated[str | None, typer.Option(metavar="TIME")] = None,
    what_happened: WhatOpt = None,
    damage: DamageOpt = None,
    containment: ContainOpt = None,
    recovery: RecoveryOpt = None,
    persons_response: PersonsOpt = None,
    persons_affected: CountOpt = None,
    data_item: ItemsOpt = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change an incident; the priority follows urgency × impact. The breach fields replace
    the breach details (give them all); turning an incident into a breach reports it at once."""
    from mamori.incidents.service import update_incident

    if unassign and assignee is not None:
        raise IncidentsError("give --assignee NAME or --unassign, not both")
    extra: dict[str, Any] = {}
    if unassign:
        extra["assignee"] = None
    elif assignee is not None:
        extra["assignee"] = assignee
    with _incidents(home) as store:
        out = update_incident(
            store,
            id_,
            actor=_actor(actor),
            now=_now(),
            title=title,
            description=description,
            category=category,
            urgency=urgency,
            impact=impact,
            occurred_at=_when(occurred_at, store, "--occurred-at"),
            hosts=host,
            users=user,
            breach=_breach(
                what_happened,
                damage,
                containment,
                recovery,
                persons_response,
                persons_affected,
                data_item,
            ),
            **extra,
        )
    _show(out.incident, json_out)
    _finish(out.problems)


@incidents_app.command("merge")
def incidents_merge(
    into: Annotated[str, typer.Argument(metavar="INTO", help="The incident that stays.")],
    other: Annotated[str, typer.Argument(metavar="OTHER", help="The one merged and closed.")],
    note: NoteOption = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Merge OTHER into INTO: alerts, hosts and users move; OTHER closes "merged into INTO"."""
    from mamori.incidents.service import merge_incidents

    with _incidents(home) as store:
        out = merge_incidents(store, into, other, actor=_actor(actor), now=_now(), note=note)
    _show(out.incident, json_out)
    _finish(out.problems)


@incidents_app.command("csirt")
def incidents_csirt(
    id_: IdArg,
    kind: Annotated[ReportKind, typer.Option(help="第1報, 続報 (第2報…) or 最終報告.")],
    text: Annotated[str, typer.Option(help="Extra text for the report (補足).")] = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Send a report to the CSIRT ([csirt] to and cc) and keep it with the incident (FLT-4)."""
    from mamori.incidents.csirt import csirt_report

    with _incidents(home) as store:
        msg = csirt_report(store, id_, kind, text, actor=_actor(actor), now=_now())
    if json_out:
        print_json(msg.as_json())
        return
    print(f"sent to {', '.join(msg.to)}: {msg.subject}")


@incidents_app.command("review")
def incidents_review(
    id_: IdArg,
    cause: Annotated[str | None, typer.Option(help="The cause (原因).")] = None,
    impact: Annotated[str | None, typer.Option(help="The impact (影響).")] = None,
    recurrence: Annotated[
        Level | None, typer.Option(help="How likely it is to recur (再発可能性).")
    ] = None,
    recurrence_reason: Annotated[str | None, typer.Option(help="Why that likelihood.")] = None,
    complete: Annotated[bool, typer.Option("--complete", help="Mark the review done.")] = False,
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Write the post-incident review (FLT-2); past occurrences are found and listed anew."""
    from mamori.incidents.review import save_review

    with _incidents(home) as store:
        zone = store.zone
        rv = save_review(
            store,
            id_,
            actor=_actor(actor),
            now=_now(),
            cause=cause,
            impact=impact,
            recurrence=recurrence,
            recurrence_reason=recurrence_reason,
            complete=complete,
        )
    if json_out:
        print_json(rv.as_json())
        return
    print(f"review of {rv.incident_id}: {'completed' if rv.completed else 'in progress'}")
    _print_past(rv.past, zone)


def _print_timers(ts: Sequence[Timer], zone: dt.tzinfo, indent: str = "") -> None:
    for t in ts:
        met = f"  (at {_t(t.met_at, zone)}{', skipped' if t.skipped else ''})" if t.met_at else ""
        print(f"{indent}{t.name:<20} due {_t(t.due, zone)}  {t.state.value}{met}")


def _print_past(past: PastOccurrences, zone: dt.tzinfo) -> None:
    if not past.items:
        print("  no past occurrences found")
    for p in past.items:
        when = _t(p.when, zone) if p.when else "-"
        print(f"  {p.kind} {p.ref} {when} [{', '.join(p.matched)}] {p.summary}  {p.link}")
    if not past.complete:
        sys.stderr.write(f"mamori: the list is incomplete: {past.problem}\n")


@incidents_app.command("past")
def incidents_past(id_: IdArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """List earlier incidents and ledger events like this one (same rule, host, user, title)."""
    from mamori.incidents.review import past_occurrences

    with _incidents(home) as store:
        past = past_occurrences(store, id_)
        zone = store.zone
    if json_out:
        print_json(past.as_json())
        return
    _print_past(past, zone)


@incidents_app.command("timers")
def incidents_timers(id_: IdArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Show the due times of an incident and whether each was met."""
    from mamori.incidents.service import incident_timers

    with _incidents(home) as store:
        ts = incident_timers(store, id_, _now())
        zone = store.zone
    if json_out:
        print_json([t.as_json() for t in ts])
        return
    _print_timers(ts, zone)


@incidents_app.command("close")
def incidents_close(
    id_: IdArg,
    note: NoteOption = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Close a reported incident (P1/P2 and breaches: after a completed review)."""
    from mamori.incidents.service import close_incident

    with _incidents(home) as store:
        inc = close_incident(store, id_, actor=_actor(actor), now=_now(), note=note)
    _show(inc, json_out)


@incidents_app.command("reopen")
def incidents_reopen(
    id_: IdArg,
    reason: Annotated[str, typer.Option(help="Why the work resumes (required).")],
    note: NoteOption = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reopen a reported or closed incident: back to isolated."""
    from mamori.incidents.service import reopen_incident

    with _incidents(home) as store:
        inc = reopen_incident(store, id_, reason=reason, actor=_actor(actor), now=_now(), note=note)
    _show(inc, json_out)


@countermeasure_app.command("add")
def countermeasure_add(
    id_: IdArg,
    text: Annotated[str, typer.Option(help="What will be done.")],
    owner: Annotated[str, typer.Option(help="Who is responsible.")],
    due: Annotated[str, typer.Option(metavar="YYYY-MM-DD", help="By when.")],
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a permanent countermeasure to an incident's review."""
    from mamori.incidents.review import add_countermeasure

    try:
        day = dt.date.fromisoformat(due)
    except ValueError:
        raise IncidentsError(f"--due {due!r} is not a date", hint="write YYYY-MM-DD") from None
    with _incidents(home) as store:
        cm = add_countermeasure(
            store, id_, text=text, owner=owner, due=day, actor=_actor(actor), now=_now()
        )
    if json_out:
        print_json(cm.as_json())
        return
    print(f"countermeasure {cm.id} added to {cm.incident_id} (owner {cm.owner}, due {cm.due})")


@countermeasure_app.command("done")
def countermeasure_done(
    cm_id: Annotated[int, typer.Argument(metavar="CM", help="The countermeasure's number.")],
    note: NoteOption = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Mark a countermeasure done."""
    from mamori.incidents.review import complete_countermeasure

    with _incidents(home) as store:
        cm = complete_countermeasure(store, cm_id, actor=_actor(actor), now=_now(), note=note)
    if json_out:
        print_json(cm.as_json())
        return
    print(f"countermeasure {cm.id} of {cm.incident_id} done")


@countermeasure_app.command("list")
def countermeasure_list(
    id_: Annotated[str | None, typer.Argument(metavar="[ID]", help="Only this incident's.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue ones.")] = False,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List countermeasures (open ones past their due date are overdue)."""
    from mamori.incidents.review import countermeasures

    with _incidents(home) as store:
        cms = countermeasures(store, id_)
        today = _now().astimezone(store.zone).date()
    if overdue:
        cms = [c for c in cms if c.overdue(today)]
    if json_out:
        print_json([c.as_json(today) for c in cms])
        return
    for c in cms:
        late = " OVERDUE" if c.overdue(today) else ""
        print(f"{c.id:>4} {c.incident_id} due {c.due} {c.state.value}{late} {c.owner}: {c.text}")


# ---------------------------------------------------------------------------- tickets


@tickets_app.command("list")
def tickets_list(
    all_: Annotated[bool, typer.Option("--all", help="Include closed tickets.")] = False,
    status: Annotated[TicketStatus | None, typer.Option(help="Only this status.")] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List open tickets (or all, or one status), newest first."""
    now = _now()
    with _tickets(home) as store:
        found = store.tickets(status=status, include_closed=all_)
    if json_out:
        print_json([t.as_json(now) for t in found])
        return
    if not found:
        sys.stderr.write("no tickets\n")
        return
    print(f"{'ID':<15} {'PRIO':<4} {'STATUS':<12} {'CATEGORY':<9} {'REQUESTER':<16} SUBJECT")
    for t in found:
        print(f"{t.id:<15} {t.priority.value:<4} {t.status.value:<12} {t.category.value:<9} "
              f"{t.requester:<16} {t.subject}")  # fmt: skip


@tickets_app.command("show")
def tickets_show(id_: TicketArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Show a ticket, its comments and status changes, and its targets."""
    now = _now()
    with _tickets(home) as store:
        t = store.get(id_)
        zone = store.zone
    if json_out:
        print_json(t.as_json(now))
        return
    print(f"{t.id}  [{t.priority.value}] {t.subject}")
    print(f"  {t.category.value}, {t.status.value}, requester {t.requester}, "
          f"assignee {t.assignee or '-'}")  # fmt: skip
    if t.description:
        print(f"  {t.description}")
    fr, rs = t.first_response_met(now), t.resolution_met(now)
    print(f"  first response due {_t(t.first_response_due, zone)}: {_met(fr)}")
    print(f"  resolution due {_t(t.resolution_due, zone)}: {_met(rs)}")
    for e in t.log:
        change = f"{e.from_status} -> {e.to_status} " if e.kind == "status" else ""
        print(f"  {_t(e.at, zone)} {e.actor}: {change}{e.text}")


def _met(v: bool | None) -> str:
    return "pending" if v is None else ("met" if v else "missed")


@tickets_app.command("open")
def tickets_open(
    category: Annotated[TicketCategory, typer.Option(help="What kind of ticket.")],
    requester: Annotated[str, typer.Option(help="Who asks.")],
    subject: Annotated[str, typer.Option(help="One line.")],
    description: Annotated[str, typer.Option()] = "",
    priority: Annotated[Priority | None, typer.Option(help="Or --urgency/--impact.")] = None,
    urgency: Annotated[Level | None, typer.Option()] = None,
    impact: Annotated[Level | None, typer.Option()] = None,
    assignee: Annotated[str | None, typer.Option()] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Open a ticket (priority given, or urgency × impact; default medium × medium)."""
    from mamori.incidents.tickets import open_ticket

    with _tickets(home) as store:
        t = open_ticket(
            store,
            category=category,
            requester=requester,
            subject=subject,
            description=description,
            priority=priority,
            urgency=urgency,
            impact=impact,
            assignee=assignee,
            actor=_actor(actor),
            now=_now(),
        )
    if json_out:
        print_json(t.as_json())
        return
    print(f"{t.id} opened [{t.priority.value}] {t.subject}")


@tickets_app.command("comment")
def tickets_comment(
    id_: TicketArg,
    text: Annotated[str, typer.Argument(help="The comment.")],
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Comment on a ticket (the first comment by someone else than the requester is the first
    response)."""
    from mamori.incidents.tickets import comment_ticket

    with _tickets(home) as store:
        t = comment_ticket(store, id_, text, actor=_actor(actor), now=_now())
    if json_out:
        print_json(t.as_json())
        return
    print(f"{t.id}: comment {len(t.log)} added")


@tickets_app.command("status")
def tickets_status(
    id_: TicketArg,
    status: Annotated[TicketStatus, typer.Argument(help="The new status.")],
    note: Annotated[str, typer.Option(help="Why (required to reopen).")] = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change a ticket's status (resolved → in_progress reopens it)."""
    from mamori.incidents.tickets import set_ticket_status

    with _tickets(home) as store:
        t = set_ticket_status(store, id_, status, actor=_actor(actor), now=_now(), note=note)
    if json_out:
        print_json(t.as_json())
        return
    print(f"{t.id}: {t.status.value}")


@tickets_app.command("assign")
def tickets_assign(
    id_: TicketArg,
    assignee: Annotated[str | None, typer.Option()] = None,
    unassign: Annotated[bool, typer.Option("--unassign")] = False,
    priority: Annotated[Priority | None, typer.Option()] = None,
    category: Annotated[TicketCategory | None, typer.Option()] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change a ticket's assignee, priority or category."""
    from mamori.incidents.tickets import update_ticket

    if unassign and assignee is not None:
        raise IncidentsError("give --assignee NAME or --unassign, not both")
    extra: dict[str, Any] = {}
    if unassign:
        extra["assignee"] = None
    elif assignee is not None:
        extra["assignee"] = assignee
    with _tickets(home) as store:
        t = update_ticket(
            store, id_, actor=_actor(actor), now=_now(), priority=priority, category=category,
            **extra,
        )  # fmt: skip
    if json_out:
        print_json(t.as_json())
        return
    print(f"{t.id}: assignee {t.assignee or '-'}, {t.priority.value}, {t.category.value}")


@tickets_app.command("stats")
def tickets_stats(
    month: Annotated[str, typer.Option(metavar="YYYY-MM", help="The calendar month.")],
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Monthly service-desk figures: counts, median and p90 times, % within target."""
    from mamori.incidents.ticketstats import ticket_stats

    with _tickets(home) as store:
        stats = ticket_stats(store, month)
    if json_out:
        print_json(stats)
        return
    print(f"{stats['month']} ({stats['zone']}): {stats['opened']} opened")
    for key in ("by_category", "by_priority", "by_status"):
        print(f"  {key[3:]}: " + ", ".join(f"{k} {v}" for k, v in stats[key].items()))
    for key in ("first_response", "resolution"):
        s = stats[key]
        pct = "-" if s["within_target_percent"] is None else f"{s['within_target_percent']}%"
        print(f"  {key}: {s['count']} measured, median {_mins(s['median_minutes'])}, "
              f"p90 {_mins(s['p90_minutes'])}, within target {pct}")  # fmt: skip


def _mins(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} min"
