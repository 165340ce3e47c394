"""Incidents in a real store: created by hand and from alerts, stepped, updated, merged, each
change an audit event with what the ledger needs to rebuild the timeline."""

from __future__ import annotations

import inspect
import os
import stat

import pytest

from mamori import audit
from mamori.audit import AuditError
from mamori.home import Home
from mamori.incidents.errors import (
    AuditNotRecorded,
    IncidentsError,
    NotFound,
    StoreUnavailable,
    WorkflowRefused,
)
from mamori.incidents.model import Category, Level, Priority, Stage, StepKind
from mamori.incidents.service import (
    close_incident,
    create_incident,
    list_incidents,
    merge_incidents,
    note_breaches,
    reopen_incident,
    step_incident,
    update_incident,
)
from mamori.incidents.store import IncidentStore, db_path
from tests.incidents.conftest import T0, FakeAlerts, Notice, audit_events, minutes


def test_create_by_hand(home: Home, store: IncidentStore) -> None:
    out = create_incident(store, actor="tanaka", now=T0, title="DB の応答遅延",
                          category=Category.PERFORMANCE, hosts=["db-01"])  # fmt: skip
    inc = out.incident
    assert inc.hosts == ("db-01",) and inc.title == "DB の応答遅延"
    assert inc.id == "INC-2026-0001"
    assert (inc.urgency, inc.impact, inc.priority) == (Level.MEDIUM, Level.MEDIUM, Priority.P3)
    assert inc.stage is Stage.DETECTED and inc.detected_at == T0
    assert [s.kind for s in inc.steps] == [StepKind.DETECTED]
    assert out.problems == () and out.message is None
    mode = stat.S_IMODE(os.stat(db_path(home)).st_mode)
    assert mode == 0o600


def test_ids_count_up_within_the_year_of_the_calendar_zone(store: IncidentStore) -> None:
    a = create_incident(store, actor="a", now=T0, title="one").incident
    b = create_incident(store, actor="a", now=T0, title="two").incident
    # 2026-12-31T15:30Z is 2027-01-01 00:30 in Tokyo.
    import datetime as dt

    ny = dt.datetime(2026, 12, 31, 15, 30, tzinfo=dt.UTC)
    c = create_incident(store, actor="a", now=ny, title="three").incident
    assert [a.id, b.id, c.id] == ["INC-2026-0001", "INC-2026-0002", "INC-2027-0001"]


def test_create_from_several_alerts_merges_them(store: IncidentStore, alerts: FakeAlerts) -> None:
    alerts.add("11", title="Suspicious login", severity="medium", host="web-01", user="alice",
               first_seen=T0 - minutes(30))  # fmt: skip
    alerts.add("12", title="Ransomware behaviour", severity="critical", host="file-01",
               user="bob", rule="rule-ransom")  # fmt: skip
    out = create_incident(store, actor="sato", now=T0, alert_ids=["11", "12"])
    inc = out.incident
    assert inc.title == "Ransomware behaviour"  # the most severe alert's
    assert (inc.urgency, inc.impact, inc.priority) == (Level.HIGH, Level.HIGH, Priority.P1)
    assert [a.id for a in inc.alerts] == ["11", "12"]
    assert set(inc.hosts) == {"web-01", "file-01"} and set(inc.users) == {"alice", "bob"}
    assert inc.rules == ("rule-ssh-brute", "rule-ransom")
    assert inc.occurred_at == T0 - minutes(30)  # the earliest alert's first event
    assert alerts.links == [("11", inc.id, "sato"), ("12", inc.id, "sato")]


def test_create_from_alerts_with_overrides(store: IncidentStore, alerts: FakeAlerts) -> None:
    alerts.add("5", severity="critical")
    inc = create_incident(
        store, actor="a", now=T0, alert_ids=["5"], title="Mine", urgency=Level.LOW,
        impact=Level.LOW,
    ).incident  # fmt: skip
    assert (inc.title, inc.priority) == ("Mine", Priority.P5)


def test_an_alert_belongs_to_one_incident(store: IncidentStore, alerts: FakeAlerts) -> None:
    alerts.add("1")
    first = create_incident(store, actor="a", now=T0, alert_ids=["1"]).incident
    with pytest.raises(IncidentsError, match=f"already belongs to {first.id}") as e:
        create_incident(store, actor="a", now=T0, alert_ids=["1"])
    assert "merge" in (e.value.hint or "")


def test_unknown_alert(store: IncidentStore) -> None:
    with pytest.raises(NotFound, match="no alert 99"):
        create_incident(store, actor="a", now=T0, alert_ids=["99"])


