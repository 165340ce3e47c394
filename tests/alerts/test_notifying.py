"""The notification of an alert: its text (Japanese, then English), its payload, and the one
call into mamori.notify, against a stand-in module and when that module is missing."""

from __future__ import annotations

import sys
import types
from dataclasses import replace
from typing import Any

import orjson
import pytest

from mamori.alerts import notifying
from mamori.alerts.errors import AlertsError
from mamori.alerts.model import Alert, AlertId, AlertState
from mamori.alerts.notifying import compose, notify_alert
from mamori.errors import MamoriError
from mamori.home import Home

ALERT = Alert(
    id=AlertId(12),
    rule="0e95725d-7320-415d-80f7-004da920fc11",
    title="SSH brute force",
    severity="critical",
    clauses=("SEC-5", "APP-7"),
    dedup_key="k" * 32,
    summary="SSH brute force on web-01 from 203.0.113.9",
    correlation=True,
    group=(("host.name", "web-01"),),
    fields={"source.ip": "203.0.113.9"},
    state=AlertState.OPEN,
    count=3,
    suppressed=1,
    event_count=40,
    first_event=100,
    first_seen=1_790_000_000.0,
    last_seen=1_790_000_060.0,
    raised_at=1_790_000_061.0,
    detected_at=1_790_000_061.0,
    announced_at=1_790_000_061.0,
)


def test_an_alert_message_is_japanese_first_then_english() -> None:
    m = compose(ALERT, "alert")
    assert m.subject.startswith("[mamori] アラート #12 【緊急】 SSH brute force / Alert #12")
    ja, en = m.body.split("\n\n", 1)
    for part in (ja, en):
        for needle in (
            "/alerts/12",
            ALERT.rule,
            "critical",
            "SEC-5, APP-7",
            ALERT.summary,
            "3",
            "40",
            "2026-09-21T14:13:20.000Z",
        ):
            assert needle in part, (needle, part)
    assert "検知ルールがアラートを上げました" in ja and "A detection rule raised an alert" in en
    assert orjson.loads(orjson.dumps(m.payload)) == {"kind": "alert", "alert": ALERT.to_json()}


def test_an_escalation_says_its_level() -> None:
    m = compose(replace(ALERT, level=2), "escalation")
    assert "エスカレーション #12" in m.subject and "Escalation #12" in m.subject
    assert "2 回目" in m.body and "(escalation 2)" in m.body


def test_the_subject_is_one_short_line() -> None:
    m = compose(replace(ALERT, title="evil\r\nBcc: x@example.com" + "x" * 500), "alert")
    assert "\n" not in m.subject and "\r" not in m.subject
    assert len(m.subject) <= notifying.SUBJECT_MAX


@pytest.fixture
def fake_notify(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Home, Any]]:
    """A stand-in mamori.notify with the names alerting calls."""
    queued: list[tuple[Home, Any]] = []
    module = types.ModuleType("fake_notify")

    class Notification:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    def enqueue(home: Home, notification: Any) -> list[int]:
        if notification.kwargs["rule"] == "refused":
            raise MamoriError("no route", hint="add a [[route]]")
        queued.append((home, notification))
        return [1]

    module.Notification = Notification  # type: ignore[attr-defined]
    module.enqueue = enqueue  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_notify", module)
    monkeypatch.setattr(notifying, "NOTIFY_MODULES", ("fake_notify",))
    return queued


def test_notify_alert_queues_a_notification(
    home: Home, fake_notify: list[tuple[Home, Any]]
) -> None:
    notify_alert(home, ALERT, "alert")
    ((where, n),) = fake_notify
    assert where == home
    m = compose(ALERT, "alert")
    assert n.kwargs == {
        "kind": "alert",
        "subject": m.subject,
        "body": m.body,
        "payload": m.payload,
        "severity": "critical",
        "rule": ALERT.rule,
        "to": (),
    }


def test_a_refused_notification_is_an_alerts_error(
    home: Home, fake_notify: list[tuple[Home, Any]]
) -> None:
    with pytest.raises(AlertsError, match="could not be queued: no route") as caught:
        notify_alert(home, replace(ALERT, rule="refused"), "escalation")
    assert caught.value.hint == "add a [[route]]"


def test_without_the_notify_api_the_error_says_so(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifying, "NOTIFY_MODULES", ("mamori.no_such_module", "mamori.errors"))
    with pytest.raises(AlertsError, match="notifications are not available") as caught:
        notify_alert(home, ALERT, "alert")
    assert caught.value.hint and "still stored" in caught.value.hint
