"""`mamori vuln findings|triage|fixed|history|vex|deadlines`: the decision on each finding
(CLD-9, OPS-8, SEC-2). See docs/vuln-decisions.md."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.cli.vuln_common import write_out
from mamori.errors import MamoriError
from mamori.vuln.decisions import Justification, Key, Record, State
from mamori.vuln.errors import VulnError

app = typer.Typer(
    help="Decisions on findings: triage (OpenVEX), fixes, deadlines, VEX exports.",
    no_args_is_help=True,
)

SystemOption = Annotated[str, typer.Option("--system", metavar="NAME", help="The system.")]
ComponentOption = Annotated[
    str, typer.Option("--component", metavar="ECO/NAME", help="e.g. PyPI/requests, npm/@a/b.")
]
VulnOption = Annotated[str, typer.Option("--vuln", metavar="ID", help="e.g. CVE-2024-35195.")]


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _key(component: str, vuln: str) -> Key:
    eco, sep, name = component.partition("/")
    if not sep or not eco or not name:
        raise VulnError(
            f"--component {component!r} is not ECOSYSTEM/NAME",
            hint="e.g. --component PyPI/requests",
        )
    return (eco, name, vuln)


def _when(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"--now {text!r} is not a time\n  fix: write it as 2026-06-08T09:00:00+09:00")
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _as_json(r: Record, today: dt.date) -> dict[str, Any]:
    return {
        "system": r.system,
        "ecosystem": r.ecosystem,
        "component": r.name,
        "version": r.version,
        "vulnerability": r.vuln,
        "aliases": list(r.aliases),
        "severity": r.severity,
        "state": r.state.value,
        "deadline": r.deadline.isoformat(),
        "overdue": r.overdue(today),
        "justification": r.justification,
        "statement": r.statement,
        "fixed_versions": list(r.fixed_versions),
    }


def _line(r: Record, today: dt.date) -> str:
    late = "  OVERDUE" if r.overdue(today) else ""
    return (
        f"{r.ecosystem}/{r.name}@{r.version}  {r.vuln}  {r.severity}  {r.state}  "
        f"due {r.deadline}{late}"
    )


@app.command("findings")
def findings_cmd(
    system: SystemOption,
    home: HomeOption = None,
    state: Annotated[
        State | None, typer.Option("--state", help="Only findings in this state.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a system's findings: state, severity, deadline, and whether it is overdue."""
    from mamori.home import open_home
    from mamori.vuln.decisionstore import findings

    try:
        rows = findings(open_home(home), system, state)
    except MamoriError as e:
        fail(e.diagnostics())
    today = dt.datetime.now(dt.UTC).date()
    if as_json:
        print_json([_as_json(r, today) for r in rows])
        return
    for r in rows:
        _out(_line(r, today))
    if not rows:
        _out(f"no findings for {system}")


@app.command("triage")
def triage_cmd(
    system: SystemOption,
    component: ComponentOption,
    vuln: VulnOption,
    status: Annotated[State, typer.Option("--status", help="The OpenVEX status.")],
    actor: Annotated[str, typer.Option("--actor", metavar="NAME", help="Who decides.")],
    home: HomeOption = None,
    justification: Annotated[
        Justification | None,
        typer.Option("--justification", help="not_affected: why (OpenVEX's justifications)."),
    ] = None,
    statement: Annotated[
        str,
        typer.Option(
            "--statement", help="affected: what will be done (required); not_affected: impact."
        ),
    ] = "",
    note: Annotated[str, typer.Option("--note", help="Why (default: the statement).")] = "",
) -> None:
    """Set a finding's OpenVEX status: under_investigation, not_affected (with a
    --justification), affected (with a --statement of the action). Fixes: `mamori vuln fixed`."""
    from mamori.home import open_home
    from mamori.vuln.decisionstore import triage

    try:
        note = note or statement or (justification.value if justification else "")
        rec = triage(
            open_home(home),
            system,
            _key(component, vuln),
            status,
            actor=actor,
            note=note,
            justification=justification,
            statement=statement,
        )
    except MamoriError as e:
        fail(e.diagnostics())
    _out(f"{component} {vuln}: {rec.state} (recorded in the audit trail)")