def test_a_link_failure_is_reported_but_the_incident_stands(
    store: IncidentStore, alerts: FakeAlerts
) -> None:
    alerts.add("1")
    alerts.fail_link = True
    out = create_incident(store, actor="a", now=T0, alert_ids=["1"])
    assert out.problems and "alert 1" in out.problems[0]
    assert store.get(out.incident.id).alerts[0].id == "1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a title or at least one alert"),
        ({"title": "a\nb"}, "line breaks"),
        ({"title": "x" * 201}, "characters long"),
        ({"title": "t", "actor": ""}, "actor"),
        ({"title": "t", "detected_at": T0 + minutes(1)}, "in the future"),
        ({"title": "t", "occurred_at": T0 + minutes(1)}, "after the detection"),
    ],
)
def test_create_refusals(store: IncidentStore, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"actor": "a", "now": T0, **kwargs}
    with pytest.raises(IncidentsError, match=message):
        create_incident(store, **args)  # type: ignore[arg-type]


def test_workflow_through_the_store_with_audit_events(home: Home, store: IncidentStore) -> None:
    iid = create_incident(store, actor="a", now=T0, title="Disk failure",
                          category=Category.FAILURE).incident.id  # fmt: skip
    step_incident(store, iid, Stage.ISOLATED, actor="b", now=T0 + minutes(5), note="node out")
    step_incident(
        store, iid, Stage.RECOVERY_CONFIRMED, actor="b", now=T0 + minutes(60),
        skip_reason="spare disk on site",
    )  # fmt: skip
    with pytest.raises(WorkflowRefused, match="no going back"):
        step_incident(store, iid, Stage.ISOLATED, actor="b", now=T0 + minutes(61))
    with pytest.raises(WorkflowRefused, match="only after it was reported"):
        close_incident(store, iid, actor="b", now=T0 + minutes(61))
    step_incident(store, iid, Stage.REPORTED, actor="b", now=T0 + minutes(70))
    reopen_incident(store, iid, reason="failed again", actor="c", now=T0 + minutes(80))
    step_incident(store, iid, Stage.VENDOR_CONTACTED, actor="c", now=T0 + minutes(85))
    step_incident(store, iid, Stage.RECOVERY_CONFIRMED, actor="c", now=T0 + minutes(90))
    step_incident(store, iid, Stage.REPORTED, actor="c", now=T0 + minutes(95))
    inc = close_incident(store, iid, actor="c", now=T0 + minutes(100), note="done")
    assert inc.stage is Stage.CLOSED
    assert [(s.kind.value, s.stage.value) for s in inc.steps] == [
        ("detected", "detected"),
        ("reached", "isolated"),
        ("skipped", "vendor_contacted"),
        ("reached", "recovery_confirmed"),
        ("reached", "reported"),
        ("reopened", "isolated"),
        ("reached", "vendor_contacted"),
        ("reached", "recovery_confirmed"),
        ("reached", "reported"),
        ("closed", "closed"),
    ]
    events = audit_events(home, "incident.")
    assert [e["action"] for e in events] == [
        "incident.created", "incident.stage", "incident.skipped", "incident.stage",
        "incident.stage", "incident.reopened", "incident.stage", "incident.stage",
        "incident.stage", "incident.closed",
    ]  # fmt: skip
    assert all(e["incident"] == iid and e["actor"] and e["at"] for e in events)
    skipped = events[2]
    assert (skipped["stage"], skipped["reason"], skipped["actor"]) == (
        "vendor_contacted", "spare disk on site", "b",
    )  # fmt: skip
    assert events[1]["note"] == "node out" and events[1]["at"] == "2026-11-27T01:05:00Z"
    assert events[5]["reason"] == "failed again"
    # The timeline can be rebuilt from the events alone.
    timeline = [(e["at"], e.get("stage")) for e in events[1:]]
    assert timeline == [(f"{s.at:%Y-%m-%dT%H:%M:%SZ}", s.stage.value) for s in inc.steps[1:]]


def test_update_changes_priority_and_records_the_changes(home: Home, store: IncidentStore) -> None:
    iid = create_incident(store, actor="a", now=T0, title="x").incident.id
    out = update_incident(
        store, iid, actor="b", now=T0 + minutes(1), urgency=Level.HIGH, impact=Level.HIGH,
        assignee="suzuki", title="Outage",
    )  # fmt: skip
    assert out.incident.priority is Priority.P1 and out.incident.assignee == "suzuki"
    assert out.incident.targets.response_minutes == 15
    (ev,) = audit_events(home, "incident.updated")
    assert ev["changes"]["priority"] == ["P3", "P1"]
    assert ev["changes"]["title"] == ["x", "Outage"]
    assert "description" not in ev["changes"]
    with pytest.raises(IncidentsError, match="nothing to change"):
        update_incident(store, iid, actor="b", now=T0 + minutes(2), title="Outage")
    unassigned = update_incident(store, iid, actor="b", now=T0 + minutes(2), assignee=None)
    assert unassigned.incident.assignee is None


