"""The service desk (OPS-1): ticket lifecycle, first response and resolution, monthly stats."""

from __future__ import annotations

import datetime as dt
import os
import stat
from zoneinfo import ZoneInfo

import pytest

from mamori.home import Home
from mamori.incidents.errors import IncidentsError, NotFound, WorkflowRefused
from mamori.incidents.model import Level, Priority
from mamori.incidents.tickets import (
    DB_NAME,
    TICKET_TABLE,
    TicketCategory,
    TicketStatus,
    TicketStore,
    comment_ticket,
    open_ticket,
    set_ticket_status,
    update_ticket,
)
from mamori.incidents.ticketstats import month_bounds, month_stats, percentile, ticket_stats
from tests.incidents.conftest import T0, audit_events, minutes

S = TicketStatus
ALLOWED = {
    (S.NEW, S.IN_PROGRESS), (S.NEW, S.WAITING), (S.NEW, S.RESOLVED),
    (S.IN_PROGRESS, S.WAITING), (S.IN_PROGRESS, S.RESOLVED),
    (S.WAITING, S.IN_PROGRESS), (S.WAITING, S.RESOLVED),
    (S.RESOLVED, S.CLOSED), (S.RESOLVED, S.IN_PROGRESS),
}  # fmt: skip


def _open(tickets: TicketStore, now: dt.datetime = T0, **kw: object) -> str:
    args: dict[str, object] = {
        "category": TicketCategory.INQUIRY,
        "requester": "yamada",
        "subject": "VPN に接続できない",
        "actor": "yamada",
        "now": now,
        **kw,
    }
    return open_ticket(tickets, **args).id  # type: ignore[arg-type]


def test_the_status_table_covers_every_pair() -> None:
    assert set(TICKET_TABLE) == {(a, b) for a in S for b in S}
    assert {k for k, ok in TICKET_TABLE.items() if ok} == ALLOWED


@pytest.mark.parametrize(("a", "b"), [(a, b) for a in S for b in S])
def test_every_status_change(home: Home, tickets: TicketStore, a: S, b: S) -> None:
    """Drive a ticket to `a`, then try `b`: allowed exactly as the table says."""
    tid = _open(tickets)
    path = {
        S.NEW: [],
        S.IN_PROGRESS: [S.IN_PROGRESS],
        S.WAITING: [S.WAITING],
        S.RESOLVED: [S.RESOLVED],
        S.CLOSED: [S.RESOLVED, S.CLOSED],
    }[a]
    for st in path:
        set_ticket_status(tickets, tid, st, actor="desk", now=T0 + minutes(1))
    note = "again" if (a, b) == (S.RESOLVED, S.IN_PROGRESS) else ""
    if (a, b) in ALLOWED:
        t = set_ticket_status(tickets, tid, b, actor="desk", now=T0 + minutes(2), note=note)
        assert t.status is b
    else:
        with pytest.raises(WorkflowRefused, match=f"from {a.value} to {b.value}"):
            set_ticket_status(tickets, tid, b, actor="desk", now=T0 + minutes(2), note=note)


def test_lifecycle_with_times_and_audit(home: Home, tickets: TicketStore) -> None:
    tid = _open(tickets, priority=Priority.P2, description="朝から繋がらない")
    assert tid == "TKT-2026-0001"
    mode = stat.S_IMODE(os.stat(home.root / DB_NAME).st_mode)
    assert mode == 0o600
    # The requester's own comment is not a response.
    comment_ticket(tickets, tid, "追記: 自宅からです", actor="yamada", now=T0 + minutes(5))
    assert tickets.get(tid).first_response_at is None
    t = comment_ticket(tickets, tid, "確認します", actor="desk", now=T0 + minutes(20))
    assert t.first_response_at == T0 + minutes(20) and t.first_response_minutes == 20
    set_ticket_status(tickets, tid, S.IN_PROGRESS, actor="desk", now=T0 + minutes(30))
    set_ticket_status(tickets, tid, S.WAITING, actor="desk", now=T0 + minutes(40), note="回答待ち")
    t = set_ticket_status(tickets, tid, S.RESOLVED, actor="desk", now=T0 + minutes(100))
    assert t.resolved_at == T0 + minutes(100) and t.resolution_minutes == 100
    assert t.first_response_at == T0 + minutes(20)  # unchanged by later steps
    with pytest.raises(IncidentsError, match="reason"):
        set_ticket_status(tickets, tid, S.IN_PROGRESS, actor="desk", now=T0 + minutes(110))
    t = set_ticket_status(tickets, tid, S.IN_PROGRESS, actor="yamada", now=T0 + minutes(110),
                          note="再発した")  # fmt: skip
    assert t.resolved_at is None
    t = set_ticket_status(tickets, tid, S.RESOLVED, actor="desk", now=T0 + minutes(600))
    assert t.resolution_minutes == 600
    assert t.first_response_met(T0) is True and t.resolution_met(T0) is False  # P2: 480 min
    t = set_ticket_status(tickets, tid, S.CLOSED, actor="desk", now=T0 + minutes(700))
    assert t.closed_at == T0 + minutes(700)
    with pytest.raises(IncidentsError, match="closed"):
        comment_ticket(tickets, tid, "x", actor="desk", now=T0 + minutes(701))
    assert [e.kind for e in t.log] == ["comment", "comment"] + ["status"] * 6
    assert [e["action"] for e in audit_events(home, "ticket.")] == [
        "ticket.opened", "ticket.commented", "ticket.commented", "ticket.status",
        "ticket.status", "ticket.status", "ticket.reopened", "ticket.status", "ticket.status",
    ]  # fmt: skip
    assert all(e["ticket"] == tid for e in audit_events(home, "ticket."))
    first = audit_events(home, "ticket.commented")
    assert [e["first_response"] for e in first] == [False, True]


