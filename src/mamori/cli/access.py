"""`mamori tokens …` and `mamori devices …`: API tokens and the device registry (APP-7).

Every change is also recorded as an audit event (token.created, token.revoked, device.added,
device.revoked) in the outbox, from which the ledger writer appends it to the ledger.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori import audit
from mamori.access import (
    DEFAULT_EXPIRY_DAYS,
    SCOPES,
    add_device,
    add_token,
    list_devices,
    list_tokens,
    revoke_device,
    revoke_token,
)
from mamori.cli.common import HomeOption, fail, print_json
from mamori.errors import MamoriError
from mamori.home import Home, open_home

tokens_app = typer.Typer(
    help="API tokens for HTTPS: ingest (POST /api/v1/events), metrics (GET /metrics), read "
    "(the JSON API).",
    no_args_is_help=True,
)
devices_app = typer.Typer(
    help="The device registry: senders known by address, certificate, or both (APP-7).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON array.")]


def _audit(home: Home, action: str, fields: Mapping[str, Any], done: str) -> None:
    """Record the audit event of a change already made; say so if that fails."""
    try:
        audit.record(home, action, fields=fields)
    except MamoriError as e:
        fail(
            f"{done}, but its audit event ({action}) could not be recorded: {e.diagnostics()}\n"
            "  the change stands; note it in your records"
        )


@tokens_app.command("add")
def tokens_add(
    name: Annotated[str, typer.Argument(help="A name for the token, e.g. the sender's host.")],
    scope: Annotated[str, typer.Option(metavar="|".join(SCOPES), help="What the token may do.")],
    expires_days: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help=f"Days until the token expires, 1 to 3650 [default: {DEFAULT_EXPIRY_DAYS}].",
        ),
    ] = None,
    no_expiry: Annotated[
        bool, typer.Option("--no-expiry", help="Make a token that never expires.")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Create a token and print it, once: only its SHA-256 is kept. It expires after 90 days
    unless --expires-days or --no-expiry says otherwise."""
    h = open_home(home)
    if no_expiry and expires_days is not None:
        fail("give --expires-days N or --no-expiry, not both")
    days = None if no_expiry else (DEFAULT_EXPIRY_DAYS if expires_days is None else expires_days)
    token = add_token(h, name, scope, expires_days=days)
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    (record,) = [r for r in list_tokens(h) if r.name == name]
    until = "never expires" if record.expires is None else f"expires {record.expires}"
    sys.stderr.write(
        f"token {name!r} (scope {scope}, {until}) created; it is not shown again: store it now\n"
    )
    _audit(
        h,
        "token.created",
        {
            "name": name,
            "scope": scope,
            "expires_days": days,
            "never_expires": days is None,
            "expires": record.expires,
        },
        f"the token {name!r} was created",
    )


@tokens_app.command("list")
def tokens_list(home: HomeOption = None, json_out: JsonOption = False) -> None:
    """List the tokens: name, scope, created, expiry, revoked (never a token or its hash)."""
    records = list_tokens(open_home(home))
    if json_out:
        print_json([r.as_json() for r in records])
        return
    if not records:
        sys.stderr.write("no tokens; create one with `mamori tokens add NAME --scope ingest`\n")
        return
    print(f"{'NAME':<24} {'SCOPE':<8} {'CREATED':<20} {'EXPIRES':<20} REVOKED")
    for r in records:
        expires = (
            "never" if r.expires is None else r.expires + (" (expired)" if r.expired() else "")
        )
        print(f"{r.name:<24} {r.scope:<8} {r.created:<20} {expires:<20} {r.revoked_at or '-'}")


@tokens_app.command("revoke")
def tokens_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    home: HomeOption = None,
) -> None:
    """Revoke a token; a running `mamori up` refuses it within about a second."""
    h = open_home(home)
    r = revoke_token(h, name)
    print(f"revoked token {r.name} (scope {r.scope}) at {r.revoked_at}")
    _audit(
        h, "token.revoked", {"name": r.name, "scope": r.scope}, f"the token {name!r} was revoked"
    )


@devices_app.command("add")
def devices_add(
    name: Annotated[str, typer.Argument(help="A name for the device, e.g. its host name.")],
    address: Annotated[
        str | None,
        typer.Option(metavar="IP/CIDR", help="Its address, or the network it sends from."),
    ] = None,
    cert: Annotated[
        str | None,
        typer.Option(
            metavar="FILE.pem",
            help="Its TLS client certificate; trusted for mutual TLS, recognised by fingerprint.",
        ),
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option(
            metavar="HEX", help="SHA-256 fingerprint of its certificate (when not giving --cert)."
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Register a device by address, certificate or fingerprint (at least one).

    With both, a connection must come from the address and present the certificate.
    """
    h = open_home(home)
    pem: bytes | None = None
    if cert is not None:
        try:
            pem = Path(cert).read_bytes()
        except OSError as e:
            fail(f"cannot read the certificate {cert}: {e.strerror}")
    d = add_device(h, name, address=address, cert_pem=pem, fingerprint=fingerprint)
    print(f"added device {d.name}")
    print(f"  address      {d.address or '-'}")
    print(f"  fingerprint  {d.fingerprint or '-'}")
    fields = {"name": d.name, "address": d.address, "fingerprint": d.fingerprint}
    _audit(h, "device.added", fields, f"the device {name!r} was added")


@devices_app.command("list")
def devices_list(home: HomeOption = None, json_out: JsonOption = False) -> None:
    """List the devices: name, address, fingerprint, certificate, created, revoked."""
    devices = list_devices(open_home(home))
    if json_out:
        print_json([d.as_json() for d in devices])
        return
    if not devices:
        sys.stderr.write("no devices; register one with `mamori devices add NAME --address IP`\n")
        return
    print(f"{'NAME':<24} {'ADDRESS':<20} {'CERT':<4} {'CREATED':<20} {'REVOKED':<20} FINGERPRINT")
    for d in devices:
        print(
            f"{d.name:<24} {d.address or '-':<20} {'yes' if d.cert_pem else 'no':<4} "
            f"{d.created:<20} {d.revoked_at or '-':<20} {d.fingerprint or '-'}"
        )


@devices_app.command("revoke")
def devices_revoke(
    name: Annotated[str, typer.Argument(help="The device's name.")],
    home: HomeOption = None,
) -> None:
    """Revoke a device; a running `mamori up` stops matching it within about a second."""
    h = open_home(home)
    d = revoke_device(h, name)
    print(f"revoked device {d.name} at {d.revoked_at}")
    fields = {"name": d.name, "address": d.address, "fingerprint": d.fingerprint}
    _audit(h, "device.revoked", fields, f"the device {name!r} was revoked")
