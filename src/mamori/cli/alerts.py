"""`mamori alerts …`: list, show, acknowledge and close alerts; run escalation now.

Each command opens the home's alert store (:class:`mamori.alerts.store.AlertStore`) and calls
one of its methods, which records the audit event of every change.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mamori.alerts.model import Alert, AlertDetail, AlertState, iso
from mamori.alerts.store import AlertStore
from mamori.audit import Identity
from mamori.cli.common import HomeOption, print_json
from mamori.detect.detection import SEVERITIES
from mamori.home import open_home

app = typer.Typer(
    help="Alerts raised by detection rules: list, show, acknowledge, close, escalate.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArgument = Annotated[int, typer.Argument(min=1, metavar="ID", help="The alert's number.")]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="NAME",
        help="Who acts, for the history [default: the operating-system user].",
    ),
]


def _actor(name: str | None) -> str:
    return Identity.current().user if name is None else name


def _line(a: Alert) -> str:
    linked = f"  incident {a.incident}" if a.incident else ""
    return (
        f"{a.id:<6} {a.state.value:<13} {a.severity:<13} {a.count:>6}  {iso(a.raised_at)}  "
        f"{a.title} — {a.summary or a.rule}{linked}"
    )


def _show(a: AlertDetail) -> None:
    rows = [
        ("alert", f"#{a.id}  {a.state.value}" + (f"  (escalated {a.level}×)" if a.level else "")),
        ("rule", f"{a.title} ({a.rule})"),
        ("severity", a.severity),
        ("clauses", ", ".join(a.clauses) or "-"),
        ("summary", a.summary or "-"),
        ("count", f"{a.count} detections, {a.suppressed} suppressed, {a.event_count} events"),
        ("seen", f"{iso(a.first_seen)} … {iso(a.last_seen)}"),
        ("raised", iso(a.raised_at) or "-"),
        ("incident", a.incident or "-"),
        ("key", a.dedup_key),
    ]
    for name, value in rows:
        print(f"{name:<10} {value}")
    shown = " ".join(str(i) for i in a.events)
    more = f" (+{a.events_dropped} not kept)" if a.events_dropped else ""
    print(f"{'events':<10} {shown or '-'}{more}")
    print("history")
    for h in a.history:
        note = f"  {h.note}" if h.note else ""
        print(f"  {iso(h.at)}  {h.action.value:<13} {h.actor}{note}")


@app.command("list")
def alerts_list(
    state: Annotated[
        str | None,
        typer.Option(metavar="|".join(s.value for s in AlertState), help="Only in this state."),
    ] = None,
    severity: Annotated[
        str | None, typer.Option(metavar="|".join(SEVERITIES), help="Only of this severity.")
    ] = None,
    rule: Annotated[str | None, typer.Option(metavar="ID", help="Only of this rule.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    before: Annotated[
        int | None, typer.Option(min=1, metavar="ID", help="Only alerts below this number.")
    ] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List alerts, newest first."""
    with AlertStore.open(open_home(home)) as store:
        alerts = store.list(
            state=state, severity=severity, rule=rule, limit=limit, before_id=before
        )
    if json_out:
        print_json([a.to_json() for a in alerts])
        return
    if not alerts:
        sys.stderr.write("no alerts match\n")
        return
    print(f"{'ID':<6} {'STATE':<13} {'SEVERITY':<13} {'COUNT':>6}  {'RAISED':<24}  RULE — SUMMARY")
    for a in alerts:
        print(_line(a))


@app.command("show")
def alerts_show(
    alert_id: IdArgument, home: HomeOption = None, json_out: JsonOption = False
) -> None:
    """Show one alert: its rule, counts, events (ledger indices) and history."""
    with AlertStore.open(open_home(home)) as store:
        detail = store.get(alert_id)
    if json_out:
        print_json(detail.to_json())
    else:
        _show(detail)


@app.command("ack")
def alerts_ack(
    alert_id: IdArgument,
    note: Annotated[str, typer.Option(metavar="TEXT", help="A note for the history.")] = "",
    actor: AsOption = None,
    home: HomeOption = None,
) -> None:
    """Acknowledge an open alert: someone is on it; it is no longer escalated."""
    with AlertStore.open(open_home(home)) as store:
        a = store.acknowledge(alert_id, _actor(actor), note)
    print(f"acknowledged alert {a.id} ({a.title}) as {a.acknowledged_by}")


@app.command("close")
def alerts_close(
    alert_id: IdArgument,
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why it is closed (required), for the history.")
    ],
    actor: AsOption = None,
    home: HomeOption = None,
) -> None:
    """Close an open or acknowledged alert, for a reason. Closed is final."""
    with AlertStore.open(open_home(home)) as store:
        a = store.close(alert_id, _actor(actor), reason)
    print(f"closed alert {a.id} ({a.title}) as {a.closed_by}")


@app.command("escalate")
def alerts_escalate(home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Escalate the open alerts nobody acknowledged in time, now (`mamori up` does it
    periodically); also records the counts of absorbed and suppressed detections that are due."""
    with AlertStore.open(open_home(home)) as store:
        escalated = store.escalate_due()
    if json_out:
        print_json([a.to_json() for a in escalated])
        return
    if not escalated:
        sys.stderr.write("no alert is due for escalation\n")
    for a in escalated:
        print(f"escalated alert {a.id} ({a.severity}, {a.title}) to level {a.level}")
