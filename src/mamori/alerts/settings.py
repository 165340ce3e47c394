"""`[alerts]` in mamori.toml. (Filled in by the alerts work.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

SECTIONS: Final = ("alerts",)


TEMPLATE: Final = ""
"""This section's part of the config file `mamori init` writes."""


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Deduplication, suppression and escalation of alerts."""


def parse(raw: dict[str, Any], where: str) -> AlertsConfig:
    """Check `[alerts]`."""
    return AlertsConfig()
