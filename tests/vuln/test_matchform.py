"""Match forms (matchform.py): what a scan reads instead of the whole record must give exactly
the advisory that ``osv.parse`` gives for the fields matching reads, and the same error for a
record that cannot be read — on the real PyPI advisories, crafted hard cases and mutated
records. The store keeps a form per record, and gives one to a database written before."""

from __future__ import annotations

import copy
import datetime as dt
import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.vuln import matchform
from mamori.vuln.components import Component
from mamori.vuln.errors import VulnError
from mamori.vuln.importer import _walk, parse_document
from mamori.vuln.osv import Advisory, parse
from mamori.vuln.scan import Database, scan
from mamori.vuln.store import Store
from tests.conftest import shared_data

HARD: dict[str, Any] = {
    "id": "HARD-1",
    "aliases": ["CVE-2026-1", "GHSA-xxxx-yyyy-zzzz"],
    "summary": "not in the form",
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "openssl", "purl": "pkg:deb/x"},
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "1:1.2-3~deb12u1"}],
                },
                {"type": "GIT", "repo": "https://g.example/r", "events": [{"introduced": "abc"}]},
            ],
            "versions": ["1:1.0-1"],
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
            ],
            "ecosystem_specific": {"urgency": " high "},
        },
        {
            "package": {"ecosystem": "PyPI", "name": "Foo_Bar"},
            "ranges": [
                {
                    "type": "SEMVER",
                    "events": [
                        {"introduced": "1.0.0"},
                        {"last_affected": "1.4.0"},
                        {"introduced": "2.0.0-rc.1"},
                        {"limit": "*"},
                    ],
                }
            ],
            "database_specific": {"severity": "MODERATE"},
        },
        {"ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}]}]},
    ],
}


def parsed_or_error(doc: Any) -> Advisory | str:
    target = matchform.view(doc) if isinstance(doc, dict) else doc
    try:
        return parse(target, str(doc.get("id", "")) if isinstance(doc, dict) else "")
    except VulnError as e:
        return e.message


def from_form(doc: Any) -> Advisory | str:
    where = str(doc.get("id", "")) if isinstance(doc, dict) else ""
    got = matchform.decode(matchform.build(doc, where))
    return got.message if isinstance(got, VulnError) else got


def test_hard_record_round_trips() -> None:
    adv = from_form(HARD)
    assert adv == parsed_or_error(HARD)
    assert isinstance(adv, Advisory)
    assert adv.summary == ""  # the rest of the record is not in the form
    assert adv.affected[0].severity_text == "high"
    assert adv.affected[1].severity_text == "MODERATE"
    assert matchform.decode(matchform.encode(adv)) == adv


def test_every_real_record_round_trips_on_the_fast_path() -> None:
    vulns = shared_data("osv-pypi", "vulns")
    docs = [parse_document(p.read_bytes(), p.name) for p in _walk(vulns)]
    assert len(docs) == 2661
    for doc in docs:
        assert from_form(doc) == parsed_or_error(doc), doc["id"]
        matchform._fast(doc)  # raises _Slow if the fast path had to hand it over


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(affected={"x": 1}), "'affected' must be a list"),
        (lambda d: d["affected"][0]["ranges"][0].update(type="SEMVER2"), "expected one of"),
        (lambda d: d["affected"][0]["ranges"][0].update(events=[]), "has no events"),
        (lambda d: d["affected"][0]["ranges"][0]["events"].pop(0), "no 'introduced' event"),
        (lambda d: d["affected"][0]["ranges"][0]["events"][1].update(fixed=1.1), "non-empty"),
        (lambda d: d["affected"][0]["ranges"][0]["events"][1].update(limit="2"), "exactly one"),
        (lambda d: d["affected"][0]["ranges"][0]["events"][1].update(fixed="  "), "non-empty"),
        (lambda d: d["affected"][0].update(versions=["1.0", 2]), "must be a string"),
        (lambda d: d["affected"][0]["package"].pop("name"), "needs both"),
        (lambda d: d["affected"][0].update(severity=["x"]), "must be an object"),
        (lambda d: d.update(aliases="CVE-1"), "'aliases' must be a list"),
        (lambda d: d.update(withdrawn=5), "'withdrawn' must be a string"),
    ],
)
def test_a_record_parse_refuses_is_stored_as_its_error(change: Any, reason: str) -> None:
    doc = copy.deepcopy(HARD)
    change(doc)
    message = from_form(doc)
    assert isinstance(message, str) and reason in message, message
    assert message == parsed_or_error(doc)
    assert message.startswith("HARD-1: not a valid OSV record")


