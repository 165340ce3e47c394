"""Mapping components to endoflife.date products and cycles, and their status on a day."""

from __future__ import annotations

import datetime as dt

import pytest

from mamori.vuln.components import DEBIAN, NPM, PYPI, Component
from mamori.vuln.eol import Catalogue, Cycle, DateOrFlag, Product, read_folder
from mamori.vuln.eolmap import (
    WARN_DAYS,
    Found,
    Mapping,
    Phase,
    Status,
    check,
    map_component,
    parse_purl,
    phase,
    select_cycle,
    status,
    upstream_version,
)
from mamori.vuln.errors import VulnError
from tests.conftest import shared_data

D = dt.date
EOL = D(2025, 6, 30)


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return read_folder(shared_data("endoflife"))


def cycles(*names: str) -> tuple[Cycle, ...]:
    return tuple(Cycle(n) for n in names)


def pypi(name: str, version: str) -> Component:
    return Component(name, version, PYPI, f"pkg:pypi/{name}@{version}")


def deb(name: str, version: str, source: str = "") -> Component:
    purl = f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"
    return Component(name, version, DEBIAN, purl, source_name=source, distro="debian:12")


def os_component(os_id: str, version: str, release: str) -> Component:
    return Component(os_id, version, "", "", kind="operating-system", distro=f"{os_id}:{release}")


# --- cycle selection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("10.2", "10"),  # never 1.0
        ("10", "10"),
        ("1.0.5", "1.0"),  # never 10, and longer than 1
        ("1.5", "1"),
        ("3.11.7", "3.11"),  # never 3.1
        ("3.1.4", "3.1"),
        ("3.11", "3.11"),
        ("3.111", None),  # neither 3.1 nor 3.11 is a dot-prefix
        ("3.11+dfsg", "3.11"),
        ("3.11~rc1", "3.11"),
        ("2.0", None),
        ("", None),
    ],
)
def test_select_cycle_hard_cases(version: str, expected: str | None) -> None:
    got = select_cycle(version, cycles("1", "1.0", "10", "3.1", "3.11"))
    assert (got.cycle if got else None) == expected


@pytest.mark.parametrize(
    ("version", "debian", "expected"),
    [
        ("1:10.11.6-0+deb12u1", True, "10.11.6"),  # epoch and revision
        ("15.19-0+deb12u1", True, "15.19"),
        ("2:1.2-3-4", True, "1.2-3"),  # the revision is after the last hyphen
        ("18.19.0+dfsg-6~deb12u1", True, "18.19.0+dfsg"),
        ("1.0.0-rc.1", False, "1.0.0-rc.1"),  # not Debian: hyphens are the version's
        ("v18.2.0", False, "18.2.0"),
        ("x:1.0", False, "x:1.0"),  # not an epoch
        (" 3.11.2 ", False, "3.11.2"),
    ],
)
def test_upstream_version(version: str, debian: bool, expected: str) -> None:
    assert upstream_version(version, debian=debian) == expected


def test_purls() -> None:
    p = parse_purl("pkg:deb/debian/postgresql-15@15.5-0+deb12u1?arch=amd64&distro=debian-12")
    assert (p.type, p.namespace, p.name, p.version) == (
        "deb",
        "debian",
        "postgresql-15",
        "15.5-0+deb12u1",
    )
    assert p.qualifier("distro") == "debian-12" and p.qualifier("nope") == ""
    assert parse_purl("pkg:pypi/Django_REST.framework@1").key == (
        "pypi",
        "",
        "django-rest-framework",
    )
    assert parse_purl("pkg:npm/%40angular/core@17.0.0").key == ("npm", "@angular", "core")
    for bad in ("django", "pkg:pypi", "pkg:/", "pkg:pypi/@1"):
        with pytest.raises(VulnError):
            parse_purl(bad)