def test_closed_incidents_cannot_be_updated(store: IncidentStore) -> None:
    iid = create_incident(store, actor="a", now=T0, title="x").incident.id
    step_incident(store, iid, Stage.REPORTED, actor="a", now=T0, skip_reason="trivial")
    close_incident(store, iid, actor="a", now=T0)
    with pytest.raises(IncidentsError, match="closed"):
        update_incident(store, iid, actor="a", now=T0, title="y")


def test_merge(home: Home, store: IncidentStore, alerts: FakeAlerts) -> None:
    alerts.add("1", severity="medium", host="web-01", user="alice")
    alerts.add("2", severity="high", host="web-02", user="bob", first_seen=T0 - minutes(50))
    a = create_incident(store, actor="a", now=T0, alert_ids=["1"]).incident
    b = create_incident(store, actor="a", now=T0 - minutes(20), alert_ids=["2"],
                        detected_at=T0 - minutes(20)).incident  # fmt: skip
    alerts.links.clear()
    out = merge_incidents(store, a.id, b.id, actor="lead", now=T0 + minutes(5), note="same attack")
    merged = out.incident
    assert [x.id for x in merged.alerts] == ["1", "2"]
    assert set(merged.hosts) == {"web-01", "web-02"}
    assert merged.urgency is Level.HIGH and merged.priority is Priority.P2
    assert merged.detected_at == T0 - minutes(20)  # the earlier detection
    assert merged.occurred_at == T0 - minutes(50)
    other = store.get(b.id)
    assert other.stage is Stage.CLOSED and other.merged_into == a.id
    assert other.steps[-1].kind is StepKind.MERGED
    assert other.steps[-1].reason == f"merged into {a.id}"
    assert other.alerts == ()
    assert store.merged_from(a.id) == [b.id]
    assert alerts.links == [("2", a.id, "lead")]
    ev = audit_events(home, "incident.merged")[0]
    assert (ev["incident"], ev["merged"], ev["alerts"]) == (a.id, b.id, ["2"])
    closed = audit_events(home, "incident.closed")[0]
    assert closed["incident"] == b.id and closed["reason"] == f"merged into {a.id}"
    with pytest.raises(IncidentsError, match="closed"):
        merge_incidents(store, a.id, b.id, actor="lead", now=T0 + minutes(6))
    with pytest.raises(IncidentsError, match="itself"):
        merge_incidents(store, a.id, a.id, actor="lead", now=T0 + minutes(6))
    with pytest.raises(WorkflowRefused, match=a.id):
        reopen_incident(store, b.id, reason="x", actor="lead", now=T0 + minutes(7))


def test_list_and_get(store: IncidentStore) -> None:
    a = create_incident(store, actor="a", now=T0, title="open").incident
    b = create_incident(store, actor="a", now=T0 + minutes(1), title="closed").incident
    step_incident(store, b.id, Stage.REPORTED, actor="a", now=T0 + minutes(2), skip_reason="x")
    close_incident(store, b.id, actor="a", now=T0 + minutes(3))
    assert [i.id for i in list_incidents(store)] == [a.id]
    assert [i.id for i in list_incidents(store, include_closed=True)] == [b.id, a.id]
    assert store.get(a.id.lower()).id == a.id
    with pytest.raises(NotFound, match="INC-2026-0099"):
        store.get("INC-2026-0099")


def test_note_breaches_once_each(home: Home, store: IncidentStore) -> None:
    iid = create_incident(store, actor="a", now=T0, title="x").incident.id
    assert note_breaches(store, T0 + minutes(120)) == []  # due exactly now: pending
    found = note_breaches(store, T0 + minutes(121))
    assert [(i, t.name) for i, t in found] == [(iid, "response"), (iid, "isolated")]
    assert note_breaches(store, T0 + minutes(122)) == []
    assert [e["timer"] for e in audit_events(home, "incident.timer_breached")] == [
        "response", "isolated",
    ]  # fmt: skip
    assert sorted(n for n, _ in store.breaches_noted(iid)) == ["isolated", "response"]


