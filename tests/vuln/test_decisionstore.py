"""The decision store: scans observe findings, people triage and fix them, every transition
is a ledger event (read back from the audit outbox), deadlines are checked once."""

from __future__ import annotations

import datetime as dt
import itertools
import stat
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori import audit
from mamori.audit import AuditError
from mamori.home import Home
from mamori.vuln import decisionstore as ds
from mamori.vuln.decisions import Justification, Kind, State
from mamori.vuln.decisionstore import ObservedFinding
from mamori.vuln.errors import VulnError

T0 = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)
"""Monday 1 June 2026, 12:00 in Tokyo (the default [calendar] zone)."""
DAY = dt.timedelta(days=1)


def finding(vuln: str = "CVE-2024-35195", severity: str = "medium", **kw: Any) -> ObservedFinding:
    base: dict[str, Any] = dict(ecosystem="PyPI", name="requests", version="2.31.0",
                                purl="pkg:pypi/requests@2.31.0", vuln_id=vuln,
                                aliases=("GHSA-9wx4-h78v-vm56",), severity=severity,
                                fixed=("2.32.0",))  # fmt: skip
    base.update(kw)
    return ObservedFinding(**base)


def events(home: Home, after: int = 0) -> list[dict[str, Any]]:
    return [orjson.loads(e) for _i, e in audit.pending(home, after, 10_000)]


def last_id(home: Home) -> int:
    rows = audit.pending(home, 0, 100_000)
    return rows[-1][0] if rows else 0


@pytest.mark.parametrize(
    ("severity", "days"),
    [("critical", 7), ("high", 30), ("medium", 90), ("low", 180), ("none", 180), ("unknown", 30)],
)
def test_new_findings_are_detected_with_their_severitys_deadline(
    home: Home, severity: str, days: int
) -> None:
    f = finding(severity=severity)
    result = ds.observe(home, "web1", [f], T0)
    assert result.detected == (f.key,) and result.seen == 1
    assert ds.current_states(home, "web1") == {f.key: "detected"}
    (rec,) = ds.findings(home, "web1")
    assert rec.deadline == dt.date(2026, 6, 1) + dt.timedelta(days=days)
    (ev,) = events(home)
    assert ev["event"]["action"] == "vuln.finding_detected"
    fields = ev["mamori"]["audit"]
    assert fields == fields | {
        "system": "web1", "ecosystem": "PyPI", "component": "requests", "version": "2.31.0",
        "vulnerability": "CVE-2024-35195", "severity": severity, "state": "detected",
        "justification": "", "actor": ds.SCAN_ACTOR, "deadline": rec.deadline.isoformat(),
    }  # fmt: skip


def test_deadlines_count_days_in_the_calendar_zone(home: Home) -> None:
    # 20:00 UTC on 1 June is 05:00 on 2 June in Tokyo: the day of detection is 2 June
    ds.observe(home, "web1", [finding(severity="critical")], T0 + dt.timedelta(hours=17))
    assert ds.findings(home, "web1")[0].deadline == dt.date(2026, 6, 9)


def test_a_finding_seen_again_is_not_detected_again(home: Home) -> None:
    f = finding()
    ds.observe(home, "web1", [f], T0)
    after = last_id(home)
    result = ds.observe(home, "web1", [finding(version="2.31.1", severity="high")], T0 + DAY)
    assert result.detected == () and events(home, after) == []
    (rec,) = ds.findings(home, "web1")
    assert (rec.version, rec.severity, rec.deadline) == ("2.31.1", "high", dt.date(2026, 8, 30))


