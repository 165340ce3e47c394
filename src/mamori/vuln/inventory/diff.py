"""What changed between two inventories of a system (pure): components added and removed,
versions upgraded or downgraded, licences changed (OPS-5)."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from univers.versions import DebianVersion, InvalidVersion, PypiVersion, SemverVersion, Version

from mamori.vuln.components import DEBIAN, NPM, PYPI, UBUNTU, Component
from mamori.vuln.inventory.model import component_to_json, sort_key


class Direction(enum.Enum):
    """How a version changed."""

    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    CHANGED = "changed"
    """Versions that cannot be ordered (unknown ecosystem, a version that does not parse)."""


_VERSION_CLASSES: dict[str, type[Version]] = {
    PYPI: PypiVersion,
    NPM: SemverVersion,
    DEBIAN: DebianVersion,
    UBUNTU: DebianVersion,
}


def direction(ecosystem: str, old: str, new: str) -> Direction:
    """Whether `new` is later than `old`, by the ecosystem's version rules."""
    cls = _VERSION_CLASSES.get(ecosystem)
    if cls is None:
        return Direction.CHANGED
    try:
        a, b = cls(old), cls(new)
    except (InvalidVersion, ValueError, TypeError):
        return Direction.CHANGED
    if b > a:
        return Direction.UPGRADED
    if b < a:
        return Direction.DOWNGRADED
    return Direction.CHANGED


@dataclass(frozen=True, slots=True)
class Change:
    """One component in both inventories with a different version or licence."""

    old: Component
    new: Component
    direction: Direction | None
    """How the version changed; None when only the licence did."""

    @property
    def licences_changed(self) -> bool:
        return self.old.licenses != self.new.licenses

    def sentence(self) -> str:
        c = self.new
        parts = []
        if self.direction is not None:
            parts.append(f"{describe(self.direction)} {self.old.version} → {c.version}")
        if self.licences_changed:
            old = ", ".join(self.old.licenses) or "(none)"
            parts.append(f"licence {old} → {', '.join(c.licenses) or '(none)'}")
        return f"{c.ecosystem or '?'} {c.name}: {'; '.join(parts)}"


@dataclass(frozen=True, slots=True)
class InventoryDiff:
    """The difference from an older inventory to a newer one."""

    added: tuple[Component, ...] = ()
    removed: tuple[Component, ...] = ()
    changed: tuple[Change, ...] = field(default=())
    """Version or licence changes (a component can have both)."""

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    @property
    def licence_changes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changed if c.licences_changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [component_to_json(c) for c in self.added],
            "removed": [component_to_json(c) for c in self.removed],
            "changed": [
                {
                    "ecosystem": ch.new.ecosystem,
                    "name": ch.new.name,
                    "old_version": ch.old.version,
                    "new_version": ch.new.version,
                    "direction": ch.direction.value if ch.direction else None,
                    "old_licenses": list(ch.old.licenses),
                    "new_licenses": list(ch.new.licenses),
                }
                for ch in self.changed
            ],
        }


def _identity(c: Component) -> tuple[str, str, str, str]:
    """What makes two components "the same package" across inventories (any version)."""
    arch = dict(c.properties).get("arch", "")
    return (c.ecosystem, c.name, c.distro, arch)


def diff(old: Sequence[Component], new: Sequence[Component]) -> InventoryDiff:
    """Compare two inventories. A package present once on each side with another version is a
    version change; several versions side by side (npm copies) are matched by version only."""
    before: dict[tuple[str, str, str, str], dict[str, Component]] = defaultdict(dict)
    after: dict[tuple[str, str, str, str], dict[str, Component]] = defaultdict(dict)
    for c in old:
        before[_identity(c)].setdefault(c.version, c)
    for c in new:
        after[_identity(c)].setdefault(c.version, c)
    added: list[Component] = []
    removed: list[Component] = []
    changed: list[Change] = []
    for ident in sorted(before.keys() | after.keys()):
        b, a = before.get(ident, {}), after.get(ident, {})
        for v in sorted(b.keys() & a.keys()):
            if b[v].licenses != a[v].licenses:
                changed.append(Change(b[v], a[v], None))
        gone = [b[v] for v in sorted(b.keys() - a.keys())]
        came = [a[v] for v in sorted(a.keys() - b.keys())]
        if len(b) == 1 and len(a) == 1 and gone and came:
            d = direction(ident[0], gone[0].version, came[0].version)
            changed.append(Change(gone[0], came[0], d))
        else:
            removed += gone
            added += came
    return InventoryDiff(
        added=tuple(sorted(added, key=sort_key)),
        removed=tuple(sorted(removed, key=sort_key)),
        changed=tuple(changed),
    )


def describe(d: Direction) -> str:
    """A word for a person."""
    match d:
        case Direction.UPGRADED:
            return "upgraded"
        case Direction.DOWNGRADED:
            return "downgraded"
        case Direction.CHANGED:
            return "changed"
        case _:
            assert_never(d)
