"""Escalation: timing per severity with an injected clock, repeats from the last escalation,
max_escalations, acknowledged and incident-linked alerts left alone, records and notifications."""

from __future__ import annotations

import pytest

from mamori.alerts.store import AlertStore
from mamori.home import Home
from tests.alerts.conftest import Notified
from tests.alerts.helpers import T0, configured, detection, named

MINUTES = {"critical": 15, "high": 30, "medium": 240}


@pytest.mark.parametrize(("severity", "minutes"), sorted(MINUTES.items()))
def test_an_open_alert_is_escalated_after_its_severitys_minutes(
    home: Home, store: AlertStore, notified: Notified, severity: str, minutes: int
) -> None:
    (c,) = store.ingest([detection(severity=severity)], now=T0)
    assert store.escalate_due(now=T0 + minutes * 60 - 0.001) == []
    (a,) = store.escalate_due(now=T0 + minutes * 60)
    assert (a.id, a.level, a.escalated_at) == (c.alert, 1, T0 + minutes * 60)
    assert notified.kinds() == [(c.alert, "alert"), (c.alert, "escalation")]
    (rec,) = named(home, "alert.escalated")
    assert (rec["id"], rec["level"], rec["severity"]) == (c.alert, 1, severity)
    assert rec["waited_s"] == minutes * 60
    assert store.get(c.alert).history[-1].action.value == "escalated"
    assert store.escalate_due(now=T0 + minutes * 60 + 1) == []  # not again at once


@pytest.mark.parametrize("severity", ["low", "informational"])
def test_low_and_informational_are_never_escalated_by_default(
    store: AlertStore, notified: Notified, severity: str
) -> None:
    store.ingest([detection(severity=severity)], now=T0)
    assert store.escalate_due(now=T0 + 365 * 86400) == []
    assert all(k == "alert" for _a, k in notified.calls)


def test_escalation_repeats_from_the_last_one_up_to_max_escalations(
    home: Home, store: AlertStore, notified: Notified
) -> None:
    store.ingest([detection(severity="critical")], now=T0)
    levels = []
    t = T0
    for _ in range(5):
        t += 15 * 60
        assert store.escalate_due(now=t - 1) == []
        levels += [a.level for a in store.escalate_due(now=t)]
    assert levels == [1, 2, 3]
    assert [f["level"] for f in named(home, "alert.escalated")] == [1, 2, 3]
    assert [k for _a, k in notified.calls].count("escalation") == 3


def test_late_runs_escalate_once_not_for_every_missed_interval(store: AlertStore) -> None:
    store.ingest([detection(severity="critical")], now=T0)
    (a,) = store.escalate_due(now=T0 + 10 * 3600)
    assert a.level == 1


def test_an_acknowledged_alert_is_not_escalated(store: AlertStore) -> None:
    (c,) = store.ingest([detection(severity="critical")], now=T0)
    store.acknowledge(c.alert, "bob", now=T0 + 60)
    assert store.escalate_due(now=T0 + 86400) == []


def test_an_alert_linked_to_an_incident_is_not_escalated(store: AlertStore) -> None:
    (c,) = store.ingest([detection(severity="critical")], now=T0)
    store.link_incident(c.alert, "INC-1", "carol", now=T0 + 60)
    assert store.escalate_due(now=T0 + 86400) == []


def test_configured_minutes_and_limits(home: Home, notified: Notified) -> None:
    minutes = {"critical": 1, "high": 0, "medium": 0, "low": 5, "informational": 0}
    with configured(home, escalate_minutes=minutes, max_escalations=1, min_severity="low") as s:
        ids = [s.ingest([detection(severity=v, host=v)], now=T0)[0].alert for v in minutes]
        assert [a.id for a in s.escalate_due(now=T0 + 60)] == [ids[0]]
        assert [a.id for a in s.escalate_due(now=T0 + 300)] == [ids[3]]
        assert s.escalate_due(now=T0 + 86400) == []  # max_escalations = 1
    with configured(home, max_escalations=0) as s:
        s.ingest([detection(severity="critical", host="z")], now=T0)
        assert s.escalate_due(now=T0 + 86400) == []


def test_below_min_severity_is_never_escalated(home: Home, notified: Notified) -> None:
    with configured(home, min_severity="critical") as s:
        s.ingest([detection(severity="high")], now=T0)
        assert s.escalate_due(now=T0 + 86400) == []
    assert notified.calls == []


def test_an_escalation_that_cannot_be_notified_is_recorded(
    home: Home, store: AlertStore, notified: Notified
) -> None:
    (c,) = store.ingest([detection(severity="critical")], now=T0)
    notified.fail = True
    (a,) = store.escalate_due(now=T0 + 900)
    assert a.level == 1
    (failed,) = named(home, "alert.notification_failed")
    assert (failed["id"], failed["kind"]) == (c.alert, "escalation")
