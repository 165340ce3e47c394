"""`mamori dbguard …`: the database guard (DB-1…DB-4)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated

import typer

from mamori.cli.common import HomeOption

app = typer.Typer(
    help="The database guard: a PostgreSQL proxy that records every statement (DB-1…DB-4).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.callback()
def dbguard() -> None:
    """The database guard: a PostgreSQL proxy that records every statement (DB-1…DB-4)."""


@app.command()
def proxy(
    home: HomeOption = None,
    listen: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT", help="Where applications connect (default 127.0.0.1:6433)."
        ),
    ] = None,
    upstream: Annotated[
        str | None, typer.Option(metavar="HOST:PORT", help="The PostgreSQL server.")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="Take the other settings from the [[dbguard]] table of this name in mamori.toml "
            "(--listen and --upstream still win)."
        ),
    ] = None,
    upstream_tls: Annotated[
        str, typer.Option(help="TLS to the server: disable, prefer, require or verify-full.")
    ] = "prefer",
    upstream_ca: Annotated[
        str, typer.Option(metavar="FILE", help="PEM CA file for verify-full (default: system).")
    ] = "",
    client_tls: Annotated[
        bool, typer.Option(help="Offer TLS to clients with the home's [tls] certificate.")
    ] = True,
    log_statement_text: Annotated[
        bool, typer.Option(help="Record statements with their literal values.")
    ] = False,
    end_user_key_file: Annotated[
        str, typer.Option(metavar="FILE", help="HMAC key file for SET mamori.end_user.")
    ] = "",
) -> None:
    """Run one proxy alone, in front of one server, until Ctrl-C or SIGTERM.

    Its events go to the home's ledger, so it cannot run while `mamori up` does: then add a
    [[dbguard]] table to mamori.toml instead and `mamori up` runs the proxy.
    """
    from mamori.dbguard import settings
    from mamori.dbguard.proxy import run_standalone
    from mamori.home import open_home

    h = open_home(home)
    where = "mamori dbguard proxy"
    if name is not None:
        cfg = settings.from_file(h.config_path, name)
        if listen is not None:
            cfg = replace(cfg, listen=settings.address(listen, "--listen", where))
        if upstream is not None:
            cfg = replace(
                cfg, upstream=settings.address(upstream, "--upstream", where, allow_zero=False)
            )
    else:
        if upstream is None:
            raise typer.BadParameter("give --upstream HOST:PORT (or --name of a [[dbguard]])")
        table: dict[str, object] = {
            "name": "proxy",
            "upstream": upstream,
            "upstream_tls": upstream_tls,
            "upstream_ca": upstream_ca,
            "client_tls": client_tls,
            "log_statement_text": log_statement_text,
            "end_user_key_file": end_user_key_file,
        }
        if listen is not None:
            table["listen"] = listen
        cfg = settings.parse_table(table, "proxy", where)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        code = asyncio.run(run_standalone(h, cfg))
    else:
        code = uvloop.run(run_standalone(h, cfg))
    raise SystemExit(code)


# -- the other parts of the guard -------------------------------------------------------------
# Each part keeps its commands in a module of its own and registers them here, e.g.
#     from mamori.cli import dbguard_classify
#     app.command(name="classify")(dbguard_classify.classify)
#     app.add_typer(dbguard_privileges.app, name="privileges")
# The whole group is added to `mamori` in mamori/cli/main.py:
#     app.add_typer(dbguard_cmds.app, name="dbguard")

from mamori.cli import dbguard_priv, dbguard_sql  # noqa: E402  (the parts register below)

for _command in dbguard_sql.app.registered_commands:
    app.registered_commands.append(_command)
for _group in dbguard_sql.app.registered_groups:
    app.registered_groups.append(_group)
app.add_typer(dbguard_priv.app, name="privileges")
