"""Reading OSV records: the model, malformed records, fuzzing, and the real PyPI database."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.vuln.errors import VulnError
from mamori.vuln.osv import (
    DETAILS_MAX,
    Event,
    EventKind,
    RangeType,
    parse,
)
from tests.conftest import shared_data

FULL: dict[str, Any] = {
    "schema_version": "1.6.0",
    "id": "GHSA-xxxx-yyyy-zzzz",
    "modified": "2024-01-02T00:00:00Z",
    "published": "2024-01-01T00:00:00Z",
    "aliases": ["CVE-2024-0001"],
    "related": ["CVE-2024-0002"],
    "summary": "Bad thing in foo",
    "details": "x" * 5000,
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "foo", "purl": "pkg:deb/debian/foo"},
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "1.2-3+deb12u1"}],
                },
                {
                    "type": "GIT",
                    "repo": "https://example.org/foo.git",
                    "events": [{"introduced": "abc"}, {"limit": "def"}],
                },
            ],
            "versions": ["1.0-1"],
            "ecosystem_specific": {"urgency": "medium"},
        }
    ],
    "references": [{"type": "WEB", "url": "https://example.org/a"}],
    "database_specific": {"severity": "MODERATE"},
}


def test_parse_full_record() -> None:
    adv = parse(FULL, "full.json")
    assert adv.id == "GHSA-xxxx-yyyy-zzzz"
    assert adv.aliases == ("CVE-2024-0001",)
    assert adv.related == ("CVE-2024-0002",)
    assert adv.ids == ("GHSA-xxxx-yyyy-zzzz", "CVE-2024-0001")
    assert adv.summary == "Bad thing in foo"
    assert len(adv.details) == DETAILS_MAX
    assert adv.published == "2024-01-01T00:00:00Z"
    assert adv.withdrawn == ""
    assert adv.severities[0].type == "CVSS_V3"
    assert adv.references == ("https://example.org/a",)
    assert adv.severity_text == "MODERATE"
    (aff,) = adv.affected
    assert (aff.ecosystem, aff.base_ecosystem, aff.release) == ("Debian:12", "Debian", "12")
    assert aff.name == "foo"
    assert aff.purl == "pkg:deb/debian/foo"
    assert aff.versions == ("1.0-1",)
    assert aff.severity_text == "medium"
    eco, git = aff.ranges
    assert eco.type is RangeType.ECOSYSTEM
    assert eco.events == (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, "1.2-3+deb12u1"))
    assert git.type is RangeType.GIT
    assert git.repo == "https://example.org/foo.git"
    assert git.events[1] == Event(EventKind.LIMIT, "def")


def test_minimal_record() -> None:
    adv = parse({"id": "X-1"}, "x")
    assert adv.affected == () and adv.aliases == () and adv.summary == ""


def test_release_suffix_with_colons_is_kept_whole() -> None:
    doc = {"id": "U-1", "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "a"}}]}
    aff = parse(doc, "u").affected[0]
    assert (aff.base_ecosystem, aff.release) == ("Ubuntu", "22.04:LTS")


def test_yaml_datetimes_are_accepted() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    adv = parse({"id": "X", "modified": when, "withdrawn": when}, "x.yaml")
    assert adv.modified.startswith("2024-01-02T03:04:05")
    assert adv.withdrawn


def _with(**changes: Any) -> dict[str, Any]:
    return {**FULL, **changes}


def _affected(**changes: Any) -> dict[str, Any]:
    return _with(affected=[{**FULL["affected"][0], **changes}])


def _events(*events: Any) -> dict[str, Any]:
    return _affected(ranges=[{"type": "ECOSYSTEM", "events": list(events)}])


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ([], "expected an object"),
        ({"summary": "no id"}, "'id' is missing"),
        (_with(id=""), "'id' is missing"),
        (_with(id=7), "'id' is missing"),
        (_with(affected={"package": {}}), "'affected' must be a list"),
        (_with(affected=["PyPI"]), "affected[0] must be an object"),
        (_with(aliases="CVE-1"), "'aliases' must be a list"),
        (_with(aliases=[1]), "'aliases[0]' must be a string"),
        (_affected(package={"ecosystem": "PyPI"}), "needs both 'ecosystem' and 'name'"),
        (_affected(versions=[1.1]), "yaml.BaseLoader"),
        (_affected(ranges=[{"type": "RANGE", "events": [{"introduced": "0"}]}]), "type is"),
        (_affected(ranges=[{"type": "ECOSYSTEM", "events": []}]), "has no events"),
        (_events({"fixed": "1.0"}), "no 'introduced' event"),
        (_events({"introduced": "0", "fixed": "1.0"}), "exactly one of"),
        (_events({"introduced": "0"}, {"patched": "1.0"}), "unknown event 'patched'"),
        (_events({"introduced": "0"}, {"fixed": ""}), "must be a non-empty string"),
        (_events({"introduced": 0}), "must be a non-empty string"),
        (_with(severity=[{"type": "CVSS_V3", "score": 9.8}]), "'severity[0].score'"),
        (_with(references=["https://x"]), "references[0] must be an object"),
        (_with(summary=["a"]), "'summary' must be a string"),
    ],
)
def test_malformed_records_name_the_file_and_the_reason(doc: Any, reason: str) -> None:
    with pytest.raises(VulnError) as info:
        parse(doc, "vulns/foo/BAD-1.json")
    assert info.value.message.startswith("vulns/foo/BAD-1.json: not a valid OSV record: ")
    assert reason in info.value.message
    assert info.value.hint and "osv-schema" in info.value.hint


def test_free_form_specific_fields_are_not_errors() -> None:
    adv = parse(_with(database_specific=["odd"], affected=[]), "x")
    assert adv.severity_text == ""


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "id",
        "aliases",
        "affected",
        "package",
        "ranges",
        "events",
        "versions",
        "type",
        "introduced",
        "fixed",
        "limit",
        "last_affected",
        "ecosystem",
        "name",
        "severity",
        "score",
        "references",
        "url",
        "withdrawn",
        "summary",
        "database_specific",
        "ecosystem_specific",
        "modified",
    ]
)
OSVISH = st.recursive(
    st.none()
    | st.text(max_size=6)
    | st.integers()
    | st.sampled_from(["0", "1.0", "ECOSYSTEM", "PyPI", "SEMVER", "GIT"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300)
@given(doc=JSONISH)
def test_fuzz_arbitrary_json(doc: Any) -> None:
    with contextlib.suppress(VulnError):
        parse(doc, "fuzz")


@settings(max_examples=200)
@given(doc=st.dictionaries(KEYS, OSVISH, max_size=8))
def test_fuzz_osv_shaped_dicts(doc: dict[str, Any]) -> None:
    try:
        adv = parse(doc, "fuzz")
    except VulnError as e:
        assert e.message.startswith("fuzz: ")
    else:
        assert adv.id == doc["id"]


# ---------------------------------------------------------------- the real PyPI database


def load_real(path: Path) -> Any:
    """One real record. BaseLoader keeps every scalar a string (safe_load would read 1.10 as
    the float 1.1); the C loader keeps 2,661 files to about a second."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CBaseLoader)


@pytest.fixture(scope="module")
def real_docs() -> list[tuple[Path, Any]]:
    files = sorted(shared_data("osv-pypi", "vulns").glob("*/*.yaml"))
    return [(path, load_real(path)) for path in files]


def test_every_real_pypi_advisory_parses(real_docs: list[tuple[Path, Any]]) -> None:
    assert len(real_docs) == 2661
    errors = []
    withdrawn = []
    for path, doc in real_docs:
        try:
            adv = parse(doc, str(path))
        except VulnError as e:
            errors.append(e.message)
            continue
        assert adv.id == path.stem
        assert all(a.base_ecosystem == "PyPI" for a in adv.affected)
        if adv.withdrawn:
            withdrawn.append(adv.id)
    assert errors == []
    assert len(withdrawn) == 10  # as the data set's README says
