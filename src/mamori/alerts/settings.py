"""`[alerts]` in mamori.toml: deduplication, suppression, escalation and the notification floor.

docs/alerts.md explains each value; :data:`TEMPLATE` is what `mamori init` writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from mamori.configcheck import ConfigError, integer, no_extra, section, string
from mamori.detect.detection import SEVERITIES

SECTIONS: Final = ("alerts",)

DEFAULT_ESCALATE_MINUTES: Final[Mapping[str, int]] = MappingProxyType(
    {"critical": 15, "high": 30, "medium": 240, "low": 0, "informational": 0}
)
"""Minutes an open alert of each severity may wait for an acknowledgement; 0: never escalated."""

MAX_ESCALATE_MINUTES: Final = 7 * 24 * 60

TEMPLATE: Final = """
[alerts]
# Detections become alerts (docs/alerts.md). An open or acknowledged alert absorbs the
# detections of the same rule and values (its deduplication key) for `dedup_hours` after the
# last one it absorbed: its count grows, no new alert is raised.
dedup_hours = 24
# After an alert was raised or escalated, the same key is suppressed for this many seconds even
# when the alert was closed meanwhile: counted on that alert, not raised or notified again.
suppress_seconds = 300
# Detections below this severity (informational, low, medium, high, critical) are stored as
# alerts but never notified nor escalated.
min_severity = "low"
# An escalation notifies again when an open alert was not acknowledged this many minutes after
# it was raised (or last escalated), at most `max_escalations` times.
max_escalations = 3

[alerts.escalate_minutes]
# Per severity; 0 means never.
critical = 15
high = 30
medium = 240
low = 0
informational = 0
"""
"""This section's part of the config file `mamori init` writes."""


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Deduplication, suppression and escalation of alerts."""

    suppress_seconds: int = 300
    """After an alert of a key was raised or escalated, detections of that key are counted on
    it, not raised or notified, for this long (0: no suppression)."""
    dedup_hours: int = 24
    """An open or acknowledged alert absorbs detections of its key while the last one it
    absorbed is younger than this (0: no deduplication)."""
    escalate_minutes: Mapping[str, int] = field(default_factory=lambda: DEFAULT_ESCALATE_MINUTES)
    """Per severity: minutes an open alert waits for an acknowledgement before it is escalated;
    0: never."""
    max_escalations: int = 3
    """An alert is escalated at most this many times."""
    min_severity: str = "low"
    """Alerts below this severity are stored but never notified nor escalated."""

    def escalate_after_s(self, severity: str) -> float | None:
        """Seconds before an unacknowledged alert of `severity` is escalated; None: never."""
        minutes = self.escalate_minutes.get(severity, 0)
        return None if minutes <= 0 else minutes * 60.0


def parse(raw: dict[str, Any], where: str) -> AlertsConfig:
    """Check `[alerts]`."""
    sec = section(raw, "alerts", where)
    no_extra(sec, "alerts", set(AlertsConfig.__slots__), where)
    d = AlertsConfig()
    minimum = string(sec, "alerts", "min_severity", d.min_severity, where)
    if minimum not in SEVERITIES:
        raise ConfigError(
            f"{where}: [alerts] min_severity = {minimum!r} is not a severity",
            hint=f"use one of {', '.join(SEVERITIES)}",
        )
    esc = sec.get("escalate_minutes", {})
    if not isinstance(esc, dict):
        raise ConfigError(
            f"{where}: [alerts] escalate_minutes must be a table",
            hint="write it as [alerts.escalate_minutes] with one line per severity",
        )
    no_extra(esc, "alerts.escalate_minutes", set(SEVERITIES), where)
    minutes = {
        level: integer(
            esc,
            "alerts.escalate_minutes",
            level,
            DEFAULT_ESCALATE_MINUTES[level],
            0,
            MAX_ESCALATE_MINUTES,
            where,
        )
        for level in SEVERITIES
    }
    return AlertsConfig(
        suppress_seconds=integer(
            sec, "alerts", "suppress_seconds", d.suppress_seconds, 0, 86_400, where
        ),
        dedup_hours=integer(sec, "alerts", "dedup_hours", d.dedup_hours, 0, 24 * 90, where),
        escalate_minutes=MappingProxyType(minutes),
        max_escalations=integer(sec, "alerts", "max_escalations", d.max_escalations, 0, 100, where),
        min_severity=minimum,
    )
