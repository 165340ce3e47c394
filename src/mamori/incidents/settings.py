"""`[incidents]` and `[csirt]` in mamori.toml. (Filled in by the incidents work.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

SECTIONS: Final = ("incidents", "csirt")


TEMPLATE: Final = ""
"""This section's part of the config file `mamori init` writes."""


@dataclass(frozen=True, slots=True)
class IncidentsConfig:
    """The priority matrix and targets, the CSIRT's addresses."""


def parse(raw: dict[str, Any], where: str) -> IncidentsConfig:
    """Check `[incidents]` and `[csirt]`."""
    return IncidentsConfig()
