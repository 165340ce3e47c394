"""`mamori detect …`: Sigma rules over events."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mamori.cli.common import print_json

app = typer.Typer(help="Detection: Sigma rules over ECS events.", no_args_is_help=True)


@app.command(name="test")
def test_rules(
    rules: Annotated[
        list[Path],
        typer.Option("--rules", metavar="PATH", help="A rule file or directory (repeatable)."),
    ],
    events: Annotated[
        Path, typer.Option("--events", metavar="FILE.jsonl", help="Events, one JSON object a line.")
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="JSON output (the default; accepted for symmetry).")
    ] = False,
    match_logsource: Annotated[
        bool,
        typer.Option(
            "--match-logsource",
            help="Apply each rule only to events its logsource's ECS condition accepts.",
        ),
    ] = False,
) -> None:
    """Evaluate Sigma rules over events offline (no home, no ledger).

    Prints one JSON object per match: {"rule": ID, "events": [line numbers, 0-based]}.
    A rule that cannot be loaded or compiled is reported on standard error as `FILE: reason`
    and does not stop the others. Exit status: 0 when every rule loaded, 1 when some did not
    (the matches of the others are still printed), 2 when no rule loaded or the events cannot
    be read.
    """
    from mamori.detect.engine import detect_test, read_events
    from mamori.detect.errors import DetectError
    from mamori.detect.rules import load_paths

    loaded = load_paths(rules)
    try:
        with events.open("rb") as f:
            evs = read_events(f)
    except OSError as e:
        raise DetectError(f"cannot read {events}: {e.strerror}") from e
    run = detect_test(loaded, evs, match_logsource=match_logsource)
    for p in run.problems:
        sys.stderr.write(f"{p}\n")
    if run.rules == 0 and not loaded.correlations:
        raise DetectError(
            "no rule could be loaded", hint="check the paths given with --rules and the lines above"
        )
    for m in run.matches:
        print_json(m.to_json())
    if run.problems:
        raise typer.Exit(1)