def test_the_whole_workflow_is_on_the_ledger(home: Home) -> None:
    f = finding()
    ds.observe(home, "web1", [f], T0)
    ds.triage(home, "web1", f.key, State.UNDER_INVESTIGATION, actor="yamada", note="looking")
    ds.triage(home, "web1", f.key, State.AFFECTED, actor="yamada", note="used",
              statement="upgrade to 2.32.0 in July")  # fmt: skip
    ds.mark_fixed(home, "web1", f.key, version="2.32.0", date=T0.date(), approver="sato", at=T0)
    result = ds.observe(home, "web1", [], T0 + DAY)
    assert result.verified == (f.key,)
    actions = [e["event"]["action"] for e in events(home)]
    assert actions == ["vuln.finding_detected", "vuln.finding_under_investigation",
                       "vuln.finding_affected", "vuln.finding_fixed", "vuln.finding_verified"]  # fmt: skip
    fixed = events(home)[3]["mamori"]["audit"]
    assert fixed | {"fixed_version": "2.32.0", "approver": "sato", "on_time": True} == fixed
    hist = ds.history(home, "web1", f.key)
    assert [(h.kind, h.from_state, h.to_state) for h in hist] == [
        ("detect", "", "detected"), ("triage", "detected", "under_investigation"),
        ("triage", "under_investigation", "affected"), ("triage", "affected", "fixed"),
        ("verify", "fixed", "verified"),
    ]  # fmt: skip
    assert [h.actor for h in hist] == [ds.SCAN_ACTOR, "yamada", "yamada", "sato", ds.SCAN_ACTOR]
    assert all(h.note for h in hist)
    (rec,) = ds.findings(home, "web1")
    assert rec.fix is not None and rec.fix.approver == "sato"  # verification keeps the fix


@pytest.mark.parametrize("closed", [State.FIXED, State.VERIFIED])
def test_a_fixed_finding_still_seen_is_reopened(home: Home, closed: State) -> None:
    f = finding()
    ds.observe(home, "web1", [f], T0)
    ds.mark_fixed(home, "web1", f.key, version="2.32.0", date=T0.date(), approver="sato", at=T0)
    if closed is State.VERIFIED:
        ds.observe(home, "web1", [], T0 + DAY)
    after = last_id(home)
    result = ds.observe(home, "web1", [f], T0 + 2 * DAY)
    assert result.reopened == (f.key,)
    assert ds.current_states(home, "web1") == {f.key: "detected"}
    (ev,) = events(home, after)
    assert ev["event"]["action"] == "vuln.finding_reopened"
    assert ev["mamori"]["audit"]["previous"] == closed.value
    (rec,) = ds.findings(home, "web1")
    assert rec.fix is None and rec.deadline == dt.date(2026, 8, 30)  # the first deadline stands


def test_open_findings_not_seen_stay_open(home: Home) -> None:
    f = finding()
    ds.observe(home, "web1", [f], T0)
    assert ds.observe(home, "web1", [], T0 + DAY).verified == ()
    assert ds.current_states(home, "web1") == {f.key: "detected"}


def test_systems_are_separate_and_duplicates_merge(home: Home) -> None:
    f = finding()
    r = ds.observe(home, "web1", [f, finding(version="2.30.0")], T0)
    assert r.seen == 1
    ds.observe(home, "db1", [f], T0)
    ds.mark_fixed(home, "web1", f.key, version="2.32.0", date=T0.date(), approver="s", at=T0)
    assert ds.current_states(home, "db1") == {f.key: "detected"}
    assert ds.current_states(home, "web1") == {f.key: "fixed"}


def test_unknown_findings_and_bad_input_are_refused(home: Home) -> None:
    with pytest.raises(VulnError, match="web1 has no finding CVE-1 for PyPI/x") as e:
        ds.triage(home, "web1", ("PyPI", "x", "CVE-1"), State.AFFECTED, actor="a", note="n",
                  statement="s")  # fmt: skip
    assert "mamori vuln findings --system web1" in (e.value.hint or "")
    with pytest.raises(VulnError, match="severity 'severe' is not a label"):
        ds.observe(home, "web1", [finding(severity="severe")], T0)
    with pytest.raises(VulnError, match="the ecosystem '' is empty"):
        ds.observe(home, "web1", [finding(ecosystem="")], T0)
    assert ds.current_states(home, "web1") == {}


