"""`mamori vuln report` end to end (src/mamori/cli/vuln_report.py): the files it writes, the
audit event that proves which report was handed over, exit codes and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner, Result

from mamori import audit
from mamori.cli.vuln_report import report
from mamori.home import Home
from mamori.vuln.inventory import Inventory
from mamori.vuln.inventory import store as inventories

from .test_reports import COMPONENTS, SYSTEM, T0, populate

app = typer.Typer()
app.command("report")(report)


def invoke(home: Home, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--home", str(home.root)], catch_exceptions=False)


def report_events(home: Home) -> list[dict[str, Any]]:
    events = [orjson.loads(e) for _, e in audit.pending(home, 0, 10_000)]
    return [e for e in events if e["event"]["action"] == "vuln.report_generated"]


@pytest.fixture
def filled(home: Home) -> Home:
    populate(home)
    return home


@pytest.mark.parametrize("kind", ["support", "countermeasures", "licences"])
def test_html_report_written_and_recorded(filled: Home, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"{kind}.html"
    r = invoke(filled, "--system", SYSTEM, "--kind", kind, "--output", str(out),
               "--today", "2026-06-01")  # fmt: skip
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert data.startswith(b"<!DOCTYPE html>")
    digest = hashlib.sha256(data).hexdigest()
    assert digest in r.stderr
    (ev,) = report_events(filled)
    assert ev["event"]["outcome"] == "success"
    assert ev["mamori"]["audit"] == {
        "system": SYSTEM, "kind": kind, "format": "html", "sha256": digest, "bytes": len(data),
        "today": "2026-06-01", "output": str(out),
    }  # fmt: skip


def test_csv_to_stdout_is_the_recorded_bytes(filled: Home) -> None:
    r = invoke(filled, "--system", SYSTEM, "--kind", "history", "--format", "csv")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes.startswith(b"\xef\xbb\xbf") and b"\r\n" in r.stdout_bytes
    (ev,) = report_events(filled)
    assert ev["mamori"]["audit"]["sha256"] == hashlib.sha256(r.stdout_bytes).hexdigest()
    assert ev["mamori"]["audit"]["kind"] == "history" and ev["mamori"]["audit"]["output"] is None


def test_today_defaults_to_the_calendar_day(filled: Home) -> None:
    r = invoke(filled, "--system", SYSTEM, "--kind", "licences", "--format", "csv")
    assert r.exit_code == 0, r.output
    assert len(report_events(filled)[0]["mamori"]["audit"]["today"]) == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "support"], "give the system"),
        (["--system", SYSTEM], "give the report"),
        (["--system", "nosuch", "--kind", "licences"], "no inventory of 'nosuch'"),
        (["--system", "../x", "--kind", "licences"], "is not a system name"),
        (["--system", SYSTEM, "--kind", "licences", "--today", "1 June"], "is not a date"),
        (["--system", SYSTEM, "--kind", "history", "--format", "html"], "CSV only"),
    ],
)
def test_bad_input_exits_2_and_records_nothing(filled: Home, args: list[str], message: str) -> None:
    r = invoke(filled, *args)
    assert r.exit_code == 2
    assert message in r.stderr and "Traceback" not in r.output
    assert report_events(filled) == []


def test_typer_refuses_an_unknown_kind_or_format(filled: Home) -> None:
    assert invoke(filled, "--system", SYSTEM, "--kind", "pdf").exit_code == 2
    assert invoke(filled, "--system", SYSTEM, "--kind", "support", "--format", "pdf").exit_code == 2


def test_support_without_end_of_life_data_exits_2_with_the_fix(home: Home) -> None:
    inventories.save(home, Inventory(SYSTEM, T0, COMPONENTS))
    r = invoke(home, "--system", SYSTEM, "--kind", "support")
    assert r.exit_code == 2 and "mamori vuln eol import" in r.stderr
    assert report_events(home) == []


def test_an_unwritable_output_exits_2(filled: Home, tmp_path: Path) -> None:
    out = tmp_path / "missing-dir" / "r.html"
    r = invoke(filled, "--system", SYSTEM, "--kind", "licences", "--output", str(out))
    assert r.exit_code == 2 and "cannot write" in r.stderr
