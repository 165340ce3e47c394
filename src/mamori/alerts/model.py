"""The alert values: states, what ingesting a detection did, an alert and its history (pure).

Times are UTC epoch seconds (floats) in these values and ISO 8601 (``…Z``) in their JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final, NewType, assert_never

from mamori.detect.detection import Detection

AlertId = NewType("AlertId", int)
"""An alert's number: assigned in order, never reused."""

MAX_EVENTS: Final = 1000
"""Ledger indices kept per alert; the rest are counted (:attr:`AlertDetail.events_dropped`)."""
NOTE_MAX: Final = 2000
"""Characters of an acknowledgement note or a closing reason."""
ACTOR_MAX: Final = 128
INCIDENT_MAX: Final = 128


class AlertState(StrEnum):
    """Where an alert is in its life: open → acknowledged → closed; closed is final."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"

    @property
    def active(self) -> bool:
        """Whether the alert still absorbs detections of its key (open or acknowledged)."""
        match self:
            case AlertState.OPEN | AlertState.ACKNOWLEDGED:
                return True
            case AlertState.CLOSED:
                return False
            case _ as unreachable:
                assert_never(unreachable)


class ChangeKind(StrEnum):
    """What ingesting one detection did."""

    RAISED = "raised"
    """A new alert."""
    ABSORBED = "absorbed"
    """Counted on the open or acknowledged alert of its key (deduplicated)."""
    SUPPRESSED = "suppressed"
    """Counted on the latest alert of its key, inside the suppression window: not raised."""
    REPLAYED = "replayed"
    """The very same detection (rule, values, events, times) was ingested before: ignored, so
    that detection replayed after a restart changes nothing."""


class HistoryAction(StrEnum):
    """An entry of an alert's history."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CLOSED = "closed"
    LINKED = "linked"
    """Linked to an incident."""


def iso(t: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC with milliseconds (``2026-11-27T09:00:00.000Z``)."""
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: the detections of one deduplication key, while they keep coming."""

    id: AlertId
    rule: str
    """The rule's Sigma id."""
    title: str
    severity: str
    """The Sigma level of the first detection (:data:`mamori.detect.detection.SEVERITIES`)."""
    clauses: tuple[str, ...]
    dedup_key: str
    summary: str
    """The first detection's line for a person."""
    correlation: bool
    group: tuple[tuple[str, str], ...]
    """The identifying values (group-by fields, or host, user and addresses)."""
    fields: Mapping[str, Any]
    """Selected ECS fields of the first detection's last event."""
    state: AlertState
    count: int
    """Detections counted on it: the first one and those it absorbed."""
    suppressed: int
    """Detections counted on it inside the suppression window (not raised)."""
    event_count: int
    """Ledger events of its detections: the distinct ones kept, plus those counted beyond
    :data:`MAX_EVENTS` (an index seen again past the cap is counted again)."""
    first_event: int | None
    """The first ledger index of the first detection."""
    first_seen: float
    """Time of the earliest event (event time)."""
    last_seen: float
    raised_at: float
    """When the alert was raised (this store's clock, as every time below)."""
    detected_at: float
    """When it last counted a detection (raised, absorbed or suppressed)."""
    announced_at: float
    """When it was last raised or escalated: the start of the suppression window (whether or
    not a notification was sent: none is below ``min_severity``)."""
    level: int = 0
    """Escalations so far."""
    escalated_at: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    closed_at: float | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    incident: str | None = None
    """The incident it is linked to."""

    @property
    def path(self) -> str:
        """Its page in the console."""
        return f"/alerts/{self.id}"

    def to_json(self) -> dict[str, Any]:
        """A JSON object (CLI ``--json``, the API, notification payloads)."""
        return {
            "id": int(self.id),
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "clauses": list(self.clauses),
            "dedup_key": self.dedup_key,
            "summary": self.summary,
            "correlation": self.correlation,
            "group": dict(self.group),
            "fields": dict(self.fields),
            "state": self.state.value,
            "count": self.count,
            "suppressed": self.suppressed,
            "event_count": self.event_count,
            "first_event": self.first_event,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "raised_at": iso(self.raised_at),
            "detected_at": iso(self.detected_at),
            "announced_at": iso(self.announced_at),
            "level": self.level,
            "escalated_at": iso(self.escalated_at),
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "closed_at": iso(self.closed_at),
            "closed_by": self.closed_by,
            "close_reason": self.close_reason,
            "incident": self.incident,
            "path": self.path,
        }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of an alert: who, when, and the note or reason given."""

    at: float
    action: HistoryAction
    actor: str
    """The account or operating-system user; ``mamori`` for the service's own changes."""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "action": self.action.value,
            "actor": self.actor,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class AlertDetail(Alert):
    """An alert with its events and its history (:meth:`AlertStore.get`)."""

    events: tuple[int, ...] = ()
    """The ledger indices kept (at most :data:`MAX_EVENTS`), ascending."""
    events_dropped: int = 0
    """Events beyond :data:`MAX_EVENTS`, counted but not kept."""
    history: tuple[HistoryEntry, ...] = field(default=())
    """Oldest first."""

    @classmethod
    def of(
        cls,
        alert: Alert,
        events: tuple[int, ...],
        events_dropped: int,
        history: tuple[HistoryEntry, ...],
    ) -> AlertDetail:
        values = {f.name: getattr(alert, f.name) for f in fields(Alert)}
        return cls(**values, events=events, events_dropped=events_dropped, history=history)

    def to_json(self) -> dict[str, Any]:
        return {
            **Alert.to_json(self),
            "events": list(self.events),
            "events_dropped": self.events_dropped,
            "history": [h.to_json() for h in self.history],
        }


@dataclass(frozen=True, slots=True)
class Change:
    """What :meth:`AlertStore.ingest` did with one detection."""

    kind: ChangeKind
    alert: AlertId
    """The alert raised, or the one the detection was counted on."""
    detection: Detection
    notified: bool = False
    """Whether a notification was queued for it (only ever for :attr:`ChangeKind.RAISED`)."""
