"""`mamori vuln eol`: import endoflife.date's data and check components against it (SEC-3).
See docs/vuln-eol.md."""

from __future__ import annotations

import datetime as dt
import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.errors import MamoriError
from mamori.vuln.components import DEBIAN, NPM, PYPI, UBUNTU, Component
from mamori.vuln.eolmap import WARN_DAYS, Status, parse_purl
from mamori.vuln.errors import VulnError

if TYPE_CHECKING:
    from mamori.vuln.eolplans import Subject

app = typer.Typer(
    help="End of life (SEC-3): each component's support period, from endoflife.date's data.",
    no_args_is_help=True,
)

_ECOSYSTEMS: Final = {"pypi": PYPI, "npm": NPM, "deb/debian": DEBIAN, "deb/ubuntu": UBUNTU}


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def component_from_spec(spec: str) -> Component:
    """A component from a command-line spec: a package URL
    (``pkg:deb/debian/postgresql-15@15.5-0+deb12u1?distro=debian-12``), or ``os:ID@VERSION``
    for an operating system (``os:debian@12.5``)."""
    if spec.startswith("os:"):
        os_id, _, version = spec[3:].partition("@")
        if not os_id or not version:
            raise VulnError(f"{spec!r} is not os:ID@VERSION", hint="e.g. os:debian@12.5")
        release = version.split(".")[0] if os_id == "debian" else version
        return Component(
            name=os_id,
            version=version,
            ecosystem="",
            purl="",
            kind="operating-system",
            distro=f"{os_id}:{release}",
        )
    purl = parse_purl(spec)
    kind = f"{purl.type}/{purl.namespace.lower()}" if purl.type == "deb" else purl.type
    distro = purl.qualifier("distro")
    if distro:  # purl's distro=debian-12 is OSV's debian:12
        distro = distro.replace("-", ":", 1) if "-" in distro else f"{purl.namespace}:{distro}"
    name = f"{purl.namespace}/{purl.name}" if purl.type == "npm" and purl.namespace else purl.name
    return Component(
        name=name,
        version=purl.version,
        ecosystem=_ECOSYSTEMS.get(kind, ""),
        purl=spec,
        source_name=purl.qualifier("upstream"),
        distro=distro,
    )


@app.command("import")
def import_cmd(
    path: Annotated[
        Path,
        typer.Argument(metavar="PATH", help="An endoflife.date checkout, or its products/ folder."),
    ],
    home: HomeOption = None,
) -> None:
    """Import endoflife.date's product files into HOME/vuln/eol.json.

    Files that cannot be read are reported with the reason and the rest imported: exit 1 when
    some were refused, 2 when none could be read (the previous import is then kept).
    """
    from mamori.home import open_home
    from mamori.vuln.eol import read_folder, save

    try:
        h = open_home(home)
        cat = read_folder(path)
        for p in cat.problems:
            sys.stderr.write(f"mamori: refused {p.file}: {p.reason}\n")
        if not cat.products:
            fail(f"none of the {len(cat.problems)} product files in {path} could be read")
        stored = save(h.root, cat)
    except MamoriError as e:
        fail(e.diagnostics())
    cycles = sum(len(p.cycles) for p in cat.products.values())
    _out(f"imported {len(cat.products)} products ({cycles} release cycles) into {stored}")
    _out(f"  data: sha256 {cat.sha256}, newest release {cat.data_date}")
    if cat.problems:
        _out(f"  refused {len(cat.problems)} file(s): see the messages above")
        raise typer.Exit(1)


@app.command("check")
def check_cmd(
    specs: Annotated[
        list[str],
        typer.Argument(
            metavar="COMPONENT_SPECS...",
            help="Package URLs (pkg:pypi/django@4.2.1) or os:ID@VERSION (os:debian@12.5).",
        ),
    ],
    home: HomeOption = None,
    today: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Judge as of this day, YYYY-MM-DD (default: today)."),
    ] = None,
    warn_days: Annotated[
        int,
        typer.Option(metavar="N", min=0, help="Warn when support ends within N days (ENDING)."),
    ] = WARN_DAYS,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say each component's support period: ended, ending, supported, no published end of
    life, unknown cycle, or not tracked. Exit 1 when any component's support has ended."""
    from mamori.home import open_home
    from mamori.vuln.eol import load
    from mamori.vuln.eolmap import check

    try:
        day = dt.date.fromisoformat(today) if today else dt.date.today()
    except ValueError:
        fail(f"--today {today!r} is not a date\n  fix: write it as YYYY-MM-DD")
    try:
        cat = load(open_home(home).root)
        components = [component_from_spec(s) for s in specs]
        results = check(components, cat, day, warn_days)
    except MamoriError as e:
        fail(e.diagnostics())
    if as_json:
        print_json(
            {
                "today": day.isoformat(),
                "warn_days": warn_days,
                "data": {
                    "sha256": cat.sha256,
                    "data_date": cat.data_date.isoformat() if cat.data_date else None,
                    "imported_at": cat.imported_at,
                    "source": cat.source,
                },
                "components": [a.to_json() for a in results],
            }
        )
    else:
        _out(f"end of life as of {day} (warning {warn_days} days ahead; data of {cat.data_date})")
        for a in results:
            _out(f"  {a.status.value:<16} {a.sentence()}")
    if any(a.status is Status.ENDED for a in results):
        raise typer.Exit(1)


