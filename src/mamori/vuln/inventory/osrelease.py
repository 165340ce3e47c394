"""/etc/os-release (os-release(5)): which distribution and release a system runs (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.vuln.components import DEBIAN, UBUNTU, Component

_ECOSYSTEMS = {"debian": DEBIAN, "ubuntu": UBUNTU}
"""Distributions whose packages mamori can audit, by os-release ID."""


@dataclass(frozen=True, slots=True)
class OsRelease:
    """The fields of os-release that inventories use."""

    id: str = "linux"
    """ID: lower-case distribution name (os-release(5) says "linux" when absent)."""
    version_id: str = ""
    """VERSION_ID: ``12``, ``22.04``; absent on rolling releases (Debian testing/sid)."""
    version_codename: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
    cpe_name: str = ""

    @property
    def ecosystem(self) -> str:
        """The OSV ecosystem of the distribution's packages; "" when mamori cannot audit it
        (derivatives such as Linux Mint are not assumed to match their parent's advisories)."""
        return _ECOSYSTEMS.get(self.id, "")

    @property
    def release(self) -> str:
        """VERSION_ID, else the code name (``sid``), else ""."""
        return self.version_id or self.version_codename

    @property
    def distro(self) -> str:
        """``debian:12``, ``ubuntu:22.04`` (Component.distro)."""
        return f"{self.id}:{self.release}" if self.release else self.id

    @property
    def purl_distro(self) -> str:
        """The purl ``distro`` qualifier: ``debian-12``."""
        return f"{self.id}-{self.release}" if self.release else self.id


def parse_os_release(text: str) -> OsRelease:
    """Parse os-release text. Lines that are not ``KEY=value`` are ignored, as systemd does."""
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        fields[key.strip()] = _unquote(value.strip())
    return OsRelease(
        id=fields.get("ID", "").lower() or "linux",
        version_id=fields.get("VERSION_ID", ""),
        version_codename=fields.get("VERSION_CODENAME", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
        id_like=tuple(fields.get("ID_LIKE", "").split()),
        cpe_name=fields.get("CPE_NAME", ""),
    )


def _unquote(value: str) -> str:
    # os-release(5): shell-compatible assignments; quotes and \-escapes of " \ $ ` only.
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in '"\\$`':
                out.append("\\")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    if escaped:
        out.append("\\")
    return "".join(out)


def os_component(osr: OsRelease, found_in: str) -> Component:
    """The operating system itself, as a component of kind ``operating-system``.

    It has no OSV ecosystem (advisories are about its packages); end-of-life checks use it.
    """
    props = [("os-release:pretty_name", osr.pretty_name)] if osr.pretty_name else []
    if osr.cpe_name:
        props.append(("cpe", osr.cpe_name))
    return Component(
        name=osr.id,
        version=osr.release,
        ecosystem="",
        purl="",
        found_in=found_in,
        kind="operating-system",
        distro=osr.distro,
        properties=tuple(props),
    )
