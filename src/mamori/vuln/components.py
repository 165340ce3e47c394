"""A software component, as every inventory source and SBOM format is reduced to (pure).

Ecosystem names are OSV's (https://ossf.github.io/osv-schema/#affectedpackage-field):
``PyPI``, ``npm``, ``Debian`` (OS packages: ``distro`` says which release, e.g. ``debian:12``;
matching is by *source* package, as the Debian Security Tracker and OSV's Debian records are),
``Ubuntu``, ``Alpine``, … A component mamori cannot place in an ecosystem has ``ecosystem = ""``
and is reported as unaudited, never as clean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PYPI = "PyPI"
NPM = "npm"
DEBIAN = "Debian"
UBUNTU = "Ubuntu"


@dataclass(frozen=True, slots=True)
class Component:
    """One component of a system's inventory."""

    name: str
    version: str
    ecosystem: str
    """OSV ecosystem name (``PyPI``, ``npm``, ``Debian``, …); "" when unknown."""
    purl: str
    """Package URL (https://github.com/package-url/purl-spec), e.g.
    ``pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12``."""
    licenses: tuple[str, ...] = ()
    """SPDX identifiers or expressions, as the source states them; () when it states none."""
    found_in: str = ""
    """Where it was found: a file path, ``dpkg:/var/lib/dpkg/status``, an SBOM's name."""
    kind: str = "library"
    """CycloneDX component type: ``library``, ``application``, ``framework``,
    ``operating-system``, …"""
    source_name: str = ""
    """Debian/Ubuntu: the source package the binary was built from ("" when the same)."""
    source_version: str = ""
    """Debian/Ubuntu: the source package's version ("" when the same as `version`)."""
    distro: str = ""
    """OS packages: ``debian:12``, ``ubuntu:22.04``; "" otherwise."""
    properties: tuple[tuple[str, str], ...] = field(default=())
    """Anything else worth keeping from the source (architecture, scope, hashes)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the component within an inventory (ecosystem, name, version)."""
        return (self.ecosystem, self.name, self.version)

    @property
    def match_name(self) -> str:
        """The name advisories use: the source package for OS packages."""
        return self.source_name or self.name

    @property
    def match_version(self) -> str:
        return self.source_version or self.version
