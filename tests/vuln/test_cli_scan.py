"""`mamori vuln scan` end to end (src/mamori/cli/vuln_scan.py): a stored inventory and an
SBOM, every output format, exit codes, the audit event, and bad input."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner, Result

from mamori import audit
from mamori.cli.vuln_scan import scan
from mamori.home import Home
from mamori.vuln.importer import import_path
from mamori.vuln.inventory import Inventory, collect, store
from mamori.vuln.inventory.sbom_out import to_cyclonedx
from mamori.vuln.store import Store

from .test_scan import FOO_1, HIGH, record

app = typer.Typer()
app.command("scan")(scan)


def invoke(home: Home, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--home", str(home.root)], catch_exceptions=False)


def load_db(home: Home, tmp_path: Path, *records: dict[str, Any], days_old: float = 0) -> None:
    path = tmp_path / f"records-{uuid.uuid4().hex}.json"
    path.write_bytes(orjson.dumps(list(records)))
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_old)
    with Store.open(home) as db:
        import_path(db, path, data_date=when)


def collect_system(home: Home, tmp_path: Path, system: str, lines: str) -> None:
    req = tmp_path / f"{system}-requirements.txt"
    req.write_text(lines)
    components, problems = collect.collect([req])
    assert not problems
    inv = Inventory(system, dt.datetime.now(dt.UTC).replace(microsecond=0), tuple(components))
    store.save(home, inv)


BAR = record("GHSA-bar", "bar", [{"introduced": "0"}, {"fixed": "2.0"}], vector=HIGH)


def scan_events(home: Home) -> list[dict[str, Any]]:
    events = [orjson.loads(e) for _, e in audit.pending(home, 0, 100)]
    return [e for e in events if e["event"]["action"] == "vuln.scanned"]


def test_system_with_a_finding_exits_1_and_records_an_audit_event(
    home: Home, tmp_path: Path
) -> None:
    load_db(home, tmp_path, FOO_1, BAR)
    collect_system(home, tmp_path, "web-1", "foo==1.0\nbar==2.0\n")
    r = invoke(home, "--system", "web-1", "--format", "json")
    assert r.exit_code == 1, r.output
    doc = orjson.loads(r.stdout)
    assert [(f["purl"], f["id"]) for f in doc["findings"]] == [("pkg:pypi/foo@1.0", "CVE-2026-1")]
    assert doc["summary"]["exit_code"] == 1 and doc["unaudited"] == []
    (event,) = scan_events(home)
    fields = event["mamori"]["audit"]
    assert fields["system"] == "web-1" and fields["findings"] == 1 and fields["exit_code"] == 1
    assert event["event"]["outcome"] == "failure"
    assert invoke(home, "--system", "web-1", "--fail-on", "critical").exit_code == 0


def test_clean_system_exits_0_with_a_table(home: Home, tmp_path: Path) -> None:
    load_db(home, tmp_path, FOO_1)
    collect_system(home, tmp_path, "web-2", "foo==1.2\n")
    r = invoke(home, "--system", "web-2")
    assert r.exit_code == 0, r.output
    assert "no findings" in r.stdout and "CLEAN (exit 0)" in r.stdout
    assert "end of life: no data imported" in r.stdout


def test_stale_database_exits_2(home: Home, tmp_path: Path) -> None:
    load_db(home, tmp_path, FOO_1, days_old=5)
    collect_system(home, tmp_path, "web-3", "foo==1.2\n")
    r = invoke(home, "--system", "web-3")
    assert r.exit_code == 2 and "stale" in r.stdout
    assert invoke(home, "--system", "web-3", "--max-db-age-days", "10").exit_code == 0


def test_unpinned_requirement_is_unaudited(home: Home, tmp_path: Path) -> None:
    load_db(home, tmp_path, FOO_1)
    collect_system(home, tmp_path, "web-4", "foo==1.2\nbar>=1\n")
    r = invoke(home, "--system", "web-4", "--format", "json")
    assert r.exit_code == 2
    (u,) = orjson.loads(r.stdout)["unaudited"]
    assert u["component"]["name"] == "bar" and "no version" in u["reason"]


def test_sbom_in_every_format(home: Home, tmp_path: Path) -> None:
    from mamori.vuln.components import Component

    load_db(home, tmp_path, FOO_1)
    comps = [Component("foo", "1.0", "PyPI", "pkg:pypi/foo@1.0")]
    bom = to_cyclonedx("ci", comps, serial=uuid.uuid4(), timestamp=dt.datetime.now(dt.UTC))
    path = tmp_path / "image.cdx.json"
    path.write_bytes(orjson.dumps(bom))
    sarif = orjson.loads(invoke(home, "--sbom", str(path), "--format", "sarif").stdout)
    assert sarif["runs"][0]["results"][0]["ruleId"] == "CVE-2026-1"
    out = tmp_path / "vex.json"
    r = invoke(home, "--sbom", str(path), "--format", "cyclonedx", "--output", str(out))
    assert r.exit_code == 1 and "FAIL (exit 1)" in r.stderr
    vex = orjson.loads(out.read_bytes())
    assert vex["vulnerabilities"][0]["affects"] == [{"ref": "pkg:pypi/foo@1.0"}]
    assert vex["metadata"]["component"]["name"] == "image.cdx"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--system", "nope"], "no inventory of 'nope'"),
        (["--system", "../x"], "is not a system name"),
        (["--sbom", "/nonexistent/bom.json"], "cannot read the SBOM"),
        ([], "give exactly one of --system NAME and --sbom FILE"),
        (["--system", "a", "--sbom", "b"], "give exactly one"),
        (["--system", "a", "--today", "June"], "is not a date"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    home: Home, tmp_path: Path, args: list[str], message: str
) -> None:
    load_db(home, tmp_path, FOO_1)
    r = invoke(home, *args)
    assert r.exit_code == 2 and message in r.stderr, r.output


def test_garbage_sbom_and_missing_database_exit_2(home: Home, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    comps = tmp_path / "ok.json"
    comps.write_bytes(
        orjson.dumps(to_cyclonedx("x", [], serial=uuid.uuid4(), timestamp=dt.datetime.now(dt.UTC)))
    )
    r = invoke(home, "--sbom", str(comps))
    assert r.exit_code == 2 and "there is no vulnerability database" in r.stderr
    load_db(home, tmp_path, FOO_1)
    r = invoke(home, "--sbom", str(bad))
    assert r.exit_code == 2 and r.stderr.startswith("mamori: ")
    r = invoke(home, "--sbom", str(comps))
    assert r.exit_code == 2 and "the inventory has no components" in r.stdout


def test_recorded_decisions_are_applied(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mamori.cli import vuln_scan

    load_db(home, tmp_path, FOO_1)
    collect_system(home, tmp_path, "web-5", "foo==1.0\n")
    assert vuln_scan.load_decisions(home, "web-5") == {}  # nothing recorded yet
    monkeypatch.setattr(
        vuln_scan,
        "load_decisions",
        lambda h, system: (
            {("PyPI", "foo", "CVE-2026-1"): "not_affected"} if system == "web-5" else {}
        ),
    )
    r = invoke(home, "--system", "web-5", "--format", "json")
    assert r.exit_code == 0, r.output
    assert orjson.loads(r.stdout)["findings"][0]["state"] == "not_affected"
