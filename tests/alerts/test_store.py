"""The alert store: raising, deduplication, suppression (window edges), replays, the event cap,
aggregate audit records, the state machine, incidents, listing, and the file itself."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from typing import Any

import pytest

from mamori import audit
from mamori.alerts.db import db_path
from mamori.alerts.errors import (
    AlertNotFound,
    AlertsError,
    AlertsUnavailable,
    AuditNotRecorded,
    TransitionRefused,
)
from mamori.alerts.model import MAX_EVENTS, AlertState, ChangeKind
from mamori.alerts.store import AlertStore
from mamori.errors import MamoriError
from mamori.home import Home
from tests.alerts.conftest import Notified
from tests.alerts.helpers import T0, actions, configured, detection, named

DAY = 86400.0


# --- raising ---------------------------------------------------------------------------------


def test_a_first_detection_raises_an_alert_records_and_notifies(
    home: Home, store: AlertStore, notified: Notified
) -> None:
    d = detection(events=(7, 8))
    (change,) = store.ingest([d], now=T0)
    assert change.kind is ChangeKind.RAISED and change.notified and change.detection == d
    detail = store.get(change.alert)
    assert detail.state is AlertState.OPEN
    assert (detail.rule, detail.severity, detail.clauses) == ("rule-ssh", "high", ("SEC-5",))
    assert (detail.count, detail.event_count, detail.events) == (1, 2, (7, 8))
    assert detail.first_event == 7 and detail.raised_at == T0
    assert [h.action.value for h in detail.history] == ["raised"]
    assert notified.kinds() == [(change.alert, "alert")]
    (raised,) = named(home, "alert.raised")
    assert raised == {
        "id": change.alert,
        "rule": "rule-ssh",
        "title": "SSH brute force",
        "severity": "high",
        "clauses": ["SEC-5"],
        "dedup_key": d.dedup_key,
        "first_event": 7,
        "events": 2,
        "summary": "SSH brute force on web-01",
        "notify": True,
    }


def test_detections_of_other_keys_raise_their_own_alerts(store: AlertStore) -> None:
    changes = store.ingest(
        [detection(host="a"), detection(host="b"), detection("other-rule", host="a")], now=T0
    )
    assert [c.kind for c in changes] == [ChangeKind.RAISED] * 3
    assert len({c.alert for c in changes}) == 3


def test_below_min_severity_is_stored_but_not_notified(
    home: Home, store: AlertStore, notified: Notified
) -> None:
    (change,) = store.ingest([detection(severity="informational")], now=T0)
    assert change.kind is ChangeKind.RAISED and not change.notified
    assert notified.calls == []
    assert named(home, "alert.raised")[0]["notify"] is False
    assert store.escalate_due(now=T0 + 30 * DAY) == []


def test_an_unknown_severity_is_stored_as_medium(store: AlertStore) -> None:
    (change,) = store.ingest([detection(severity="bogus")], now=T0)
    assert store.get(change.alert).severity == "medium"


# --- deduplication ---------------------------------------------------------------------------


def test_an_open_alert_absorbs_detections_of_its_key(
    home: Home, store: AlertStore, notified: Notified
) -> None:
    first, second = store.ingest(
        [detection(events=(1,), at=T0), detection(events=(2, 3), at=T0 + 5)], now=T0
    )
    third = store.ingest([detection(events=(3, 4), at=T0 + 60)], now=T0 + 60)[0]
    assert (second.kind, third.kind) == (ChangeKind.ABSORBED, ChangeKind.ABSORBED)
    assert first.alert == second.alert == third.alert
    a = store.get(first.alert)
    assert (a.count, a.events, a.event_count) == (3, (1, 2, 3, 4), 4)
    assert (a.first_seen, a.last_seen, a.detected_at) == (T0, T0 + 60, T0 + 60)
    assert notified.kinds() == [(first.alert, "alert")]
    assert len(named(home, "alert.raised")) == 1


def test_an_acknowledged_alert_absorbs_too_a_closed_one_does_not(store: AlertStore) -> None:
    (c,) = store.ingest([detection()], now=T0)
    store.acknowledge(c.alert, "alice", now=T0 + 1)
    assert store.ingest([detection(events=(2,))], now=T0 + 2)[0].kind is ChangeKind.ABSORBED
    store.close(c.alert, "alice", "handled", now=T0 + 3)
    later = store.ingest([detection(events=(3,))], now=T0 + 400)[0]
    assert later.kind is ChangeKind.RAISED and later.alert != c.alert


@pytest.mark.parametrize(
    ("after", "kind"), [(24 * 3600 - 0.001, "absorbed"), (24 * 3600, "raised")]
)
def test_the_dedup_window_edge(store: AlertStore, after: float, kind: str) -> None:
    (c,) = store.ingest([detection(events=(1,))], now=T0)
    got = store.ingest([detection(events=(2,))], now=T0 + after)[0]
    assert got.kind.value == kind
    assert (got.alert == c.alert) == (kind == "absorbed")


def test_the_dedup_window_slides_with_each_absorbed_detection(store: AlertStore) -> None:
    (c,) = store.ingest([detection(events=(1,))], now=T0)
    for n, hours in enumerate((20, 40, 60), start=2):
        got = store.ingest([detection(events=(n,))], now=T0 + hours * 3600)[0]
        assert (got.kind, got.alert) == (ChangeKind.ABSORBED, c.alert)


def test_dedup_hours_zero_never_absorbs(home: Home, notified: Notified) -> None:
    with configured(home, dedup_hours=0, suppress_seconds=0) as s:
        changes = s.ingest([detection(events=(1,)), detection(events=(2,))], now=T0)
    assert [c.kind for c in changes] == [ChangeKind.RAISED, ChangeKind.RAISED]


# --- suppression -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "kind"), [(1.0, "suppressed"), (299.999, "suppressed"), (300.0, "raised")]
)
def test_a_closed_alert_suppresses_its_key_for_the_window_after_it_was_announced(
    home: Home, store: AlertStore, notified: Notified, after: float, kind: str
) -> None:
    (c,) = store.ingest([detection(events=(1,))], now=T0)
    store.close(c.alert, "alice", "false positive", now=T0 + 0.5)
    got = store.ingest([detection(events=(2,))], now=T0 + after)[0]
    assert got.kind.value == kind
    if kind == "suppressed":
        assert got.alert == c.alert and not got.notified
        a = store.get(c.alert)
        assert (a.state, a.count, a.suppressed, a.events) == (AlertState.CLOSED, 1, 1, (1, 2))
        assert notified.kinds() == [(c.alert, "alert")]
    else:
        assert got.alert != c.alert and got.notified
        assert notified.kinds() == [(c.alert, "alert"), (got.alert, "alert")]


def test_without_dedup_a_flood_is_suppressed_then_raised_again(
    home: Home, notified: Notified
) -> None:
    with configured(home, dedup_hours=0, suppress_seconds=300) as s:
        changes = s.ingest([detection(events=(i,)) for i in range(50)], now=T0)
        again = s.ingest([detection(events=(100,))], now=T0 + 300)[0]
        first = s.get(changes[0].alert)
    assert changes[0].kind is ChangeKind.RAISED
    assert {c.kind for c in changes[1:]} == {ChangeKind.SUPPRESSED}
    assert (first.count, first.suppressed) == (1, 49)
    assert again.kind is ChangeKind.RAISED
    assert len(notified.calls) == 2


def test_an_escalation_restarts_the_suppression_window(home: Home, notified: Notified) -> None:
    with configured(home, dedup_hours=0) as s:
        (c,) = s.ingest([detection(severity="critical")], now=T0)
        (escalated,) = s.escalate_due(now=T0 + 15 * 60)
        assert escalated.announced_at == T0 + 15 * 60
        got = s.ingest([detection(severity="critical", events=(2,))], now=T0 + 15 * 60 + 299)
        assert got[0].kind is ChangeKind.SUPPRESSED and got[0].alert == c.alert


# --- the ledger is not flooded either --------------------------------------------------------


def test_absorbed_detections_are_recorded_once_per_window_with_their_count(
    home: Home, store: AlertStore
) -> None:
    (c,) = store.ingest([detection(events=(0,))], now=T0)
    store.ingest([detection(events=(i,)) for i in range(1, 501)], now=T0 + 10)
    store.ingest([detection(events=(i,)) for i in range(501, 1001)], now=T0 + 100)
    assert named(home, "alert.deduplicated") == []
    store.ingest([detection(events=(1001,))], now=T0 + 300)
    (first,) = named(home, "alert.deduplicated")
    assert (first["id"], first["count"], first["total"]) == (c.alert, 1001, 1002)
    store.ingest([detection(events=(1002,))], now=T0 + 310)  # inside the new window
    assert len(named(home, "alert.deduplicated")) == 1
    assert store.escalate_due(now=T0 + 599) == []
    assert len(named(home, "alert.deduplicated")) == 1
    store.escalate_due(now=T0 + 600)  # the periodic run records what is left
    counts = [f["count"] for f in named(home, "alert.deduplicated")]
    assert counts == [1001, 1]
    store.escalate_due(now=T0 + 2000)
    assert [f["count"] for f in named(home, "alert.deduplicated")] == [1001, 1]


def test_suppressed_detections_are_recorded_in_aggregate(home: Home, store: AlertStore) -> None:
    (c,) = store.ingest([detection(events=(0,))], now=T0)
    store.close(c.alert, "alice", "benign", now=T0 + 1)
    store.ingest([detection(events=(i,)) for i in range(1, 101)], now=T0 + 2)
    assert named(home, "alert.suppressed") == []
    store.escalate_due(now=T0 + 300)
    (rec,) = named(home, "alert.suppressed")
    assert (rec["id"], rec["count"], rec["total"], rec["state"]) == (c.alert, 100, 100, "closed")


# --- replays and the event cap ---------------------------------------------------------------


def test_a_replayed_detection_changes_nothing(home: Home, store: AlertStore) -> None:
    d = detection(events=(1, 2))
    (c,) = store.ingest([d], now=T0)
    before = len(actions(home))
    (again,) = store.ingest([d], now=T0 + 5)
    assert (again.kind, again.alert) == (ChangeKind.REPLAYED, c.alert)
    assert store.get(c.alert).count == 1
    assert len(actions(home)) == before


def test_replays_are_remembered_for_a_week(store: AlertStore) -> None:
    d = detection(severity="informational")  # never escalated: no suppression window
    store.ingest([d], now=T0)
    store.escalate_due(now=T0 + 6 * DAY)
    assert store.ingest([d], now=T0 + 6 * DAY)[0].kind is ChangeKind.REPLAYED
    store.escalate_due(now=T0 + 8 * DAY)
    assert store.ingest([d], now=T0 + 8 * DAY)[0].kind is ChangeKind.RAISED


def test_events_beyond_the_cap_are_counted_not_kept(store: AlertStore) -> None:
    (c,) = store.ingest([detection(events=tuple(range(MAX_EVENTS - 10)))], now=T0)
    store.ingest([detection(events=tuple(range(MAX_EVENTS - 20, MAX_EVENTS + 40)))], now=T0 + 1)
    store.ingest([detection(events=(5, MAX_EVENTS + 1, MAX_EVENTS + 100))], now=T0 + 2)
    a = store.get(c.alert)
    assert len(a.events) == MAX_EVENTS and a.events == tuple(range(MAX_EVENTS))
    # MAX_EVENTS..MAX_EVENTS+39, then MAX_EVENTS+1 again (not kept, so not known to be a
    # repeat) and MAX_EVENTS+100
    assert a.events_dropped == 42
    assert a.event_count == MAX_EVENTS + 42


# --- the state machine -----------------------------------------------------------------------


def _in_state(store: AlertStore, state: AlertState) -> int:
    (c,) = store.ingest([detection(host=f"h-{state.value}")], now=T0)
    if state is AlertState.ACKNOWLEDGED:
        store.acknowledge(c.alert, "alice", now=T0 + 1)
    elif state is AlertState.CLOSED:
        store.close(c.alert, "alice", "done", now=T0 + 1)
    return c.alert


@pytest.mark.parametrize("state", list(AlertState))
def test_acknowledge_only_from_open(home: Home, store: AlertStore, state: AlertState) -> None:
    alert_id = _in_state(store, state)
    if state is AlertState.OPEN:
        a = store.acknowledge(alert_id, "bob", "on it", now=T0 + 10)
        assert (a.state, a.acknowledged_by, a.acknowledged_at) == (
            AlertState.ACKNOWLEDGED,
            "bob",
            T0 + 10,
        )
        (rec,) = named(home, "alert.acknowledged")
        assert (rec["id"], rec["actor"], rec["note"], rec["state"]) == (
            alert_id,
            "bob",
            "on it",
            "acknowledged",
        )
        assert store.get(alert_id).history[-1].note == "on it"
        return
    with pytest.raises(TransitionRefused, match=f"is {state.value}"):
        store.acknowledge(alert_id, "bob", now=T0 + 10)
    assert store.get(alert_id).state is state


@pytest.mark.parametrize("state", list(AlertState))
def test_close_from_open_or_acknowledged(home: Home, store: AlertStore, state: AlertState) -> None:
    alert_id = _in_state(store, state)
    before = len(named(home, "alert.closed"))
    if state is AlertState.CLOSED:
        with pytest.raises(TransitionRefused, match="closed already"):
            store.close(alert_id, "bob", "again", now=T0 + 10)
        assert len(named(home, "alert.closed")) == before
        return
    a = store.close(alert_id, "bob", "false positive", now=T0 + 10)
    assert (a.state, a.closed_by, a.close_reason) == (AlertState.CLOSED, "bob", "false positive")
    rec = named(home, "alert.closed")[-1]
    assert (rec["reason"], rec["was"], rec["actor"]) == ("false positive", state.value, "bob")


def test_closing_needs_a_reason(store: AlertStore) -> None:
    (c,) = store.ingest([detection()], now=T0)
    for reason in ("", "   "):
        with pytest.raises(AlertsError, match="needs a reason") as caught:
            store.close(c.alert, "bob", reason)
        assert not isinstance(caught.value, TransitionRefused)
    assert store.get(c.alert).state is AlertState.OPEN


@pytest.mark.parametrize("actor", ["", "  ", "a\nb", "x" * 129])
def test_an_actor_must_be_a_name(store: AlertStore, actor: str) -> None:
    (c,) = store.ingest([detection()], now=T0)
    with pytest.raises(AlertsError, match="actor"):
        store.acknowledge(c.alert, actor)


def test_a_note_is_bounded(store: AlertStore) -> None:
    (c,) = store.ingest([detection()], now=T0)
    with pytest.raises(AlertsError, match="characters long"):
        store.acknowledge(c.alert, "bob", "x" * 2001)


def test_an_unknown_alert_is_not_found(store: AlertStore) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.get(99),
        lambda: store.acknowledge(99, "bob"),
        lambda: store.close(99, "bob", "x"),
        lambda: store.link_incident(99, "INC-1", "bob"),
    ]
    for call in calls:
        with pytest.raises(AlertNotFound, match="no alert 99"):
            call()


def test_the_change_stands_when_its_audit_event_cannot_be_recorded(
    store: AlertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (c,) = store.ingest([detection()], now=T0)

    def broken(*args: object, **kwargs: object) -> int:
        raise audit.AuditError("cannot use the audit outbox: disk full")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(AuditNotRecorded, match="was acknowledged, but its audit event"):
        store.acknowledge(c.alert, "bob")
    assert store.get(c.alert).state is AlertState.ACKNOWLEDGED


def test_a_batch_whose_audit_events_fail_is_still_stored_and_notified(
    store: AlertStore, notified: Notified, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise audit.AuditError("cannot use the audit outbox: disk full")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(AuditNotRecorded, match="the alerts were stored, but 2 audit event"):
        store.ingest([detection(host="a"), detection(host="b")], now=T0)
    assert len(store.list()) == 2 and len(notified.calls) == 2


def test_a_notification_that_cannot_be_queued_is_recorded(
    home: Home, store: AlertStore, notified: Notified
) -> None:
    notified.fail = True
    (c,) = store.ingest([detection()], now=T0)
    assert c.kind is ChangeKind.RAISED and not c.notified
    ((action, outcome, fields),) = [a for a in actions(home) if a[0].endswith("_failed")]
    assert (action, outcome) == ("alert.notification_failed", "failure")
    assert fields["id"] == c.alert and fields["kind"] == "alert"
    assert "queue is broken" in fields["error"]


# --- incidents -------------------------------------------------------------------------------


def test_linking_to_an_incident(home: Home, store: AlertStore) -> None:
    import datetime as dt

    a, b, _ = (c.alert for c in store.ingest([detection(host=h) for h in "abc"], now=T0))
    store.link_incident(a, "INC-2026-0001", "carol", now=T0 + 5)
    when = dt.datetime.fromtimestamp(T0 + 6, dt.UTC)  # the incidents package passes datetimes
    linked = store.link_incident(b, "INC-2026-0001", "carol", now=when)
    assert linked.incident == "INC-2026-0001"
    assert [x.id for x in store.alerts_for_incident("INC-2026-0001")] == [a, b]
    assert store.get(b).history[-1].at == T0 + 6
    store.link_incident(a, "INC-2026-0001", "carol")  # again: nothing changes
    assert len(named(home, "alert.linked")) == 2
    with pytest.raises(TransitionRefused, match="linked to incident INC-2026-0001 already"):
        store.link_incident(a, "INC-2026-0002", "carol")
    assert store.link_incident(7 - 4, 42, "carol").incident == "42"  # ids may be numbers


def test_a_naive_datetime_is_refused(store: AlertStore) -> None:
    import datetime as dt

    (c,) = store.ingest([detection()], now=T0)
    with pytest.raises(AlertsError, match="without a zone"):
        store.acknowledge(c.alert, "bob", now=dt.datetime(2026, 1, 1))


# --- reading ---------------------------------------------------------------------------------


def test_list_filters_and_pages(store: AlertStore) -> None:
    ids = [
        store.ingest([detection(rule=f"r{i % 2}", host=str(i), severity=sev)], now=T0)[0].alert
        for i, sev in enumerate(["high", "low", "high", "critical", "high"])
    ]
    store.acknowledge(ids[0], "bob")
    store.close(ids[1], "bob", "x")
    assert [a.id for a in store.list()] == ids[::-1]
    assert [a.id for a in store.list(state="open")] == [ids[4], ids[3], ids[2]]
    assert [a.id for a in store.list(state=AlertState.CLOSED)] == [ids[1]]
    assert [a.id for a in store.list(severity="high")] == [ids[4], ids[2], ids[0]]
    assert [a.id for a in store.list(rule="r1")] == [ids[3], ids[1]]
    assert [a.id for a in store.list(limit=2)] == [ids[4], ids[3]]
    assert [a.id for a in store.list(limit=2, before_id=ids[3])] == [ids[2], ids[1]]
    assert store.open_counts() == {
        "critical": 1,
        "high": 2,
        "medium": 0,
        "low": 0,
        "informational": 0,
    }
    bad: list[dict[str, Any]] = [
        {"state": "new"},
        {"severity": "urgent"},
        {"limit": 0},
        {"limit": 1001},
    ]
    for kwargs in bad:
        with pytest.raises(AlertsError):
            store.list(**kwargs)


def test_json_has_iso_times(store: AlertStore) -> None:
    (c,) = store.ingest([detection()], now=T0)
    doc = store.get(c.alert).to_json()
    assert doc["raised_at"] == "2026-09-21T14:13:20.000Z"
    assert doc["acknowledged_at"] is None and doc["path"] == f"/alerts/{c.alert}"
    assert doc["history"][0] == {
        "at": "2026-09-21T14:13:20.000Z",
        "action": "raised",
        "actor": "mamori",
        "note": "",
    }


# --- the file --------------------------------------------------------------------------------


def test_the_store_is_private_and_in_wal_mode(home: Home, store: AlertStore) -> None:
    store.ingest([detection()], now=T0)
    path = db_path(home)
    assert path == home.root / "alerts.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_that_cannot_be_opened_says_so(home: Home) -> None:
    db_path(home).mkdir()
    with pytest.raises(AlertsUnavailable, match="cannot use the alert store") as caught:
        AlertStore.open(home)
    assert isinstance(caught.value, MamoriError) and caught.value.hint
