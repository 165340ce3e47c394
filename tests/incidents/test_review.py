"""Post-incident reviews (FLT-2): past occurrences from earlier incidents and from a real ledger
and its search index, completion rules, countermeasures tracked to done, overdue ones listed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mamori.home import Home
from mamori.incidents.errors import IncidentsError, NotFound, WorkflowRefused
from mamori.incidents.model import CountermeasureState, IncidentId, Level, Stage
from mamori.incidents.review import (
    add_countermeasure,
    complete_countermeasure,
    countermeasures,
    jaccard,
    overdue_countermeasures,
    past_occurrences,
    save_review,
    title_tokens,
)
from mamori.incidents.service import close_incident, create_incident, step_incident
from mamori.incidents.store import IncidentStore
from mamori.ledger.entries import prepare_value
from mamori.ledger.writer import Sequencer
from tests.incidents.conftest import T0, FakeAlerts, audit_events, minutes

DAY = dt.timedelta(days=1)


def ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_title_similarity() -> None:
    assert jaccard(title_tokens("SSH brute force"), title_tokens("ssh Brute Force attempt")) == 0.75
    assert jaccard(title_tokens("不正ログインの検知"), title_tokens("不正ログインを検知")) >= 0.5
    assert jaccard(title_tokens("Disk full"), title_tokens("SSH brute force")) == 0
    assert jaccard(frozenset(), frozenset()) == 0


def test_past_occurrences_in_earlier_incidents(store: IncidentStore, alerts: FakeAlerts) -> None:
    alerts.add("old", rule="rule-ssh-brute", title="Old alert", host="db-09", user="zed")
    by_rule = create_incident(store, actor="a", now=T0 - 10 * DAY, alert_ids=["old"]).incident
    by_host = create_incident(store, actor="a", now=T0 - 9 * DAY, title="Disk slow",
                              hosts=["web-01"]).incident  # fmt: skip
    by_user = create_incident(store, actor="a", now=T0 - 8 * DAY, title="Odd login",
                              users=["alice"]).incident  # fmt: skip
    by_title = create_incident(store, actor="a", now=T0 - 7 * DAY,
                               title="ssh brute force attempt").incident  # fmt: skip
    create_incident(store, actor="a", now=T0 - 5 * DAY, title="Disk full")  # unrelated
    alerts.add("now", rule="rule-ssh-brute", title="SSH brute force", host="web-01",
               user="alice")  # fmt: skip
    inc = create_incident(store, actor="a", now=T0, alert_ids=["now"]).incident
    create_incident(store, actor="a", now=T0 + DAY, title="SSH brute force")  # later: not past
    past = past_occurrences(store, inc.id)
    assert past.complete
    found = {p.ref: p for p in past.items if p.kind == "incident"}
    assert list(found) == [by_title.id, by_user.id, by_host.id, by_rule.id]
    assert found[by_rule.id].matched == ("rule:rule-ssh-brute",)
    assert found[by_host.id].matched == ("host:web-01",)
    assert found[by_user.id].matched == ("user:alice",)
    assert found[by_title.id].matched == ("title",)
    assert found[by_rule.id].link == f"/incidents/{by_rule.id}"


def test_similar_japanese_titles(store: IncidentStore) -> None:
    old = create_incident(store, actor="a", now=T0 - DAY, title="不正ログインを検知").incident
    create_incident(store, actor="a", now=T0 - DAY, title="ディスク容量の不足")
    new = create_incident(store, actor="a", now=T0, title="不正ログインの検知").incident
    items = past_occurrences(store, new.id).items
    assert [(p.ref, p.matched) for p in items] == [(old.id, ("title",))]


def _ledger(home: Home, events: list[dict[str, Any]]) -> None:
    with Sequencer(home) as seq:
        seq.commit([prepare_value(e) for e in events])


def test_past_occurrences_in_a_real_ledger(
    home: Home, store: IncidentStore, alerts: FakeAlerts
) -> None:
    start = T0 - minutes(5)  # the alert's first event
    _ledger(home, [
        {"@timestamp": ts(T0 - 3 * DAY), "host": {"name": "web-01"}, "message": "sshd failed"},
        {"@timestamp": ts(T0 - 2 * DAY), "rule": {"id": "rule-ssh-brute", "name": "SSH brute"}},
        {"@timestamp": ts(T0 - 1 * DAY), "host": {"name": "web-01"}, "user": {"name": "alice"},
         "event": {"action": "login"}},
        {"@timestamp": ts(T0 - 1 * DAY), "host": {"name": "web-01"}, "user": {"name": "alice"},
         "event": {"module": "mamori", "action": "token.created"}},  # mamori's own: left out
        {"@timestamp": ts(T0 + minutes(1)), "host": {"name": "web-01"}},  # after: left out
        {"@timestamp": ts(start), "host": {"name": "web-01"}, "message": "the alert's own"},
        {"@timestamp": ts(T0 - 1 * DAY), "host": {"name": "web-99"}},  # another host
        {"@timestamp": ts(T0 - 4 * DAY), "event": {"module": "mamori", "action": "alert.raised"},
         "mamori": {"audit": {"rule": "rule-ssh-brute"}}},
    ])  # fmt: skip
    alerts.add("9", host="web-01", user="alice", events=(5,), first_seen=start)
    inc = create_incident(store, actor="a", now=T0, alert_ids=["9"]).incident
    past = past_occurrences(store, inc.id)
    assert past.complete, past.problem
    events = {p.ref: p for p in past.items if p.kind == "event"}
    assert list(events) == ["7", "2", "1", "0"]
    assert events["2"].matched == ("host:web-01", "user:alice")
    assert events["1"].matched == ("rule:rule-ssh-brute",)
    assert events["7"].matched == ("rule:rule-ssh-brute",)
    assert events["0"].matched == ("host:web-01",)
    assert events["0"].link == "/events/0" and "sshd failed" in events["0"].summary
    assert events["2"].when == T0 - DAY
    # The review keeps them, and says so in its audit event.
    rv = save_review(store, inc.id, actor="a", now=T0 + minutes(1), cause="x")
    assert [p.ref for p in rv.past.items if p.kind == "event"] == ["7", "2", "1", "0"]
    (ev,) = audit_events(home, "incident.review")
    assert "event:2" in ev["past"] and ev["past_complete"] is True


def test_an_unreadable_index_makes_the_answer_incomplete_not_empty(
    home: Home, store: IncidentStore
) -> None:
    inc = create_incident(store, actor="a", now=T0, title="x", hosts=["web-01"]).incident
    (home.index_dir / "search.db").write_bytes(b"this is not a database" * 100)
    past = past_occurrences(store, inc.id)
    assert not past.complete and "ledger could not be searched" in past.problem


def test_review_completion_rules(home: Home, store: IncidentStore) -> None:
    inc = create_incident(store, actor="a", now=T0, title="Outage", urgency=Level.HIGH,
                          impact=Level.HIGH).incident  # fmt: skip
    step_incident(store, inc.id, Stage.REPORTED, actor="a", now=T0 + minutes(10),
                  skip_reason="quick fix")  # fmt: skip
    with pytest.raises(WorkflowRefused, match="P1 incident"):
        close_incident(store, inc.id, actor="a", now=T0 + minutes(11))
    with pytest.raises(IncidentsError, match="--cause, --impact, --recurrence") as e:
        save_review(store, inc.id, actor="a", now=T0 + minutes(12), complete=True)
    assert e.value.hint
    save_review(store, inc.id, actor="a", now=T0 + minutes(12), cause="config error",
                impact="30 minutes down")  # fmt: skip
    with pytest.raises(IncidentsError, match="may recur"):
        save_review(store, inc.id, actor="b", now=T0 + minutes(13), recurrence=Level.HIGH,
                    recurrence_reason="manual change process", complete=True)  # fmt: skip
    rv = store.review(inc.id)
    assert rv is not None and not rv.completed
    assert rv.recurrence is None  # a refused command changes nothing
    add_countermeasure(store, inc.id, text="automate the change", owner="infra",
                       due=dt.date(2026, 12, 15), actor="b", now=T0 + minutes(14))  # fmt: skip
    rv = save_review(store, inc.id, actor="b", now=T0 + minutes(15), recurrence=Level.HIGH,
                     recurrence_reason="manual change process", complete=True)  # fmt: skip
    assert rv.completed and rv.completed_by == "b" and rv.cause == "config error"
    assert store.get(inc.id).review_completed
    assert close_incident(store, inc.id, actor="b", now=T0 + minutes(16)).stage is Stage.CLOSED
    actions = [e["action"] for e in audit_events(home, "incident.")]
    assert actions.count("incident.review") == 2  # the refused ones are not recorded
    assert audit_events(home, "incident.review")[-1]["completed"] is True


def test_low_recurrence_needs_no_countermeasure(store: IncidentStore) -> None:
    inc = create_incident(store, actor="a", now=T0, title="Blip").incident
    rv = save_review(store, inc.id, actor="a", now=T0, cause="c", impact="i",
                     recurrence=Level.LOW, recurrence_reason="one-off", complete=True)  # fmt: skip
    assert rv.completed


def test_countermeasures_tracked_to_done_and_overdue(home: Home, store: IncidentStore) -> None:
    inc = create_incident(store, actor="a", now=T0, title="x").incident
    late = add_countermeasure(store, inc.id, text="patch", owner="ops", due=dt.date(2026, 11, 20),
                              actor="a", now=T0)  # fmt: skip
    ok = add_countermeasure(store, inc.id, text="train", owner="hr", due=dt.date(2026, 12, 20),
                            actor="a", now=T0)  # fmt: skip
    today = dt.date(2026, 11, 27)
    assert [c.id for c in overdue_countermeasures(store, today)] == [late.id]
    assert not ok.overdue(today) and not late.overdue(dt.date(2026, 11, 20))  # due today: not yet
    done = complete_countermeasure(store, late.id, actor="b", now=T0 + minutes(1), note="v2.1")
    assert done.state is CountermeasureState.DONE and done.done_by == "b"
    assert done.done_at == T0 + minutes(1) and done.note == "v2.1"
    assert overdue_countermeasures(store, today) == []
    with pytest.raises(IncidentsError, match="already done"):
        complete_countermeasure(store, late.id, actor="b", now=T0 + minutes(2))
    with pytest.raises(NotFound):
        complete_countermeasure(store, 999, actor="b", now=T0)
    assert [c.id for c in countermeasures(store, inc.id)] == [late.id, ok.id]
    assert [(e["change"], e["countermeasure"]) for e in audit_events(home, "incident.counter")] == [
        ("added", late.id), ("added", ok.id), ("done", late.id),
    ]  # fmt: skip
    with pytest.raises(IncidentsError, match="--owner"):
        add_countermeasure(store, inc.id, text="t", owner=" ", due=today, actor="a", now=T0)
    assert done.as_json(today)["overdue"] is False


def test_a_countermeasure_of_another_incident_is_not_found(store: IncidentStore) -> None:
    """Regression: `complete_countermeasure` did not check that the countermeasure belongs to
    the incident being worked on, so a page or command about one incident could close
    another's."""
    mine = create_incident(store, actor="a", now=T0, title="mine").incident
    theirs = create_incident(store, actor="a", now=T0, title="theirs").incident
    cm = add_countermeasure(store, theirs.id, text="patch", owner="ops",
                            due=dt.date(2026, 12, 1), actor="a", now=T0)  # fmt: skip
    with pytest.raises(NotFound, match=f"countermeasure {cm.id} is not one of {mine.id}") as e:
        complete_countermeasure(store, cm.id, actor="b", now=T0, incident=mine.id)
    assert f"countermeasure list {mine.id}" in (e.value.hint or "")
    assert store.countermeasure(cm.id).state is CountermeasureState.OPEN
    with pytest.raises(NotFound, match="INC-2026-0404"):
        complete_countermeasure(store, cm.id, actor="b", now=T0, incident="INC-2026-0404")
    done = complete_countermeasure(store, cm.id, actor="b", now=T0, incident=theirs.id.lower())
    assert done.state is CountermeasureState.DONE


def test_a_merged_incident_is_reviewed_through_the_one_it_joined(store: IncidentStore) -> None:
    from mamori.incidents.service import merge_incidents

    a = create_incident(store, actor="a", now=T0, title="a").incident.id
    b = create_incident(store, actor="a", now=T0, title="b").incident.id
    merge_incidents(store, a, b, actor="a", now=T0)
    with pytest.raises(IncidentsError, match=f"merged into {a}"):
        save_review(store, b, actor="a", now=T0, cause="x")
    assert past_occurrences(store, a).items == () or all(
        p.ref != b for p in past_occurrences(store, a).items
    )
    assert IncidentId(b) in store.merged_from(IncidentId(a))
