"""Personal-information breaches (LAW-4): every field required, reported at once, timed."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from mamori.home import Home
from mamori.incidents.errors import IncidentsError, WorkflowRefused
from mamori.incidents.model import BreachDetails, Category, Level, Priority, Stage
from mamori.incidents.review import add_countermeasure, save_review
from mamori.incidents.service import (
    Outcome,
    close_incident,
    create_incident,
    step_incident,
    update_incident,
)
from mamori.incidents.store import IncidentStore
from mamori.incidents.workflow import TimerState, timers
from tests.incidents.conftest import T0, Mail, audit_events, minutes

DETAILS = BreachDetails(
    what_happened="委託先の設定誤りにより申請者名簿が外部から閲覧可能になっていた",
    damage="アクセスログ上、外部からの取得が 3 件",
    containment="公開設定を停止し、URL を無効化",
    recovery="設定を修正し、再発防止のレビューを実施",
    persons_response="対象者へ個別にお詫びと説明のメールを送付予定",
    persons_affected=120,
    data_items=("氏名", "メールアドレス"),
    recognised_at=T0,
)


def _create(store: IncidentStore, breach: BreachDetails | None = DETAILS) -> Outcome:
    return create_incident(
        store, actor="tanaka", now=T0, title="申請者名簿の漏えい", category=Category.BREACH,
        breach=breach,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("what_happened", "発生した事態"),
        ("damage", "被害の状況"),
        ("containment", "二次被害の防止策"),
        ("recovery", "復旧策"),
        ("persons_response", "本人への対応"),
    ],
)
def test_every_text_field_is_required(csirt_store: IncidentStore, field: str, named: str) -> None:
    with pytest.raises(IncidentsError, match=named):
        blank: dict[str, Any] = {field: "  "}
        _create(csirt_store, replace(DETAILS, **blank))
    assert csirt_store.incidents(include_closed=True) == []


def test_data_items_and_details_required(csirt_store: IncidentStore) -> None:
    with pytest.raises(IncidentsError, match="data items"):
        _create(csirt_store, replace(DETAILS, data_items=()))
    with pytest.raises(IncidentsError, match="needs its details"):
        _create(csirt_store, None)
    with pytest.raises(IncidentsError, match="negative"):
        _create(csirt_store, replace(DETAILS, persons_affected=-1))
    with pytest.raises(IncidentsError, match="given for a security incident") as e:
        create_incident(csirt_store, actor="a", now=T0, title="x", breach=DETAILS)
    assert "--category breach" in (e.value.hint or "")


def test_creation_reports_to_the_csirt_at_once(
    home: Home, csirt_store: IncidentStore, mails: list[Mail]
) -> None:
    out = _create(csirt_store)
    inc = out.incident
    assert out.problems == ()
    assert inc.category is Category.BREACH and inc.priority is Priority.P2  # high × medium
    (mail,) = mails
    assert mail.subject == f"【第1報（速報）・個人情報】{inc.id} [P2] 申請者名簿の漏えい"
    for part in ("■ 個人情報の漏えい等", "発生した事態: 委託先の設定誤り", "被害の状況: アクセスログ上",
                 "対象人数: 120名", "対象の情報項目: 氏名、メールアドレス",
                 "二次被害の防止策: 公開設定を停止", "復旧策: 設定を修正",
                 "本人への対応: 対象者へ個別に"):  # fmt: skip
        assert part in mail.body, part
    (t,) = [t for t in timers(inc, T0) if t.name == "csirt_first_report"]
    assert t.state is TimerState.MET and t.due == T0 + minutes(60)
    assert [e["action"] for e in audit_events(home, "incident.")] == [
        "incident.created", "incident.csirt_sent",
    ]  # fmt: skip
    created = audit_events(home, "incident.created")[0]
    assert created["breach"]["persons_affected"] == 120


def test_unknown_number_of_persons(csirt_store: IncidentStore, mails: list[Mail]) -> None:
    _create(csirt_store, replace(DETAILS, persons_affected=None))
    assert "対象人数: 不明（調査中）" in mails[0].body


def test_without_a_csirt_address_the_breach_is_recorded_and_its_timer_runs(
    home: Home, store: IncidentStore, mails: list[Mail]
) -> None:
    """The chosen behaviour: the record of a leak must never be lost, so creation succeeds;
    the report failure is loud (problems, an audit event with outcome failure) and its timer
    runs until a report is sent."""
    out = _create(store)
    inc = out.incident
    (problem,) = out.problems
    assert "NOT sent" in problem and "[csirt] to" in problem
    assert f"mamori incidents csirt {inc.id} --kind first" in problem
    assert mails == []
    (failed,) = audit_events(home, "incident.csirt_sent")
    assert failed["outcome"] == "failure" and "[csirt] to" in failed["error"]
    t = {x.name: x for x in timers(store.get(inc.id), T0 + minutes(60))}["csirt_first_report"]
    assert t.state is TimerState.PENDING
    late = T0 + minutes(60) + dt.timedelta(seconds=1)
    t = {x.name: x for x in timers(store.get(inc.id), late)}["csirt_first_report"]
    assert t.state is TimerState.BREACHED


def test_an_incident_becomes_a_breach(csirt_store: IncidentStore, mails: list[Mail]) -> None:
    from mamori.incidents.csirt import csirt_report

    iid = create_incident(csirt_store, actor="a", now=T0, title="不審なアクセス").incident.id
    csirt_report(csirt_store, iid, "first", actor="a", now=T0 + minutes(5))
    with pytest.raises(IncidentsError, match="needs its details"):
        update_incident(csirt_store, iid, actor="a", now=T0 + minutes(30),
                        category=Category.BREACH)  # fmt: skip
    out = update_incident(csirt_store, iid, actor="a", now=T0 + minutes(30),
                          category=Category.BREACH, breach=DETAILS)  # fmt: skip
    assert out.incident.breach is not None
    assert out.incident.breach.recognised_at == T0 + minutes(30)
    assert out.message is not None and out.message.number == 2
    assert mails[-1].subject.startswith("【第2報（続報）・個人情報】")
    (t,) = [t for t in timers(out.incident, T0 + minutes(31)) if t.name == "csirt_first_report"]
    assert t.state is TimerState.MET and t.met_at == T0 + minutes(30)
    # A breach stays one; its details can be corrected.
    with pytest.raises(IncidentsError, match="stays one"):
        update_incident(csirt_store, iid, actor="a", now=T0 + minutes(40),
                        category=Category.SECURITY)  # fmt: skip
    fixed = update_incident(csirt_store, iid, actor="a", now=T0 + minutes(40),
                            breach=replace(DETAILS, persons_affected=130)).incident  # fmt: skip
    assert fixed.breach is not None and fixed.breach.persons_affected == 130
    assert fixed.breach.recognised_at == T0 + minutes(30)  # recognition time unchanged
    assert len(mails) == 2


def test_a_breach_is_closed_only_after_its_review(csirt_store: IncidentStore) -> None:
    inc = create_incident(
        csirt_store, actor="a", now=T0, title="漏えい", category=Category.BREACH, breach=DETAILS,
        urgency=Level.LOW, impact=Level.LOW,
    ).incident  # fmt: skip
    assert inc.priority is Priority.P5 and inc.needs_review
    step_incident(csirt_store, inc.id, Stage.REPORTED, actor="a", now=T0 + minutes(1),
                  skip_reason="即時に封じ込め")  # fmt: skip
    with pytest.raises(WorkflowRefused, match="review"):
        close_incident(csirt_store, inc.id, actor="a", now=T0 + minutes(2))
    add_countermeasure(csirt_store, inc.id, text="公開設定の二重確認", owner="委託先",
                       due=dt.date(2026, 12, 31), actor="a", now=T0 + minutes(3))  # fmt: skip
    save_review(csirt_store, inc.id, actor="a", now=T0 + minutes(4), cause="設定誤り",
                impact="120名", recurrence=Level.MEDIUM, recurrence_reason="手作業の設定",
                complete=True)  # fmt: skip
    assert close_incident(csirt_store, inc.id, actor="a", now=T0 + minutes(5)).stage is Stage.CLOSED
