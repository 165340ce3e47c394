"""`mamori dbguard classify` and `mamori dbguard allowlist …`: the SQL firewall's commands
(DB-4). Mounted under `mamori dbguard` with the database guard's other commands.

`classify` reads statements on standard input and prints the injection analysis of each, one
JSON object a line: ``{"verdict", "reasons", "fingerprint", "kinds"}`` (no allowlist is
consulted). `allowlist` lists, approves and revokes fingerprints in ``HOME/dbguard.db``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, BinaryIO

import typer

from mamori.audit import Identity
from mamori.cli.common import HomeOption, print_json
from mamori.dbguard.allowlist import ANY, Allowlist, Entry
from mamori.dbguard.analysis import Analysis, analyse
from mamori.dbguard.errors import DbGuardError
from mamori.home import open_home

app = typer.Typer(
    help="The database guard's SQL firewall: classify statements, manage the allowlist.",
    no_args_is_help=True,
)
allowlist_app = typer.Typer(
    help="The firewall's allowlist of statement fingerprints, per role and application.",
    no_args_is_help=True,
)
app.add_typer(allowlist_app, name="allowlist")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", metavar="NAME", help="Who acts, for the audit [default: the operating-system user]."
    ),
]


def statements(stream: BinaryIO, *, null: bool) -> Iterator[str]:
    """The statements on a byte stream: NUL-separated, or one a line (blank lines skipped).
    Bytes that are not UTF-8 are kept as surrogates, which the analysis refuses."""
    data = stream.read()
    parts: Iterable[bytes] = data.split(b"\0") if null else data.splitlines()
    for part in parts:
        text = part.decode("utf-8", errors="surrogateescape")
        if text.strip():
            yield text


def classification(a: Analysis) -> dict[str, Any]:
    """The JSON object `classify` prints for one analysis."""
    return {
        "verdict": a.decision.verdict.word,
        "reasons": [
            {"code": r.code, "detail": r.detail, "clause": r.clause} for r in a.decision.reasons
        ],
        "fingerprint": a.fingerprint,
        "kinds": list(a.kinds),
    }


@app.command("classify")
def classify(
    null: Annotated[
        bool,
        typer.Option("--null", "-0", help="Statements are separated by NUL bytes, not lines."),
    ] = False,
    json: Annotated[
        bool,
        typer.Option("--json", help="Print JSON: the only output form, accepted for symmetry."),
    ] = False,
) -> None:
    """Print the injection analysis of each statement on standard input, one JSON object a
    line: verdict (allow, alert, block), reasons, fingerprint, kinds. No allowlist is used."""
    del json
    for text in statements(sys.stdin.buffer, null=null):
        print_json(classification(analyse(text)))


def _entry_json(e: Entry) -> dict[str, Any]:
    return {
        "role": e.role,
        "application": e.application,
        "fingerprint": e.fingerprint,
        "normalized": e.normalized,
        "first_seen": e.first_seen,
        "last_seen": e.last_seen,
        "count": e.count,
        "source": e.source,
        "approved_by": e.approved_by,
    }


def _line(e: Entry) -> str:
    app_name = e.application or "''"
    return f"{e.fingerprint:<16}  {e.source:<8} {e.count:>7}  {e.role:<16} {app_name:<20} {e.normalized[:80]}"


@allowlist_app.command("list")
def allowlist_list(
    home: HomeOption = None,
    role: Annotated[str | None, typer.Option(help="Only this role.")] = None,
    application: Annotated[str | None, typer.Option(help="Only this application.")] = None,
    json: JsonOption = False,
) -> None:
    """List the allowlist: fingerprint, source (learn, approved, revoked), count, role,
    application, normalised statement."""
    with Allowlist.open(open_home(home)) as allowlist:
        entries = allowlist.entries(role=role, application=application)
    if json:
        print_json([_entry_json(e) for e in entries])
        return
    for e in entries:
        print(_line(e))


@allowlist_app.command("approve")
def allowlist_approve(
    fingerprint: Annotated[
        str | None,
        typer.Argument(metavar="[FINGERPRINT]", help="The fingerprint (or give --sql)."),
    ] = None,
    role: Annotated[str, typer.Option(help="The role, or '*' for any.")] = ANY,
    application: Annotated[str, typer.Option(help="The application_name, or '*' for any.")] = ANY,
    sql: Annotated[
        str | None,
        typer.Option(metavar="STATEMENT", help="Approve this statement's fingerprint."),
    ] = None,
    home: HomeOption = None,
    as_: AsOption = None,
) -> None:
    """Allow a fingerprint for a role and application (an audit event records who)."""
    normalized = ""
    if sql is not None:
        a = analyse(sql)
        if not a.parsed:
            raise DbGuardError(
                f"the statement cannot be approved: {a.parse_error}",
                hint="give a statement PostgreSQL's grammar accepts",
            )
        if fingerprint is not None and fingerprint != a.fingerprint:
            raise DbGuardError(
                f"the statement's fingerprint is {a.fingerprint}, not {fingerprint}",
                hint="give either the fingerprint or --sql",
            )
        fingerprint, normalized = a.fingerprint, a.normalized
    if not fingerprint:
        raise DbGuardError("nothing to approve", hint="give a FINGERPRINT or --sql STATEMENT")
    by = as_ or Identity.current().user
    with Allowlist.open(open_home(home)) as allowlist:
        entry = allowlist.approve(
            fingerprint, role=role, application=application, by=by, normalized=normalized
        )
    print(_line(entry))


@allowlist_app.command("revoke")
def allowlist_revoke(
    fingerprint: Annotated[str, typer.Argument(help="The fingerprint.")],
    role: Annotated[str | None, typer.Option(help="Only for this role [default: all].")] = None,
    application: Annotated[
        str | None, typer.Option(help="Only for this application [default: all].")
    ] = None,
    home: HomeOption = None,
    as_: AsOption = None,
) -> None:
    """Revoke a fingerprint (an audit event records who); `learn` will not take it back in."""
    by = as_ or Identity.current().user
    with Allowlist.open(open_home(home)) as allowlist:
        changed = allowlist.revoke(fingerprint, role=role, application=application, by=by)
    if not changed:
        raise DbGuardError(
            f"{fingerprint} is not allowed for that role and application",
            hint="see `mamori dbguard allowlist list`",
        )
    print(f"revoked {fingerprint} in {changed} row{'s' * (changed != 1)}")