def test_a_transition_whose_audit_record_fails_is_not_stored(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = finding()
    ds.observe(home, "web1", [f], T0)

    def broken(*_a: Any, **_k: Any) -> int:
        raise AuditError("cannot use the audit outbox: disk full", hint="free some space")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(VulnError, match="not stored: its audit event") as e:
        ds.triage(home, "web1", f.key, State.UNDER_INVESTIGATION, actor="y", note="n")
    assert e.value.hint == "free some space"
    with pytest.raises(VulnError):
        ds.observe(home, "web1", [f, finding(vuln="CVE-2")], T0)
    assert ds.current_states(home, "web1") == {f.key: "detected"}
    assert len(ds.history(home, "web1", f.key)) == 1


def test_the_database_is_private(home: Home) -> None:
    ds.observe(home, "web1", [finding()], T0)
    path = home.root / "vuln" / ds.DB_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# --- deadlines


@pytest.mark.parametrize(("days", "late"), [(6, False), (7, False), (8, True)])
def test_deadline_boundary(home: Home, days: int, late: bool) -> None:
    f = finding(severity="critical")  # due 8 June: met through that day
    ds.observe(home, "web1", [f], T0)
    now = T0 + days * DAY
    assert [r.key for r in ds.overdue(home, now)] == ([f.key] if late else [])
    assert [o.record.key for o in ds.check_deadlines(home, now)] == ([f.key] if late else [])


def test_check_deadlines_records_once_per_deadline(home: Home) -> None:
    f, g = finding(severity="critical"), finding(vuln="CVE-2", severity="critical")
    ds.observe(home, "web1", [f, g], T0)
    ds.triage(home, "web1", g.key, State.NOT_AFFECTED, actor="y", note="n",
              justification=Justification.COMPONENT_NOT_PRESENT)  # fmt: skip
    after = last_id(home)
    first = ds.check_deadlines(home, T0 + 8 * DAY)
    assert [(o.record.key, o.days_late, o.recorded_now) for o in first] == [(f.key, 1, True)]
    (ev,) = events(home, after)
    assert ev["event"]["action"] == "vuln.deadline_missed"
    assert ev["mamori"]["audit"]["days_late"] == 1
    after = last_id(home)
    again = ds.check_deadlines(home, T0 + 9 * DAY)
    assert [(o.days_late, o.recorded_now) for o in again] == [(2, False)]
    assert events(home, after) == []
    assert [h.kind for h in ds.history(home, "web1", f.key)][-1] == "deadline_missed"
    ds.mark_fixed(home, "web1", f.key, version="2.32.0", date=(T0 + 10 * DAY).date(),
                  approver="sato", at=T0 + 10 * DAY)  # fmt: skip
    assert ds.check_deadlines(home, T0 + 11 * DAY) == []
    fixed = events(home, after)[-1]["mamori"]["audit"]
    assert fixed["on_time"] is False


# --- any sequence of operations leaves a valid store and raises only VulnError

OPS = st.one_of(
    st.tuples(st.just("observe"), st.sets(st.sampled_from(["A", "B", "C"])),
              st.sampled_from(["critical", "low", "unknown"])),
    st.tuples(st.just("triage"), st.sampled_from(["A", "B", "C", "D"]), st.sampled_from(list(State)),
              st.sampled_from([None, *Justification]), st.sampled_from(["", "do it"])),
    st.tuples(st.just("fixed"), st.sampled_from(["A", "B", "C"]), st.sampled_from(["", "2.0"]),
              st.sampled_from(["", "sato"]), st.integers(-2, 2)),
)  # fmt: skip

_RUN = iter(range(10**9))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(OPS, max_size=12))
def test_fuzz_transition_sequences(home: Home, ops: list[tuple[Any, ...]]) -> None:
    system = f"s{next(_RUN)}"
    at = T0
    for op in ops:
        at += DAY
        key = ("PyPI", "pkg", op[1]) if op[0] != "observe" else None
        try:
            if op[0] == "observe":
                found = [finding(vuln=v, name="pkg", severity=op[2]) for v in sorted(op[1])]
                ds.observe(home, system, found, at)
            elif op[0] == "triage":
                assert key is not None
                ds.triage(home, system, key, op[2], actor="y", note="n", justification=op[3],
                          statement=op[4], at=at)  # fmt: skip
            else:
                assert key is not None
                ds.mark_fixed(home, system, key, version=op[2], approver=op[3],
                              date=(at + op[4] * DAY).date(), at=at)  # fmt: skip
        except VulnError:
            pass
    states = ds.current_states(home, system)
    for (eco, name, vuln), state in states.items():
        hist = ds.history(home, system, (eco, name, vuln))
        moves = [h for h in hist if h.kind != "deadline_missed"]
        assert moves[0].kind == Kind.DETECT and moves[-1].to_state == state
        for before, after in itertools.pairwise(moves):
            assert after.from_state == before.to_state
        (rec,) = [r for r in ds.findings(home, system) if r.vuln == vuln]
        assert (rec.fix is not None) == (rec.state in (State.FIXED, State.VERIFIED))
        assert (rec.justification != "") == (rec.state is State.NOT_AFFECTED)
