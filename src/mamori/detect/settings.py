"""`[detect]` in mamori.toml: which rules run live, and the values rules refer to."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Final

from mamori.configcheck import ConfigError, boolean, no_extra, section, strings

SECTIONS: Final = ("detect",)

TEMPLATE: Final = """
[detect]
# Live detection: every event appended to the ledger runs through the rules (`mamori detect
# run --since` does the same over history). The built-in catalogue (docs/detection-rules.md)
# can be turned off; more Sigma rule files or directories can be added (relative to the home).
enabled = true
builtin = true
rules = []
# CLD-7: networks no connection may reach or come from, e.g. ["203.0.113.0/24"]. Boundary
# events (Zeek, Suricata, flow logs, syslog) touching them raise the built-in alert.
denied_networks = []
"""


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Live detection: on or off, the built-in catalogue, extra rule paths, denied networks."""

    enabled: bool = True
    builtin: bool = True
    rules: tuple[str, ...] = ()
    """Extra rule files or directories (relative paths are in the home)."""
    denied_networks: tuple[str, ...] = ()
    """CIDRs that no connection may reach or come from (CLD-7); events touching them are
    marked ``mamori.net.denied`` before rules run."""


def parse(raw: dict[str, Any], where: str) -> DetectConfig:
    """Check `[detect]`."""
    sec = section(raw, "detect", where)
    no_extra(sec, "detect", set(DetectConfig.__slots__), where)
    nets = strings(sec, "detect", "denied_networks", where)
    for n in nets:
        try:
            ipaddress.ip_network(n, strict=False)
        except ValueError as e:
            raise ConfigError(
                f"{where}: [detect] denied_networks: {n!r} is not a network",
                hint='write an address or a CIDR, e.g. "203.0.113.0/24"',
            ) from e
    return DetectConfig(
        enabled=boolean(sec, "detect", "enabled", True, where),
        builtin=boolean(sec, "detect", "builtin", True, where),
        rules=strings(sec, "detect", "rules", where),
        denied_networks=nets,
    )
