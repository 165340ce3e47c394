"""npm lockfiles (pure): package-lock.json / npm-shrinkwrap.json, lockfileVersion 1, 2 and 3.

v2 and v3 list every installed package under ``packages``, keyed by its path
(``node_modules/a/node_modules/@s/b``); v1 nests ``dependencies``. One component is kept per
name and version; it is marked dev only when every copy is a development dependency.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mamori.vuln.components import NPM, Component
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.model import make_purl

_MARKER = "node_modules/"
_Add = Callable[[str, Mapping[str, Any], str], None]


def npm_component(
    name: str, version: str, found_in: str, licenses: tuple[str, ...] = (), dev: bool = False
) -> Component:
    """An npm component; its purl puts the scope in the namespace (``pkg:npm/%40s/b@1``)."""
    scope, _, base = name.rpartition("/")
    purl = make_purl("npm", base, version, scope)
    return Component(
        name=name,
        version=version,
        ecosystem=NPM,
        purl=purl,
        licenses=licenses,
        found_in=found_in,
        properties=(("scope", "dev"),) if dev else (),
    )


def _licenses(entry: Mapping[str, Any]) -> tuple[str, ...]:
    lic = entry.get("license")
    if isinstance(lic, str) and lic:
        return (lic,)
    if isinstance(lic, Mapping) and isinstance(lic.get("type"), str):
        return (str(lic["type"]),)  # the deprecated {"type": "MIT", "url": …} form
    lics = entry.get("licenses")
    if isinstance(lics, list):
        return tuple(str(x["type"]) for x in lics if isinstance(x, Mapping) and "type" in x)
    return ()


def _name_from_key(key: str) -> str:
    return key[key.rindex(_MARKER) + len(_MARKER) :] if _MARKER in key else ""


def parse_package_lock(data: bytes | str, found_in: str) -> list[Component]:
    """The packages of an npm lockfile. Raises VulnError for anything that is not one."""
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise VulnError(f"{found_in} is not JSON: {e}") from e
    if not isinstance(doc, Mapping) or "lockfileVersion" not in doc:
        raise VulnError(f"{found_in} has no lockfileVersion: is it a package-lock.json?")
    found: dict[tuple[str, str], tuple[Mapping[str, Any], bool]] = {}

    def add(name: str, entry: Mapping[str, Any], where: str) -> None:
        version = entry.get("version", "")
        if not isinstance(version, str):
            raise VulnError(f"{found_in}: {where}: version is not text")
        dev = entry.get("dev") is True
        prev = found.get((name, version))
        found[(name, version)] = (prev or (entry, dev))[0], dev and (prev is None or prev[1])

    packages = doc.get("packages")
    if packages is not None:
        if not isinstance(packages, Mapping):
            raise VulnError(f"{found_in}: `packages` is not an object")
        for key, entry in packages.items():
            if not isinstance(entry, Mapping):
                raise VulnError(f"{found_in}: packages[{key!r}] is not an object")
            if key == "" or entry.get("link") is True:
                continue  # the project itself; a link to a workspace listed under its own path
            name = entry.get("name") or _name_from_key(str(key))
            if not isinstance(name, str) or not name:
                continue  # a workspace folder without a name: not a published package
            add(name, entry, f"packages[{key!r}]")
    else:
        _walk_v1(doc.get("dependencies"), add, found_in)
    return [
        npm_component(name, version, found_in, _licenses(entry), dev)
        for (name, version), (entry, dev) in found.items()
    ]


def _walk_v1(deps: Any, add: _Add, found_in: str, depth: int = 0) -> None:
    if deps is None:
        return
    if not isinstance(deps, Mapping) or depth > 200:
        raise VulnError(f"{found_in}: `dependencies` is not an object")
    for name, entry in deps.items():
        if not isinstance(entry, Mapping):
            raise VulnError(f"{found_in}: dependencies[{name!r}] is not an object")
        add(str(name), entry, f"dependencies[{name!r}]")
        _walk_v1(entry.get("dependencies"), add, found_in, depth + 1)
