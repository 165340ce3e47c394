"""Importing OSV zips, folders and files, and the Debian Security Tracker's JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.vuln.errors import VulnError
from mamori.vuln.importer import (
    DEBIAN_RELEASES,
    Problem,
    SourceKind,
    convert_tracker,
    debian_ecosystem,
    detect_kind,
    import_path,
    load_bytes,
    parse_document,
)
from mamori.vuln.store import Counts, Store
from tests.conftest import shared_data

DATE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def osv(rid: str, name: str = "requests", modified: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "id": rid,
        "modified": modified,
        "aliases": [f"CVE-{rid}"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
            }
        ],
    }


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "db" / "advisories.db")


def test_zip_export_with_one_bad_member_imports_the_rest(tmp_path: Path, store: Store) -> None:
    data = make_zip(
        {
            "A-1.json": orjson.dumps(osv("A-1")),
            "A-2.json": orjson.dumps(osv("A-2", "flask", "2026-02-01T00:00:00Z")),
            "BAD.json": b"{not json",
            "NOID.json": b'{"modified": "2026-01-01T00:00:00Z"}',
            "README.txt": b"ignored: not an OSV file name",
        }
    )
    path = tmp_path / "all.zip"
    path.write_bytes(data)
    result = import_path(store, path)
    assert result.kind is SourceKind.OSV_ZIP
    assert result.read == 2 and result.counts == Counts(imported=2)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.data_date == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert {(p.member, p.reason.split(":")[0]) for p in result.problems} == {
        ("BAD.json", "not JSON"),
        ("NOID.json", "no 'id'"),
    }
    assert all(p.source == str(path) for p in result.problems)
    assert [r["id"] for r in store.advisories_for("PyPI", "flask")] == ["A-2"]
    (snap,) = store.snapshots()
    assert (snap.kind, snap.records, snap.problems, snap.sha256) == ("osv-zip", 2, 2, result.sha256)


def test_corrupt_zip_is_a_problem_not_a_crash(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "all.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    result = import_path(store, path)
    assert result.read == 0 and result.snapshot is None
    assert "not a readable zip" in result.problems[0].reason


def test_folder_of_json_and_yaml_recursively(tmp_path: Path, store: Store) -> None:
    root = tmp_path / "vulns"
    (root / "requests").mkdir(parents=True)
    (root / "flask" / "deep").mkdir(parents=True)
    (root / "requests" / "A-1.json").write_bytes(orjson.dumps(osv("A-1")))
    (root / "flask" / "deep" / "A-2.yaml").write_text(
        "id: A-2\nmodified: 2026-01-02T00:00:00Z\naffected:\n"
        "- package: {name: Flask, ecosystem: PyPI}\n"
        "  ranges: [{type: ECOSYSTEM, events: [{introduced: 0}, {fixed: 1.10}]}]\n"
    )
    (root / "flask" / "A-3.yml").write_text("id: A-3\nmodified: '2026-01-01T00:00:00Z'\n")
    (root / "flask" / "broken.yaml").write_text("id: [unclosed\n")
    (root / "flask" / "list.yaml").write_text("- 1\n- 2\n")
    (root / ".hidden.json").write_text("{}")
    (root / "notes.txt").write_text("not an advisory")
    result = import_path(store, root)
    assert result.kind is SourceKind.OSV_DIR
    assert result.read == 3
    assert sorted(p.member for p in result.problems) == [
        "flask/broken.yaml",
        "flask/list.yaml",
        "flask/list.yaml",
    ]
    assert result.problems[0].reason.startswith("not YAML")
    # YAML numbers and dates stay text: "1.10" is not the float 1.1, "0" not the int 0
    a2 = store.get("A-2") or {}
    assert a2["affected"][0]["ranges"][0]["events"] == [{"introduced": "0"}, {"fixed": "1.10"}]
    assert a2["modified"] == "2026-01-02T00:00:00Z"
    # the same files give the same digest, another file another
    again = import_path(store, root)
    assert again.sha256 == result.sha256 and again.counts == Counts(unchanged=3)
    (root / "requests" / "A-1.json").write_bytes(
        orjson.dumps(osv("A-1", modified="2026-03-01T00:00:00Z"))
    )
    third = import_path(store, root)
    assert third.sha256 != result.sha256 and third.counts == Counts(replaced=1, unchanged=2)


def test_single_files_one_record_a_list_or_the_api_answer(tmp_path: Path, store: Store) -> None:
    one, many, api = tmp_path / "one.json", tmp_path / "many.json", tmp_path / "api.json"
    one.write_bytes(orjson.dumps(osv("A-1")))
    many.write_bytes(orjson.dumps([osv("A-2"), osv("A-3"), 7]))
    api.write_bytes(orjson.dumps({"vulns": [osv("A-4")]}))
    assert detect_kind(one) is SourceKind.OSV_FILE
    assert import_path(store, one).read == 1
    result = import_path(store, many)
    assert result.read == 2
    assert result.problems == (Problem(str(many), "", "a record is a JSON object, not int"),)
    assert import_path(store, api).read == 1
    assert store.count() == 4


def test_missing_path_raises_with_a_hint(tmp_path: Path, store: Store) -> None:
    with pytest.raises(VulnError) as e:
        import_path(store, tmp_path / "nope.zip")
    assert "security-tracker.debian.org" in (e.value.hint or "")


def test_yaml_aliases_are_shared_not_expanded() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    doc = parse_document(laughs.encode(), "x.yaml")
    assert doc["i"][0] is doc["h"]
    with pytest.raises(VulnError):
        parse_document(b"!!python/object:os.system {}", "x.yaml")


# -- Debian Security Tracker

TRACKER: dict[str, Any] = {
    "openssl": {
        "CVE-2026-0001": {
            "description": "a bug",
            "scope": "remote",
            "debianbug": 123,
            "releases": {
                "bookworm": {
                    "status": "resolved",
                    "fixed_version": "3.0.15-1~deb12u1",
                    "urgency": "medium",
                    "repositories": {"bookworm": "3.0.15-1~deb12u1"},
                },
                "bullseye": {"status": "open", "urgency": "low", "repositories": {}},
                "trixie": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
                "sid": {"status": "undetermined", "urgency": "not yet assigned"},
                "duke": {"status": "resolved", "fixed_version": "1.2-3+deb12u1"},
            },
        },
        "TEMP-0000001-ABCDEF": {"description": "no CVE yet", "releases": {}},
    },
    "openssl1.1": {
        "CVE-2026-0001": {
            "releases": {"buster": {"status": "resolved", "fixed_version": "1.1.1n-0+deb10u5"}}
        }
    },
    "broken": {"CVE-2026-0002": {"releases": "everything"}},
}


def test_codenames_map_to_osv_ecosystems() -> None:
    assert debian_ecosystem("bookworm") == "Debian:12"
    assert debian_ecosystem("bullseye") == "Debian:11"
    assert debian_ecosystem("trixie") == "Debian:13"
    assert debian_ecosystem("buster") == "Debian:10"
    assert debian_ecosystem("sid") == "Debian:unstable"
    assert debian_ecosystem("someday") == "Debian:someday"
    assert set(DEBIAN_RELEASES.values()) >= {"10", "11", "12", "13", "unstable"}


def test_tracker_conversion() -> None:
    records, problems = convert_tracker(TRACKER, modified=DATE, source="t.json")
    assert problems == [Problem("t.json", "broken/CVE-2026-0002", "no object of releases")]
    by_id = {r["id"]: r for r in records}
    rec = by_id["DEBIAN-CVE-2026-0001"]
    assert rec["aliases"] == ["CVE-2026-0001"]
    assert rec["modified"] == "2026-03-01T00:00:00.000000Z"
    assert rec["details"] == "a bug"
    entries = {(a["package"]["name"], a["package"]["ecosystem"]): a for a in rec["affected"]}
    # trixie's fixed_version "0": never affected, so no entry
    assert set(entries) == {
        ("openssl", "Debian:12"),
        ("openssl", "Debian:11"),
        ("openssl", "Debian:unstable"),
        ("openssl", "Debian:15"),
        ("openssl1.1", "Debian:10"),
    }
    resolved = entries[("openssl", "Debian:12")]
    assert resolved["ranges"] == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.15-1~deb12u1"}]}
    ]
    assert resolved["database_specific"] == {
        "status": "resolved",
        "urgency": "medium",
        "fixed_version": "3.0.15-1~deb12u1",
        "scope": "remote",
        "debianbug": 123,
    }
    backport = entries[("openssl", "Debian:15")]["ranges"][0]["events"]
    assert backport == [{"introduced": "0"}, {"fixed": "1.2-3+deb12u1"}]
    assert entries[("openssl", "Debian:11")]["ranges"] == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}
    ]
    unknown = entries[("openssl", "Debian:unstable")]
    assert "ranges" not in unknown
    assert unknown["database_specific"]["status"] == "undetermined"
    assert unknown["database_specific"]["urgency"] == "not yet assigned"
    temp = by_id["DEBIAN-TEMP-0000001-ABCDEF"]
    assert temp["aliases"] == [] and temp["affected"] == []


def test_tracker_file_imports_dated_by_its_mtime(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "json"
    path.write_bytes(orjson.dumps(TRACKER))
    os.utime(path, (DATE.timestamp(), DATE.timestamp()))
    assert detect_kind(path) is SourceKind.DEBIAN_TRACKER
    result = import_path(store, path)
    assert result.kind is SourceKind.DEBIAN_TRACKER
    assert result.read == 2 and len(result.problems) == 1
    assert result.data_date == DATE
    ids = [r["id"] for r in store.advisories_for("Debian:12", "openssl")]
    assert ids == ["DEBIAN-CVE-2026-0001"]
    assert [r["id"] for r in store.advisories_for("Debian", "openssl1.1")] == ids
    assert [r["id"] for r in store.by_alias("CVE-2026-0001")] == ids
    # a newer download replaces, the same one changes nothing
    assert import_path(store, path).counts == Counts(unchanged=2)
    later = DATE.timestamp() + 3600
    os.utime(path, (later, later))
    assert import_path(store, path).counts == Counts(replaced=2)


# -- never an exception other than VulnError or a reported problem


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=2000),
    name=st.sampled_from(["x.json", "x.yaml", "x.yml", "json", "all.zip"]),
)
def test_fuzz_arbitrary_bytes(data: bytes, name: str) -> None:
    for content in (data, b"PK\x03\x04" + data):
        loaded = load_bytes(content, name, source="fuzz")
        assert all(isinstance(p, Problem) for p in loaded.problems)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "modified",
                    "withdrawn",
                    "aliases",
                    "affected",
                    "package",
                    "name",
                    "ecosystem",
                    "releases",
                    "status",
                    "fixed_version",
                    "vulns",
                    "description",
                    "bookworm",
                    "x",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(value=_json)
def test_fuzz_arbitrary_json_values(value: Any) -> None:
    content = json.dumps(value).encode()  # json: integers beyond 64 bits too
    loaded = load_bytes(content, "x.json", source="fuzz", downloaded=DATE)
    assert all(isinstance(p, Problem) for p in loaded.problems)
    zipped = load_bytes(make_zip({"a.json": content}), "all.zip", source="fuzz")
    assert zipped.kind is SourceKind.OSV_ZIP


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_json)
def test_fuzz_json_values_through_the_store(tmp_path: Path, value: Any) -> None:
    with Store(tmp_path / "fuzz.db") as store:
        path = tmp_path / "x.json"
        path.write_text(json.dumps({"vulns": [value, osv("OK-1")]}))
        result = import_path(store, path)
        assert store.get("OK-1") is not None
        assert result.read + len(result.problems) >= 1


# -- real data


def test_real_pypi_advisories() -> None:
    vulns = shared_data("osv-pypi", "vulns")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "a.db") as store:
        result = import_path(store, vulns)
        assert result.problems == ()
        # 2,661 advisories in 664 package folders (../shared/data/osv-pypi/README.md)
        assert result.read == 2661 == store.count()
        assert len(list(vulns.iterdir())) == 664
        assert result.data_date is not None and result.data_date.year == 2024
        ids = {r["id"] for r in store.advisories_for("PyPI", "aiohttp")}
        assert "PYSEC-2021-76" in ids
        assert all(
            r["affected"][0]["package"]["name"] == "aiohttp"
            for r in store.advisories_for("PyPI", "AioHTTP")
        )
        assert [r["id"] for r in store.by_alias("CVE-2021-21330")] == ["PYSEC-2021-76"]
        status = store.status()
        assert status.withdrawn == 10
        assert status.stale  # a 2024 snapshot is old data