def test_a_status_change_by_staff_is_a_first_response(tickets: TicketStore) -> None:
    tid = _open(tickets)
    t = set_ticket_status(tickets, tid, S.IN_PROGRESS, actor="Desk", now=T0 + minutes(3))
    assert t.first_response_at == T0 + minutes(3)
    other = _open(tickets)
    t = set_ticket_status(tickets, other, S.RESOLVED, actor="YAMADA", now=T0 + minutes(3))
    assert t.first_response_at is None  # the requester (any case) closing their own


def test_priority_given_or_from_urgency_and_impact(tickets: TicketStore) -> None:
    assert tickets.get(_open(tickets)).priority is Priority.P3  # medium × medium
    high = _open(tickets, urgency=Level.HIGH, impact=Level.HIGH)
    assert tickets.get(high).priority is Priority.P1
    assert tickets.get(_open(tickets, priority=Priority.P5)).priority is Priority.P5
    with pytest.raises(IncidentsError, match="not both"):
        _open(tickets, priority=Priority.P1, urgency=Level.LOW)


def test_refusals(tickets: TicketStore) -> None:
    with pytest.raises(IncidentsError, match="subject"):
        _open(tickets, subject="a\nb")
    with pytest.raises(IncidentsError, match="requester"):
        _open(tickets, requester=" ")
    with pytest.raises(NotFound, match="TKT-2026-0042"):
        tickets.get("TKT-2026-0042")


def test_update(home: Home, tickets: TicketStore) -> None:
    tid = _open(tickets)
    t = update_ticket(tickets, tid, actor="lead", now=T0, assignee="suzuki",
                      priority=Priority.P1, category=TicketCategory.FAILURE)  # fmt: skip
    assert (t.assignee, t.priority, t.category) == ("suzuki", Priority.P1, TicketCategory.FAILURE)
    assert t.targets.first_response_minutes == 30
    with pytest.raises(IncidentsError, match="nothing to change"):
        update_ticket(tickets, tid, actor="lead", now=T0, assignee="suzuki")
    assert update_ticket(tickets, tid, actor="lead", now=T0, assignee=None).assignee is None
    (ev, _) = audit_events(home, "ticket.updated")
    assert ev["changes"]["priority"] == ["P3", "P1"]


def test_percentile_and_month_bounds() -> None:
    assert percentile([], 90) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0
    assert percentile([float(i) for i in range(1, 11)], 50) == 5.0
    tokyo = ZoneInfo("Asia/Tokyo")
    start, end = month_bounds("2026-12", tokyo)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-12-01T00:00:00+09:00", "2027-01-01T00:00:00+09:00",
    )  # fmt: skip
    for bad in ("2026-13", "2026/11", "26-11", ""):
        with pytest.raises(IncidentsError, match="not a month"):
            month_bounds(bad, tokyo)


def test_monthly_stats(tickets: TicketStore) -> None:
    nov = dt.datetime(2026, 11, 2, 0, 0, tzinfo=dt.UTC)
    # Four P3 tickets (targets 240 / 1440 min), one P1 (30 / 240), in November (Tokyo).
    a = _open(tickets, nov)
    comment_ticket(tickets, a, "ok", actor="desk", now=nov + minutes(10))
    set_ticket_status(tickets, a, S.RESOLVED, actor="desk", now=nov + minutes(100))
    b = _open(tickets, nov, category=TicketCategory.FAILURE)
    comment_ticket(tickets, b, "ok", actor="desk", now=nov + minutes(300))  # late
    set_ticket_status(tickets, b, S.RESOLVED, actor="desk", now=nov + minutes(2000))  # late
    c = _open(tickets, nov, priority=Priority.P1, category=TicketCategory.REQUEST)
    set_ticket_status(tickets, c, S.IN_PROGRESS, actor="desk", now=nov + minutes(20))
    d = _open(tickets, nov)  # never answered: missed once 240 minutes have passed
    _open(tickets, dt.datetime(2026, 10, 31, 14, 59, tzinfo=dt.UTC))  # Oct 31 23:59 Tokyo
    late_nov = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)  # Nov 30 23:00 Tokyo
    e = _open(tickets, late_nov)  # not yet due at "now"
    now = late_nov + minutes(10)
    stats = ticket_stats(tickets, "2026-11", now=now)
    assert stats["opened"] == 5
    assert stats["by_category"] == {"inquiry": 3, "request": 1, "failure": 1, "change": 0,
                                    "other": 0}  # fmt: skip
    assert stats["by_priority"] == {"P1": 1, "P2": 0, "P3": 4, "P4": 0, "P5": 0}
    assert stats["by_status"] == {"new": 2, "in_progress": 1, "waiting": 0, "resolved": 2,
                                  "closed": 0}  # fmt: skip
    fr = stats["first_response"]
    assert fr["count"] == 3 and fr["median_minutes"] == 20 and fr["p90_minutes"] == 300
    assert (fr["within_target"], fr["missed"], fr["pending"]) == (2, 2, 1)  # a, c; b, d; e
    assert fr["within_target_percent"] == 50.0
    rs = stats["resolution"]
    assert rs["count"] == 2 and rs["median_minutes"] == 1050 and rs["p90_minutes"] == 2000
    assert (rs["within_target"], rs["missed"], rs["within_target_percent"]) == (1, 1, 50.0)
    assert {d, e} <= {t.id for t in tickets.tickets()}
    empty = month_stats([], "2026-01", tickets.zone, now)
    assert empty["first_response"]["within_target_percent"] is None
    assert empty["resolution"]["median_minutes"] is None
