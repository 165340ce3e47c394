"""The row and time policies (DB-3) at their edges."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mamori.dbguard import policy
from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.facts import Reason, Result, Session, Statement, Verdict
from mamori.dbguard.policy import Policies, TimePolicy
from mamori.detect.calendar import BusinessCalendar, Classification
from mamori.detect.calendar import Reason as CalendarReason

JST = ZoneInfo("Asia/Tokyo")
CAL = BusinessCalendar()


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> float:
    return dt.datetime(y, m, d, hh, mm, tzinfo=JST).timestamp()


def stmt(
    role: str = "app", at_: float = 0.0, end_user: str = "", verified: bool = False
) -> Statement:
    session = Session("s1", "shop", role, end_user=end_user, end_user_verified=verified)
    return Statement(session, "select 1", "simple", at_)


def make(
    clock: Clock | None = None,
    *,
    per_statement: int = 0,
    per_window: int = 0,
    window_s: float = 60.0,
    block: bool = False,
    time_policy: str = "off",
    exempt: frozenset[str] = frozenset(),
    max_users: int = 100_000,
) -> Policies:
    return Policies(
        rows_per_statement=per_statement,
        rows_per_window=per_window,
        rows_window_s=window_s,
        rows_block=block,
        time_policy=time_policy,
        exempt_roles=exempt,
        calendar=CAL,
        clock=clock or Clock(),
        max_users=max_users,
    )


# --- time ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "code", "words"),
    [
        (at(2026, 1, 1), policy.HOLIDAY, "元日"),
        (at(2026, 5, 4), policy.HOLIDAY, "みどりの日"),
        (at(2026, 5, 5), policy.HOLIDAY, "こどもの日"),
        (at(2026, 5, 6), policy.HOLIDAY, "振替休日"),
        (at(2026, 12, 29), policy.YEAR_END, "year-end"),
        (at(2026, 12, 30), policy.YEAR_END, "year-end"),
        (at(2026, 12, 31), policy.YEAR_END, "year-end"),
        (at(2027, 1, 1), policy.HOLIDAY, "元日"),
        (at(2027, 1, 2), policy.YEAR_END, "year-end"),
        (at(2027, 1, 3), policy.YEAR_END, "year-end"),
        (at(2026, 11, 29), policy.OUTSIDE_HOURS, "weekend"),  # a Sunday
        (at(2026, 11, 26, 19, 1), policy.OUTSIDE_HOURS, "outside business hours"),  # Thursday
        (at(2026, 11, 26, 18, 0), policy.OUTSIDE_HOURS, "outside business hours"),
        (at(2026, 11, 26, 8, 59), policy.OUTSIDE_HOURS, "outside business hours"),
    ],
)
def test_time_policy_alerts_outside_business_time(when: float, code: str, words: str) -> None:
    d = make(time_policy="alert").before(stmt(at_=when))
    assert d.verdict is Verdict.ALERT
    (reason,) = d.reasons
    assert reason.code == code and reason.clause == "DB-3"
    assert words in reason.detail


@pytest.mark.parametrize(
    "when",
    [
        at(2026, 11, 26, 9, 0),  # opening time is inside
        at(2026, 11, 26, 17, 59),
        at(2026, 12, 28, 17, 0),  # the last working day before the closure
        at(2027, 1, 4, 9, 0),  # the first one after it
        at(2026, 5, 7, 10, 0),  # after Golden Week
    ],
)
def test_time_policy_allows_business_time(when: float) -> None:
    assert make(time_policy="block").before(stmt(at_=when)).verdict is Verdict.ALLOW


def test_time_policy_block_and_off() -> None:
    sunday = at(2026, 11, 29)
    assert make(time_policy="block").before(stmt(at_=sunday)).verdict is Verdict.BLOCK
    assert make(time_policy=TimePolicy.OFF).before(stmt(at_=sunday)).verdict is Verdict.ALLOW


def test_exempt_roles_are_allowed_at_any_time() -> None:
    p = make(time_policy="block", exempt=frozenset({"batch"}))
    assert p.before(stmt("batch", at(2026, 1, 1))).verdict is Verdict.ALLOW
    assert p.before(stmt("app", at(2026, 1, 1))).verdict is Verdict.BLOCK


def test_time_verdicts_are_cached_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    p = make(time_policy="alert")
    calls: list[dt.datetime] = []
    real = CAL.classify

    def counting(moment: dt.datetime) -> Classification:
        calls.append(moment)
        return real(moment)

    monkeypatch.setattr(p.calendar, "classify", counting)
    base = at(2026, 11, 26, 19, 1)
    for second in range(60):
        assert p.before(stmt(at_=base + second)).verdict is Verdict.ALERT
    assert len(calls) == 1
    # 17:59:59 and 18:00:00 are different minutes with different verdicts.
    assert p.before(stmt(at_=at(2026, 11, 26, 18, 0) - 1)).verdict is Verdict.ALLOW
    assert p.before(stmt(at_=at(2026, 11, 26, 18, 0))).verdict is Verdict.ALERT


def test_every_calendar_reason_has_a_policy_answer() -> None:
    local = dt.datetime(2026, 11, 26, 10, tzinfo=JST)
    for member in CalendarReason:
        r = policy.time_reason(Classification(local, member, "元日"))
        if member is CalendarReason.BUSINESS_HOURS:
            assert r is None
        else:
            assert r is not None and r.code in policy.REASON_CODES
    for tp in TimePolicy:
        assert isinstance(tp.verdict, Verdict)


# --- rows per statement --------------------------------------------------------------------


def test_rows_per_statement_threshold_and_one_over() -> None:
    p = make(per_statement=100)
    assert p.after(stmt(), Result(rows_returned=100)).verdict is Verdict.ALLOW
    d = p.after(stmt(), Result(rows_returned=101))
    assert d.verdict is Verdict.ALERT
    assert [r.code for r in d.reasons] == [policy.ROWS_STATEMENT]
    assert "101" in d.reasons[0].detail and "100" in d.reasons[0].detail


def test_rows_block_while_streaming() -> None:
    p = make(per_statement=100, block=True)
    assert p.rows(stmt(), 100).verdict is Verdict.ALLOW
    d = p.rows(stmt(), 101)
    assert d.verdict is Verdict.BLOCK and d.reasons[0].code == policy.ROWS_STATEMENT
    # Without rows_block, streaming is never stopped; the alert comes after.
    assert make(per_statement=100).rows(stmt(), 10**9).verdict is Verdict.ALLOW


def test_reasons_the_proxy_cancelled_for_are_not_repeated() -> None:
    p = make(per_statement=100, block=True)
    blocked = p.rows(stmt(), 101)
    d = p.after(stmt(), Result(rows_returned=101, cancelled_by=blocked.reasons))
    assert d.verdict is Verdict.ALLOW


def test_zero_turns_the_limits_off() -> None:
    p = make(block=True)
    assert p.rows(stmt(), 10**9).verdict is Verdict.ALLOW
    assert p.after(stmt(), Result(rows_returned=10**9)).verdict is Verdict.ALLOW


# --- rows per user per window ----------------------------------------------------------------


def test_window_threshold_one_over_and_once_per_window() -> None:
    clock = Clock()
    p = make(clock, per_window=1000, window_s=60)
    assert p.after(stmt(), Result(rows_returned=600)).verdict is Verdict.ALLOW
    clock.t += 10
    assert p.after(stmt(), Result(rows_returned=400)).verdict is Verdict.ALLOW  # exactly 1000
    clock.t += 10
    d = p.after(stmt(), Result(rows_returned=1))
    assert d.verdict is Verdict.ALERT and [r.code for r in d.reasons] == [policy.ROWS_WINDOW]
    assert "role app" in d.reasons[0].detail and "1001" in d.reasons[0].detail
    clock.t += 10
    assert p.after(stmt(), Result(rows_returned=500)).verdict is Verdict.ALLOW  # once a window
    assert p.window_total(stmt()) == 1501


def test_window_slides() -> None:
    clock = Clock()
    p = make(clock, per_window=1000, window_s=60)
    p.after(stmt(), Result(rows_returned=1000))
    clock.t += 59.9
    assert p.window_total(stmt()) == 1000
    clock.t += 0.1  # the first rows leave the window 60 s after they came
    assert p.window_total(stmt()) == 0
    assert p.after(stmt(), Result(rows_returned=1000)).verdict is Verdict.ALLOW
    clock.t += 30
    d = p.after(stmt(), Result(rows_returned=1))
    assert d.verdict is Verdict.ALERT
    # A new window: once its first alert is a window old, another may be raised.
    clock.t += 60
    assert p.window_total(stmt()) == 0
    assert p.after(stmt(), Result(rows_returned=1000)).verdict is Verdict.ALLOW
    assert p.after(stmt(), Result(rows_returned=1)).verdict is Verdict.ALERT


def test_window_blocks_while_streaming() -> None:
    clock = Clock()
    p = make(clock, per_window=1000, window_s=60, block=True)
    p.after(stmt(), Result(rows_returned=900))
    assert p.rows(stmt(), 100).verdict is Verdict.ALLOW
    d = p.rows(stmt(), 101)
    assert d.verdict is Verdict.BLOCK and d.reasons[0].code == policy.ROWS_WINDOW
    assert p.rows(stmt("other"), 1000).verdict is Verdict.ALLOW
    clock.t += 60
    assert p.rows(stmt(), 1000).verdict is Verdict.ALLOW


def test_window_counts_the_verified_end_user_not_the_shared_role() -> None:
    clock = Clock()
    p = make(clock, per_window=100, window_s=60)
    p.after(stmt(end_user="alice", verified=True), Result(rows_returned=100))
    p.after(stmt(end_user="bob", verified=True), Result(rows_returned=100))
    # Unverified end users count against the role.
    assert p.after(stmt(end_user="alice"), Result(rows_returned=100)).verdict is Verdict.ALLOW
    d = p.after(stmt(end_user="alice", verified=True), Result(rows_returned=1))
    assert d.verdict is Verdict.ALERT and "end user alice" in d.reasons[0].detail


def test_nearby_rows_share_slots_and_memory_is_bounded() -> None:
    clock = Clock()
    p = make(clock, per_window=10**9, window_s=1000, max_users=10)
    for _ in range(10_000):
        clock.t += 0.01
        p.after(stmt(), Result(rows_returned=1))
    w = p._users[("role", "app")]
    assert len(w.slots) <= policy.WINDOW_SLOTS + 1
    assert w.total == 10_000
    for i in range(50):
        p.after(stmt(f"r{i}"), Result(rows_returned=1))
    assert len(p._users) <= 10
    assert ("role", "r49") in p._users


def test_the_least_recently_seen_user_is_evicted() -> None:
    clock = Clock()
    p = make(clock, per_window=10**9, window_s=60, max_users=2)
    p.after(stmt("old"), Result(rows_returned=1))
    clock.t += 30
    p.after(stmt("active"), Result(rows_returned=1))
    clock.t += 40  # "old" has expired, "active" has not
    p.after(stmt("new"), Result(rows_returned=1))
    assert set(p._users) == {("role", "active"), ("role", "new")}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"per_statement": -1}, "rows_per_statement"),
        ({"per_window": -1}, "rows_per_window"),
        ({"per_window": 10, "window_s": 0}, "rows_window_s"),
        ({"time_policy": "warn"}, "time_policy"),
        ({"max_users": 0}, "max_users"),
    ],
)
def test_bad_settings_name_the_key(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(DbGuardError, match=words):
        make(**kwargs)  # type: ignore[arg-type]


def test_decisions_combine() -> None:
    p = make(per_statement=1, per_window=1, time_policy="alert")
    decisions = [
        p.before(stmt(at_=at(2026, 1, 1))),
        p.after(stmt(), Result(rows_returned=2)),
    ]
    combined = type(decisions[0]).combine(decisions)
    assert combined.verdict is Verdict.ALERT
    codes = [r.code for r in combined.reasons]
    assert codes == [policy.HOLIDAY, policy.ROWS_STATEMENT, policy.ROWS_WINDOW]
    assert all(isinstance(r, Reason) for r in combined.reasons)