@app.command("fixed")
def fixed_cmd(
    system: SystemOption,
    component: ComponentOption,
    vuln: VulnOption,
    version: Annotated[str, typer.Option("--version", help="The version now installed.")],
    date: Annotated[str, typer.Option("--date", metavar="YYYY-MM-DD", help="The fix's day.")],
    approver: Annotated[str, typer.Option("--approver", metavar="NAME", help="Who approved.")],
    home: HomeOption = None,
    note: Annotated[str, typer.Option("--note", help="Anything worth keeping.")] = "",
) -> None:
    """Record a fix (version, date, approver). The next scan verifies it, or reopens the
    finding when it still sees the vulnerability."""
    from mamori.home import open_home
    from mamori.vuln.decisionstore import mark_fixed

    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        fail(f"--date {date!r} is not a date\n  fix: write it as YYYY-MM-DD")
    try:
        rec = mark_fixed(
            open_home(home),
            system,
            _key(component, vuln),
            version=version,
            date=day,
            approver=approver,
            note=note,
        )
    except MamoriError as e:
        fail(e.diagnostics())
    late = (
        "" if rec.fix and rec.fix.date <= rec.deadline else f" (after the deadline {rec.deadline})"
    )
    _out(f"{component} {vuln}: fixed in {version} on {day}{late}; a rescan will verify it")


@app.command("history")
def history_cmd(
    system: SystemOption,
    component: ComponentOption,
    vuln: VulnOption,
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every transition of one finding, oldest first."""
    from mamori.home import open_home
    from mamori.vuln.decisionstore import history

    try:
        entries = history(open_home(home), system, _key(component, vuln))
    except MamoriError as e:
        fail(e.diagnostics())
    if not entries:
        fail(f"{system} has no finding {vuln} for {component}", code=1)
    if as_json:
        print_json([{**asdict(h), "at": h.at.isoformat()} for h in entries])
        return
    for h in entries:
        via = f" [{h.justification}]" if h.justification else ""
        _out(f"{h.at.isoformat()}  {h.from_state or '-'} → {h.to_state}{via}  {h.actor}: {h.note}")


@app.command("vex")
def vex_cmd(
    system: SystemOption,
    home: HomeOption = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="openvex|cyclonedx", help="The VEX format.")
    ] = "openvex",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write here instead of standard output.")
    ] = None,
    author: Annotated[str, typer.Option("--author", help="OpenVEX author.")] = "mamori",
) -> None:
    """Export the system's decisions as OpenVEX 0.2.0 or CycloneDX 1.6 VEX JSON."""
    from mamori.home import open_home
    from mamori.vuln import vex
    from mamori.vuln.decisionstore import findings

    if fmt not in ("openvex", "cyclonedx"):
        fail(f"--format {fmt!r} is not known\n  fix: use openvex or cyclonedx")
    try:
        rows = findings(open_home(home), system)
    except MamoriError as e:
        fail(e.diagnostics())
    now = dt.datetime.now(dt.UTC)
    doc = (
        vex.openvex(system, rows, author=author, at=now)
        if fmt == "openvex"
        else vex.cyclonedx(system, rows, at=now)
    )
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    write_out(data, output)
    if output is not None:
        _out(f"wrote {len(rows)} statements to {output}")


@app.command("deadlines")
def deadlines_cmd(
    home: HomeOption = None,
    now: Annotated[
        str | None, typer.Option("--now", metavar="TIME", help="Judge as of this time (ISO).")
    ] = None,
) -> None:
    """Record missed fix deadlines (vuln.deadline_missed, once per finding and deadline) and
    list every overdue finding. Exit 1 when any is overdue."""
    from mamori.home import open_home
    from mamori.vuln.decisionstore import check_deadlines

    try:
        late = check_deadlines(open_home(home), _when(now))
    except MamoriError as e:
        fail(e.diagnostics())
    for o in late:
        r = o.record
        new = "  (recorded now)" if o.recorded_now else ""
        _out(f"{r.system}  {_line(r, r.deadline)}  {o.days_late} days late{new}")
    if late:
        raise typer.Exit(1)
    _out("no fix deadline is missed")
