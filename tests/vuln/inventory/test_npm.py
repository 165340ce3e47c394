"""npm lockfiles v1, v2 and v3."""

from __future__ import annotations

import json

import pytest

from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.npm import parse_package_lock

V3 = {
    "name": "app",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {"name": "app", "version": "1.0.0", "dependencies": {"@babel/core": "^7"}},
        "node_modules/@babel/core": {"version": "7.24.0", "license": "MIT", "dev": True},
        "node_modules/debug": {"version": "4.3.4", "license": "MIT"},
        "node_modules/@babel/core/node_modules/debug": {
            "version": "2.6.9",
            "license": "MIT",
            "dev": True,
        },
        "node_modules/ms": {"version": "2.1.2", "license": "MIT", "dev": True},
        "node_modules/x/node_modules/ms": {"version": "2.1.2", "license": "MIT"},
        "node_modules/legacy": {"version": "1.0.0", "license": {"type": "ISC"}},
        "node_modules/ws-link": {"resolved": "packages/ws", "link": True},
        "packages/ws": {"name": "@me/ws", "version": "0.0.1"},
    },
}


def test_v3_scoped_nested_dev() -> None:
    comps = parse_package_lock(json.dumps(V3), "package-lock.json")
    got = {(c.name, c.version): c for c in comps}
    assert set(got) == {
        ("@babel/core", "7.24.0"),
        ("debug", "4.3.4"),
        ("debug", "2.6.9"),
        ("ms", "2.1.2"),
        ("legacy", "1.0.0"),
        ("@me/ws", "0.0.1"),
    }
    core = got[("@babel/core", "7.24.0")]
    assert core.purl == "pkg:npm/%40babel/core@7.24.0"
    assert core.ecosystem == "npm" and core.licenses == ("MIT",)
    assert core.properties == (("scope", "dev"),)
    assert got[("debug", "4.3.4")].properties == ()
    # one copy of ms is a production dependency: it is not dev
    assert got[("ms", "2.1.2")].properties == ()
    assert got[("legacy", "1.0.0")].licenses == ("ISC",)


def test_v1() -> None:
    doc = {
        "lockfileVersion": 1,
        "dependencies": {
            "a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0", "dev": True}}},
            "@s/c": {"version": "3.0.0"},
        },
    }
    comps = parse_package_lock(json.dumps(doc).encode(), "lock")
    assert {(c.name, c.version, c.purl) for c in comps} == {
        ("a", "1.0.0", "pkg:npm/a@1.0.0"),
        ("b", "2.0.0", "pkg:npm/b@2.0.0"),
        ("@s/c", "3.0.0", "pkg:npm/%40s/c@3.0.0"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[]",
        '{"name": "x"}',
        '{"lockfileVersion": 3, "packages": []}',
        '{"lockfileVersion": 3, "packages": {"node_modules/a": 1}}',
        '{"lockfileVersion": 3, "packages": {"node_modules/a": {"version": 1}}}',
        '{"lockfileVersion": 1, "dependencies": {"a": []}}',
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(VulnError):
        parse_package_lock(text, "lock")
