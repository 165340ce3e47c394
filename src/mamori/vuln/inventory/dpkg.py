"""The dpkg database (/var/lib/dpkg/status): the Debian or Ubuntu packages installed (pure).

Format: deb822(5) stanzas separated by blank lines; a line starting with a space or tab
continues the previous field. Only packages whose Status says ``installed`` are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mamori.vuln.components import Component
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.model import make_purl
from mamori.vuln.inventory.osrelease import OsRelease

_SOURCE = re.compile(r"^(?P<name>[^\s(]+)\s*(?:\((?P<version>[^)]*)\))?\s*$")


def stanzas(text: str) -> Iterator[dict[str, str]]:
    """The stanzas of a deb822 text as field → value (continuation lines joined by newlines).

    Raises VulnError naming the line when a line is neither a field nor a continuation.
    """
    fields: dict[str, str] = {}
    last = ""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t":
            if not last:
                raise VulnError(f"line {number}: a continuation line outside a field")
            fields[last] += "\n" + line[1:]
        else:
            key, sep, value = line.partition(":")
            if not sep or not key.strip() or key != key.strip():
                raise VulnError(
                    f"line {number} is not `Field: value`: {line[:60]!r}",
                    hint="is this a dpkg status file (/var/lib/dpkg/status)?",
                )
            last = key
            fields[key] = value.strip()
    if fields:
        yield fields


def is_installed(status: str) -> bool:
    """``Status: want ok installed`` (want is ``install`` or ``hold``); half-installed,
    config-files (removed, configuration left) and not-installed packages are not."""
    words = status.split()
    return len(words) == 3 and words[1] == "ok" and words[2] == "installed"


def parse_status(
    text: str, osr: OsRelease | None, found_in: str = "dpkg:/var/lib/dpkg/status"
) -> list[Component]:
    """The installed packages of a dpkg status file.

    `osr` says which distribution they belong to; without it (or for a distribution mamori
    cannot audit) the components have ecosystem "" and will be reported as unaudited.
    """
    out: list[Component] = []
    for fields in stanzas(text):
        name = fields.get("Package", "")
        version = fields.get("Version", "")
        if not is_installed(fields.get("Status", "")) or not name:
            continue
        if not version:
            raise VulnError(f"the installed package {name!r} has no Version")
        arch = fields.get("Architecture", "")
        source_name, source_version = name, version
        if src := fields.get("Source", ""):
            m = _SOURCE.match(src)
            if not m:
                raise VulnError(f"package {name!r}: Source {src!r} is not `name [(version)]`")
            source_name = m["name"]
            source_version = (m["version"] or "").strip() or version
        ecosystem = osr.ecosystem if osr else ""
        qualifiers = {"arch": arch} if arch else {}
        if osr:
            qualifiers["distro"] = osr.purl_distro
        purl = make_purl("deb", name, version, osr.id if osr else None, qualifiers)
        props = [("arch", arch)] if arch else []
        out.append(
            Component(
                name=name,
                version=version,
                ecosystem=ecosystem,
                purl=purl,
                found_in=found_in,
                source_name="" if source_name == name else source_name,
                source_version="" if source_version == version else source_version,
                distro=osr.distro if osr else "",
                properties=tuple(props),
            )
        )
    return out


def parse_copyright_licenses(text: str) -> tuple[str, ...]:
    """The ``License:`` short names of a machine-readable debian/copyright file (DEP-5), in
    order of first appearance; () for a free-form copyright file."""
    if not text.startswith("Format:"):
        return ()
    seen: list[str] = []
    for line in text.splitlines():
        if line.startswith("License:"):
            short = line[len("License:") :].strip()
            if short and short not in seen:
                seen.append(short)
    return tuple(seen)
