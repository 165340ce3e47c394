"""The pure decisions of alerting, at their edges."""

from __future__ import annotations

import pytest

from mamori.alerts.model import AlertState, ChangeKind
from mamori.alerts.policy import Latest, classify, fingerprint, normal_severity, notifies
from mamori.alerts.settings import AlertsConfig
from mamori.detect.detection import SEVERITIES
from tests.alerts.helpers import detection

CFG = AlertsConfig()  # dedup 24 h, suppression 300 s


def test_no_alert_of_the_key_raises() -> None:
    assert classify(None, 0.0, CFG) is ChangeKind.RAISED


@pytest.mark.parametrize(
    ("state", "detected", "announced", "now", "kind"),
    [
        (AlertState.OPEN, 0.0, 0.0, 86399.9, ChangeKind.ABSORBED),
        (AlertState.ACKNOWLEDGED, 0.0, 0.0, 86399.9, ChangeKind.ABSORBED),
        (AlertState.OPEN, 0.0, 0.0, 86400.0, ChangeKind.RAISED),
        (AlertState.OPEN, 86000.0, 0.0, 86400.0, ChangeKind.ABSORBED),
        (AlertState.CLOSED, 0.0, 0.0, 299.9, ChangeKind.SUPPRESSED),
        (AlertState.CLOSED, 0.0, 0.0, 300.0, ChangeKind.RAISED),
        (AlertState.CLOSED, 0.0, 100.0, 399.9, ChangeKind.SUPPRESSED),
        (AlertState.OPEN, 0.0, 86300.0, 86400.0, ChangeKind.SUPPRESSED),
        (AlertState.OPEN, 0.0, 0.0, -5.0, ChangeKind.ABSORBED),  # the clock stepped back
    ],
)
def test_classify(
    state: AlertState, detected: float, announced: float, now: float, kind: ChangeKind
) -> None:
    assert classify(Latest(state, detected, announced), now, CFG) is kind


def test_zero_windows_turn_dedup_and_suppression_off() -> None:
    cfg = AlertsConfig(dedup_hours=0, suppress_seconds=0)
    assert classify(Latest(AlertState.OPEN, 0.0, 0.0), 0.0, cfg) is ChangeKind.RAISED


@pytest.mark.parametrize("minimum", SEVERITIES)
def test_notifies_from_min_severity_up(minimum: str) -> None:
    cfg = AlertsConfig(min_severity=minimum)
    got = [s for s in SEVERITIES if notifies(s, cfg)]
    assert got == list(SEVERITIES[SEVERITIES.index(minimum) :])


def test_normal_severity() -> None:
    assert [normal_severity(s) for s in (*SEVERITIES, "", "HIGH")] == [
        *SEVERITIES,
        "medium",
        "medium",
    ]


def test_fingerprint_tells_detections_apart() -> None:
    base = detection(events=(1, 2))
    assert fingerprint(base) == fingerprint(detection(events=(1, 2)))
    others = [
        detection(events=(1, 3)),
        detection(events=(1, 2), at=base.first_seen + 1),
        detection(events=(1, 2), host="other"),
        detection("other-rule", events=(1, 2)),
    ]
    assert len({fingerprint(d) for d in [base, *others]}) == 5