def _subject_checked(
    home_root: Path, system: str, product: str, cycle: str, component: str
) -> Subject:
    """The plan's subject; its product and cycle must be in the end-of-life data when there is
    some (a misspelt product would never match a report row)."""
    from mamori.vuln import eol
    from mamori.vuln.eolplans import Subject

    subject = Subject(system, product, cycle, component)
    subject.check()
    if not product:
        return subject
    try:
        cat = eol.load(home_root)
    except MamoriError:
        sys.stderr.write("mamori: no end-of-life data imported: the product is not checked\n")
        return subject
    known = cat.products.get(product)
    if known is None:
        close = difflib.get_close_matches(product, list(cat.products), n=3)
        raise VulnError(
            f"{product!r} is not an endoflife.date product id",
            hint=f"did you mean {', '.join(close)}?" if close else "see `mamori vuln eol check`",
        )
    if cycle and known.cycle(cycle) is None:
        cycles = ", ".join(c.cycle for c in known.cycles[:8])
        raise VulnError(f"{product} has no release cycle {cycle!r}", hint=f"its cycles: {cycles}")
    return subject


@app.command("plan")
def plan_cmd(
    system: Annotated[str, typer.Option("--system", metavar="NAME", help="The system.")],
    actor: Annotated[str, typer.Option("--actor", metavar="NAME", help="Who decides.")],
    product: Annotated[
        str, typer.Option("--product", metavar="ID", help="endoflife.date's id: python, debian.")
    ] = "",
    cycle: Annotated[
        str, typer.Option("--cycle", metavar="CYCLE", help="The release cycle: 3.9, 12.")
    ] = "",
    component: Annotated[
        str,
        typer.Option("--component", metavar="NAME", help="A component no product covers."),
    ] = "",
    text: Annotated[
        str | None,
        typer.Option("--text", metavar="TEXT", help="The plan: what will be done, how."),
    ] = None,
    due: Annotated[
        str | None, typer.Option("--due", metavar="YYYY-MM-DD", help="Done by this day.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the plan.")] = False,
    home: HomeOption = None,
) -> None:
    """Record the end-of-support plan (対応方針, SEC-3) of a product's cycle, a whole product or
    one component; the support report shows it. Each change is an audit event."""
    from mamori.home import open_home
    from mamori.vuln import eolplans

    if (text is None) == (not clear):
        fail("give the plan with --text TEXT, or --clear to remove it")
    if clear and due is not None:
        fail("--due goes with --text, not with --clear")
    try:
        day = dt.date.fromisoformat(due) if due else None
    except ValueError:
        fail(f"--due {due!r} is not a date\n  fix: write it as YYYY-MM-DD")
    now = dt.datetime.now(dt.UTC)
    try:
        h = open_home(home)
        subject = _subject_checked(h.root, system, product, cycle, component)
        if clear:
            old = eolplans.clear_plan(h, subject, actor=actor, at=now)
            _out(f"removed the plan for {subject.label()} in {system}: {old.text}")
            return
        assert text is not None
        plan = eolplans.set_plan(h, subject, text, due=day, actor=actor, at=now)
    except MamoriError as e:
        fail(e.diagnostics())
    _out(f"plan for {subject.label()} in {system}: {plan.cell()}")


@app.command("plans")
def plans_cmd(
    system: Annotated[str, typer.Option("--system", metavar="NAME", help="The system.")],
    home: HomeOption = None,
    show_history: Annotated[
        bool, typer.Option("--history", help="Every change, oldest first.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the end-of-support plans of a system (or, with --history, every change)."""
    from mamori.home import open_home
    from mamori.vuln import eolplans

    try:
        h = open_home(home)
        if show_history:
            changes = eolplans.history(h, system)
        else:
            current = eolplans.plans(h, system)
    except MamoriError as e:
        fail(e.diagnostics())

    def subject(s: Any) -> dict[str, str]:
        return {"product": s.product, "cycle": s.cycle, "component": s.component}

    if show_history:
        if as_json:
            print_json([
                {**subject(c.subject), "at": c.at.isoformat(), "action": c.action,
                 "text": c.text, "due": c.due.isoformat() if c.due else None,
                 "actor": c.actor, "audit_id": c.audit_id}
                for c in changes
            ])  # fmt: skip
            return
        for c in changes:
            due_text = f" (due {c.due})" if c.due else ""
            _out(f"{c.at.isoformat()}  {c.action:<7} {c.subject.label()}: {c.text}{due_text}"
                 f"  — {c.actor}")  # fmt: skip
        return
    if as_json:
        print_json([
            {**subject(p.subject), "text": p.text, "due": p.due.isoformat() if p.due else None,
             "actor": p.actor, "updated_at": p.updated_at.isoformat()}
            for p in current
        ])  # fmt: skip
        return
    if not current:
        _out(f"{system} has no end-of-support plans (mamori vuln eol plan records one)")
    for p in current:
        _out(f"{p.subject.label()}: {p.cell()}  — {p.actor}, {p.updated_at.date()}")
