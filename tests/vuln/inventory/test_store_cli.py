"""Inventories in the home, and the `mamori vuln inventory` commands."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamori.cli.vuln_inventory import app
from mamori.home import Home
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory import Inventory, Problem, store
from mamori.vuln.inventory.python import pypi_component
from mamori.vuln.inventory.sbom_in import parse_cyclonedx_json, parse_spdx_json

from .test_dpkg import CRAFTED


def cli(home: Home, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--home", str(home.root)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def inv(system: str, when: datetime, *versions: str) -> Inventory:
    comps = tuple(pypi_component(f"p{i}", v, "r") for i, v in enumerate(versions))
    return Inventory(system, when, comps, ("r",), (Problem("x", "why"),))


def test_store_layout_and_modes(home: Home) -> None:
    t1 = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)
    t2 = datetime(2026, 5, 2, 9, 0, 0, tzinfo=UTC)
    p1 = store.save(home, inv("web-1", t1, "1.0"))
    store.save(home, inv("web-1", t2, "2.0"))
    store.save(home, inv("db.example", t1, "1.0"))
    assert p1 == home.root / "vuln/inventories/web-1/2026-05-01T090000Z.json"
    assert stat.S_IMODE(p1.stat().st_mode) == 0o600
    for d in (p1.parent, p1.parent.parent, p1.parent.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert store.systems(home) == ["db.example", "web-1"]
    assert store.stamps(home, "web-1") == ["2026-05-01T090000Z", "2026-05-02T090000Z"]
    assert store.load(home, "web-1").components[0].version == "2.0"
    loaded = store.load(home, "web-1", "2026-05-01")
    assert loaded == inv("web-1", t1, "1.0")
    assert store.load(home, "web-1", "2026-05-02T09:00:00Z").taken_at == t2
    with pytest.raises(VulnError, match="already exists"):
        store.save(home, inv("web-1", t1, "1.0"))
    with pytest.raises(VulnError, match="no inventory"):
        store.load(home, "web-1", "2025")
    with pytest.raises(VulnError, match="no inventory"):
        store.load(home, "nothing")


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-x", "a b", "x" * 200])
def test_bad_system_names(home: Home, name: str) -> None:
    with pytest.raises(VulnError, match="not a system name"):
        store.save(home, inv(name, datetime.now(UTC), "1"))


def test_damaged_inventory(home: Home) -> None:
    path = store.save(home, inv("s", datetime(2026, 1, 1, tzinfo=UTC), "1"))
    path.write_text('{"format": "mamori-inventory", "version": 1}')
    with pytest.raises(VulnError, match="damaged"):
        store.load(home, "s")


def test_cli_collect_show_export_diff(home: Home, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\nVERSION_ID=12\n")
    (root / "var/lib/dpkg/status").write_text(CRAFTED)
    req = tmp_path / "requirements.txt"
    req.write_text("requests==2.31.0\n")
    code, out, err = cli(home, "collect", "--system", "web-1", str(root), str(req))
    assert code == 0, err
    assert "Debian: 2" in out and "PyPI: 1" in out
    # a bad source: stored without it, exit 1
    bad = tmp_path / "package-lock.json"
    bad.write_text("{")
    req.write_text("requests==2.32.0\n")
    store_dir = home.root / "vuln/inventories/web-1"
    first = next(store_dir.iterdir())
    # the second inventory must not share the first's second
    first.rename(store_dir / "2020-01-01T000000Z.json")
    code, out, err = cli(home, "collect", "--system", "web-1", str(root), str(req), str(bad))
    assert code == 1 and "package-lock.json" in err and "not JSON" in err
    # nothing readable: exit 2, nothing stored
    code, _, err = cli(home, "collect", "--system", "web-1", str(bad))
    assert code == 2 and "nothing could be read" in err
    code, _, err = cli(home, "collect", "--system", "../evil", str(req))
    assert code == 2 and "not a system name" in err

    code, out, _ = cli(home, "list")
    assert code == 0 and out.startswith("web-1  2 inventories")
    code, out, _ = cli(home, "list", "--system", "web-1")
    assert out.splitlines()[0] == "2020-01-01T000000Z"
    code, out, _ = cli(home, "show", "--system", "web-1", "--date", "2020")
    assert code == 0 and "requests 2.31.0" in out
    code, out, _ = cli(home, "show", "--system", "web-1", "--json")
    doc = json.loads(out)
    assert doc["problems"][0]["source"] == str(bad)

    code, out, _ = cli(home, "export", "--system", "web-1", "--format", "cyclonedx")
    assert code == 0
    names = {c.name for c in parse_cyclonedx_json(out.encode(), "x")}
    assert names == {"debian", "foo", "held", "requests"}
    target = tmp_path / "out.spdx.json"
    code, out, _ = cli(
        home, "export", "--system", "web-1", "--format", "spdx", "--output", str(target)
    )
    assert code == 0 and len(parse_spdx_json(target.read_bytes(), "x")) == 4
    code, _, err = cli(home, "export", "--system", "web-1", "--format", "xml")
    assert code == 2

    code, out, _ = cli(home, "diff", "--system", "web-1")
    assert code == 0 and "~ PyPI requests: upgraded 2.31.0 → 2.32.0" in out
    code, out, _ = cli(home, "diff", "--system", "web-1", "--json", "--from", "2020")
    assert json.loads(out)["changed"][0]["new_version"] == "2.32.0"