# --- mapping real components ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "product", "cycle", "via"),
    [
        (pypi("django", "3.2.25"), "django", "3.2", "purl pkg:pypi/django"),
        (pypi("Django", "4.2.1"), "django", "4.2", "purl pkg:pypi/django"),
        (deb("python3.11", "3.11.2-6+deb12u1"), "python", "3.11", "purl pkg:deb/debian/python3.11"),
        (deb("postgresql-15", "15.19-0+deb12u1"), "postgresql", "15", "built-in rule"),
        (deb("libpq5", "15.5-0+deb12u1", "postgresql-15"), "postgresql", "15", "built-in rule"),
        (deb("mariadb", "1:10.11.6-0+deb12u1"), "mariadb", "10.11", "purl pkg:deb/debian/mariadb"),
        (deb("openjdk-17", "17.0.9+9-1~deb12u1"), "eclipse-temurin", "17", "built-in rule"),
        (deb("nodejs", "18.19.0+dfsg-6~deb12u1"), "nodejs", "18", "built-in rule"),
        (deb("python3.12", "3.12.1-1"), "python", "3.12", "built-in rule"),
        (deb("tomcat10", "10.1.6-1+deb12u1"), "tomcat", "10.1", "built-in rule"),
        (os_component("debian", "12.5", "12"), "debian", "12", "built-in operating system"),
        (os_component("debian", "", "11"), "debian", "11", "built-in operating system"),
        (os_component("ubuntu", "22.04.3", "22.04"), "ubuntu", "22.04", "built-in operating"),
    ],
)
def test_real_mapping(
    real: Catalogue, component: Component, product: str, cycle: str, via: str
) -> None:
    m = map_component(component, real)
    assert m.product is not None and m.product.name == product
    assert m.cycle is not None and m.cycle.cycle == cycle
    assert m.via.startswith(via)
    assert m.component is component


def test_real_statuses(real: Catalogue) -> None:
    comps = [
        pypi("django", "3.2.25"),
        os_component("debian", "12.5", "12"),
        pypi("requests", "2.31.0"),
        pypi("django", "99.1"),
        os_component("plan9", "4", "4"),
        Component("thing", "1", "", "not a purl"),
    ]
    got = check(comps, real, D(2026, 6, 1))
    assert [a.status for a in got] == [
        Status.ENDED,
        Status.ENDING,  # Debian 12's eol is 2026-07-11: 40 days, inside 180
        Status.NOT_TRACKED,
        Status.UNKNOWN_CYCLE,
        Status.NOT_TRACKED,
        Status.NOT_TRACKED,
    ]
    assert got[1].days_left == 40 and got[1].extended_support is Phase.ONGOING
    assert got[0].active_support is Phase.ENDED  # eoas 2021-12-07
    assert "no release cycle for '99.1'" in got[3].sentence()
    assert "not tracked" in got[2].sentence()


@pytest.mark.parametrize(
    ("today", "expected", "days"),
    [
        (D(2024, 10, 6), Status.ENDING, 1),
        (D(2024, 10, 7), Status.ENDING, 0),
        (D(2024, 10, 8), Status.ENDED, -1),
    ],
)
def test_python_38_boundary(real: Catalogue, today: D, expected: Status, days: int) -> None:
    (a,) = check([deb("python3.8", "3.8.10-1")], real, today)
    assert (a.status, a.days_left, a.eol) == (expected, days, D(2024, 10, 7))


# --- status semantics on a synthetic catalogue ----------------------------------------------


def catalogue(**eols: DateOrFlag) -> Catalogue:
    cs = tuple(
        Cycle(name.replace("_", "."), eol=v, eoas=D(2025, 1, 31), eoes=True)
        for name, v in eols.items()
    )
    product = Product("thing", "Thing", "app", purls=("pkg:pypi/thing",), cycles=cs)
    return Catalogue(products={"thing": product})


def assess(eol: DateOrFlag, today: D, warn_days: int = WARN_DAYS) -> tuple[Status, int | None]:
    m = map_component(pypi("thing", "1.0"), catalogue(**{"1": eol}))
    a = status(m, today, warn_days)
    return a.status, a.days_left


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (EOL - dt.timedelta(days=1), (Status.ENDING, 1)),
        (EOL, (Status.ENDING, 0)),  # the eol date is the last day of support
        (EOL + dt.timedelta(days=1), (Status.ENDED, -1)),
    ],
)
def test_boundary_day_before_day_of_day_after(today: D, expected: tuple[Status, int]) -> None:
    assert assess(EOL, today) == expected


