"""Files the vuln commands write for people (SBOMs, reports) are private (0600): they say what
a system runs and where it is weak."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from mamori.cli.main import app
from mamori.home import init
from mamori.vuln.components import PYPI, Component
from mamori.vuln.inventory.model import Inventory
from mamori.vuln.inventory.store import save


def test_exports_and_reports_are_private(tmp_path: Path) -> None:
    home = init(tmp_path / "home", origin="test.example/mamori/vuln")
    taken = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.UTC)
    comp = Component("flask", "3.0.0", PYPI, "pkg:pypi/flask@3.0.0", licenses=("BSD-3-Clause",))
    save(home, Inventory("web1", taken, (comp,)))
    old = os.umask(0o022)  # a permissive umask must not make them readable by others
    try:
        sbom, report = tmp_path / "web1.cdx.json", tmp_path / "licences.csv"
        runner = CliRunner()
        r = runner.invoke(app, ["vuln", "inventory", "export", "--home", str(home.root),
                                "--system", "web1", "--format", "cyclonedx",
                                "--output", str(sbom)])  # fmt: skip
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["vuln", "report", "--home", str(home.root), "--system", "web1",
                                "--kind", "licences", "--format", "csv",
                                "--output", str(report)])  # fmt: skip
        assert r.exit_code == 0, r.output
    finally:
        os.umask(old)
    for path in (sbom, report):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
