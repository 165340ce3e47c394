"""The advisory store: replacement by ``modified``, the indexes, snapshots, staleness, modes."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path
from typing import Any

import pytest

from mamori.home import Home
from mamori.vuln.errors import VulnError
from mamori.vuln.store import (
    Counts,
    InvalidRecord,
    Prepared,
    Store,
    classify,
    normalise_name,
    prepare,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def osv(
    rid: str,
    modified: str = "2026-01-01T00:00:00Z",
    packages: tuple[tuple[str, str], ...] = (("PyPI", "Requests"),),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": rid,
        "modified": modified,
        "affected": [{"package": {"ecosystem": e, "name": n}} for e, n in packages],
        **extra,
    }


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def write(store: Store, *records: dict[str, Any], date: dt.datetime | None = None) -> Counts:
    counts, _ = store.write(
        [prepare(r) for r in records], source="test", kind="osv-file", sha256="00", data_date=date
    )
    return counts


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "vuln" / "advisories.db", clock=Clock(T0))


def test_open_in_home_creates_private_directory_and_file(home: Home) -> None:
    with Store.open(home) as s:
        write(s, osv("A-1"))
    folder = home.root / "vuln"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for f in folder.iterdir():  # the database and its -wal / -shm
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_open_existing_refuses_a_home_without_database(home: Home) -> None:
    with pytest.raises(VulnError) as e:
        Store.open_existing(home)
    assert "mamori vuln db import" in (e.value.hint or "")


def test_newer_modified_replaces_and_older_is_ignored(store: Store) -> None:
    assert write(store, osv("A-1", "2026-01-02T00:00:00Z")) == Counts(imported=1)
    newer = osv("A-1", "2026-01-03T00:00:00.5Z", packages=(("npm", "left-pad"),))
    assert write(store, newer) == Counts(replaced=1)
    assert write(store, osv("A-1", "2026-01-01T00:00:00Z")) == Counts(older=1)
    assert write(store, newer) == Counts(unchanged=1)
    assert store.count() == 1
    assert store.get("A-1") == newer
    # the replaced copy's index rows are gone, the new ones are there
    assert store.advisories_for("PyPI", "requests") == []
    assert [r["id"] for r in store.advisories_for("npm", "left-pad")] == ["A-1"]


def test_zones_and_fractions_compare_as_times(store: Store) -> None:
    write(store, osv("A-1", "2026-01-02T01:00:00+02:00"))  # 2026-01-01T23:00Z
    assert write(store, osv("A-1", "2026-01-01T23:30:00Z")) == Counts(replaced=1)
    assert write(store, osv("A-1", "2026-01-01T23:30:00.000000001Z")) == Counts(unchanged=1)


def test_classify_compares_duplicates_within_one_import() -> None:
    older, newer = prepare(osv("A-1", "2026-01-01T00:00:00Z")), prepare(osv("A-1"))
    newer = prepare(osv("A-1", "2026-02-01T00:00:00Z"))
    counts, winners = classify([older, newer, older], {})
    assert counts == Counts(imported=1, replaced=1, older=1)
    assert winners == {"A-1": newer}


def test_pypi_names_are_pep503_normalised(store: Store) -> None:
    write(store, osv("A-1", packages=(("PyPI", "Zope.Interface_x"),)))
    assert normalise_name("PyPI", "Zope.Interface_x") == "zope-interface-x"
    for name in ("zope-interface-x", "ZOPE_interface.X", "zope--interface__x"):
        assert [r["id"] for r in store.advisories_for("PyPI", name)] == ["A-1"]
    write(store, osv("B-1", packages=(("npm", "Left_Pad"),)))
    assert store.advisories_for("npm", "left-pad") == []  # npm names are kept as given
    assert len(store.advisories_for("npm", "Left_Pad")) == 1


def test_debian_releases_are_indexed_with_their_base_ecosystem(store: Store) -> None:
    write(store, osv("D-1", packages=(("Debian:12", "openssl"), ("Debian:11", "openssl"))))
    write(store, osv("D-2", packages=(("Debian:11", "openssl"),)))
    assert [r["id"] for r in store.advisories_for("Debian:12", "openssl")] == ["D-1"]
    assert [r["id"] for r in store.advisories_for("Debian:11", "openssl")] == ["D-1", "D-2"]
    assert [r["id"] for r in store.advisories_for("Debian", "openssl")] == ["D-1", "D-2"]


def test_withdrawn_records_are_kept_with_their_flag(store: Store) -> None:
    write(store, osv("W-1", withdrawn="2026-01-05T00:00:00Z"), osv("A-1"))
    assert [r["id"] for r in store.advisories_for("PyPI", "requests")] == ["A-1"]
    found = store.advisories_for("PyPI", "requests", include_withdrawn=True)
    assert [r["id"] for r in found] == ["A-1", "W-1"]
    assert (store.get("W-1") or {})["withdrawn"] == "2026-01-05T00:00:00Z"
    assert store.status().withdrawn == 1


def test_aliases_and_ids_are_found(store: Store) -> None:
    write(
        store,
        osv("PYSEC-1", aliases=["CVE-2026-1", "GHSA-x"]),
        osv("DEBIAN-CVE-2026-1", aliases=["CVE-2026-1"]),
    )
    assert [r["id"] for r in store.by_alias("CVE-2026-1")] == ["DEBIAN-CVE-2026-1", "PYSEC-1"]
    assert [r["id"] for r in store.by_alias("PYSEC-1")] == ["PYSEC-1"]
    assert store.by_alias("CVE-0000-0") == []
    assert store.get("nope") is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([], "JSON object, not list"),
        ({"modified": "2026-01-01T00:00:00Z"}, "no 'id'"),
        ({"id": " ", "modified": "2026-01-01T00:00:00Z"}, "'id' is not a usable string"),
        ({"id": "A"}, "no 'modified' date"),
        ({"id": "A", "modified": "yesterday"}, "not an RFC 3339 date"),
        ({"id": "A", "modified": 5}, "'modified' is not a string"),
        ({"id": "A", "modified": "2026-01-01T00:00:00Z", "affected": {}}, "not a list"),
        ({"id": "A", "modified": "2026-01-01T00:00:00Z", "affected": [1]}, "affected[0]"),
        (
            {"id": "A", "modified": "2026-01-01T00:00:00Z", "affected": [{"package": {}}]},
            "needs an ecosystem and a name",
        ),
        ({"id": "A", "modified": "2026-01-01T00:00:00Z", "aliases": "CVE-1"}, "'aliases'"),
        ({"id": "A", "modified": "2026-01-01T00:00:00Z", "withdrawn": "soon"}, "'withdrawn'"),
        ({"id": "A", "modified": "2026-01-01T00:00:00Z", "n": 2**70}, "not plain JSON"),
    ],
)
def test_prepare_refuses_malformed_records_saying_why(record: object, reason: str) -> None:
    with pytest.raises(InvalidRecord) as e:
        prepare(record)
    assert reason in e.value.message


def test_prepare_accepts_git_only_affected_entries() -> None:
    p = prepare({"id": "G", "modified": "2026-01-01T00:00:00Z", "affected": [{"ranges": []}]})
    assert isinstance(p, Prepared) and p.packages == ()


def test_snapshots_record_source_digest_and_dates(store: Store) -> None:
    date = dt.datetime(2026, 2, 27, tzinfo=dt.UTC)
    counts, snap = store.write(
        [prepare(osv("A-1"))], source="/x/all.zip", kind="osv-zip", sha256="ab" * 32, data_date=date
    )
    (s,) = store.snapshots()
    assert (s.id, s.source, s.kind, s.sha256, s.records) == (
        snap,
        "/x/all.zip",
        "osv-zip",
        "ab" * 32,
        1,
    )
    assert s.counts == counts == Counts(imported=1)
    assert s.imported_at == T0
    assert s.data_date == date


def test_staleness_is_the_age_of_the_data_at_the_boundary(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = Store(tmp_path / "a.db", clock=clock)
    assert store.is_stale() and store.status().age is None  # no data is never fresh
    data_date = T0 - dt.timedelta(days=1)
    write(store, osv("A-1"), date=data_date)
    clock.now = data_date + dt.timedelta(days=2)
    assert not store.is_stale()  # exactly two days old: not yet stale
    assert store.status().age == dt.timedelta(days=2)
    clock.now += dt.timedelta(microseconds=1)
    assert store.is_stale()
    assert not store.is_stale(max_age_days=3)
    # importing old data again today does not make it fresh
    write(store, osv("A-2"), date=data_date)
    assert store.is_stale()
    # newer data does
    write(store, osv("A-3"), date=clock.now)
    assert not store.is_stale()
    assert store.status().data_date == clock.now
