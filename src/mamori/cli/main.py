"""The `mamori` command. Thin: each command parses its arguments and calls one function."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mamori import __version__
from mamori.cli import access as access_cmds
from mamori.cli import alerts as alerts_cmds
from mamori.cli import dbguard as dbguard_cmds
from mamori.cli import detect as detect_cmds
from mamori.cli import incidents as incidents_cmds
from mamori.cli import ledger as ledger_cmds
from mamori.cli import notify as notify_cmds
from mamori.cli import service as service_cmds
from mamori.cli import tickets as tickets_cmds
from mamori.cli import users as users_cmds
from mamori.cli import vuln as vuln_cmds
from mamori.cli.common import HomeOption, fail, print_json
from mamori.errors import MamoriError

app = typer.Typer(
    name="mamori",
    help="mamori (守り): security operations and compliance with a tamper-evident ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(ledger_cmds.app, name="ledger")
app.add_typer(access_cmds.tokens_app, name="tokens")
app.add_typer(access_cmds.devices_app, name="devices")
app.add_typer(users_cmds.app, name="users")
app.add_typer(detect_cmds.app, name="detect")
app.add_typer(alerts_cmds.app, name="alerts")
app.add_typer(incidents_cmds.incidents_app, name="incidents")
app.add_typer(tickets_cmds.tickets_app, name="tickets")
app.add_typer(notify_cmds.app, name="notify")
app.add_typer(dbguard_cmds.app, name="dbguard")
app.add_typer(vuln_cmds.app, name="vuln")
app.command(name="up")(service_cmds.up)


def _version(value: bool) -> None:
    if value:
        print(f"mamori {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """mamori (守り): security operations and compliance with a tamper-evident ledger."""


@app.command()
def init(
    home: HomeOption = None,
    origin: Annotated[
        str | None,
        typer.Option(help="The log's origin name (default: HOST.local/mamori/RANDOM)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a new home: directory, configuration, signing key, an empty ledger, and the
    first administrator, `admin`, whose one-time password is printed once.

    Refuses to overwrite a directory that already holds anything.
    """
    from mamori.home import initialise

    done = initialise(home, origin=origin)
    h = done.home
    cfg = h.config()
    if json_out:
        print_json(
            {
                "home": str(h.root),
                "origin": cfg.ledger.origin,
                "public_key": h.public_key_text(),
                "admin": {"name": done.admin, "one_time_password": done.admin_password},
            }
        )
        return
    print(f"initialised {h.root}")
    print(f"  origin      {cfg.ledger.origin}")
    print(f"  public key  {h.pub_path}  (give it to auditors and witnesses)")
    print(f"  config      {h.config_path}")
    print(f"  admin       {done.admin}")
    print(f"  password    {done.admin_password}  (one-time: shown only now)")
    print(
        f"sign in to the console as {done.admin} with this password: you will be asked to enrol\n"
        "TOTP (scan the QR code with an authenticator app) and to choose a new password.\n"
        f"lost it? `mamori users reset {done.admin}` prints a new one."
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; a MamoriError becomes a message and exit status 2."""
    try:
        app(args=argv, prog_name="mamori")
    except MamoriError as e:
        fail(e.diagnostics())
    except BrokenPipeError:
        # A reader such as `head` went away: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
