"""`mamori vuln findings|triage|fixed|history|vex|deadlines` through the typer app."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from mamori.cli.vuln_decide import app
from mamori.home import Home
from mamori.vuln import decisionstore as ds
from mamori.vuln.decisionstore import ObservedFinding

RUNNER = CliRunner()
NOW = dt.datetime.now(dt.UTC)


def seed(home: Home) -> None:
    found = [
        ObservedFinding("PyPI", "requests", "2.31.0", "pkg:pypi/requests@2.31.0",
                        "CVE-2024-35195", ("GHSA-9wx4-h78v-vm56",), "medium", ("2.32.0",)),
        ObservedFinding("npm", "@babel/traverse", "7.22.0", "pkg:npm/%40babel/traverse@7.22.0",
                        "CVE-2023-45133", (), "critical", ("7.23.2",)),
    ]  # fmt: skip
    ds.observe(home, "web1", found, NOW - dt.timedelta(days=20))


def cli(home: Home, *args: str) -> tuple[int, str, str]:
    r = RUNNER.invoke(app, [*args, "--home", str(home.root)])
    return r.exit_code, r.stdout, r.stderr


def test_findings_lists_state_deadline_and_overdue(home: Home) -> None:
    seed(home)
    code, out, _ = cli(home, "findings", "--system", "web1", "--json")
    assert code == 0
    rows = {r["component"]: r for r in json.loads(out)}
    assert rows["@babel/traverse"]["overdue"] is True  # critical: 7 days, detected 20 days ago
    assert rows["requests"]["overdue"] is False
    code, out, _ = cli(home, "findings", "--system", "web1", "--state", "affected")
    assert (code, out.strip()) == (0, "no findings for web1")
    code, out, _ = cli(home, "findings", "--system", "web1")
    assert "OVERDUE" in out and "CVE-2024-35195" in out


def test_triage_fixed_history(home: Home) -> None:
    seed(home)
    comp = ["--system", "web1", "--component", "PyPI/requests", "--vuln", "CVE-2024-35195"]
    code, _, err = cli(home, "triage", *comp, "--status", "not_affected", "--actor", "yamada")
    assert code == 2 and "not_affected needs an OpenVEX justification" in err and "fix:" in err
    code, out, _ = cli(home, "triage", *comp, "--status", "not_affected", "--actor", "yamada",
                       "--justification", "vulnerable_code_not_in_execute_path",
                       "--statement", "verify=False is never passed")  # fmt: skip
    assert code == 0 and "not_affected" in out
    code, _, err = cli(home, "fixed", *comp, "--version", "2.32.0", "--date", "2026-06-01",
                       "--approver", "sato")  # fmt: skip
    assert code == 2 and "triage it as affected first" in err
    cli(home, "triage", *comp, "--status", "affected", "--actor", "yamada", "--statement", "up")
    code, out, _ = cli(home, "fixed", *comp, "--version", "2.32.0", "--date",
                       NOW.date().isoformat(), "--approver", "sato")  # fmt: skip
    assert code == 0 and "fixed in 2.32.0" in out
    code, _, err = cli(home, "fixed", *comp, "--version", "2", "--date", "soon", "--approver", "s")
    assert code == 2 and "YYYY-MM-DD" in err
    code, out, _ = cli(home, "history", *comp)
    assert code == 0
    assert [line.split("  ")[1] for line in out.splitlines()] == [
        "- → detected", "detected → not_affected [vulnerable_code_not_in_execute_path]",
        "not_affected → affected", "affected → fixed",
    ]  # fmt: skip
    code, out, _ = cli(home, "history", *comp, "--json")
    assert json.loads(out)[-1]["approver"] == "sato"
    code, _, err = cli(home, "triage", "--system", "web1", "--component", "requests", "--vuln",
                       "X", "--status", "affected", "--actor", "a")  # fmt: skip
    assert code == 2 and "is not ECOSYSTEM/NAME" in err


def test_vex_exports(home: Home, tmp_path: Path) -> None:
    seed(home)
    code, out, _ = cli(home, "vex", "--system", "web1")
    assert code == 0 and json.loads(out)["@context"] == "https://openvex.dev/ns/v0.2.0"
    target = tmp_path / "vex.cdx.json"
    code, out, _ = cli(home, "vex", "--system", "web1", "--format", "cyclonedx", "--output",
                       str(target))  # fmt: skip
    assert code == 0 and "wrote 2 statements" in out
    assert json.loads(target.read_text())["specVersion"] == "1.6"
    code, _, err = cli(home, "vex", "--system", "web1", "--format", "csaf")
    assert code == 2 and "openvex or cyclonedx" in err


def test_deadlines(home: Home) -> None:
    seed(home)
    code, out, _ = cli(home, "deadlines")
    assert code == 1 and "CVE-2023-45133" in out and "(recorded now)" in out
    code, out, _ = cli(home, "deadlines")
    assert code == 1 and "(recorded now)" not in out
    early = (NOW - dt.timedelta(days=19)).isoformat()
    code, out, _ = cli(home, "deadlines", "--now", early)
    assert (code, out.strip()) == (0, "no fix deadline is missed")
    code, _, err = cli(home, "deadlines", "--now", "tomorrow")
    assert code == 2 and "is not a time" in err
