"""What detection hands to alerting: one rule's verdict over ledger events (pure values).

A base rule yields one :class:`Detection` per matching event; a correlation rule one per firing,
listing every event that made it. ``events`` are ledger indices (or, offline, line numbers).
Severity is the rule's Sigma ``level``; clause IDs come from tags ``clause.<ID>`` (e.g.
``clause.SEC-5``). The deduplication key is the rule and the values that identify "the same
thing happening again": a correlation's group-by values, else the event's host, user and
addresses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

SEVERITIES: Final = ("informational", "low", "medium", "high", "critical")
"""Sigma's levels, lowest first: mamori's alert severities."""

KEY_FIELDS: Final = ("host.name", "user.name", "source.ip", "destination.ip")
"""The event fields that identify a base rule's match for deduplication."""


def severity_rank(severity: str) -> int:
    """0 (informational) … 4 (critical); an unknown level ranks as medium."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return SEVERITIES.index("medium")


@dataclass(frozen=True, slots=True)
class Detection:
    """One rule fired."""

    rule: str
    """The rule's Sigma id."""
    title: str
    severity: str
    """One of :data:`SEVERITIES`."""
    clauses: tuple[str, ...]
    """Contract clause IDs the rule serves, e.g. ("SEC-5",)."""
    events: tuple[int, ...]
    """Ledger indices of the events that made it, in time order."""
    first_seen: float
    """Time of the first event (epoch seconds)."""
    last_seen: float
    group: tuple[tuple[str, str], ...] = ()
    """The identifying values (group-by fields, or :data:`KEY_FIELDS` present in the event)."""
    correlation: bool = False
    summary: str = ""
    """A line for a person: the rule title with the identifying values."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Selected flat ECS fields of the (last) event, for notifications and the console."""

    @property
    def dedup_key(self) -> str:
        """Stable across restarts: sha256 of the rule id and the group values."""
        h = hashlib.sha256(self.rule.encode())
        for k, v in self.group:
            h.update(b"\0" + k.encode() + b"=" + v.encode())
        return h.hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """A JSON object (as stored in ledger events and sent to webhooks)."""
        return {
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "clauses": list(self.clauses),
            "events": list(self.events),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "group": dict(self.group),
            "correlation": self.correlation,
            "summary": self.summary,
            "dedup_key": self.dedup_key,
            "fields": dict(self.fields),
        }
