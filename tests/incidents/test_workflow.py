"""The FLT-1 state machine, every (stage, action) pair, and the timers at their edges."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from mamori.incidents.errors import WorkflowRefused
from mamori.incidents.model import BreachDetails, Category, Priority, Stage, StepKind
from mamori.incidents.workflow import (
    TABLE,
    TIMER_LABELS_JA,
    Action,
    TimerState,
    Transition,
    Verdict,
    step_action,
    target_of,
    timer_state,
    timers,
    transition,
)
from tests.incidents.conftest import T0, minutes
from tests.incidents.helpers import incident_at

LATER = T0 + minutes(30)
ALL_PAIRS = [(s, a) for s in Stage for a in Action]


def expected(stage: Stage, action: Action) -> Verdict:
    """The rules of the brief, written independently of TABLE."""
    if stage is Stage.CLOSED:
        return Verdict.NEEDS_REASON if action is Action.REOPEN else Verdict.REFUSED
    if action is Action.MERGE:
        return Verdict.ALLOWED
    if action is Action.REOPEN:
        return Verdict.NEEDS_REASON if stage is Stage.REPORTED else Verdict.REFUSED
    if action is Action.CLOSE:
        return Verdict.NEEDS_REVIEW if stage is Stage.REPORTED else Verdict.REFUSED
    target = target_of(action)
    if target.order <= stage.order:
        return Verdict.REFUSED
    return Verdict.ALLOWED if target.order == stage.order + 1 else Verdict.NEEDS_REASON


def test_the_table_covers_every_pair_exactly() -> None:
    assert set(TABLE) == set(ALL_PAIRS)
    assert len(TABLE) == len(Stage) * len(Action) == 42


@pytest.mark.parametrize(("stage", "action"), ALL_PAIRS)
def test_table_entry(stage: Stage, action: Action) -> None:
    assert TABLE[(stage, action)] is expected(stage, action)


@pytest.mark.parametrize(("stage", "action"), ALL_PAIRS)
def test_transition_obeys_the_table(stage: Stage, action: Action) -> None:
    """Every pair, run through transition(): refused ones raise, the others need exactly what
    the table says (a reason, a review)."""
    inc = incident_at(stage, priority=Priority.P1)
    verdict = TABLE[(stage, action)]

    def run(reason: str = "", review: bool = False) -> Transition:
        return transition(
            replace(inc, review_completed=review),
            action,
            actor="tanaka",
            at=LATER,
            reason=reason,
        )

    match verdict:
        case Verdict.REFUSED:
            for reason in ("", "because"):
                with pytest.raises(WorkflowRefused) as e:
                    run(reason)
                assert e.value.message
        case Verdict.ALLOWED:
            reason = "merged into INC-2026-0002" if action is Action.MERGE else ""
            t = run(reason)
            assert t.stage is target_of(action)
        case Verdict.NEEDS_REASON:
            with pytest.raises(WorkflowRefused, match="reason"):
                run("")
            t = run("no vendor involved")
            assert t.stage is target_of(action)
        case Verdict.NEEDS_REVIEW:
            with pytest.raises(WorkflowRefused, match="review"):
                run()
            assert run(review=True).stage is Stage.CLOSED


def test_every_enum_member_has_a_label_and_order() -> None:
    assert [s.order for s in Stage] == list(range(len(Stage)))
    assert all(s.ja for s in Stage)
    assert all(target_of(a) in Stage for a in Action)
    for v in Verdict:
        assert v in TABLE.values()
    assert set(TIMER_LABELS_JA) == {
        "response", "isolated", "vendor_contacted", "resolution", "reported",
        "csirt_first_report",
    }  # fmt: skip


def test_step_action_refuses_detected_and_closed() -> None:
    with pytest.raises(WorkflowRefused, match="starts there"):
        step_action(Stage.DETECTED)
    with pytest.raises(WorkflowRefused, match="close"):
        step_action(Stage.CLOSED)
    for st in (Stage.ISOLATED, Stage.VENDOR_CONTACTED, Stage.RECOVERY_CONFIRMED, Stage.REPORTED):
        assert target_of(step_action(st)) is st


def test_skipping_records_each_skipped_stage_with_reason_actor_time() -> None:
    t = transition(
        incident_at(Stage.DETECTED),
        Action.TO_RECOVERY_CONFIRMED,
        actor="sato",
        at=LATER,
        note="restarted",
        reason="failure was local; no vendor needed",
    )
    assert [(s.kind, s.stage) for s in t.steps] == [
        (StepKind.SKIPPED, Stage.ISOLATED),
        (StepKind.SKIPPED, Stage.VENDOR_CONTACTED),
        (StepKind.REACHED, Stage.RECOVERY_CONFIRMED),
    ]
    assert [s.seq for s in t.steps] == [2, 3, 4]
    assert all(s.actor == "sato" and s.at == LATER for s in t.steps)
    assert t.steps[0].reason == t.steps[1].reason == "failure was local; no vendor needed"
    assert t.steps[2].note == "restarted"


def test_a_skip_reason_on_the_next_stage_is_refused() -> None:
    with pytest.raises(WorkflowRefused, match="nothing is skipped"):
        transition(incident_at(Stage.DETECTED), Action.TO_ISOLATED, actor="a", at=LATER, reason="x")


def test_reopen_goes_back_to_isolated_with_reason() -> None:
    t = transition(incident_at(Stage.CLOSED), Action.REOPEN, actor="a", at=LATER, reason="again")
    assert t.stage is Stage.ISOLATED
    assert t.steps[0].kind is StepKind.REOPENED and t.steps[0].reason == "again"


def test_close_without_review_is_fine_below_p2() -> None:
    for p in (Priority.P3, Priority.P4, Priority.P5):
        t = transition(incident_at(Stage.REPORTED, priority=p), Action.CLOSE, actor="a", at=LATER)
        assert t.stage is Stage.CLOSED


def test_close_of_a_breach_needs_a_review_whatever_its_priority() -> None:
    inc = incident_at(Stage.REPORTED, priority=Priority.P5, category=Category.BREACH)
    with pytest.raises(WorkflowRefused, match="breach"):
        transition(inc, Action.CLOSE, actor="a", at=LATER)


def test_steps_need_an_actor_and_time_order() -> None:
    inc = incident_at(Stage.DETECTED)
    with pytest.raises(WorkflowRefused, match="actor"):
        transition(inc, Action.TO_ISOLATED, actor=" ", at=LATER)
    with pytest.raises(WorkflowRefused, match="before"):
        transition(inc, Action.TO_ISOLATED, actor="a", at=T0 - minutes(1))


def test_a_merged_incident_cannot_be_reopened() -> None:
    from mamori.incidents.model import IncidentId

    inc = replace(incident_at(Stage.CLOSED), merged_into=IncidentId("INC-2026-0009"))
    with pytest.raises(WorkflowRefused, match="INC-2026-0009"):
        transition(inc, Action.REOPEN, actor="a", at=LATER, reason="x")


# ---------------------------------------------------------------------------- timers


def test_timer_state_edges() -> None:
    due = T0
    second = dt.timedelta(seconds=1)
    assert timer_state(due, None, due) is TimerState.PENDING  # due exactly now
    assert timer_state(due, None, due + second) is TimerState.BREACHED  # one second late
    assert timer_state(due, due, due + minutes(60)) is TimerState.MET  # met exactly at due
    assert timer_state(due, due + second, due + second) is TimerState.BREACHED  # met late
    assert timer_state(due, due - second, due - minutes(5)) is TimerState.MET


def test_timers_of_a_new_p3_incident() -> None:
    inc = incident_at(Stage.DETECTED)
    ts = timers(inc, T0)
    assert [t.name for t in ts] == [
        "response", "isolated", "vendor_contacted", "resolution", "reported"
    ]  # fmt: skip
    assert [t.due - T0 for t in ts] == [minutes(m) for m in (120, 120, 240, 1440, 1560)]
    assert all(t.state is TimerState.PENDING for t in ts)
    exactly = timers(inc, T0 + minutes(120))
    assert exactly[0].state is TimerState.PENDING
    late = timers(inc, T0 + minutes(120) + dt.timedelta(seconds=1))
    assert late[0].state is TimerState.BREACHED and late[1].state is TimerState.BREACHED
    assert late[2].state is TimerState.PENDING


def test_timers_met_by_steps_and_skips() -> None:
    inc = incident_at(Stage.DETECTED)
    t = transition(inc, Action.TO_RECOVERY_CONFIRMED, actor="a", at=T0 + minutes(10), reason="r")
    inc = replace(inc, stage=t.stage, steps=inc.steps + t.steps)
    ts = {x.name: x for x in timers(inc, T0 + minutes(2000))}
    assert ts["response"].met_at == T0 + minutes(10)
    assert ts["response"].state is TimerState.MET
    assert ts["isolated"].skipped and ts["isolated"].state is TimerState.MET
    assert ts["vendor_contacted"].skipped
    assert not ts["resolution"].skipped and ts["resolution"].state is TimerState.MET
    assert ts["reported"].state is TimerState.BREACHED  # 1560 min passed, not reported


def test_reopen_resets_the_later_timers() -> None:
    inc = incident_at(Stage.REPORTED, priority=Priority.P1)
    at = T0 + minutes(100)
    t = transition(inc, Action.REOPEN, actor="a", at=at, reason="came back")
    inc = replace(inc, stage=t.stage, steps=inc.steps + t.steps)
    ts = {x.name: x for x in timers(inc, at)}
    assert ts["isolated"].met_at == T0 + minutes(1)  # the isolation done still counts
    for name in ("vendor_contacted", "resolution", "reported"):
        assert ts[name].met_at is None
    assert ts["vendor_contacted"].state is TimerState.BREACHED  # P1: 30 min, now 100
    assert ts["resolution"].state is TimerState.PENDING  # P1: 240 min


def test_a_closed_incident_is_judged_at_its_closing() -> None:
    inc = incident_at(Stage.CLOSED, priority=Priority.P1)
    much_later = T0 + dt.timedelta(days=30)
    assert all(t.state is TimerState.MET for t in timers(inc, much_later))


def test_breach_report_timer_runs_from_recognition() -> None:
    recognised = T0 + minutes(3)
    b = BreachDetails("x", "x", "x", "x", "x", None, ("氏名",), recognised)
    inc = incident_at(Stage.DETECTED, category=Category.BREACH, breach=b)
    ts = {t.name: t for t in timers(inc, recognised + minutes(60))}
    assert ts["csirt_first_report"].due == recognised + minutes(60)
    assert ts["csirt_first_report"].state is TimerState.PENDING
    late = {t.name: t for t in timers(inc, recognised + minutes(60) + dt.timedelta(seconds=1))}
    assert late["csirt_first_report"].state is TimerState.BREACHED
    sent = replace(inc, csirt_sent=(recognised + minutes(1),))
    done = {t.name: t for t in timers(sent, recognised + minutes(600))}
    assert done["csirt_first_report"].state is TimerState.MET
    # A report sent before it was known to be a breach does not count.
    early = replace(inc, csirt_sent=(T0,))
    assert {t.name: t for t in timers(early, recognised)}["csirt_first_report"].met_at is None
