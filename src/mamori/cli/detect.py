"""`mamori detect …`: Sigma rules over events."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.cli.common import HomeOption, print_json

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


def _when(seconds: float) -> str:
    import datetime as dt

    if seconds <= 0:
        return "-"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _tally(changes: list[Any]) -> str:
    counts: dict[str, int] = {}
    for c in changes:
        kind = str(getattr(c, "kind", "changed"))
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing new"


@app.command(name="run")
def run_history(
    home: HomeOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="Entries received at or after this time (RFC 3339, a date, or 2h/7d)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Entries received before this time.")] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules", metavar="PATH", help="More rule files or directories (repeatable)."
        ),
    ] = None,
    alert: Annotated[
        bool,
        typer.Option("--alert", help="Hand the detections to alerting, as the live engine does."),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per detection.")
    ] = False,
) -> None:
    """Run the home's rules (built-in catalogue, [detect] rules, and --rules) over the ledger's
    history, as the live engine would have.

    Correlation windows are evaluated over the range and closed at its end. Prints one line per
    detection (JSON with --json). Without --alert nothing is recorded: use it to try a new rule
    on past events. Exit status 1 when some rule could not be used (the others still ran).
    """
    from mamori.cli.common import time_arg
    from mamori.detect.live import history
    from mamori.home import open_home

    h = open_home(home)
    found, problems, read = history(
        h,
        h.config(),
        since_us=time_arg(since, "--since"),
        until_us=time_arg(until, "--until"),
        extra=rules or (),
    )
    for p in problems:
        sys.stderr.write(f"{p}\n")
    if alert and found:
        from mamori.alerts.store import AlertStore

        with AlertStore.open(h) as store:
            changes = store.ingest(found)
        sys.stderr.write(f"alerting: {_tally(changes)}\n")
    for d in found:
        if json_out:
            print_json(d.to_json())
        else:
            ev = ",".join(str(i) for i in d.events[:10]) + ("…" if len(d.events) > 10 else "")
            print(f"{_when(d.last_seen)}  {d.severity:<13} {d.rule}  {d.summary}  [events {ev}]")
    sys.stderr.write(f"{read} entries read, {len(found)} detection(s)\n")
    if problems:
        raise typer.Exit(1)


@app.command(name="rules")
def list_rules(
    home: HomeOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per rule.")] = False,
) -> None:
    """List the rules live detection runs: id, level, clauses, title, file; then what could not
    be loaded. Exit status 1 when some rule could not be used."""
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    from mamori.detect.live import load_rules
    from mamori.detect.stream import StreamDetector
    from mamori.home import open_home

    h = open_home(home)
    loaded = load_rules(h, h.config())
    _det, problems = StreamDetector.from_load(loaded)
    every: list[SigmaRule | SigmaCorrelationRule] = [*loaded.rules, *loaded.correlations]
    for r in every:
        clauses = [t.name for t in r.tags if t.namespace == "clause"]
        level = r.level.name.lower() if r.level else "medium"
        row = {
            "id": str(r.id) if r.id else r.title,
            "title": r.title,
            "level": level,
            "clauses": clauses,
            "correlation": r in loaded.correlations,
            "file": loaded.path_of(r),
        }
        if json_out:
            print_json(row)
        else:
            print(f"{row['id']}  {level:<13} {','.join(clauses) or '-':<12} {r.title}")
    for p in problems:
        sys.stderr.write(f"{p}\n")
    if problems:
        raise typer.Exit(1)
