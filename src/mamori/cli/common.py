"""Pieces shared by the CLI's commands."""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import orjson
import typer

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
