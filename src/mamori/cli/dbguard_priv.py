"""`mamori dbguard privileges`: snapshot a server's privileges, approve them as the baseline,
diff against it, show what is approved (DB-1). See docs/dbguard-policies.md."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.dbguard.errors import DbGuardError

app = typer.Typer(
    help="Privilege drift (DB-1): the server's roles and grants against an approved baseline.",
    no_args_is_help=True,
)

DsnOption = Annotated[
    str,
    typer.Option(
        "--dsn",
        metavar="DSN",
        help="libpq connection string or URI (host=… dbname=… user=…). Leave out the password: "
        "use a passfile (PGPASSFILE, ~/.pgpass) or PGPASSWORD. Empty: libpq's PG* variables.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


@app.command("snapshot")
def snapshot_cmd(dsn: DsnOption = "", as_json: JsonOption = False) -> None:
    """Read the server's roles, memberships, object and default privileges (changes nothing)."""
    from mamori.dbguard.privileges import snapshot

    try:
        snap = snapshot(dsn)
    except DbGuardError as e:
        fail(e.diagnostics())
    if as_json:
        print_json(snap.to_json())
        return
    _out(f"{snap.target} (PostgreSQL {snap.server_version}) at {snap.taken_at}")
    _out(f"  roles: {len(snap.roles)}  memberships: {len(snap.memberships)}")
    _out(f"  object privileges: {len(snap.grants)}  default privileges: {len(snap.default_grants)}")
    _out(f"  digest: {snap.digest}")
    powerful = sorted(r.name for r in snap.roles if "SUPERUSER" in r.attributes)
    _out(f"  superusers: {', '.join(powerful) or '(none)'}")


@app.command("approve")
def approve_cmd(
    home: HomeOption = None,
    dsn: DsnOption = "",
    actor: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Who approves (default: the operating-system user)."),
    ] = None,
) -> None:
    """Take a snapshot and make it the approved baseline of that server and database."""
    from mamori.audit import Identity
    from mamori.dbguard.privileges import approve, snapshot
    from mamori.home import open_home

    h = open_home(home)
    try:
        snap = snapshot(dsn)
        baseline = approve(h, snap, actor or Identity.current().user)
    except DbGuardError as e:
        fail(e.diagnostics())
    _out(f"approved the privileges of {snap.target}: {snap.digest}")
    _out(f"  stored in {baseline.path}")


@app.command("diff")
def diff_cmd(home: HomeOption = None, dsn: DsnOption = "", as_json: JsonOption = False) -> None:
    """Compare the server with its approved baseline; exit 1 when anything drifted.

    Read-only: records nothing (`mamori up` records drift as audit events).
    """
    from mamori.dbguard.privileges import diff, load_baseline, snapshot
    from mamori.home import open_home

    h = open_home(home)
    try:
        current = snapshot(dsn)
        baseline = load_baseline(h, current.target)
    except DbGuardError as e:
        fail(e.diagnostics())
    drifts = diff(baseline.snapshot, current)
    if as_json:
        print_json(
            {
                "target": current.target,
                "baseline_digest": baseline.snapshot.digest,
                "current_digest": current.digest,
                "drift": [d.to_json() for d in drifts],
            }
        )
    elif not drifts:
        _out(f"{current.target}: no drift from the baseline approved {baseline.approved_at}")
    else:
        _out(
            f"{current.target}: {len(drifts)} change(s) since the baseline approved "
            f"{baseline.approved_at} by {baseline.actor}:"
        )
        for d in drifts:
            mark = "+" if d.kind.widens else "-"
            _out(f"  {mark} {d.sentence}")
    if drifts:
        raise typer.Exit(1)


@app.command("show")
def show_cmd(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List the approved baselines: target, digest, when and by whom."""
    from mamori.dbguard.privileges import baselines
    from mamori.home import open_home

    try:
        found = baselines(open_home(home))
    except DbGuardError as e:
        fail(e.diagnostics())
    if as_json:
        print_json(
            [
                {
                    "target": b.snapshot.target,
                    "digest": b.snapshot.digest,
                    "approved_at": b.approved_at,
                    "actor": b.actor,
                    "server_version": b.snapshot.server_version,
                    "roles": len(b.snapshot.roles),
                    "grants": len(b.snapshot.grants),
                }
                for b in found
            ]
        )
        return
    if not found:
        _out("no privilege baseline approved yet: `mamori dbguard privileges approve --dsn DSN`")
        return
    for b in found:
        _out(f"{b.snapshot.target}: {b.snapshot.digest}")
        _out(
            f"  approved {b.approved_at} by {b.actor}; {len(b.snapshot.roles)} roles, "
            f"{len(b.snapshot.grants)} object privileges"
        )
