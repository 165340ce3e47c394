"""`[smtp]` and `[[route]]` in mamori.toml. (Filled in by the notify work.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

SECTIONS: Final = ("smtp", "route")


TEMPLATE: Final = ""
"""This section's part of the config file `mamori init` writes."""


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Where notifications go."""


def parse(raw: dict[str, Any], where: str) -> NotifyConfig:
    """Check `[smtp]` and `[[route]]`."""
    return NotifyConfig()
