"""The vulnerability workflow end to end through the CLI, on the real PyPI advisories: a scan
of a stored inventory records what it found (detected, with its deadline), a triage settles
it, an upgrade and a recorded fix are verified by the next scan — each step on the ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from mamori import audit
from mamori.cli.main import app
from mamori.home import Home, init
from mamori.vuln.components import PYPI, Component
from mamori.vuln.inventory.model import Inventory
from mamori.vuln.inventory.store import save
from tests.conftest import shared_data

TODAY = "2024-10-11"  # the day after the data's newest record: the database is fresh then
VULN = "CVE-2023-46136"


def _inventory(home: Home, version: str, second: int) -> None:
    werkzeug = Component("werkzeug", version, PYPI, f"pkg:pypi/werkzeug@{version}")
    os_ = Component("debian", "12", "", "", kind="operating-system", distro="debian:12")
    taken = dt.datetime(2024, 10, 11, 9, 0, second, tzinfo=dt.UTC)
    save(home, Inventory("web1", taken, (werkzeug, os_)))


def _run(home: Home, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["vuln", *args, "--home", str(home.root)])
    return r.exit_code, r.output


def _scan(home: Home) -> tuple[int, dict[str, Any]]:
    code, out = _run(home, "scan", "--system", "web1", "--today", TODAY, "--format", "json")
    return code, orjson.loads(out)


def test_scan_triage_fix_verify(tmp_path: Path) -> None:
    vulns = shared_data("osv-pypi", "vulns")
    home = init(tmp_path / "home", origin="test.example/mamori/vuln")
    assert _run(home, "db", "import", str(vulns))[0] == 0
    _inventory(home, "2.3.7", 0)

    code, doc = _scan(home)
    assert code == 1, doc  # a high finding, the database fresh on that day, nothing unaudited
    found = {f["id"]: f for f in doc["findings"]}
    assert found[VULN]["state"] == "detected" and found[VULN]["fails"]
    assert doc["unaudited"] == []  # the OS itself is audited through its packages
    code, out = _run(home, "findings", "--system", "web1", "--json")
    assert code == 0
    rows = {r["vulnerability"]: r for r in orjson.loads(out)}
    assert rows[VULN]["state"] == "detected" and rows[VULN]["severity"] == "high"

    # an affected finding, then the upgrade and the fix
    code, out = _run(home, "triage", "--system", "web1", "--component", "PyPI/werkzeug",
                     "--vuln", VULN, "--status", "affected", "--actor", "sato",
                     "--statement", "upgrade to 3.0.1 in the next release")  # fmt: skip
    assert code == 0, out
    code, out = _run(home, "fixed", "--system", "web1", "--component", "PyPI/werkzeug",
                     "--vuln", VULN, "--version", "3.0.1", "--date", TODAY,
                     "--approver", "suzuki")  # fmt: skip
    assert code == 0, out
    _inventory(home, "3.0.1", 1)
    code, doc = _scan(home)
    assert VULN not in {f["id"] for f in doc["findings"]}
    code, out = _run(home, "findings", "--system", "web1", "--json")
    rows = {r["vulnerability"]: r for r in orjson.loads(out)}
    assert rows[VULN]["state"] == "verified"  # the rescan no longer sees it

    actions = [orjson.loads(e)["event"]["action"] for _i, e in audit.pending(home, 0, 1000)]
    for action in ("vuln.db_imported", "vuln.scanned", "vuln.finding_detected",
                   "vuln.finding_affected", "vuln.finding_fixed", "vuln.finding_verified"):  # fmt: skip
        assert action in actions, (action, actions)
