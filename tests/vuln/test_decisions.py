"""The decision state machine (pure): every allowed and refused transition, with its message,
the justification rules, and deadlines at their boundary."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from mamori.vuln.decisions import (
    OPEN,
    Fix,
    Justification,
    Kind,
    State,
    Transition,
    allowed,
    check,
    deadline,
    event_action,
    fixed_on_time,
    is_overdue,
)
from mamori.vuln.errors import VulnError

AT = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)
FIX = Fix("2.31.0", dt.date(2026, 6, 1), "sato")
JUST = Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH


def complete(kind: Kind, to: State) -> Transition:
    """A transition that is complete for its target state."""
    return Transition(
        kind,
        to,
        "yamada",
        "why",
        AT,
        justification=JUST if to is State.NOT_AFFECTED else None,
        statement="upgrade in the July release" if to is State.AFFECTED else "",
        fix=FIX if to is State.FIXED else None,
    )


PEOPLE = (State.UNDER_INVESTIGATION, State.NOT_AFFECTED, State.AFFECTED, State.FIXED)
EXPECTED_ALLOWED = {
    (Kind.DETECT, None, State.DETECTED),
    *((Kind.TRIAGE, s, t) for s in (State.DETECTED, State.UNDER_INVESTIGATION, State.AFFECTED)
      for t in PEOPLE),
    *((Kind.TRIAGE, State.NOT_AFFECTED, t) for t in PEOPLE if t is not State.FIXED),
    (Kind.VERIFY, State.FIXED, State.VERIFIED),
    (Kind.REOPEN, State.FIXED, State.DETECTED),
    (Kind.REOPEN, State.VERIFIED, State.DETECTED),
}  # fmt: skip

ALL = list(itertools.product(Kind, [None, *State], State))


@pytest.mark.parametrize(("kind", "current", "to"), ALL)
def test_every_transition_is_allowed_or_refused_with_a_reason(
    kind: Kind, current: State | None, to: State
) -> None:
    t = complete(kind, to)
    if (kind, current, to) in EXPECTED_ALLOWED:
        assert allowed(kind, current, to)
        assert check(current, t) is to
        return
    assert not allowed(kind, current, to)
    with pytest.raises(VulnError) as e:
        check(current, t)
    where = "a finding not yet recorded" if current is None else f"a finding {current}"
    assert e.value.message == f"{kind} to {to} is not allowed for {where}"
    assert e.value.hint


@pytest.mark.parametrize(
    ("current", "to", "hint"),
    [
        (None, State.AFFECTED, "recorded by a scan"),
        (State.FIXED, State.AFFECTED, "closed by the next scan"),
        (State.VERIFIED, State.AFFECTED, "a scan that sees it again reopens it"),
        (State.NOT_AFFECTED, State.FIXED, "triage it as affected first"),
    ],
)
def test_refusals_say_what_to_do(current: State | None, to: State, hint: str) -> None:
    with pytest.raises(VulnError) as e:
        check(current, complete(Kind.TRIAGE, to))
    assert hint in (e.value.hint or "")


def test_not_affected_needs_an_openvex_justification() -> None:
    t = Transition(Kind.TRIAGE, State.NOT_AFFECTED, "yamada", "why", AT)
    with pytest.raises(VulnError, match="not_affected needs an OpenVEX justification") as e:
        check(State.DETECTED, t)
    for j in Justification:
        assert j.value in (e.value.hint or "")


def test_the_justifications_are_openvexs_five() -> None:
    assert {j.value for j in Justification} == {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }


@pytest.mark.parametrize("to", [State.AFFECTED, State.UNDER_INVESTIGATION, State.FIXED])
def test_a_justification_is_only_for_not_affected(to: State) -> None:
    t = Transition(Kind.TRIAGE, to, "y", "n", AT, JUST, "do it", FIX if to is State.FIXED else None)
    with pytest.raises(VulnError, match="only given for not_affected"):
        check(State.DETECTED, t)


def test_affected_needs_an_action_statement() -> None:
    t = Transition(Kind.TRIAGE, State.AFFECTED, "yamada", "why", AT, statement="  ")
    with pytest.raises(VulnError, match="affected needs an action statement"):
        check(State.DETECTED, t)


@pytest.mark.parametrize(
    ("fix", "message"),
    [
        (None, "fixed needs the version now installed, the date and the approver"),
        (Fix("", FIX.date, "sato"), "the version is empty"),
        (Fix("2.31.0", FIX.date, " "), "the approver is empty"),
        (Fix("2.31.0", dt.date(2026, 6, 3), "sato"), "the fix date 2026-06-03 is in the future"),
    ],
)
def test_fixed_needs_version_date_and_approver(fix: Fix | None, message: str) -> None:
    t = Transition(Kind.TRIAGE, State.FIXED, "yamada", "why", AT, fix=fix)
    with pytest.raises(VulnError, match=message):
        check(State.AFFECTED, t)


def test_a_fix_only_goes_with_fixed() -> None:
    t = Transition(Kind.TRIAGE, State.AFFECTED, "y", "n", AT, statement="s", fix=FIX)
    with pytest.raises(VulnError, match="only recorded with the state fixed"):
        check(State.DETECTED, t)


@pytest.mark.parametrize(
    ("actor", "note", "message"),
    [
        ("", "why", "the actor is empty"),
        ("yamada", " ", "the note is empty"),
        ("yamada\x1b[31m", "why", "the actor contains control characters"),
        ("yamada", "x" * 4001, "the note is longer than 4000 characters"),
    ],
)
def test_every_transition_has_an_actor_and_a_note(actor: str, note: str, message: str) -> None:
    with pytest.raises(VulnError, match=message):
        check(State.DETECTED, Transition(Kind.TRIAGE, State.UNDER_INVESTIGATION, actor, note, AT))


def test_the_time_carries_its_zone() -> None:
    t = Transition(Kind.DETECT, State.DETECTED, "scan", "n", dt.datetime(2026, 6, 1))
    with pytest.raises(VulnError, match="must carry its zone"):
        check(None, t)


def test_event_actions() -> None:
    for to in State:
        assert event_action(complete(Kind.TRIAGE, to)) == f"vuln.finding_{to}"
    assert event_action(complete(Kind.REOPEN, State.DETECTED)) == "vuln.finding_reopened"


# --- deadlines: met through the last day


DETECTED = dt.date(2026, 6, 1)


@pytest.mark.parametrize(
    ("today", "late"),
    [(dt.date(2026, 6, 7), False), (dt.date(2026, 6, 8), False), (dt.date(2026, 6, 9), True)],
)
def test_a_deadline_is_met_through_its_last_day(today: dt.date, late: bool) -> None:
    due = deadline(DETECTED, 7)
    assert due == dt.date(2026, 6, 8)
    for state in State:
        assert is_overdue(state, due, today) is (late and state in OPEN)
    assert fixed_on_time(Fix("1", today, "a"), due) is not late
