"""Guard: the fallback analysis, combining the parts, failing checks, row check points; and
the outbox that carries events to the ledger."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from mamori.dbguard.facts import Decision, Reason, Result, Session, Statement, Verdict
from mamori.dbguard.guard import CHECK_FAILED, BasicAnalysis, Guard, basic_analysis, first_keyword
from mamori.dbguard.outbox import EventOutbox
from mamori.dbguard.settings import Address, DbGuardConfig, FirewallMode, TimePolicy
from mamori.service.contracts import Ack
from mamori.service.errors import SinkRejected
from mamori.service.log import Log

CFG = DbGuardConfig("t", Address("127.0.0.1", 0), Address("127.0.0.1", 5432))
STMT = Statement(Session("s", "d", "r"), "SELECT 1", "simple", 0.0)


def test_fallback_analysis() -> None:
    a = basic_analysis("/* tag */ SELECT a FROM t WHERE b = 'x' -- c\n; UPDATE t SET a = 1")
    assert a.normalized == "SELECT a FROM t WHERE b = $1 ; UPDATE t SET a = $2"
    assert a.kinds == ("select", "update") and a.statements == 2 and not a.parse_error
    assert a.decision.verdict is Verdict.ALLOW
    bad = basic_analysis("SELECT FROM WHERE")
    assert bad.parse_error and bad.fingerprint == "" and bad.statements == 1
    assert first_keyword("  -- x\n/* y */ with q as (select 1) select 1") == "WITH"
    assert first_keyword("") == ""


def test_the_default_guard_allows_what_it_cannot_judge() -> None:
    guard = Guard.default(replace(CFG, time_policy=TimePolicy.OFF))
    assert guard.before(STMT) == Decision()
    assert guard.analysis("SELECT 1") is guard.analysis("SELECT 1")  # cached


def test_guard_uses_the_analysis_module_when_there(monkeypatch: pytest.MonkeyPatch) -> None:
    flagged = Decision(Verdict.ALERT, (Reason("sqli.tautology", "1=1", "DB-1"),))
    module = types.ModuleType("mamori.dbguard.analysis")

    def analyse(sql: str) -> BasicAnalysis:
        return BasicAnalysis("f", "n", ("select",), 1, "", flagged)

    module.analyse = analyse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mamori.dbguard.analysis", module)
    guard = Guard.default(replace(CFG, time_policy=TimePolicy.OFF))
    assert guard.before(STMT) == flagged


class Part:
    def __init__(self, verdict: Verdict, code: str, *, fail: bool = False) -> None:
        self.decision = Decision(verdict, (Reason(code, code, "DB-1"),) if verdict else ())
        self.fail = fail
        self.seen: list[int] = []

    def _give(self) -> Decision:
        if self.fail:
            raise RuntimeError("a bug")
        return self.decision

    def decide(self, stmt: Statement, analysis: Any) -> Decision:
        return self._give()

    def weigh(self, stmt: Statement, found: Decision) -> Decision:
        return found

    def before(self, stmt: Statement) -> Decision:
        return self._give()

    def rows(self, stmt: Statement, n: int) -> Decision:
        self.seen.append(n)
        return self._give()

    def after(self, stmt: Statement, result: Result) -> Decision:
        return self._give()


def test_decisions_combine() -> None:
    guard = Guard(CFG, firewall=Part(Verdict.ALERT, "fw"), policies=Part(Verdict.BLOCK, "time"))
    got = guard.before(STMT)
    assert got.verdict is Verdict.BLOCK
    assert [r.code for r in got.reasons] == ["fw", "time"]
    assert guard.after(STMT, Result()).verdict is Verdict.BLOCK


def test_the_firewalls_decision_takes_the_place_of_the_analysis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flagged = Decision(Verdict.BLOCK, (Reason("sqli.union", "union", "DB-1"),))
    guard = Guard(
        CFG,
        analyse=lambda sql: BasicAnalysis("f", "n", ("select",), 1, "", flagged),
        firewall=Part(Verdict.ALLOW, ""),  # e.g. monitor mode: it has weighed the finding
    )
    assert guard.before(STMT) == Decision()


@pytest.mark.parametrize(
    ("mode", "verdict"),
    [(FirewallMode.MONITOR, Verdict.ALERT), (FirewallMode.ENFORCE, Verdict.BLOCK)],
)
def test_a_failing_check_is_never_silent(mode: FirewallMode, verdict: Verdict) -> None:
    errors: list[str] = []
    guard = Guard(
        replace(CFG, firewall=mode),
        firewall=Part(Verdict.ALLOW, "", fail=True),
        on_error=lambda part, e: errors.append(part),
    )
    got = guard.before(STMT)
    assert got.verdict is verdict and got.reasons[0].code == CHECK_FAILED
    assert errors == ["firewall"]


def test_rows_are_checked_at_points_not_per_row() -> None:
    guard = Guard(replace(CFG, rows_per_statement=1000), rows_check_every=256)
    points = []
    n = 0
    while n < 3000:
        n = guard.next_rows_check(n)
        points.append(n)
    assert points[:5] == [256, 512, 768, 1001, 1024]
    assert Guard(replace(CFG, rows_per_statement=0)).next_rows_check(0) == 256


class Sink:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[list[bytes]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def submit(
        self, events: Sequence[bytes], *, receiver: str, marks: Mapping[str, str] | None = None
    ) -> Ack:
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise SinkRejected("spool full")
        self.batches.append(list(events))
        return Ack(len(events), 0)

    def offer(self, events: Sequence[bytes], *, receiver: str) -> bool:
        return False

    def position(self, key: str) -> str | None:
        return None


def test_outbox_keeps_order_and_applies_back_pressure() -> None:
    async def run() -> None:
        sink = Sink()
        box = EventOutbox(sink, "dbguard-t", Log(), per_session=3)
        box.start()
        sink.gate.clear()  # the ledger is slow
        box.put("a", [b"1", b"2"])
        box.put("b", [b"x"])
        box.put("a", [b"3", b"4"])
        await asyncio.sleep(0)
        waiter = asyncio.create_task(box.room("a"))
        await asyncio.sleep(0.01)
        assert not waiter.done()  # 4 waiting > 3: session a stops reading
        await box.room("b")  # b is not held up
        sink.gate.set()
        await asyncio.wait_for(waiter, 5)
        assert await box.flush(5)
        assert [e for batch in sink.batches for e in batch] == [b"1", b"2", b"x", b"3", b"4"]
        await box.close()

    asyncio.run(run())


def test_outbox_bounds_what_the_whole_proxy_holds() -> None:
    """Regression (issue 6 benchmark): with only a per-session bound, eight busy sessions held
    80,000 events while the ledger lagged and the proxy's memory rose to 476 MB; the proxy-wide
    bound holds every session once the total passes it."""

    async def run() -> None:
        sink = Sink()
        box = EventOutbox(sink, "dbguard-t", Log(), per_session=5, max_waiting=6)
        box.start()
        sink.gate.clear()  # the ledger is slow
        for name in "abcd":
            box.put(name, [b"1", b"2"])  # 2 each: no session is over its own bound
        await asyncio.sleep(0)
        assert box.queued() == 8  # a batch leaves the queue once the ledger has it
        assert all(box.full(name) for name in "abcd")  # 8 > 6 in all
        box.put("e", [b"1"])
        assert box.full("e")  # a quiet session is held too while the proxy is over
        waiter = asyncio.create_task(box.room("e"))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        sink.gate.set()
        await asyncio.wait_for(waiter, 5)
        assert not box.full("e")
        assert await box.flush(5)
        await box.close()

    asyncio.run(run())


def test_outbox_retries_a_refused_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from mamori.dbguard import outbox as outbox_mod

    monkeypatch.setattr(outbox_mod, "RETRY_S", 0.01)

    async def run() -> str:
        sink = Sink(failures=2)
        stream = io.StringIO()
        box = EventOutbox(sink, "dbguard-t", Log(stream), per_session=10)
        box.start()
        box.put("a", [b"1"])
        assert await box.flush(5)
        assert sink.batches == [[b"1"]]
        await box.close()
        return stream.getvalue()

    logged = asyncio.run(run())
    assert "the ledger refused dbguard events" in logged
    assert "takes dbguard events again" in logged
