"""Pieces shared by the CLI's commands."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any, NoReturn

import orjson
import typer

from mamori.errors import MamoriError

HomeOption = Annotated[
    str | None,
    typer.Option(
        "--home",
        envvar="MAMORI_HOME",
        metavar="DIR",
        help="The mamori home directory (or set MAMORI_HOME).",
        show_envvar=True,
    ),
]


def print_json(value: Any) -> None:
    """One JSON document on its own line on standard output."""
    sys.stdout.write(orjson.dumps(value).decode("utf-8") + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a message for a person on standard error and exit."""
    sys.stderr.write(f"mamori: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def time_arg(text: str | None, name: str) -> int | None:
    """A --since/--until value as µs since the epoch; a bad one ends the command with a fix."""
    if text is None:
        return None
    from mamori.ledger.search.query import parse_time

    try:
        return parse_time(text, time.time_ns() // 1000)
    except MamoriError as e:
        fail(
            f"{name} {text!r} is not a time: {e.message}\n  fix: use RFC 3339 (2026-11-27T09:00:00Z), a date, or 15m/2h/7d ago"
        )
