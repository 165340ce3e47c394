"""`mamori vuln eol`: import endoflife.date's data and check components against it (SEC-3).
See docs/vuln-eol.md."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Final

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.errors import MamoriError
from mamori.vuln.components import DEBIAN, NPM, PYPI, UBUNTU, Component
from mamori.vuln.eolmap import WARN_DAYS, Status, parse_purl
from mamori.vuln.errors import VulnError

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
