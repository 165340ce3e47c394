"""`mamori vuln eol import` and `check`, run through the typer app."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mamori.cli.vuln_eol import app, component_from_spec
from mamori.home import Home
from mamori.vuln.components import DEBIAN, NPM, PYPI
from mamori.vuln.eol import load, store_path
from mamori.vuln.errors import VulnError
from tests.conftest import shared_data

GOOD = '---\ntitle: Thing\ncategory: app\nidentifiers:\n  - purl: pkg:pypi/thing\nreleases:\n  - releaseCycle: "1"\n    eol: 2030-01-01\n---\n'


def cli(home: Home, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--home", str(home.root)], catch_exceptions=False)


@pytest.fixture
def imported(home: Home) -> Home:
    r = cli(home, "import", str(shared_data("endoflife")))
    assert r.exit_code == 0, r.output
    return home


def test_import_real_data(imported: Home) -> None:
    path = store_path(imported.root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    cat = load(imported.root)
    assert len(cat.products) == 464 and cat.problems == ()


def test_import_prints_counts(home: Home) -> None:
    r = cli(home, "import", str(shared_data("endoflife", "products")))
    assert r.exit_code == 0
    assert "imported 464 products (8351 release cycles)" in r.stdout
    assert "sha256 " in r.stdout


def test_import_with_refused_files_exits_1_and_keeps_the_rest(home: Home, tmp_path: Path) -> None:
    (tmp_path / "thing.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "broken.md").write_text("---\nreleases: [\n---\n", encoding="utf-8")
    r = cli(home, "import", str(tmp_path))
    assert r.exit_code == 1
    assert "refused broken.md: the front matter is not valid YAML" in r.stderr
    assert "imported 1 products" in r.stdout
    assert list(load(home.root).products) == ["thing"]


def test_import_with_nothing_readable_exits_2_and_keeps_the_old_data(
    home: Home, tmp_path: Path
) -> None:
    (tmp_path / "thing.md").write_text(GOOD, encoding="utf-8")
    assert cli(home, "import", str(tmp_path)).exit_code == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.md").write_text("nothing here", encoding="utf-8")
    r = cli(home, "import", str(bad))
    assert r.exit_code == 2
    assert "none of the 1 product files" in r.stderr
    assert list(load(home.root).products) == ["thing"]
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli(home, "import", str(empty))
    assert (r.exit_code, "no product files" in r.stderr) == (2, True)


def test_check_json(imported: Home) -> None:
    r = cli(
        imported,
        "check",
        "--today",
        "2026-06-01",
        "--json",
        "pkg:pypi/django@3.2.25",
        "pkg:deb/debian/postgresql-15@15.5-0+deb12u1?distro=debian-12",
        "os:debian@12.5",
        "pkg:pypi/requests@2.31.0",
    )
    assert r.exit_code == 1  # django 3.2 has ended
    doc = json.loads(r.stdout)
    assert (doc["today"], doc["warn_days"]) == ("2026-06-01", 180)
    assert len(doc["data"]["sha256"]) == 64
    got = [(c["product"], c["cycle"], c["status"], c["eol"]) for c in doc["components"]]
    assert got == [
        ("django", "3.2", "ended", "2024-04-01"),
        ("postgresql", "15", "supported", "2027-11-11"),
        ("debian", "12", "ending", "2026-07-11"),
        (None, None, "not_tracked", None),
    ]


def test_check_text_and_warn_days(imported: Home) -> None:
    r = cli(imported, "check", "--today", "2026-06-01", "--warn-days", "30", "os:debian@12.5")
    assert r.exit_code == 0
    assert "supported" in r.stdout and "Debian 12 supported until 2026-07-11" in r.stdout
    r = cli(imported, "check", "--today", "2026-06-01", "os:debian@12.5")
    assert "Debian 12 support ends 2026-07-11 (in 40 days)" in r.stdout


def test_check_without_import_says_how(home: Home) -> None:
    r = cli(home, "check", "pkg:pypi/django@4.2.1")
    assert r.exit_code == 2
    assert "mamori vuln eol import" in r.stderr


def test_check_refuses_bad_input(imported: Home) -> None:
    r = cli(imported, "check", "--today", "yesterday", "pkg:pypi/django@4.2.1")
    assert (r.exit_code, "is not a date" in r.stderr) == (2, True)
    r = cli(imported, "check", "django==4.2.1")
    assert (r.exit_code, "not a package URL" in r.stderr) == (2, True)
    r = cli(imported, "check", "--warn-days", "-1", "pkg:pypi/django@4.2.1")
    assert r.exit_code == 2


def test_component_from_spec() -> None:
    c = component_from_spec(
        "pkg:deb/debian/libpq5@15.5-0+deb12u1?distro=debian-12&upstream=postgresql-15"
    )
    assert (c.name, c.ecosystem, c.distro, c.source_name) == (
        "libpq5",
        DEBIAN,
        "debian:12",
        "postgresql-15",
    )
    c = component_from_spec("pkg:npm/%40angular/core@17.0.1")
    assert (c.name, c.version, c.ecosystem) == ("@angular/core", "17.0.1", NPM)
    assert component_from_spec("pkg:pypi/django@4.2.1").ecosystem == PYPI
    c = component_from_spec("os:debian@12.5")
    assert (c.kind, c.distro, c.version) == ("operating-system", "debian:12", "12.5")
    for bad in ("os:debian", "os:@1", "django"):
        with pytest.raises(VulnError):
            component_from_spec(bad)