def test_creation_and_breached_timers_are_announced(
    home: Home, store: IncidentStore, alerts: FakeAlerts, notices: list[Notice]
) -> None:
    alerts.add("1", severity="critical", rule="rule-x", host="web-01")
    inc = create_incident(store, actor="a", now=T0, alert_ids=["1"]).incident
    (n,) = notices
    assert n.kind == "incident" and n.severity == "critical" and n.rule == "rule-x"
    assert n.subject == f"[P1] {inc.id} インシデント起票: SSH brute force"
    assert "対象ホスト: web-01" in n.body and f"/incidents/{inc.id}" in n.body
    note_breaches(store, T0 + minutes(16))  # P1: response and isolation within 15 minutes
    assert [(x.kind, x.payload["timer"]) for x in notices[1:]] == [
        ("escalation", "response"), ("escalation", "isolated"),
    ]  # fmt: skip
    assert "期限超過: 切り分け" in notices[2].subject
    assert all(e["notified"] for e in audit_events(home, "incident.timer_breached"))


def test_a_notice_that_cannot_be_queued_is_a_problem_not_a_failure(
    store: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mamori.incidents import sending

    def broken(*a: object, **k: object) -> None:
        raise IncidentsError("notify.db is read-only")

    monkeypatch.setattr(sending, "notify", broken)
    out = create_incident(store, actor="a", now=T0, title="x")
    assert out.problems == (f"{out.incident.id} was created, but its notice could not be "
                            "queued: notify.db is read-only",)  # fmt: skip
    assert note_breaches(store, T0 + minutes(121))


def _broken_outbox(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AuditError("the outbox is full", hint="free disk space")

    monkeypatch.setattr(audit, "record", broken)


def test_a_change_whose_audit_event_is_lost_is_not_a_refusal(
    store: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: `trail.record` raised a plain IncidentsError after the commit, which a
    caller could not tell from "refused, nothing changed"."""
    iid = create_incident(store, actor="a", now=T0, title="x").incident.id
    _broken_outbox(monkeypatch)
    with pytest.raises(AuditNotRecorded, match="could not be recorded: the outbox is full") as e:
        step_incident(store, iid, Stage.ISOLATED, actor="b", now=T0 + minutes(1))
    assert isinstance(e.value, IncidentsError) and isinstance(e.value.__cause__, AuditError)
    assert "the change stands" in (e.value.hint or "")
    assert store.get(iid).stage is Stage.ISOLATED  # the change was made
    with pytest.raises(AuditNotRecorded):
        create_incident(store, actor="a", now=T0, title="y")
    assert [i.title for i in list_incidents(store)] == ["y", "x"]
    # A refusal is still only an IncidentsError.
    with pytest.raises(IncidentsError) as refused:
        step_incident(store, iid, Stage.ISOLATED, actor="b", now=T0 + minutes(2))
    assert not isinstance(refused.value, AuditNotRecorded)


def test_a_store_that_cannot_be_used_is_not_a_refusal(home: Home, store: IncidentStore) -> None:
    """Regression: `store.db_error` returned a plain IncidentsError, so a broken or locked
    database looked like a refused change (the console answers StoreUnavailable with 503)."""
    with pytest.raises(StoreUnavailable, match="cannot use") as e, store.transaction() as conn:
        conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert isinstance(e.value, IncidentsError) and "writable" in (e.value.hint or "")
    assert not store.conn.in_transaction  # rolled back
    create_incident(store, actor="a", now=T0, title="still usable")
    store.close()
    for p in home.root.glob("incidents.db*"):
        p.unlink()
    db_path(home).mkdir()  # a directory where the database should be
    with pytest.raises(StoreUnavailable, match=r"incidents\.db"):
        IncidentStore.open(home)


def test_merge_moves_alerts_through_the_store(store: IncidentStore, alerts: FakeAlerts) -> None:
    """Regression: `merge_incidents` ran its own SQL on incident_alerts; only the store does."""
    alerts.add("1")
    alerts.add("2")
    a = create_incident(store, actor="a", now=T0, alert_ids=["1"]).incident
    b = create_incident(store, actor="a", now=T0, alert_ids=["2"]).incident
    with store.transaction() as conn:
        store.move_alerts(conn, b.id, a.id, "lead", T0 + minutes(1))
    assert store.incident_of_alert("2") == a.id
    assert [x.id for x in store.get(a.id).alerts] == ["1", "2"] and store.get(b.id).alerts == ()
    from mamori.incidents import effects, merge, service, stages

    for module in (service, stages, merge, effects):
        source = inspect.getsource(module)
        assert ".execute(" not in source and "incident_alerts" not in source, module.__name__
