"""`mamori vuln db`: import advisories into the offline vulnerability database, and show its
state (SEC-2). See docs/vuln-database.md."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.errors import MamoriError

app = typer.Typer(
    help="The offline vulnerability database: OSV exports and the Debian Security Tracker.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MAX_PROBLEMS_SHOWN = 20


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _age_text(days: float | None) -> str:
    if days is None:
        return "no data"
    if days < 1:
        return f"{days * 24:.1f} hours"
    return f"{days:.1f} days"


@app.command("import")
def import_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH...",
            help="An OSV all.zip, a folder or file of OSV .json/.yaml records, or the Debian "
            "Security Tracker's JSON; the kind is told from the content.",
        ),
    ],
    home: HomeOption = None,
    as_json: JsonOption = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="Worker processes that read a zip or folder while this one writes "
            "(default: the processors there are, less one, at most 4; 0 reads here).",
        ),
    ] = None,
) -> None:
    """Import advisories; exit 1 when some records were refused, 2 when nothing was read."""
    from mamori import audit
    from mamori.home import open_home
    from mamori.vuln.importer import import_path
    from mamori.vuln.store import Store

    try:
        h = open_home(home)
        store = Store.open(h)
    except MamoriError as e:
        fail(e.diagnostics())
    summaries: list[dict[str, Any]] = []
    unreadable = refused = read = 0
    with store:
        for path in paths:
            try:
                result = import_path(store, path, workers=workers)
            except MamoriError as e:
                unreadable += 1
                summaries.append({"source": str(path), "error": e.diagnostics()})
                if not as_json:
                    sys.stderr.write(f"mamori: {e.diagnostics()}\n")
                continue
            read += result.read
            refused += len(result.problems)
            problems = [{"member": p.member, "reason": p.reason} for p in result.problems]
            try:
                audit.record(
                    h,
                    "vuln.db_imported",
                    outcome="success" if result.read else "failure",
                    fields={
                        "source": result.source,
                        "kind": result.kind.value,
                        "sha256": result.sha256,
                        "records": result.read,
                        "problems": len(result.problems),
                    },
                )
            except MamoriError as e:
                fail(e.diagnostics())
            c = result.counts
            summary = {
                "source": result.source,
                "kind": result.kind.value,
                "sha256": result.sha256,
                "read": result.read,
                "imported": c.imported,
                "replaced": c.replaced,
                "unchanged": c.unchanged,
                "skipped_older": c.older,
                "data_date": None if result.data_date is None else result.data_date.isoformat(),
                "problems": problems,
            }
            summaries.append(summary)
            if as_json:
                continue
            _out(f"{result.source} ({result.kind.value}, sha256 {result.sha256[:16]}…)")
            _out(
                f"  read {result.read}: imported {c.imported}, replaced {c.replaced}, "
                f"unchanged {c.unchanged}, skipped older {c.older}; "
                f"problems {len(result.problems)}"
            )
            for p in result.problems[:MAX_PROBLEMS_SHOWN]:
                _out(f"  refused {p}")
            if len(result.problems) > MAX_PROBLEMS_SHOWN:
                _out(f"  … and {len(result.problems) - MAX_PROBLEMS_SHOWN} more (--json lists all)")
    if as_json:
        print_json(summaries)
    if read == 0 or unreadable == len(paths):
        raise typer.Exit(2)
    if refused or unreadable:
        raise typer.Exit(1)


@app.command("status")
def status_cmd(
    home: HomeOption = None,
    as_json: JsonOption = False,
    max_age_days: Annotated[
        float, typer.Option(metavar="DAYS", help="Data older than this is stale.")
    ] = 2,
) -> None:
    """Snapshots, counts, the data's age and whether it is stale; exit 1 when stale."""
    from mamori.home import open_home
    from mamori.vuln.store import Store

    try:
        with Store.open_existing(open_home(home)) as store:
            st = store.status(max_age_days=max_age_days)
    except MamoriError as e:
        fail(e.diagnostics())
    age_days = None if st.age is None else st.age.total_seconds() / 86400
    if as_json:
        print_json(
            {
                "path": str(st.path),
                "records": st.records,
                "withdrawn": st.withdrawn,
                "aliases": st.aliases,
                "data_date": None if st.data_date is None else st.data_date.isoformat(),
                "age_days": age_days,
                "max_age_days": max_age_days,
                "stale": st.stale,
                "snapshots": [
                    {
                        "id": s.id,
                        "source": s.source,
                        "kind": s.kind,
                        "sha256": s.sha256,
                        "records": s.records,
                        "imported": s.counts.imported,
                        "replaced": s.counts.replaced,
                        "unchanged": s.counts.unchanged,
                        "skipped_older": s.counts.older,
                        "problems": s.problems,
                        "imported_at": s.imported_at.isoformat(),
                        "data_date": None if s.data_date is None else s.data_date.isoformat(),
                    }
                    for s in st.snapshots
                ],
            }
        )
    else:
        _out(f"{st.path}")
        _out(f"  records: {st.records} ({st.withdrawn} withdrawn), aliases: {st.aliases}")
        date = "none" if st.data_date is None else st.data_date.isoformat()
        _out(f"  data date: {date}; age {_age_text(age_days)}")
        _out(f"  stale: {'yes' if st.stale else 'no'} (maximum age {max_age_days:g} days)")
        for s in st.snapshots[:10]:
            _out(
                f"  #{s.id} {s.imported_at:%Y-%m-%d %H:%M}Z {s.kind} {s.source}: "
                f"{s.records} records, {s.problems} problems, sha256 {s.sha256[:16]}…"
            )
        if len(st.snapshots) > 10:
            _out(f"  … and {len(st.snapshots) - 10} older imports (--json lists all)")
    if st.stale:
        raise typer.Exit(1)
