"""The scan core (src/mamori/vuln/scan.py): findings, unaudited components, decisions, exit
codes, one lookup per package and one parse per record, and a real-data check."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.vuln import matchform, osv
from mamori.vuln import scan as scan_mod
from mamori.vuln.components import Component
from mamori.vuln.eol import Catalogue, Cycle, Product
from mamori.vuln.eolmap import Status
from mamori.vuln.scan import (
    DETECTED,
    Database,
    ScanResult,
    Threshold,
    reaches,
    scan,
)
from mamori.vuln.severity import Label
from tests.conftest import shared_data

TODAY = dt.date(2026, 6, 1)
FRESH = Database(
    records=100,
    data_date=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    age=dt.timedelta(hours=3),
    max_age_days=2,
    stale=False,
)
STALE = Database(
    records=100,
    data_date=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
    age=dt.timedelta(days=31),
    max_age_days=2,
    stale=True,
)
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5
MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 5.4


def record(
    rid: str,
    name: str,
    events: Sequence[Mapping[str, str]],
    *,
    ecosystem: str = "PyPI",
    aliases: Sequence[str] = (),
    vector: str | None = HIGH,
    range_type: str = "ECOSYSTEM",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": rid,
        "modified": "2026-05-01T00:00:00Z",
        "aliases": list(aliases),
        "summary": f"{rid} in {name}",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": range_type, "events": list(events)}],
            }
        ],
    }
    if vector:
        doc["severity"] = [{"type": "CVSS_V3", "score": vector}]
    return doc


class Lookup:
    """A fake ``Store.advisories_for`` that counts its calls."""

    def __init__(self, *records: dict[str, Any]) -> None:
        self.records = records
        self.calls: list[tuple[str, str]] = []

    def __call__(self, ecosystem: str, name: str) -> list[dict[str, Any]]:
        self.calls.append((ecosystem, name))
        return [
            r
            for r in self.records
            if any(
                a["package"]["ecosystem"].partition(":")[0] == ecosystem
                and a["package"]["name"].lower() == name
                for a in r["affected"]
            )
        ]


def pypi(name: str, version: str) -> Component:
    return Component(name, version, "PyPI", f"pkg:pypi/{name}@{version}", found_in="req.txt")


FOO_1 = record("PYSEC-1", "foo", [{"introduced": "0"}, {"fixed": "1.2"}], aliases=["CVE-2026-1"])


def run(components: Sequence[Component], *records: dict[str, Any], **kw: Any) -> ScanResult:
    kw.setdefault("database", FRESH)
    return scan(components, Lookup(*records), today=TODAY, **kw)


def test_clean_is_0() -> None:
    result = run([pypi("foo", "1.2")], FOO_1)
    assert result.findings == () and result.unaudited == ()
    assert result.exit_code(Threshold.LOW) == 0


def test_finding_at_or_above_threshold_is_1_below_is_0() -> None:
    result = run([pypi("foo", "1.1")], FOO_1)
    (item,) = result.findings
    assert item.finding.primary_id == "CVE-2026-1" and item.finding.aliases == ("PYSEC-1",)
    assert item.finding.severity.label is Label.HIGH and item.state == DETECTED
    assert item.finding.fixed == ("1.2",)
    assert result.exit_code(Threshold.LOW) == 1
    assert result.exit_code(Threshold.HIGH) == 1
    assert result.exit_code(Threshold.CRITICAL) == 0


def test_stale_database_is_2_even_without_findings() -> None:
    result = run([pypi("foo", "1.2")], FOO_1, database=STALE)
    assert result.findings == () and result.unaudited == ()
    assert result.exit_code(Threshold.CRITICAL) == 2
    assert "stale (31.0 days old; maximum 2 days)" in result.undecidable[0]


def test_stale_database_still_lists_findings() -> None:
    result = run([pypi("foo", "1.0")], FOO_1, database=STALE)
    assert len(result.findings) == 1 and result.exit_code(Threshold.LOW) == 2


def test_empty_database_and_empty_inventory_are_undecidable() -> None:
    empty = Database(0, None, None, 2, True)
    assert run([pypi("foo", "1.2")], database=empty).undecidable == (
        "the vulnerability database is empty",
    )
    assert run([]).undecidable == ("the inventory has no components",)
    assert run([]).exit_code(Threshold.LOW) == 2


@pytest.mark.parametrize(
    ("component", "reason"),
    [
        (Component("thing", "1.0", "", "pkg:generic/thing@1.0"), "no known ecosystem"),
        (pypi("foo", ""), "no version"),
        (pypi("foo", "1.0-not-pep440!"), "is not a valid PEP 440 version"),
        (Component("mod", "1.0.0", "Go", "pkg:golang/mod@1.0.0"), "cannot order Go versions"),
    ],
)
def test_unaudited_component_is_2(component: Component, reason: str) -> None:
    result = run([component, pypi("foo", "1.2")], FOO_1)
    assert [u.component for u in result.unaudited] == [component]
    assert reason in result.unaudited[0].reason
    assert result.exit_code(Threshold.CRITICAL) == 2


def test_ecosystem_the_database_does_not_hold_is_unaudited() -> None:
    npm = Component("left-pad", "1.0.0", "npm", "pkg:npm/left-pad@1.0.0")
    result = run([npm, pypi("foo", "1.2")], FOO_1, ecosystems={"PyPI"})
    (u,) = result.unaudited
    assert u.component == npm and "holds no npm advisories" in u.reason


def test_unknown_verdict_makes_the_component_unaudited_and_keeps_its_findings() -> None:
    git_only = record("GIT-1", "foo", [{"introduced": "0"}, {"fixed": "abc"}], range_type="GIT")
    result = run([pypi("foo", "1.0")], FOO_1, git_only)
    assert [i.finding.primary_id for i in result.findings] == ["CVE-2026-1"]
    (u,) = result.unaudited
    assert u.advisory_ids == ("GIT-1",) and u.reason.startswith("GIT-1: ")
    assert result.exit_code(Threshold.LOW) == 2


def test_malformed_record_is_unaudited_not_a_crash() -> None:
    broken = record("BAD-1", "foo", [{"fixed": "1.0"}])  # no "introduced": schema violation
    result = run([pypi("foo", "1.5")], broken)
    (u,) = result.unaudited
    assert "an advisory could not be read" in u.reason and "BAD-1" in u.reason


def test_inventory_problems_are_unaudited() -> None:
    result = run([pypi("foo", "1.2")], FOO_1, problems=[("/srv/app/uv.lock", "not TOML")])
    (u,) = result.unaudited
    assert u.component is None and u.source == "/srv/app/uv.lock" and u.reason == "not TOML"
    assert result.exit_code(Threshold.LOW) == 2


@pytest.mark.parametrize("vid", ["CVE-2026-1", "PYSEC-1"])
@pytest.mark.parametrize("state", ["not_affected", "fixed", "verified"])
def test_settled_decision_does_not_fail_but_is_listed(vid: str, state: str) -> None:
    result = run([pypi("foo", "1.0")], FOO_1, decisions={("PyPI", "foo", vid): state})
    (item,) = result.findings
    assert item.state == state and item.settled
    assert result.exit_code(Threshold.LOW) == 0


@pytest.mark.parametrize("state", ["affected", "under_investigation", "something-new"])
def test_other_decisions_still_fail(state: str) -> None:
    result = run([pypi("foo", "1.0")], FOO_1, decisions={("PyPI", "foo", "CVE-2026-1"): state})
    assert result.findings[0].state == state and result.exit_code(Threshold.LOW) == 1


def test_unknown_severity_fails_at_every_threshold_none_at_none() -> None:
    unrated = record("X-1", "foo", [{"introduced": "0"}], vector=None)
    result = run([pypi("foo", "1.0")], unrated)
    assert result.findings[0].finding.severity.label is Label.UNKNOWN
    assert result.exit_code(Threshold.CRITICAL) == 1
    for t in Threshold:
        assert reaches(Label.UNKNOWN, t) and not reaches(Label.NONE, t)
        assert reaches(Label.CRITICAL, t)
    assert reaches(Label.MEDIUM, Threshold.MEDIUM) and not reaches(Label.MEDIUM, Threshold.HIGH)


def test_every_threshold_maps_to_a_label() -> None:
    assert [t.label.value for t in Threshold] == [t.value for t in Threshold]


def test_aliases_merge_across_records() -> None:
    ghsa = record("GHSA-aaaa", "foo", [{"introduced": "0"}, {"fixed": "1.3"}], vector=MEDIUM)
    ghsa["aliases"] = ["CVE-2026-1"]
    result = run([pypi("foo", "1.0")], FOO_1, ghsa)
    (item,) = result.findings
    assert item.finding.advisory_ids == ("GHSA-aaaa", "PYSEC-1")
    assert item.finding.fixed == ("1.2", "1.3") and item.finding.severity.label is Label.HIGH


def test_debian_binary_matches_by_source_package_and_release() -> None:
    dsa = record(
        "DEBIAN-CVE-2023-5678",
        "openssl",
        [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
        ecosystem="Debian:12",
        aliases=["CVE-2023-5678"],
    )

    def libssl3(version: str) -> Component:
        return Component(
            "libssl3",
            version,
            "Debian",
            f"pkg:deb/debian/libssl3@{version}?distro=debian-12",
            source_name="openssl",
            distro="debian:12",
            found_in="dpkg:/var/lib/dpkg/status",
        )

    lookup = Lookup(dsa)
    result = scan(
        [libssl3("3.0.11-1~deb12u1"), libssl3("3.0.11-1~deb12u2")],
        lookup,
        database=FRESH,
        today=TODAY,
    )
    assert lookup.calls == [("Debian", "openssl")]
    (item,) = result.findings
    assert item.component.version == "3.0.11-1~deb12u1"
    assert item.finding.fixed == ("3.0.11-1~deb12u2",)
    assert item.finding.primary_id == "CVE-2023-5678"
    bookworm_only = scan(
        [Component("libssl3", "3.0.0-1", "Debian", "p", source_name="openssl", distro="debian:11")],
        Lookup(dsa),
        database=FRESH,
        today=TODAY,
    )
    assert bookworm_only.findings == () and bookworm_only.unaudited == ()


def test_one_lookup_per_package_one_parse_per_record(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    decoded: list[str] = []
    real, real_decode = osv.parse, matchform.decode

    def counting(doc: object, where: str) -> Any:
        parsed.append(where)
        return real(doc, where)

    def counting_decode(form: bytes) -> Any:
        adv = real_decode(form)
        assert isinstance(adv, osv.Advisory)
        decoded.append(adv.id)
        return adv

    monkeypatch.setattr(scan_mod, "parse", counting)
    monkeypatch.setattr(matchform, "decode", counting_decode)
    shared = record("S-1", "foo", [{"introduced": "0"}])
    shared["affected"].append(
        {**shared["affected"][0], "package": {"ecosystem": "PyPI", "name": "bar"}}
    )
    miss = record("M-1", "foo", [{"introduced": "0"}, {"fixed": "0.5"}])
    lookup = Lookup(shared, FOO_1, miss)
    comps = [pypi("foo", "1.0"), pypi("Foo", "1.1"), pypi("foo", "2.0"), pypi("bar", "1.0")]
    result = scan(comps, lookup, database=FRESH, today=TODAY)
    assert sorted(lookup.calls) == [("PyPI", "bar"), ("PyPI", "foo")]
    # the match form once per record; the rest of the record only for records that hit
    assert Counter(decoded) == {"PYSEC-1": 1, "S-1": 1, "M-1": 1}
    assert Counter(parsed) == {"PYSEC-1": 1, "S-1": 1}
    assert len(result.findings) == 6  # foo 1.0, 1.1: 2 each; foo 2.0: S-1; bar: S-1
    assert set(result.timings) == {"lookup", "parse", "match", "eol"}


def test_eol_entries_for_every_component_including_the_os() -> None:
    cat = Catalogue(
        products={
            "debian": Product(
                "debian", "Debian", "os", cycles=(Cycle("12", eol=dt.date(2026, 6, 10)),)
            ),
            "django": Product(
                "django",
                "Django",
                "framework",
                purls=("pkg:pypi/django",),
                cycles=(Cycle("3.2", eol=dt.date(2024, 4, 1)),),
            ),
        }
    )
    os_c = Component("debian", "12.5", "", "", kind="operating-system", distro="debian:12")
    comps = [os_c, pypi("django", "3.2.25"), pypi("foo", "1.2")]
    result = run(comps, FOO_1, eol_catalogue=cat)
    assert [a.status for a in result.eol] == [Status.ENDING, Status.ENDED, Status.NOT_TRACKED]
    # an operating system has no ecosystem of its own: its packages are what is audited, its
    # support period is its own. Regression: it was listed as unaudited, which made every
    # scan of a dpkg inventory undecidable (exit 2).
    assert result.unaudited == ()
    assert result.exit_code(Threshold.LOW) == 0  # foo 1.2 is fixed; end of life never decides


@settings(max_examples=100, deadline=None)
@given(
    states=st.lists(
        st.sampled_from(["not_affected", "fixed", "verified", "affected", DETECTED]), max_size=4
    ),
    threshold=st.sampled_from(list(Threshold)),
    stale=st.booleans(),
)
def test_exit_code_rule(states: list[str], threshold: Threshold, stale: bool) -> None:
    comps = [pypi(f"p{i}", "1.0") for i in range(len(states))]
    recs = [record(f"R-{i}", f"p{i}", [{"introduced": "0"}]) for i in range(len(states))]
    decisions = {("PyPI", f"p{i}", f"R-{i}"): s for i, s in enumerate(states)}
    result = run(comps, *recs, decisions=decisions, database=STALE if stale else FRESH)
    expected = (
        2
        if stale or not comps
        else (1 if set(states) - {"not_affected", "fixed", "verified"} else 0)
    )
    if threshold is Threshold.CRITICAL and expected == 1:
        expected = 0  # every record here is rated high
    assert result.exit_code(threshold) == expected


def test_real_pypi_data_werkzeug(tmp_path: Path) -> None:
    vulns = shared_data("osv-pypi", "vulns")
    from mamori.vuln.importer import import_path
    from mamori.vuln.store import Store

    with Store(tmp_path / "advisories.db") as store:
        import_path(store, vulns / "werkzeug", data_date=dt.datetime.now(dt.UTC))
        db = Database.from_status(store.status(max_age_days=2), 2)
        old, new = pypi("Werkzeug", "2.3.7"), pypi("werkzeug", "3.0.1")
        result = scan([old, new], store.advisories_for, database=db, today=TODAY)
    hits = {(i.component.version, i.finding.primary_id): i for i in result.findings}
    assert ("2.3.7", "CVE-2023-46136") in hits
    assert not any(
        i.finding.primary_id == "CVE-2023-46136" for i in result.findings if i.component == new
    )
    item = hits[("2.3.7", "CVE-2023-46136")]
    assert item.finding.severity.label is Label.HIGH
    assert "2.3.8" in item.finding.fixed and "PYSEC-2023-221" in item.finding.aliases
    assert result.unaudited == () and result.exit_code(Threshold.LOW) == 1


def test_the_collector_is_paused_only_while_scanning() -> None:
    import gc

    seen: list[bool] = []

    def lookup(ecosystem: str, name: str) -> list[dict[str, Any]]:
        seen.append(gc.isenabled())
        return [FOO_1]

    assert gc.isenabled()
    scan([pypi("foo", "1.0")], lookup, database=FRESH, today=TODAY)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        scan([pypi("foo", "1.0")], lookup, database=FRESH, today=TODAY)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
