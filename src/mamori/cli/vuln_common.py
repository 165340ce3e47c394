"""What the `mamori vuln` commands share: the output option and where output goes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mamori.cli.common import fail
from mamori.fsutil import write_private

OutputOption = Annotated[
    Path | None, typer.Option("--output", metavar="FILE", help="Write here, not stdout.")
]
TodayOption = Annotated[
    str | None,
    typer.Option(metavar="DATE", help="Judge as of this day, YYYY-MM-DD (default: today)."),
]


def write_out(data: bytes, output: Path | None) -> None:
    """`data` to stdout, or to `output` readable by its owner only (what a system runs and
    where it is weak is nobody else's business), whatever the umask."""
    try:
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            write_private(output, data, exclusive=False)
    except OSError as e:
        fail(f"cannot write {output or 'to stdout'}: {e.strerror or e}")