def test_warning_window() -> None:
    assert assess(EOL, EOL - dt.timedelta(days=180)) == (Status.ENDING, 180)
    assert assess(EOL, EOL - dt.timedelta(days=181)) == (Status.SUPPORTED, 181)
    assert assess(EOL, EOL - dt.timedelta(days=30), warn_days=29) == (Status.SUPPORTED, 30)
    assert assess(EOL, EOL - dt.timedelta(days=30), warn_days=30) == (Status.ENDING, 30)
    assert assess(EOL, EOL - dt.timedelta(days=1), warn_days=0) == (Status.SUPPORTED, 1)
    assert assess(EOL, EOL, warn_days=0) == (Status.ENDING, 0)
    with pytest.raises(VulnError):
        assess(EOL, EOL, warn_days=-1)


def test_booleans_and_no_published_eol() -> None:
    assert assess(True, D(2000, 1, 1)) == (Status.ENDED, None)
    assert assess(False, D(2000, 1, 1)) == (Status.NO_PUBLISHED_EOL, None)
    assert assess(None, D(2000, 1, 1)) == (Status.NO_PUBLISHED_EOL, None)
    m = map_component(pypi("thing", "1.2"), catalogue(**{"1": False}))
    assert m.found is Found.NO_PUBLISHED_EOL
    assert "no published end of life" in status(m, D(2000, 1, 1)).sentence()


@pytest.mark.parametrize(
    ("end", "today", "expected"),
    [
        (D(2025, 1, 31), D(2025, 1, 30), Phase.ONGOING),
        (D(2025, 1, 31), D(2025, 1, 31), Phase.ONGOING),
        (D(2025, 1, 31), D(2025, 2, 1), Phase.ENDED),
        (True, D(2000, 1, 1), Phase.ENDED),
        (False, D(2100, 1, 1), Phase.ONGOING),
        (None, D(2000, 1, 1), Phase.NOT_STATED),
    ],
)
def test_support_phases(end: DateOrFlag, today: D, expected: Phase) -> None:
    assert phase(end, today) is expected


def test_active_and_extended_support_reported_separately() -> None:
    m = map_component(pypi("thing", "1.0"), catalogue(**{"1": EOL}))
    a = status(m, D(2025, 3, 1))
    assert (a.active_support, a.extended_support) == (Phase.ENDED, Phase.ENDED)
    doc = a.to_json()
    assert doc["active_support"] == {"end": "2025-01-31", "state": "ended"}
    assert doc["extended_support"] == {"end": True, "state": "ended"}
    assert (doc["status"], doc["eol"], doc["days_left"]) == ("ending", "2025-06-30", 121)


def test_every_status_has_a_sentence_and_json() -> None:
    """Walks every member of Status: each produces its own sentence."""
    eols: dict[str, DateOrFlag] = {"1": EOL, "2": False}
    cat = catalogue(**eols)
    today = D(2025, 6, 1)
    left_pad = Component("left-pad", "1.3.0", NPM, "pkg:npm/left-pad@1.3.0")
    cases = {
        Status.ENDED: (
            pypi("thing", "1.0"),
            D(2025, 7, 1),
            "Thing 1 ended — last day of support 2025-06-30",
        ),
        Status.ENDING: (
            pypi("thing", "1.0"),
            today,
            "Thing 1 support ends 2025-06-30 (in 29 days)",
        ),
        Status.SUPPORTED: (
            pypi("thing", "1.0"),
            D(2024, 1, 1),
            "Thing 1 supported until 2025-06-30",
        ),
        Status.NO_PUBLISHED_EOL: (
            pypi("thing", "2.0"),
            today,
            "Thing 2 — no published end of life",
        ),
        Status.UNKNOWN_CYCLE: (pypi("thing", "3.0"), today, "Thing has no release cycle for '3.0'"),
        Status.NOT_TRACKED: (left_pad, today, "not tracked by endoflife.date"),
    }
    assert set(cases) == set(Status)
    for expected, (comp, day, phrase) in cases.items():
        a = status(map_component(comp, cat), day)
        assert a.status is expected
        assert a.to_json()["status"] == expected.value
        assert phrase in a.sentence() == a.to_json()["sentence"]


def test_every_found_and_phase_member_has_a_value() -> None:
    assert {f.value for f in Found} == {
        "matched",
        "no_published_eol",
        "unknown_cycle",
        "not_tracked",
    }
    assert {p.value for p in Phase} == {"ended", "ongoing", "not_stated"}
    m = Mapping(Component("x", "1", "", ""), Found.NOT_TRACKED)
    assert status(m, D(2025, 1, 1)).status is Status.NOT_TRACKED
