"""An inventory: the components found on one system at one time, and what could not be read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from mamori.vuln.components import Component
from mamori.vuln.errors import VulnError

FORMAT = "mamori-inventory"
FORMAT_VERSION = 1
STAMP = "%Y-%m-%dT%H%M%SZ"
"""How an inventory's time is written in its file name (no colons: portable file names)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A source that could not be read, or was read only in part."""

    source: str
    """The file or directory, as given."""
    reason: str
    """What is wrong with it, for a person."""

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Inventory:
    """The components of one system, collected at one time."""

    system: str
    taken_at: datetime
    """When it was collected (UTC, whole seconds)."""
    components: tuple[Component, ...]
    sources: tuple[str, ...] = ()
    """What it was collected from, as given to `collect`."""
    problems: tuple[Problem, ...] = ()
    """Sources that could not be read: their components are missing from this inventory."""

    @property
    def stamp(self) -> str:
        return stamp(self.taken_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "system": self.system,
            "taken_at": self.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sources": list(self.sources),
            "problems": [{"source": p.source, "reason": p.reason} for p in self.problems],
            "components": [component_to_json(c) for c in self.components],
        }

    @classmethod
    def from_json(cls, doc: Any) -> Inventory:
        """Raises VulnError when `doc` is not an inventory this version of mamori wrote."""
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise VulnError("not a mamori inventory", hint="inventories are written by collect")
        if doc.get("version") != FORMAT_VERSION:
            raise VulnError(f"inventory format version {doc.get('version')!r} is not supported")
        try:
            taken = datetime.strptime(str(doc["taken_at"]), "%Y-%m-%dT%H:%M:%SZ")
            return cls(
                system=str(doc["system"]),
                taken_at=taken.replace(tzinfo=UTC),
                components=tuple(component_from_json(c) for c in doc["components"]),
                sources=tuple(str(s) for s in doc.get("sources", [])),
                problems=tuple(
                    Problem(str(p["source"]), str(p["reason"])) for p in doc.get("problems", [])
                ),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise VulnError(f"the inventory is damaged: {e}") from e


def make_purl(
    type: str,
    name: str,
    version: str = "",
    namespace: str | None = None,
    qualifiers: dict[str, str] | None = None,
) -> str:
    """A purl string (packageurl-python); VulnError when the parts cannot form one."""
    try:
        return PackageURL(
            type=type,
            namespace=namespace or None,
            name=name,
            version=version or None,
            qualifiers=qualifiers or None,
        ).to_string()
    except (ValueError, TypeError) as e:
        raise VulnError(f"{name!r} {version!r} cannot be written as a package URL: {e}") from e


def stamp(when: datetime) -> str:
    """`when` as an inventory file's name (without .json): 2026-05-01T093000Z."""
    return when.astimezone(UTC).strftime(STAMP)


def component_to_json(c: Component) -> dict[str, Any]:
    return {
        "name": c.name,
        "version": c.version,
        "ecosystem": c.ecosystem,
        "purl": c.purl,
        "licenses": list(c.licenses),
        "found_in": c.found_in,
        "kind": c.kind,
        "source_name": c.source_name,
        "source_version": c.source_version,
        "distro": c.distro,
        "properties": [list(p) for p in c.properties],
    }


def component_from_json(d: Any) -> Component:
    if not isinstance(d, Mapping):
        raise TypeError("a component is not an object")
    return Component(
        name=str(d["name"]),
        version=str(d["version"]),
        ecosystem=str(d["ecosystem"]),
        purl=str(d["purl"]),
        licenses=tuple(str(x) for x in d.get("licenses", [])),
        found_in=str(d.get("found_in", "")),
        kind=str(d.get("kind", "library")),
        source_name=str(d.get("source_name", "")),
        source_version=str(d.get("source_version", "")),
        distro=str(d.get("distro", "")),
        properties=tuple((str(k), str(v)) for k, v in _pairs(d.get("properties", []))),
    )


def _pairs(value: Any) -> Sequence[tuple[Any, Any]]:
    if not isinstance(value, list):
        raise TypeError("properties is not a list")
    out: list[tuple[Any, Any]] = []
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise TypeError("a property is not a [name, value] pair")
        out.append((item[0], item[1]))
    return out


def sort_key(c: Component) -> tuple[str, ...]:
    """A total, stable order of components (for deterministic files and exports)."""
    return (c.ecosystem, c.name, c.version, c.purl, c.found_in, c.kind, repr(c.properties))
