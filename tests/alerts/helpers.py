"""Helpers of the alerts tests: detections made to order, a store with other settings, and
the audit events read back."""

from __future__ import annotations

from typing import Any

import orjson

from mamori import audit
from mamori.alerts.settings import AlertsConfig
from mamori.alerts.store import AlertStore
from mamori.detect.detection import Detection
from mamori.home import Home

T0 = 1_790_000_000.0
"""A fixed "now" (2026-09-21): tests add seconds to it."""


def detection(
    rule: str = "rule-ssh",
    *,
    host: str = "web-01",
    severity: str = "high",
    events: tuple[int, ...] = (1,),
    at: float = T0,
    title: str = "SSH brute force",
    clauses: tuple[str, ...] = ("SEC-5",),
) -> Detection:
    """A detection of `rule` on `host` (its deduplication key) made of `events` at `at`."""
    return Detection(
        rule=rule,
        title=title,
        severity=severity,
        clauses=clauses,
        events=events,
        first_seen=at,
        last_seen=at,
        group=(("host.name", host),),
        summary=f"{title} on {host}",
        fields={"host.name": host},
    )


def configured(home: Home, **values: Any) -> AlertStore:
    """A store of `home` with `[alerts]` values other than the defaults."""
    return AlertStore.open(home, AlertsConfig(**values))


def actions(home: Home) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit events in the outbox: (action, outcome, fields), oldest first."""
    out = []
    for _id, raw in audit.pending(home, 0, 100_000):
        doc = orjson.loads(raw)
        out.append((doc["event"]["action"], doc["event"]["outcome"], doc["mamori"]["audit"]))
    return out


def named(home: Home, action: str) -> list[dict[str, Any]]:
    """The fields of the audit events of `action`."""
    return [f for a, _o, f in actions(home) if a == action]
