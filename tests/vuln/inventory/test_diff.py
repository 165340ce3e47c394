"""Differences between two inventories (OPS-5)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mamori.vuln.components import Component
from mamori.vuln.inventory.diff import Direction, describe, diff, direction
from mamori.vuln.inventory.npm import npm_component
from mamori.vuln.inventory.python import pypi_component


def deb(name: str, version: str) -> Component:
    return Component(
        name, version, "Debian", f"pkg:deb/debian/{name}@{version}", distro="debian:12"
    )


def test_added_removed_upgraded_downgraded_licence() -> None:
    old = [
        deb("openssl", "3.0.11-1~deb12u1"),
        deb("bash", "5.2.15-2+b2"),
        pypi_component("requests", "2.31.0", "r", ("Apache-2.0",)),
        pypi_component("gone", "1.0", "r"),
        pypi_component("same", "1.0", "r", ("MIT",)),
        npm_component("x", "1.0.0", "l"),
    ]
    new = [
        deb("openssl", "3.0.11-1~deb12u2"),
        deb("bash", "5.2.15-2"),
        pypi_component("requests", "2.32.0", "r", ("Apache-2.0",)),
        pypi_component("new", "0.1", "r"),
        pypi_component("same", "1.0", "r", ("GPL-3.0-only",)),
        Component("x", "weird", "", "pkg:generic/x@weird"),
        npm_component("x", "1.0.0", "l"),
    ]
    d = diff(old, new)
    assert [c.name for c in d.added] == ["x", "new"]
    assert [c.name for c in d.removed] == ["gone"]
    by = {ch.new.name: ch for ch in d.changed}
    assert by["openssl"].direction is Direction.UPGRADED
    assert by["bash"].direction is Direction.DOWNGRADED
    assert by["requests"].direction is Direction.UPGRADED and not by["requests"].licences_changed
    assert by["same"].direction is None and by["same"].licences_changed
    assert [ch.new.name for ch in d.licence_changes] == ["same"]
    assert "licence MIT → GPL-3.0-only" in by["same"].sentence()
    assert "upgraded 2.31.0 → 2.32.0" in by["requests"].sentence()
    assert d and not diff(new, new)
    js = d.to_json()
    assert {c["name"] for c in js["changed"]} == {"openssl", "bash", "requests", "same"}


def test_several_versions_side_by_side() -> None:
    old = [npm_component("ms", "2.0.0", "l"), npm_component("ms", "2.1.2", "l")]
    new = [npm_component("ms", "2.1.2", "l"), npm_component("ms", "2.1.3", "l")]
    d = diff(old, new)
    assert [c.version for c in d.removed] == ["2.0.0"]
    assert [c.version for c in d.added] == ["2.1.3"]
    one_to_two = diff(old[:1], new)
    assert len(one_to_two.removed) == 1 and len(one_to_two.added) == 2


def test_version_change_with_licence_change() -> None:
    a = pypi_component("lib", "1.0", "r", ("MIT",))
    b = replace(pypi_component("lib", "2.0", "r", ("BUSL-1.1",)))
    [ch] = diff([a], [b]).changed
    assert ch.direction is Direction.UPGRADED and ch.licences_changed


@pytest.mark.parametrize(
    ("eco", "old", "new", "expected"),
    [
        ("PyPI", "1.0", "1.0.post1", Direction.UPGRADED),
        ("npm", "1.10.0", "1.9.0", Direction.DOWNGRADED),
        ("Debian", "1:1.0-1", "2.0-1", Direction.DOWNGRADED),
        ("PyPI", "not!a!version", "1.0", Direction.CHANGED),
        ("Maven", "1", "2", Direction.CHANGED),
    ],
)
def test_direction(eco: str, old: str, new: str, expected: Direction) -> None:
    assert direction(eco, old, new) is expected


def test_every_direction_has_a_word() -> None:
    assert [describe(d) for d in Direction] == [d.value for d in Direction]
