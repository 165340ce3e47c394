"""`mamori incidents …` (FLT-1…4, LAW-4), and what it shares with `mamori tickets …`.

Thin: each command parses its arguments and calls one function of :mod:`mamori.incidents`,
which checks the change, commits it and records its audit event; :func:`run` opens the store,
calls it, prints the answer and says what failed after. `--as NAME` names the actor (default:
the operating-system user); `--json` prints JSON. A change that stands although something after
it failed (an alert not linked in the alert store, a breach report not sent) prints what to do
and exits with status 1; one whose audit event could not be recorded says so and exits with
status 2.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.home import open_home
from mamori.incidents import plaintext
from mamori.incidents.errors import AuditNotRecorded, IncidentsError
from mamori.incidents.model import (
    BreachDetails,
    Category,
    Countermeasure,
    CsirtMessage,
    Incident,
    Level,
    PastOccurrences,
    ReportKind,
    Review,
)
from mamori.incidents.model import Stage as StageName
from mamori.incidents.store import Database, IncidentStore

if TYPE_CHECKING:
    from mamori.incidents.effects import Outcome

# ---------------------------------------------------------------------------- shared with tickets

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ActorOption = Annotated[
    str | None,
    typer.Option("--as", metavar="NAME", help="Who acts (default: the operating-system user)."),
]
NoteOption = Annotated[str, typer.Option(help="A note recorded with the step.")]

S = TypeVar("S", bound=Database)
R = TypeVar("R")


def actor_name(name: str | None) -> str:
    """`--as NAME`, or the operating-system user."""
    if name is not None:
        return name
    from mamori.audit import Identity

    return Identity.current().user


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _no_problems(result: object) -> Sequence[str]:
    return ()


def run(
    store_type: type[S],
    home: str | None,
    work: Callable[[S], R],
    *,
    json_out: bool,
    as_json: Callable[[R], Any],
    as_text: Callable[[R, S], Iterable[str]],
    problems: Callable[[R], Sequence[str]] = _no_problems,
) -> None:
    """Open the home's `store_type`, do `work` with it, print the result (`as_json` with
    --json, else the lines of `as_text`, which may read the closed store's zone), then report
    the problems after a change that stands (exit 1 when there are any).

    A change whose audit event could not be recorded ends the command with status 2, saying
    that the change was made."""
    try:
        with store_type.open(open_home(home)) as store:
            result = work(store)
    except AuditNotRecorded as e:
        fail(f"the change was made, but its audit event could not be recorded\n  {e.diagnostics()}")
    if json_out:
        print_json(as_json(result))
    else:
        for line in as_text(result, store):
            print(line)
    found = problems(result)
    for p in found:
        sys.stderr.write(f"mamori: {p}\n")
    if found:
        raise typer.Exit(1)


def nothing(what: str) -> list[str]:
    """No lines, and `no WHAT` on standard error (an empty list)."""
    sys.stderr.write(f"no {what}\n")
    return []


# ---------------------------------------------------------------------------- incidents

incidents_app = typer.Typer(
    help="Incidents: the FLT-1 workflow, timers, CSIRT reports, reviews (docs/incidents.md).",
    no_args_is_help=True,
)
countermeasure_app = typer.Typer(
    help="Permanent countermeasures of post-incident reviews (FLT-2).", no_args_is_help=True
)
incidents_app.add_typer(countermeasure_app, name="countermeasure")

IdArg = Annotated[str, typer.Argument(metavar="ID", help="The incident, e.g. INC-2026-0001.")]

# The LAW-4 fields of a personal-information breach, options of create and update.
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


def _when(value: str | None, store: IncidentStore, what: str) -> dt.datetime | None:
    """An ISO 8601 time; one without a zone is in the calendar zone."""
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise IncidentsError(
            f"{what} {value!r} is not a time", hint="write it as 2026-11-27T10:15 (+09:00)"
        ) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=store.zone)


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
        recognised_at=now(),  # the service sets it
    )


def assignee_change(assignee: str | None, unassign: bool) -> dict[str, Any]:
    """The `assignee` keyword of an update: absent (unchanged), a name, or None (unassign)."""
    if unassign and assignee is not None:
        raise IncidentsError("give --assignee NAME or --unassign, not both")
    if unassign:
        return {"assignee": None}
    return {} if assignee is None else {"assignee": assignee}


def _incident_of(result: Incident | Outcome) -> Incident:
    return result if isinstance(result, Incident) else result.incident


def _change(
    home: str | None, json_out: bool, work: Callable[[IncidentStore], Incident | Outcome]
) -> None:
    """Run a change whose result is the incident, or an Outcome (its incident and problems)."""
    run(
        IncidentStore, home, work, json_out=json_out,
        as_json=lambda r: _incident_of(r).as_json(),
        as_text=lambda r, _: plaintext.incident_head(_incident_of(r)),
        problems=lambda r: () if isinstance(r, Incident) else r.problems,
    )  # fmt: skip


def _today(store: IncidentStore) -> dt.date:
    return now().astimezone(store.zone).date()


def _past_lines(past: PastOccurrences, store: IncidentStore) -> list[str]:
    if not past.complete:
        sys.stderr.write(f"mamori: the list is incomplete: {past.problem}\n")
    return plaintext.past_lines(past, store.zone)


@incidents_app.command("list")
def incidents_list(
    all_: Annotated[bool, typer.Option("--all", help="Include closed incidents.")] = False,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List open incidents (or all), newest detection first, with breached timers."""
    from mamori.incidents.service import list_incidents
    from mamori.incidents.workflow import TimerState, timers

    at = now()

    def work(s: IncidentStore) -> list[tuple[Incident, list[str]]]:
        return [
            (inc, [t.name for t in timers(inc, at) if t.state is TimerState.BREACHED])
            for inc in list_incidents(s, include_closed=all_)
        ]

    run(
        IncidentStore, home, work, json_out=json_out,
        as_json=lambda rows: [{**inc.as_json(), "breached": b} for inc, b in rows],
        as_text=lambda rows, s: plaintext.incident_table(rows, s.zone) if rows else nothing("incidents"),
    )  # fmt: skip


