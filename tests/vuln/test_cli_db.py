"""`mamori vuln db import` and `status`: output, exit codes, audit events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from mamori import audit
from mamori.cli.vuln_db import app
from mamori.home import Home


def invoke(home: Home, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--home", str(home.root)], catch_exceptions=False)


def record(rid: str, modified: str) -> bytes:
    return orjson.dumps(
        {
            "id": rid,
            "modified": modified,
            "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}}],
        }
    )


def now_text(days_ago: float = 0) -> str:
    t = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_events(home: Home) -> list[dict[str, Any]]:
    events = [orjson.loads(e) for _, e in audit.pending(home, 0, 100)]
    return [e for e in events if e["event"]["action"] == "vuln.db_imported"]


def test_import_prints_counts_and_records_an_audit_event(home: Home, tmp_path: Path) -> None:
    good = tmp_path / "a.json"
    good.write_bytes(record("A-1", now_text()))
    r = invoke(home, "import", str(good))
    assert r.exit_code == 0, r.output
    assert "read 1: imported 1, replaced 0, unchanged 0, skipped older 0; problems 0" in r.output
    (event,) = audit_events(home)
    fields = event["mamori"]["audit"]
    assert fields["source"] == str(good) and fields["records"] == 1 and fields["problems"] == 0
    assert len(fields["sha256"]) == 64
    assert event["event"]["outcome"] == "success"


def test_refused_records_exit_1_and_are_listed(home: Home, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.json"
    mixed.write_bytes(b"[" + record("A-1", now_text()) + b', {"id": "B"}]')
    r = invoke(home, "import", str(mixed))
    assert r.exit_code == 1, r.output
    assert f"refused {mixed}: B: no 'modified' date" in r.output
    assert audit_events(home)[0]["mamori"]["audit"]["problems"] == 1


def test_nothing_readable_exits_2(home: Home, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{{{")
    r = invoke(home, "import", str(bad), str(tmp_path / "missing.zip"))
    assert r.exit_code == 2
    assert "not JSON" in r.output


def test_json_output_and_status(home: Home, tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_bytes(record("A-1", now_text(days_ago=1)))
    r = invoke(home, "import", "--json", str(f))
    assert r.exit_code == 0
    (summary,) = orjson.loads(r.output)
    assert summary["imported"] == 1 and summary["problems"] == []
    r = invoke(home, "status", "--json")
    assert r.exit_code == 0, r.output
    st = orjson.loads(r.output)
    assert st["records"] == 1 and st["stale"] is False
    assert 0.9 < st["age_days"] < 1.1
    assert st["snapshots"][0]["sha256"] == summary["sha256"]
    text = invoke(home, "status")
    assert "stale: no" in text.output and "records: 1" in text.output


def test_status_of_stale_data_exits_1(home: Home, tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_bytes(record("A-1", now_text(days_ago=3)))
    invoke(home, "import", str(f))
    r = invoke(home, "status")
    assert r.exit_code == 1
    assert "stale: yes" in r.output
    assert invoke(home, "status", "--max-age-days", "4").exit_code == 0


def test_status_without_database_says_how_to_import(home: Home) -> None:
    r = invoke(home, "status")
    assert r.exit_code == 2
    assert "mamori vuln db import" in r.output
