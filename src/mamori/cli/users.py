"""`mamori users …`: console accounts and their roles (APP-7, SEC-5).

Each command calls one function of :mod:`mamori.access.users`, which also records the audit
events (user.created, role.granted, user.disabled, user.reset, role.changed).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mamori.access import Role, add_user, disable_user, list_users, reset_user, set_role
from mamori.cli.common import HomeOption, print_json
from mamori.home import open_home

app = typer.Typer(
    help="Console accounts: add, list, disable, reset, change role (see docs/roles.md).",
    no_args_is_help=True,
)

ROLE_METAVAR = "|".join(r.value for r in Role)
NameArg = Annotated[str, typer.Argument(help="The account's name (case-insensitive).")]


def _print_once(password: str, note: str) -> None:
    """The one-time password alone on standard output; the note on standard error."""
    sys.stdout.write(password + "\n")
    sys.stdout.flush()
    sys.stderr.write(note + "\n")


@app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="A name for the account, e.g. tanaka.")],
    role: Annotated[str, typer.Option(metavar=ROLE_METAVAR, help="What the account may do.")],
    home: HomeOption = None,
) -> None:
    """Create an account and print its one-time password, once.

    The password must be changed, and TOTP enrolled, at the first sign-in.
    """
    h = open_home(home)
    password = add_user(h, name, role)
    _print_once(
        password,
        f"account {name!r} (role {role}) created; its one-time password is not shown again: "
        "hand it over now. It must be changed, and TOTP enrolled, at the first sign-in.",
    )


@app.command("list")
def users_list(
    home: HomeOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the accounts: role, TOTP, state (never a password hash or TOTP secret)."""
    records = list_users(open_home(home))
    if json_out:
        print_json([r.as_json() for r in records])
        return
    if not records:
        sys.stderr.write("no accounts; add one with `mamori users add NAME --role admin`\n")
        return
    print(f"{'NAME':<24} {'ROLE':<9} {'TOTP':<4} {'STATE':<12} {'CREATED':<20} LAST SIGN-IN")
    for r in records:
        if r.disabled_at is not None:
            state = "disabled"
        elif r.locked():
            state = "locked"
        elif r.must_change_password:
            state = "first-login"
        else:
            state = "active"
        print(
            f"{r.name:<24} {r.role:<9} {'yes' if r.totp_enabled else 'no':<4} {state:<12} "
            f"{r.created:<20} {r.last_sign_in or '-'}"
        )


@app.command("disable")
def users_disable(name: NameArg, home: HomeOption = None) -> None:
    """Disable an account for good and end its sessions (its name stays taken)."""
    r = disable_user(open_home(home), name)
    print(f"disabled account {r.name} at {r.disabled_at}")


@app.command("reset")
def users_reset(name: NameArg, home: HomeOption = None) -> None:
    """Give an account a new one-time password and remove its TOTP; ends its sessions.

    For a forgotten password or a lost authenticator; also clears a lockout.
    """
    h = open_home(home)
    password = reset_user(h, name)
    _print_once(
        password,
        f"account {name!r} reset; its one-time password is not shown again: hand it over now. "
        "It must be changed, and TOTP enrolled again, at the next sign-in.",
    )


@app.command("role")
def users_role(
    name: NameArg,
    role: Annotated[str, typer.Argument(metavar=ROLE_METAVAR, help="The new role.")],
    home: HomeOption = None,
) -> None:
    """Change an account's role (recorded as an alert); it applies at its next request."""
    change = set_role(open_home(home), name, role)
    print(f"role of {change.name} changed from {change.previous} to {change.role.value}")