@incidents_app.command("show")
def incidents_show(id_: IdArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Show an incident: steps, timers, alerts, CSIRT reports, review, countermeasures."""
    from mamori.incidents.workflow import timers

    def work(s: IncidentStore) -> dict[str, Any]:
        inc = s.get(id_)
        return {
            "timers": timers(inc, now()),
            "messages": s.messages(inc.id),
            "review": s.review(inc.id),
            "countermeasures": s.countermeasures(inc.id),
            "merged_from": s.merged_from(inc.id),
            "today": _today(s),
            "inc": inc,
        }

    def as_json(d: dict[str, Any]) -> dict[str, Any]:
        review: Review | None = d["review"]
        return {
            **d["inc"].as_json(),
            "timers": [t.as_json() for t in d["timers"]],
            "csirt_messages": [m.as_json() for m in d["messages"]],
            "review": None if review is None else review.as_json(),
            "countermeasures": [c.as_json(d["today"]) for c in d["countermeasures"]],
            "merged_from": d["merged_from"],
        }

    run(
        IncidentStore, home, work, json_out=json_out, as_json=as_json,
        as_text=lambda d, s: plaintext.incident_detail(zone=s.zone, **d),
    )  # fmt: skip


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

    breach = _breach(what_happened, damage, containment, recovery, persons_response,
                     persons_affected, data_item)  # fmt: skip

    def work(s: IncidentStore) -> Outcome:
        return create_incident(
            s, actor=actor_name(actor), now=now(), title=title, description=description,
            category=category, alert_ids=from_alert or (), urgency=urgency, impact=impact,
            assignee=assignee, detected_at=_when(detected_at, s, "--detected-at"),
            occurred_at=_when(occurred_at, s, "--occurred-at"), hosts=host or (),
            users=user or (), breach=breach,
        )  # fmt: skip

    def as_text(out: Outcome, _: IncidentStore) -> list[str]:
        sent = [] if out.message is None else [f"sent to the CSIRT: {out.message.subject}"]
        return plaintext.incident_head(out.incident) + sent

    run(
        IncidentStore, home, work, json_out=json_out, as_text=as_text,
        as_json=lambda out: {**out.incident.as_json(), "problems": list(out.problems)},
        problems=lambda out: out.problems,
    )  # fmt: skip


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

    by, at = actor_name(actor), now()
    _change(home, json_out, lambda s: step_incident(
        s, id_, stage, actor=by, now=at, note=note, skip_reason=skip_reason))  # fmt: skip


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

    extra = assignee_change(assignee, unassign)
    breach = _breach(what_happened, damage, containment, recovery, persons_response,
                     persons_affected, data_item)  # fmt: skip

    def work(s: IncidentStore) -> Outcome:
        return update_incident(
            s, id_, actor=actor_name(actor), now=now(), title=title, description=description,
            category=category, urgency=urgency, impact=impact,
            occurred_at=_when(occurred_at, s, "--occurred-at"), hosts=host, users=user,
            breach=breach, **extra,
        )  # fmt: skip

    _change(home, json_out, work)


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

    by, at = actor_name(actor), now()
    _change(home, json_out, lambda s: merge_incidents(s, into, other, actor=by, now=at, note=note))


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

    by, at = actor_name(actor), now()
    run(
        IncidentStore, home, lambda s: csirt_report(s, id_, kind, text, actor=by, now=at),
        json_out=json_out, as_json=CsirtMessage.as_json,
        as_text=lambda msg, _: [f"sent to {', '.join(msg.to)}: {msg.subject}"],
    )  # fmt: skip


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

    def work(s: IncidentStore) -> Review:
        return save_review(
            s, id_, actor=actor_name(actor), now=now(), cause=cause, impact=impact,
            recurrence=recurrence, recurrence_reason=recurrence_reason, complete=complete,
        )  # fmt: skip

    def as_text(rv: Review, s: IncidentStore) -> list[str]:
        state = "completed" if rv.completed else "in progress"
        return [f"review of {rv.incident_id}: {state}", *_past_lines(rv.past, s)]

    run(IncidentStore, home, work, json_out=json_out, as_json=Review.as_json, as_text=as_text)


@incidents_app.command("past")
def incidents_past(id_: IdArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """List earlier incidents and ledger events like this one (same rule, host, user, title)."""
    from mamori.incidents.review import past_occurrences

    run(
        IncidentStore, home, lambda s: past_occurrences(s, id_), json_out=json_out,
        as_json=PastOccurrences.as_json, as_text=_past_lines,
    )  # fmt: skip


@incidents_app.command("timers")
def incidents_timers(id_: IdArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Show the due times of an incident and whether each was met."""
    from mamori.incidents.service import incident_timers

    run(
        IncidentStore, home, lambda s: incident_timers(s, id_, now()), json_out=json_out,
        as_json=lambda ts: [t.as_json() for t in ts],
        as_text=lambda ts, s: plaintext.timer_lines(ts, s.zone),
    )  # fmt: skip


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

    by, at = actor_name(actor), now()
    _change(home, json_out, lambda s: close_incident(s, id_, actor=by, now=at, note=note))


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

    by, at = actor_name(actor), now()
    _change(home, json_out, lambda s: reopen_incident(
        s, id_, reason=reason, actor=by, now=at, note=note))  # fmt: skip


# ---------------------------------------------------------------------------- countermeasures


def _countermeasure(
    home: str | None, json_out: bool, work: Callable[[IncidentStore], Countermeasure], done: str
) -> None:
    """Run a change of one countermeasure; `done` says what, of `{cm}`."""
    run(
        IncidentStore, home, work, json_out=json_out, as_json=lambda cm: cm.as_json(),
        as_text=lambda cm, _: [done.format(cm=cm)],
    )  # fmt: skip


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
    by, at = actor_name(actor), now()
    _countermeasure(
        home, json_out,
        lambda s: add_countermeasure(s, id_, text=text, owner=owner, due=day, actor=by, now=at),
        "countermeasure {cm.id} added to {cm.incident_id} (owner {cm.owner}, due {cm.due})",
    )  # fmt: skip


@countermeasure_app.command("done")
def countermeasure_done(
    cm_id: Annotated[int, typer.Argument(metavar="CM", help="The countermeasure's number.")],
    incident: Annotated[
        str | None,
        typer.Option(metavar="ID", help="The incident it must belong to (refused otherwise)."),
    ] = None,
    note: NoteOption = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Mark a countermeasure done.

    With --incident, only when the countermeasure is one of that incident's.
    """
    from mamori.incidents.review import complete_countermeasure

    by, at = actor_name(actor), now()
    _countermeasure(
        home, json_out,
        lambda s: complete_countermeasure(
            s, cm_id, actor=by, now=at, note=note, incident=incident),
        "countermeasure {cm.id} of {cm.incident_id} done",
    )  # fmt: skip


@countermeasure_app.command("list")
def countermeasure_list(
    id_: Annotated[str | None, typer.Argument(metavar="[ID]", help="Only this incident's.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue ones.")] = False,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List countermeasures (open ones past their due date are overdue)."""
    from mamori.incidents.review import countermeasures

    def work(s: IncidentStore) -> tuple[list[Countermeasure], dt.date]:
        today = _today(s)
        return [c for c in countermeasures(s, id_) if c.overdue(today) or not overdue], today

    run(
        IncidentStore, home, work, json_out=json_out,
        as_json=lambda r: [c.as_json(r[1]) for c in r[0]],
        as_text=lambda r, _: [plaintext.countermeasure_line(c, r[1]) for c in r[0]],
    )  # fmt: skip
