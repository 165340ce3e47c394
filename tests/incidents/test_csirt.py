"""Reports to the CSIRT (FLT-4): Japanese subjects and bodies, numbering, sending, storing."""

from __future__ import annotations

from typing import Any

import pytest

from mamori.home import Home
from mamori.incidents import sending
from mamori.incidents.csirt import csirt_report, report_label
from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import IncidentId, ReportKind, Stage, jp_time
from mamori.incidents.review import add_countermeasure, save_review
from mamori.incidents.service import create_incident, step_incident
from mamori.incidents.store import IncidentStore
from tests.incidents.conftest import (
    CSIRT_CC,
    CSIRT_TO,
    T0,
    FakeAlerts,
    Mail,
    audit_events,
    configure_csirt,
    minutes,
)


def _incident(store: IncidentStore, alerts: FakeAlerts) -> IncidentId:
    alerts.add("7", title="SSH ブルートフォース", severity="critical", host="web-01",
               user="admin")  # fmt: skip
    return create_incident(
        store, actor="tanaka", now=T0, alert_ids=["7"],
        description="web-01 に対する SSH の総当たり攻撃を検知しました。",
    ).incident.id  # fmt: skip


def test_labels() -> None:
    assert report_label(ReportKind.FIRST, 1) == "第1報（速報）"
    assert report_label(ReportKind.FOLLOWUP, 2) == "第2報（続報）"
    assert report_label(ReportKind.FOLLOWUP, 3) == "第3報（続報）"
    assert report_label(ReportKind.FINAL, 4) == "最終報告（第4報）"
    from zoneinfo import ZoneInfo

    assert jp_time(T0, ZoneInfo("Asia/Tokyo")) == "2026年11月27日(金) 10:00 JST"
    assert jp_time(None, ZoneInfo("Asia/Tokyo")) == "不明（調査中）"


def test_first_report_rendered_and_sent(
    home: Home, csirt_store: IncidentStore, alerts: FakeAlerts, mails: list[Mail]
) -> None:
    iid = _incident(csirt_store, alerts)
    msg = csirt_report(csirt_store, iid, "first", actor="tanaka", now=T0 + minutes(10))
    assert msg.subject == f"【第1報（速報）】{iid} [P1] SSH ブルートフォース"
    assert msg.number == 1 and msg.kind is ReportKind.FIRST
    body = msg.body
    for part in (
        "デジタル庁", "守り株式会社 運用保守チームです。", "第1報（速報）としてご報告",
        f"■ インシデント番号\n  {iid}", "P1（緊急度: 高 / 影響度: 高）",
        "■ 発生日時\n  2026年11月27日(金) 09:55 JST", "■ 検知日時\n  2026年11月27日(金) 10:00 JST",
        "■ 概要\n  web-01 に対する SSH の総当たり攻撃を検知しました。",
        "■ 影響範囲", "対象ホスト: web-01", "対象アカウント: admin",
        "■ 現在の対応状況", "検知: 完了 2026年11月27日(金) 10:00 JST",
        "切り分け: 未了（目標 2026年11月27日(金) 10:15 JST）",
        "■ 今後の対応", "■ 連絡先", "運用窓口 03-0000-0000", "担当: tanaka", "以上",
    ):  # fmt: skip
        assert part in body, part
    (mail,) = mails
    assert mail.to == (CSIRT_TO,) and mail.cc == (CSIRT_CC,)
    assert (mail.subject, mail.body) == (msg.subject, msg.body)
    assert mail.payload["incident"] == iid and mail.payload["number"] == 1
    assert mail.severity == "critical" and mail.kind == "csirt"
    assert csirt_store.messages(iid) == [msg]
    assert csirt_store.get(iid).csirt_sent == (T0 + minutes(10),)
    (ev,) = audit_events(home, "incident.csirt_sent")
    assert (ev["incident"], ev["number"], ev["kind"]) == (iid, 1, "first")
    assert ev["subject"] == msg.subject and ev["body"] == msg.body
    assert ev["to"] == [CSIRT_TO] and ev["cc"] == [CSIRT_CC]


