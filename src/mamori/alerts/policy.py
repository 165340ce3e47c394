"""The decisions of alerting, as pure functions of values: raise, absorb or suppress a
detection; notify or not; escalate now or not; report the counts now or not.

docs/alerts.md states the same rules for a person. Windows are half-open: a detection exactly
`suppress_seconds` after the alert was announced is no longer suppressed.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from mamori.alerts.model import Alert, AlertState, ChangeKind
from mamori.alerts.settings import AlertsConfig
from mamori.detect.detection import SEVERITIES, Detection, severity_rank


@dataclass(frozen=True, slots=True)
class Latest:
    """What the decision needs of the latest alert of a deduplication key."""

    state: AlertState
    detected_at: float
    """When it last counted a detection."""
    announced_at: float
    """When it was last raised or escalated."""


def classify(latest: Latest | None, now: float, cfg: AlertsConfig) -> ChangeKind:
    """What a detection whose key's latest alert is `latest` becomes at `now`.

    Absorbed by that alert while it is open or acknowledged and its last detection is younger
    than ``dedup_hours``; else suppressed (counted on it) while it was announced less than
    ``suppress_seconds`` ago, even when closed; else a new alert.
    """
    if latest is None:
        return ChangeKind.RAISED
    if latest.state.active and now - latest.detected_at < cfg.dedup_hours * 3600:
        return ChangeKind.ABSORBED
    if now - latest.announced_at < cfg.suppress_seconds:
        return ChangeKind.SUPPRESSED
    return ChangeKind.RAISED


def normal_severity(severity: str) -> str:
    """`severity` if it is a Sigma level; else ``medium`` (as :func:`severity_rank` ranks it)."""
    return severity if severity in SEVERITIES else "medium"


def notifies(severity: str, cfg: AlertsConfig) -> bool:
    """Whether alerts of `severity` are notified (and escalated): at least ``min_severity``."""
    return severity_rank(severity) >= severity_rank(cfg.min_severity)


def escalation_due(alert: Alert, now: float, cfg: AlertsConfig) -> bool:
    """Whether `alert` is escalated at `now`: open (not acknowledged), not linked to an
    incident (someone handles it), notified at all, below ``max_escalations``, and
    ``escalate_minutes[severity]`` passed since it was raised or last escalated."""
    if alert.state is not AlertState.OPEN or alert.incident is not None:
        return False
    if not notifies(alert.severity, cfg) or alert.level >= cfg.max_escalations:
        return False
    after = cfg.escalate_after_s(alert.severity)
    if after is None:
        return False
    since = alert.raised_at if alert.escalated_at is None else alert.escalated_at
    return now - since >= after


def report_due(reported_at: float, now: float, cfg: AlertsConfig) -> bool:
    """Whether the absorbed and suppressed detections an alert counted since `reported_at`
    are recorded now: once per suppression window, so a flood makes few audit events."""
    return now - reported_at >= cfg.suppress_seconds


def fingerprint(d: Detection) -> str:
    """Identifies one detection exactly (rule, values, events, times): the same detection
    delivered twice (detection is at-least-once) has the same fingerprint."""
    h = hashlib.sha256(d.dedup_key.encode())
    h.update(struct.pack(">dd", d.first_seen, d.last_seen))
    for index in d.events:
        h.update(struct.pack(">q", index))
    return h.hexdigest()[:32]
