"""The rows of the Japanese reports (src/mamori/vuln/reports.py), built from a real home: a
stored inventory, an imported end-of-life catalogue, decisions recorded through the decision
store, and (for CVSS scores) an advisory database. The builders here are shared by
test_reportrender.py and test_cli_report.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from mamori.cli.vuln_report import gather
from mamori.home import Home
from mamori.vuln import decisionstore as ds
from mamori.vuln import eol
from mamori.vuln.components import Component
from mamori.vuln.decisions import Justification, State
from mamori.vuln.decisionstore import ObservedFinding
from mamori.vuln.eolmap import Status
from mamori.vuln.errors import VulnError
from mamori.vuln.importer import import_path
from mamori.vuln.inventory import Inventory
from mamori.vuln.inventory import store as inventories
from mamori.vuln.reports import (
    NO_LICENCE,
    PLAN_UNWRITTEN,
    Attention,
    CountermeasureReport,
    Group,
    LicenceReport,
    ReportKind,
    SupportReport,
    attention,
)
from mamori.vuln.severity import Label
from mamori.vuln.store import Store

SYSTEM = "web1"
TODAY = dt.date(2026, 6, 1)
NOW = dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=9)))
T0 = dt.datetime(2026, 4, 1, 3, 0, tzinfo=dt.UTC)
"""When the findings were detected: 1 April 2026, 12:00 in Tokyo."""
HOSTILE = "<script>alert('x')</script>"
CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8

PRODUCTS = {
    # Debian 12: security support ends 40 days after TODAY (ending).
    "debian": (
        "os",
        "",
        '  - releaseCycle: "12"\n    codename: Bookworm\n    releaseDate: 2023-06-10\n'
        "    eoas: 2026-06-10\n    eol: 2026-07-11\n    eoes: 2028-06-30\n",
    ),
    "postgresql": (
        "server-app",
        "",
        '  - releaseCycle: "15"\n    releaseDate: 2022-10-13\n    eol: 2027-11-11\n',
    ),
    "python": (
        "lang",
        "",
        '  - releaseCycle: "3.11"\n    releaseDate: 2022-10-24\n    eol: 2027-10-31\n',
    ),
    "django": (
        "framework",
        "  - purl: pkg:pypi/django\n",
        '  - releaseCycle: "4.2"\n    releaseDate: 2023-04-03\n    eoas: 2023-12-04\n'
        "    eol: 2026-04-30\n"
        '  - releaseCycle: "3.2"\n    releaseDate: 2021-04-06\n    eol: 2024-04-01\n',
    ),
    "thing": (
        "app",
        "  - purl: pkg:pypi/thing\n",
        '  - releaseCycle: "1"\n    releaseDate: 2025-01-01\n    eol: false\n',
    ),
}


def product_text(category: str, identifiers: str, releases: str) -> str:
    ids = f"identifiers:\n{identifiers}" if identifiers else ""
    return f"---\ntitle: T\ncategory: {category}\n{ids}releases:\n{releases}---\n\n> text\n"


def catalogue() -> eol.Catalogue:
    files = [
        (f"{name}.md", product_text(*spec).encode()) for name, spec in sorted(PRODUCTS.items())
    ]
    cat = eol.parse_files(files, source="test/endoflife", imported_at="2026-05-30T00:00:00+00:00")
    assert cat.problems == ()
    return cat


def deb(name: str, version: str, licences: tuple[str, ...] = (), source: str = "") -> Component:
    return Component(name, version, "Debian", f"pkg:deb/debian/{name}@{version}?distro=debian-12",
                     licences, "dpkg:/var/lib/dpkg/status", "library", source, "", "debian:12")  # fmt: skip


def pypi(name: str, version: str, *licences: str) -> Component:
    return Component(name, version, "PyPI", f"pkg:pypi/{name}@{version}", licences,
                     "/srv/app/.venv")  # fmt: skip


COMPONENTS = (
    Component(
        "debian", "12.5", "", "", (), "/etc/os-release", "operating-system", distro="debian:12"
    ),
    deb("postgresql-15", "15.5-0+deb12u1", ("PostgreSQL",)),
    deb("python3.11", "3.11.2-6", ("PSF-2.0",)),
    deb("libc6", "2.36-9+deb12u4", ("GPL-2+", "LGPL-2.1+"), source="glibc"),
    pypi("django", "3.2.25", "BSD-3-Clause"),
    pypi("django", "9.9"),
    pypi("thing", "1.0", "AGPL-3.0-only"),
    pypi("requests", "2.31.0", "Apache-2.0"),
    pypi("mongo-thing", "1.0", "SSPL-1.0 OR LicenseRef-Vendor-EULA"),
    Component(HOSTILE, "1.0", "npm", "pkg:npm/evil@1.0", (f"MIT{HOSTILE}",), "package-lock.json"),
)


def observed(name: str, vuln: str, severity: str, **kw: Any) -> ObservedFinding:
    base: dict[str, Any] = dict(ecosystem="PyPI", name=name, version="3.2.25",
                                purl=f"pkg:pypi/{name}@3.2.25", vuln_id=vuln, aliases=(),
                                severity=severity, fixed=())  # fmt: skip
    base.update(kw)
    return ObservedFinding(**base)


def populate(home: Home) -> None:
    """The system web1: an inventory, end-of-life data, four findings in different states."""
    inventories.save(home, Inventory(SYSTEM, T0, COMPONENTS, ("/",)))
    eol.save(home.root, catalogue())
    ds.observe(
        home,
        SYSTEM,
        [
            observed("requests", "CVE-2024-35195", "medium", aliases=("GHSA-9wx4-h78v-vm56",)),
            observed("django", "CVE-2024-1111", "critical", aliases=("GHSA-crit-0000-0000",)),
            observed("django", "CVE-2024-2222", "high", fixed=("4.2.11",)),
            observed(HOSTILE, "GHSA-evil-0000-0000", "unknown", ecosystem="npm"),
        ],
        T0,
    )
    ds.triage(home, SYSTEM, ("PyPI", "requests", "CVE-2024-35195"), State.NOT_AFFECTED,
              actor="yamada", note="verify=False is never passed",
              justification=Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
              statement="verify=False を渡す箇所はない", at=T0 + dt.timedelta(days=1))  # fmt: skip
    key = ("PyPI", "django", "CVE-2024-2222")
    ds.triage(home, SYSTEM, key, State.AFFECTED, actor="yamada", note="upgrade planned",
              statement="4.2.11 へ更新する（4月20日）", at=T0 + dt.timedelta(days=2))  # fmt: skip
    ds.mark_fixed(home, SYSTEM, key, version="4.2.11", date=dt.date(2026, 4, 20),
                  approver="sato", at=T0 + dt.timedelta(days=19))  # fmt: skip


def load_advisories(home: Home, tmp_path: Path) -> None:
    record = {
        "id": "GHSA-crit-0000-0000",
        "modified": "2026-05-30T00:00:00Z",
        "aliases": ["CVE-2024-1111"],
        "severity": [{"type": "CVSS_V3", "score": CRITICAL_VECTOR}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "django"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }
    path = tmp_path / "advisories.json"
    path.write_bytes(orjson.dumps([record]))
    with Store.open(home) as db:
        import_path(db, path)


def build(home: Home, kind: ReportKind, today: dt.date = TODAY) -> Any:
    return gather(home, SYSTEM, kind, now=NOW, today=today, warn_days=180)


@pytest.fixture
def filled(home: Home) -> Home:
    populate(home)
    return home


# --- サポート期間報告書 -----------------------------------------------------------------------


def test_support_rows_give_every_component_a_status_and_group(filled: Home) -> None:
    rep = build(filled, ReportKind.SUPPORT)
    assert isinstance(rep, SupportReport)
    got = {(r.name, r.version): (r.group, r.status, r.cycle, r.days_left) for r in rep.rows}
    assert got == {
        ("debian", "12.5"): (Group.OS, Status.ENDING, "12", 40),
        ("libc6", "2.36-9+deb12u4"): (Group.OS, Status.NOT_TRACKED, "", None),
        ("postgresql-15", "15.5-0+deb12u1"): (Group.MIDDLEWARE, Status.SUPPORTED, "15", 528),
        ("python3.11", "3.11.2-6"): (Group.MIDDLEWARE, Status.SUPPORTED, "3.11", 517),
        ("thing", "1.0"): (Group.MIDDLEWARE, Status.NO_PUBLISHED_EOL, "1", None),
        ("django", "3.2.25"): (Group.LIBRARY, Status.ENDED, "3.2", -791),
        ("django", "9.9"): (Group.LIBRARY, Status.UNKNOWN_CYCLE, "", None),
        ("requests", "2.31.0"): (Group.LIBRARY, Status.NOT_TRACKED, "", None),
        ("mongo-thing", "1.0"): (Group.LIBRARY, Status.NOT_TRACKED, "", None),
        (HOSTILE, "1.0"): (Group.LIBRARY, Status.NOT_TRACKED, "", None),
    }
    assert len(rep.rows) == len(COMPONENTS)
    assert [r.group for r in rep.rows] == sorted((r.group for r in rep.rows), key=list(Group).index)
    assert all(r.plan == PLAN_UNWRITTEN for r in rep.rows)


def test_support_rows_carry_every_support_date(filled: Home) -> None:
    rep = build(filled, ReportKind.SUPPORT)
    (os_row,) = rep.group(Group.OS)[:1]
    assert (os_row.release_date, os_row.active_support, os_row.security_support,
            os_row.extended_support) == (dt.date(2023, 6, 10), dt.date(2026, 6, 10),
                                         dt.date(2026, 7, 11), dt.date(2028, 6, 30))  # fmt: skip
    thing = next(r for r in rep.rows if r.name == "thing")
    assert thing.security_support is False
    libc = next(r for r in rep.rows if r.name == "libc6")
    assert "debian:12 の配布パッケージ" in libc.note
    assert "9.9" in next(r for r in rep.rows if r.version == "9.9").note


def test_attention_lists_ended_then_ending(filled: Home) -> None:
    rep = build(filled, ReportKind.SUPPORT)
    assert [(r.name, r.status) for r in rep.attention] == [
        ("django", Status.ENDED),
        ("debian", Status.ENDING),
    ]
    assert rep.count(Status.NOT_TRACKED) == 4


def test_the_warning_window_and_the_day_decide_the_status(filled: Home) -> None:
    rep = gather(filled, SYSTEM, ReportKind.SUPPORT, now=NOW, today=TODAY, warn_days=39)
    assert isinstance(rep, SupportReport)
    assert next(r for r in rep.rows if r.name == "debian").status is Status.SUPPORTED
    later = build(filled, ReportKind.SUPPORT, today=dt.date(2026, 7, 12))
    assert next(r for r in later.rows if r.name == "debian").status is Status.ENDED


# --- 脆弱性対策状況報告書 ---------------------------------------------------------------------


def test_countermeasure_rows_overdue_first_with_their_history(filled: Home) -> None:
    rep = build(filled, ReportKind.COUNTERMEASURES)
    assert isinstance(rep, CountermeasureReport)
    got = [(f.record.vuln, f.record.state, f.severity, f.overdue, f.days_late) for f in rep.rows]
    assert got == [
        # detected 2026-04-01: critical due 04-08, unknown (the high period) due 05-01
        ("CVE-2024-1111", State.DETECTED, Label.CRITICAL, True, 54),
        ("GHSA-evil-0000-0000", State.DETECTED, Label.UNKNOWN, True, 31),
        ("CVE-2024-2222", State.FIXED, Label.HIGH, False, 0),
        ("CVE-2024-35195", State.NOT_AFFECTED, Label.MEDIUM, False, 0),
    ]
    fixed = rep.rows[2]
    assert fixed.on_time is True and fixed.record.fix is not None
    assert fixed.record.fix.approver == "sato"
    assert [h.kind for h in fixed.history] == ["detect", "triage", "triage"]
    assert [h.to_state for h in fixed.history] == ["detected", "affected", "fixed"]
    assert rep.rows[3].record.justification == "vulnerable_code_not_in_execute_path"
    assert rep.rows[0].on_time is None


def test_countermeasure_counts_by_severity_and_state(filled: Home) -> None:
    rep = build(filled, ReportKind.COUNTERMEASURES)
    assert rep.count() == 4 and rep.overdue_count() == 2
    assert rep.count(Label.CRITICAL) == 1 and rep.count(Label.CRITICAL, State.DETECTED) == 1
    assert rep.count(None, State.FIXED) == 1 and rep.count(Label.LOW) == 0
    assert rep.overdue_count(Label.UNKNOWN) == 1 and rep.overdue_count(Label.HIGH) == 0


def test_a_deadline_is_met_through_its_last_day(filled: Home) -> None:
    rep = build(filled, ReportKind.COUNTERMEASURES, today=dt.date(2026, 4, 8))
    assert not next(f for f in rep.rows if f.record.vuln == "CVE-2024-1111").overdue
    rep = build(filled, ReportKind.COUNTERMEASURES, today=dt.date(2026, 4, 9))
    assert next(f for f in rep.rows if f.record.vuln == "CVE-2024-1111").days_late == 1


def test_scores_and_snapshots_come_from_the_advisory_database(filled: Home, tmp_path: Path) -> None:
    without = build(filled, ReportKind.COUNTERMEASURES)
    assert all(f.score is None for f in without.rows)
    assert [s.location for s in without.meta.sources][-1] == "未取り込み"
    load_advisories(filled, tmp_path)
    rep = build(filled, ReportKind.COUNTERMEASURES)
    assert {f.record.vuln: f.score for f in rep.rows}["CVE-2024-1111"] == 9.8
    db = rep.meta.sources[-1]
    assert db.label == "脆弱性データベース（osv-file）" and len(db.sha256) == 64
    assert db.data_date == dt.datetime(2026, 5, 30, tzinfo=dt.UTC)


def test_every_report_names_its_inventory_with_its_sha256(filled: Home) -> None:
    for kind in (ReportKind.SUPPORT, ReportKind.COUNTERMEASURES, ReportKind.LICENCES):
        inv = build(filled, kind).meta.sources[0]
        assert inv.obtained_at == T0 and len(inv.sha256) == 64 and inv.location.startswith(SYSTEM)
    support = build(filled, ReportKind.SUPPORT).meta.sources[1]
    assert support.sha256 == catalogue().sha256 and support.data_date == dt.date(2025, 1, 1)


# --- ライセンス一覧 ---------------------------------------------------------------------------


def test_licence_rows_and_counts(filled: Home) -> None:
    rep = build(filled, ReportKind.LICENCES)
    assert isinstance(rep, LicenceReport)
    by_name = {(r.name, r.version): r for r in rep.rows}
    assert by_name[("django", "9.9")].licences == (NO_LICENCE,)
    assert by_name[("django", "9.9")].flags == (Attention.UNKNOWN,)
    assert by_name[("libc6", "2.36-9+deb12u4")].flags == (Attention.GPL, Attention.LGPL)
    assert by_name[("thing", "1.0")].flags == (Attention.AGPL,)
    assert by_name[("mongo-thing", "1.0")].flags == (Attention.SSPL, Attention.PROPRIETARY)
    assert by_name[("requests", "2.31.0")].flags == ()
    assert by_name[("libc6", "2.36-9+deb12u4")].found_in == "dpkg:/var/lib/dpkg/status"
    counts = {c.licence: c.components for c in rep.counts}
    assert counts[NO_LICENCE] == 2 and counts["Apache-2.0"] == 1 and sum(counts.values()) == 11
    assert rep.counts[0].licence == NO_LICENCE
    assert rep.flagged == 5  # debian, libc6, django 9.9, thing, mongo-thing


@pytest.mark.parametrize(
    ("licence", "flags"),
    [
        ("MIT", ()),
        ("Apache-2.0 OR MIT", ()),
        ("GPL-2.0-only", (Attention.GPL,)),
        ("GPL-2+", (Attention.GPL,)),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", (Attention.GPL,)),
        ("(MIT OR LGPL-2.1-or-later)", (Attention.LGPL,)),
        ("agpl-3.0", (Attention.AGPL,)),
        ("SSPL-1.0", (Attention.SSPL,)),
        ("LicenseRef-scancode-proprietary", (Attention.PROPRIETARY,)),
        ("Commercial", (Attention.PROPRIETARY,)),
        ("NOASSERTION", (Attention.UNKNOWN,)),
        ("", (Attention.UNKNOWN,)),
        (NO_LICENCE, (Attention.UNKNOWN,)),
        ("MIT AND GPL-3.0-only AND AGPL-3.0-only", (Attention.GPL, Attention.AGPL)),
    ],
)
def test_licences_needing_attention(licence: str, flags: tuple[Attention, ...]) -> None:
    assert attention(licence) == flags


# --- the edge ---------------------------------------------------------------------------------


def test_missing_parts_are_errors_with_a_fix(home: Home) -> None:
    with pytest.raises(VulnError, match="no inventory of 'web1'"):
        build(home, ReportKind.LICENCES)
    with pytest.raises(VulnError, match="not a system name"):
        gather(home, "../etc", ReportKind.LICENCES, now=NOW, today=TODAY, warn_days=180)
    inventories.save(home, Inventory(SYSTEM, T0, COMPONENTS))
    with pytest.raises(VulnError, match="no end-of-life data") as e:
        build(home, ReportKind.SUPPORT)
    assert e.value.hint and "eol import" in e.value.hint
    with pytest.raises(VulnError, match="zone"):
        gather(home, SYSTEM, ReportKind.LICENCES, now=NOW.replace(tzinfo=None), today=TODAY,
               warn_days=180)  # fmt: skip


def test_a_system_without_findings_gives_an_empty_countermeasure_report(home: Home) -> None:
    inventories.save(home, Inventory(SYSTEM, T0, COMPONENTS))
    rep = build(home, ReportKind.COUNTERMEASURES)
    assert rep.rows == () and rep.count() == 0
    assert rep.meta.sources[1].note == "0 件"