def test_followups_are_numbered_and_the_final_report_carries_the_review(
    csirt_store: IncidentStore, alerts: FakeAlerts, mails: list[Mail]
) -> None:
    iid = _incident(csirt_store, alerts)
    csirt_report(csirt_store, iid, "first", actor="t", now=T0 + minutes(10))
    step_incident(csirt_store, iid, Stage.ISOLATED, actor="t", now=T0 + minutes(12),
                  note="web-01 を切り離し")  # fmt: skip
    second = csirt_report(csirt_store, iid, "followup", "パスワード変更済み", actor="t",
                          now=T0 + minutes(20))  # fmt: skip
    assert second.subject.startswith("【第2報（続報）】")
    assert "前回（第1報）以降" in second.body and "続報（第3報）" in second.body
    assert "切り分け: 完了 2026年11月27日(金) 10:12 JST（web-01 を切り離し）" in second.body
    assert "■ 補足\n  パスワード変更済み" in second.body
    third = csirt_report(csirt_store, iid, ReportKind.FOLLOWUP, actor="t", now=T0 + minutes(30))
    assert third.subject.startswith("【第3報（続報）】")
    with pytest.raises(IncidentsError, match="after recovery is confirmed"):
        csirt_report(csirt_store, iid, "final", actor="t", now=T0 + minutes(31))
    step_incident(csirt_store, iid, Stage.RECOVERY_CONFIRMED, actor="t", now=T0 + minutes(90),
                  skip_reason="保守事業者の対応不要")  # fmt: skip
    add_countermeasure(csirt_store, iid, text="SSH の公開鍵認証化", owner="基盤チーム",
                       due=(T0 + minutes(60 * 24 * 30)).date(), actor="t",
                       now=T0 + minutes(91))  # fmt: skip
    save_review(csirt_store, iid, actor="t", now=T0 + minutes(92), cause="弱いパスワード",
                impact="なし（侵入なし）")  # fmt: skip
    final = csirt_report(csirt_store, iid, "final", actor="t", now=T0 + minutes(100))
    assert final.subject == f"【最終報告（第4報）】{iid} [P1] SSH ブルートフォース"
    for part in ("■ 原因\n  弱いパスワード", "■ 影響\n  なし（侵入なし）", "■ 再発可能性\n  未評価",
                 "保守事業者連絡: 省略（2026年11月27日(金) 11:30 JST、理由: 保守事業者の対応不要）",
                 "SSH の公開鍵認証化（担当 基盤チーム、期限 2026年12月27日、未完了）"):  # fmt: skip
        assert part in final.body, part
    assert [m.number for m in csirt_store.messages(iid)] == [1, 2, 3, 4]
    assert len(mails) == 4


def test_order_of_reports(csirt_store: IncidentStore, alerts: FakeAlerts) -> None:
    iid = _incident(csirt_store, alerts)
    for kind in ("followup", "final"):
        with pytest.raises(IncidentsError, match="no first report") as e:
            csirt_report(csirt_store, iid, kind, actor="t", now=T0)
        assert "--kind first" in (e.value.hint or "")
    csirt_report(csirt_store, iid, "first", actor="t", now=T0)
    with pytest.raises(IncidentsError, match="already sent") as e:
        csirt_report(csirt_store, iid, "first", actor="t", now=T0)
    assert "followup" in (e.value.hint or "")
    with pytest.raises(IncidentsError, match="not a kind of report"):
        csirt_report(csirt_store, iid, "second", actor="t", now=T0)


def test_refused_without_a_csirt_address(
    home: Home, store: IncidentStore, alerts: FakeAlerts, mails: list[Mail]
) -> None:
    iid = _incident(store, alerts)
    with pytest.raises(IncidentsError, match=r"\[csirt\] to") as e:
        csirt_report(store, iid, "first", actor="t", now=T0)
    assert str(home.config_path) in (e.value.hint or "")
    assert mails == [] and store.messages(iid) == []


def test_a_failed_send_stores_nothing(
    csirt_store: IncidentStore, alerts: FakeAlerts, monkeypatch: pytest.MonkeyPatch
) -> None:
    iid = _incident(csirt_store, alerts)

    def broken(*a: Any, **k: Any) -> None:
        raise IncidentsError("the outbox is full")

    monkeypatch.setattr(sending, "send_mail", broken)
    with pytest.raises(IncidentsError, match="outbox is full"):
        csirt_report(csirt_store, iid, "first", actor="t", now=T0)
    assert csirt_store.messages(iid) == []


def test_a_merged_incident_is_reported_through_the_one_it_joined(
    csirt_store: IncidentStore,
) -> None:
    from mamori.incidents.service import merge_incidents

    a = create_incident(csirt_store, actor="t", now=T0, title="a").incident.id
    b = create_incident(csirt_store, actor="t", now=T0, title="b").incident.id
    merge_incidents(csirt_store, a, b, actor="t", now=T0)
    with pytest.raises(IncidentsError, match=f"report on {a}"):
        try:
            csirt_report(csirt_store, b, "first", actor="t", now=T0)
        except IncidentsError as e:
            raise IncidentsError(e.message + " / " + (e.hint or "")) from e
    msg = csirt_report(csirt_store, a, "first", actor="t", now=T0)
    assert f"統合したインシデント: {b}" in msg.body


def test_configure_helper_leaves_a_valid_config(home: Home) -> None:
    configure_csirt(home)
    assert home.config().incidents.csirt.to == (CSIRT_TO,)