def test_shapes_the_fast_path_hands_over_are_decided_by_parse() -> None:
    # A YAML timestamp for 'withdrawn' and a string subclass: parse accepts both.
    class Text(str):
        pass

    doc = copy.deepcopy(HARD)
    doc["withdrawn"] = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    doc["affected"][1]["package"]["name"] = Text("Foo_Bar")
    with pytest.raises(matchform._Slow):
        matchform._fast(doc)
    adv = from_form(doc)
    assert isinstance(adv, Advisory) and adv.withdrawn == "2026-01-02T03:04:05+00:00"
    assert adv == parsed_or_error(doc)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_PATHS = (
    ("aliases",),
    ("withdrawn",),
    ("affected",),
    ("affected", 0),
    ("affected", 0, "package"),
    ("affected", 0, "package", "name"),
    ("affected", 0, "ranges"),
    ("affected", 0, "ranges", 0),
    ("affected", 0, "ranges", 0, "type"),
    ("affected", 0, "ranges", 0, "events"),
    ("affected", 0, "ranges", 0, "events", 1),
    ("affected", 0, "ranges", 0, "events", 1, "fixed"),
    ("affected", 0, "versions"),
    ("affected", 0, "severity"),
    ("affected", 0, "ecosystem_specific"),
    ("affected", 1, "database_specific", "severity"),
    ("affected", 2, "package"),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PATHS), _JSON), min_size=1, max_size=3))
def test_fuzz_the_form_agrees_with_parse(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc: Any = copy.deepcopy(HARD)
    for path, value in changes:
        at = doc
        try:
            for step in path[:-1]:
                at = at[step]
            at[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    assert from_form(doc) == parsed_or_error(doc)


def test_fuzz_mutated_real_records_agree_with_parse() -> None:
    vulns = shared_data("osv-pypi", "vulns")
    rng = random.Random(5)
    junk = [None, 0, 1.5, "", " ", "x", [], {}, ["x"], {"a": 1}, True]
    paths = sorted(_walk(vulns))
    for p in rng.sample(paths, 300):
        doc = parse_document(p.read_bytes(), p.name)
        entry = rng.choice(doc["affected"])
        target = rng.choice([doc, entry, entry.get("package", {}), *entry.get("ranges", [])])
        if isinstance(target, dict) and target:
            target[rng.choice(sorted(target))] = rng.choice(junk)
        assert from_form(doc) == parsed_or_error(doc), p


# ---------------------------------------------------------------- the store


def _record(rid: str, name: str, fixed: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "modified": "2026-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        **extra,
    }


def _write(store: Store, *docs: dict[str, Any]) -> None:
    from mamori.vuln.store import prepare

    store.write([prepare(d) for d in docs], source="t", kind="osv-file", sha256="0", data_date=None)


def test_store_match_forms_as_advisories_for_finds_records(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        _write(
            store,
            _record("B-1", "Foo_Bar", "1.0"),
            _record("A-1", "foo-bar", "2.0"),
            _record("W-1", "foo-bar", "3.0", withdrawn="2026-01-02T00:00:00Z"),
            _record("C-1", "other", "1.0"),
        )
        keys = [("PyPI", "FOO.bar"), ("PyPI", "missing"), ("npm", "foo-bar")]
        forms = store.match_forms(keys)
        assert list(forms) == [("PyPI", "FOO.bar")]  # keyed as asked; misses left out
        ids = [rid for rid, _ in forms[("PyPI", "FOO.bar")]]
        assert ids == [d["id"] for d in store.advisories_for("PyPI", "FOO.bar")] == ["A-1", "B-1"]
        for rid, form in forms[("PyPI", "FOO.bar")]:
            record = store.get(rid)
            assert record is not None
            assert matchform.decode(form) == parse(matchform.view(record), rid)
        assert set(store.records(["A-1", "C-1", "nope"])) == {"A-1", "C-1"}


OLD_SCHEMA = """
CREATE TABLE advisory(id TEXT PRIMARY KEY, modified TEXT NOT NULL, withdrawn TEXT,
    snapshot INTEGER NOT NULL, record BLOB NOT NULL);
CREATE TABLE package(ecosystem TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, id)) WITHOUT ROWID;
"""


def test_a_database_from_before_match_forms_gets_them_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    good, bad = _record("OLD-1", "foo", "1.2"), _record("OLD-2", "foo", "1.0")
    bad["affected"][0]["ranges"][0]["events"] = [{"fixed": "1.0"}]
    for doc in (good, bad):
        conn.execute(
            "INSERT INTO advisory VALUES (?, ?, NULL, 1, ?)",
            (doc["id"], "2026-01-01T00:00:00.000000Z", orjson.dumps(doc)),
        )
        conn.execute("INSERT INTO package VALUES ('PyPI', 'foo', ?)", (doc["id"],))
    conn.commit()
    conn.close()
    with Store(path) as store:
        forms = dict(store.match_forms([("PyPI", "foo")])[("PyPI", "foo")])
        assert matchform.decode(forms["OLD-1"]) == parse(matchform.view(good), "OLD-1")
        error = matchform.decode(forms["OLD-2"])
        assert isinstance(error, VulnError) and "no 'introduced' event" in error.message
        db = Database(2, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.timedelta(0), 2, False)
        comp = Component("foo", "1.1", "PyPI", "pkg:pypi/foo@1.1")
        result = scan([comp], store, database=db, today=dt.date(2026, 1, 1))
        assert [i.finding.primary_id for i in result.findings] == ["OLD-1"]
        assert [u.reason for u in result.unaudited] == [
            f"an advisory could not be read: {error.message}"
        ]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM advisory WHERE form IS NULL").fetchone() == (0,)
