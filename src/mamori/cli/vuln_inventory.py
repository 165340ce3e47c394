"""`mamori vuln inventory`: collect a system's components, keep them per date, export them as
CycloneDX or SPDX, and compare two dates (SEC-2, OPS-5). See docs/vuln-inventory.md."""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.cli.vuln_common import write_out
from mamori.errors import MamoriError

app = typer.Typer(
    help="Inventories: what each system runs (dpkg, Python, npm, SBOMs), per date.",
    no_args_is_help=True,
)

SystemOption = Annotated[
    str, typer.Option("--system", metavar="NAME", help="The system (letters, digits, - _ .).")
]
DateOption = Annotated[
    str | None,
    typer.Option(
        "--date",
        metavar="WHEN",
        help="An inventory's time (2026-05-01T093000Z) or its start (2026-05-01); default: "
        "the latest.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


@app.command("collect")
def collect_cmd(
    sources: Annotated[
        list[Path],
        typer.Argument(
            metavar="SOURCES...",
            help="dpkg status files, os-release files, root directories, virtualenvs, Python "
            "interpreters, requirements*.txt, pylock.toml, uv.lock, poetry.lock, "
            "package-lock.json, CycloneDX (JSON, XML) and SPDX (JSON) files.",
        ),
    ],
    system: SystemOption,
    home: HomeOption = None,
) -> None:
    """Read the sources and store them as the system's inventory at this time.

    Exit 0: all read; 1: some could not be read (stored without them); 2: none could be read.
    """
    from mamori.home import open_home
    from mamori.vuln.inventory import Inventory, collect, store

    try:
        h = open_home(home)
        store.check_system(system)
        components, problems = collect.collect(sources)
    except MamoriError as e:
        fail(e.diagnostics())
    for p in problems:
        sys.stderr.write(f"mamori: {p.source}: {p.reason}\n")
    if not components and problems:
        fail("nothing could be read; no inventory stored")
    inventory = Inventory(
        system=system,
        taken_at=datetime.now(UTC).replace(microsecond=0),
        components=tuple(components),
        sources=tuple(str(s) for s in sources),
        problems=tuple(problems),
    )
    try:
        path = store.save(h, inventory)
    except MamoriError as e:
        fail(e.diagnostics())
    _out(f"{system}: {len(components)} component(s) stored in {path}")
    for eco, n in sorted(Counter(c.ecosystem for c in components).items()):
        _out(f"  {eco or '(unaudited: no known ecosystem)'}: {n}")
    if problems:
        _out(f"  {len(problems)} source(s) could not be read (listed above)")
        raise typer.Exit(1)


@app.command("list")
def list_cmd(
    home: HomeOption = None,
    system: Annotated[
        str | None, typer.Option("--system", metavar="NAME", help="Only this system.")
    ] = None,
) -> None:
    """The systems with inventories, or one system's inventories (oldest first)."""
    from mamori.home import open_home
    from mamori.vuln.inventory import store

    try:
        h = open_home(home)
        names = [system] if system else store.systems(h)
        for name in names:
            taken = store.stamps(h, name)
            if system:
                for s in taken:
                    _out(s)
            else:
                _out(f"{name}  {len(taken)} inventories, latest {taken[-1]}")
    except MamoriError as e:
        fail(e.diagnostics())


@app.command("show")
def show_cmd(
    system: SystemOption,
    home: HomeOption = None,
    date: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """One inventory's components (the latest, or the one taken at --date)."""
    from mamori.home import open_home
    from mamori.vuln.inventory import store

    try:
        inv = store.load(open_home(home), store.check_system(system), date)
    except MamoriError as e:
        fail(e.diagnostics())
    if as_json:
        print_json(inv.to_json())
        return
    _out(f"{inv.system} at {inv.stamp}: {len(inv.components)} component(s)")
    for c in inv.components:
        lic = f"  [{', '.join(c.licenses)}]" if c.licenses else ""
        _out(f"  {c.ecosystem or '?':8} {c.name} {c.version or '(no version)'}{lic}")
    for p in inv.problems:
        _out(f"  not read: {p}")


@app.command("export")
def export_cmd(
    system: SystemOption,
    fmt: Annotated[
        str, typer.Option("--format", metavar="cyclonedx|spdx", help="CycloneDX 1.6 or SPDX 2.3.")
    ],
    home: HomeOption = None,
    date: DateOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", metavar="FILE", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Export an inventory as an SBOM (JSON)."""
    from mamori.home import open_home
    from mamori.vuln.inventory import sbom_out, store

    if fmt not in ("cyclonedx", "spdx"):
        fail(f"--format {fmt!r} is not one of cyclonedx, spdx")
    try:
        inv = store.load(open_home(home), store.check_system(system), date)
    except MamoriError as e:
        fail(e.diagnostics())
    if fmt == "cyclonedx":
        doc = sbom_out.to_cyclonedx(
            inv.system, inv.components, serial=uuid.uuid4(), timestamp=inv.taken_at
        )
    else:
        doc = sbom_out.to_spdx(
            inv.system, inv.components, namespace=uuid.uuid4(), created=inv.taken_at
        )
    data = sbom_out.dumps(doc)
    write_out(data, output)
    if output is not None:
        _out(f"wrote {output} ({len(inv.components)} components)")


@app.command("diff")
def diff_cmd(
    system: SystemOption,
    home: HomeOption = None,
    date_from: Annotated[
        str | None, typer.Option("--from", metavar="WHEN", help="Default: the one before --to.")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", metavar="WHEN", help="Default: the latest.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """What changed between two inventories: added, removed, version and licence changes."""
    from mamori.home import open_home
    from mamori.vuln.inventory import store
    from mamori.vuln.inventory.diff import diff

    try:
        h = open_home(home)
        store.check_system(system)
        new_stamp = store.find(h, system, date_to)
        if date_from is None:
            older = [s for s in store.stamps(h, system) if s < new_stamp]
            if not older:
                fail(f"{system} has no inventory before {new_stamp} to compare with")
            old_stamp = older[-1]
        else:
            old_stamp = store.find(h, system, date_from)
        old, new = store.load(h, system, old_stamp), store.load(h, system, new_stamp)
    except MamoriError as e:
        fail(e.diagnostics())
    d = diff(old.components, new.components)
    if as_json:
        print_json({"system": system, "from": old_stamp, "to": new_stamp, **d.to_json()})
        return
    _out(f"{system}: {old_stamp} → {new_stamp}")
    for c in d.added:
        _out(f"  + {c.ecosystem or '?'} {c.name} {c.version}")
    for c in d.removed:
        _out(f"  - {c.ecosystem or '?'} {c.name} {c.version}")
    for ch in d.changed:
        _out(f"  ~ {ch.sentence()}")
    if not d:
        _out("  no change")
