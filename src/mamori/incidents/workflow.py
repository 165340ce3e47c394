"""The FLT-1 workflow as a state machine, and the incident's timers (pure).

detected 検知 → isolated 切り分け → vendor_contacted 保守事業者連絡 → recovery_confirmed 復旧確認 →
reported 報告 → closed. :data:`TABLE` says, for every stage and action, whether the action is
allowed; :func:`transition` applies it to an incident and returns the steps to record, or raises
:class:`~mamori.incidents.errors.WorkflowRefused` naming the rule and what to do instead.
:func:`timers` computes the due times and whether each was met. Nothing here reads a clock or a
database: the caller passes `now`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, assert_never

from mamori.incidents.errors import WorkflowRefused
from mamori.incidents.model import Incident, Stage, Step, StepKind, iso


class Action(StrEnum):
    """What a person can do to an incident's stage."""

    TO_ISOLATED = "to_isolated"
    TO_VENDOR_CONTACTED = "to_vendor_contacted"
    TO_RECOVERY_CONFIRMED = "to_recovery_confirmed"
    TO_REPORTED = "to_reported"
    CLOSE = "close"
    REOPEN = "reopen"
    MERGE = "merge"
    """Close it because it was merged into another incident."""


class Verdict(StrEnum):
    """The table's answer for one (stage, action)."""

    ALLOWED = "allowed"
    NEEDS_REASON = "needs_reason"
    """Allowed with a reason only: a step that skips stages, or a reopen."""
    NEEDS_REVIEW = "needs_review"
    """Closing: allowed, but P1/P2 and breach incidents need a completed review first."""
    REFUSED = "refused"


_A = Action
_S = Stage
_V = Verdict

# Every (stage, action) pair, written out so it can be read and tested as a table.
# Steps go forward only; a step over one or more stages needs a reason (the stages passed over
# are recorded as skipped); going back is only `reopen`, from reported or closed, to isolated.
TABLE: Final[Mapping[tuple[Stage, Action], Verdict]] = {
    # stage                  action                      verdict
    (_S.DETECTED,           _A.TO_ISOLATED):           _V.ALLOWED,
    (_S.DETECTED,           _A.TO_VENDOR_CONTACTED):   _V.NEEDS_REASON,
    (_S.DETECTED,           _A.TO_RECOVERY_CONFIRMED): _V.NEEDS_REASON,
    (_S.DETECTED,           _A.TO_REPORTED):           _V.NEEDS_REASON,
    (_S.DETECTED,           _A.CLOSE):                 _V.REFUSED,
    (_S.DETECTED,           _A.REOPEN):                _V.REFUSED,
    (_S.DETECTED,           _A.MERGE):                 _V.ALLOWED,
    (_S.ISOLATED,           _A.TO_ISOLATED):           _V.REFUSED,
    (_S.ISOLATED,           _A.TO_VENDOR_CONTACTED):   _V.ALLOWED,
    (_S.ISOLATED,           _A.TO_RECOVERY_CONFIRMED): _V.NEEDS_REASON,
    (_S.ISOLATED,           _A.TO_REPORTED):           _V.NEEDS_REASON,
    (_S.ISOLATED,           _A.CLOSE):                 _V.REFUSED,
    (_S.ISOLATED,           _A.REOPEN):                _V.REFUSED,
    (_S.ISOLATED,           _A.MERGE):                 _V.ALLOWED,
    (_S.VENDOR_CONTACTED,   _A.TO_ISOLATED):           _V.REFUSED,
    (_S.VENDOR_CONTACTED,   _A.TO_VENDOR_CONTACTED):   _V.REFUSED,
    (_S.VENDOR_CONTACTED,   _A.TO_RECOVERY_CONFIRMED): _V.ALLOWED,
    (_S.VENDOR_CONTACTED,   _A.TO_REPORTED):           _V.NEEDS_REASON,
    (_S.VENDOR_CONTACTED,   _A.CLOSE):                 _V.REFUSED,
    (_S.VENDOR_CONTACTED,   _A.REOPEN):                _V.REFUSED,
    (_S.VENDOR_CONTACTED,   _A.MERGE):                 _V.ALLOWED,
    (_S.RECOVERY_CONFIRMED, _A.TO_ISOLATED):           _V.REFUSED,
    (_S.RECOVERY_CONFIRMED, _A.TO_VENDOR_CONTACTED):   _V.REFUSED,
    (_S.RECOVERY_CONFIRMED, _A.TO_RECOVERY_CONFIRMED): _V.REFUSED,
    (_S.RECOVERY_CONFIRMED, _A.TO_REPORTED):           _V.ALLOWED,
    (_S.RECOVERY_CONFIRMED, _A.CLOSE):                 _V.REFUSED,
    (_S.RECOVERY_CONFIRMED, _A.REOPEN):                _V.REFUSED,
    (_S.RECOVERY_CONFIRMED, _A.MERGE):                 _V.ALLOWED,
    (_S.REPORTED,           _A.TO_ISOLATED):           _V.REFUSED,
    (_S.REPORTED,           _A.TO_VENDOR_CONTACTED):   _V.REFUSED,
    (_S.REPORTED,           _A.TO_RECOVERY_CONFIRMED): _V.REFUSED,
    (_S.REPORTED,           _A.TO_REPORTED):           _V.REFUSED,
    (_S.REPORTED,           _A.CLOSE):                 _V.NEEDS_REVIEW,
    (_S.REPORTED,           _A.REOPEN):                _V.NEEDS_REASON,
    (_S.REPORTED,           _A.MERGE):                 _V.ALLOWED,
    (_S.CLOSED,             _A.TO_ISOLATED):           _V.REFUSED,
    (_S.CLOSED,             _A.TO_VENDOR_CONTACTED):   _V.REFUSED,
    (_S.CLOSED,             _A.TO_RECOVERY_CONFIRMED): _V.REFUSED,
    (_S.CLOSED,             _A.TO_REPORTED):           _V.REFUSED,
    (_S.CLOSED,             _A.CLOSE):                 _V.REFUSED,
    (_S.CLOSED,             _A.REOPEN):                _V.NEEDS_REASON,
    (_S.CLOSED,             _A.MERGE):                 _V.REFUSED,
}  # fmt: skip


def target_of(action: Action) -> Stage:
    """The stage an action leads to."""
    match action:
        case Action.TO_ISOLATED | Action.REOPEN:
            return Stage.ISOLATED
        case Action.TO_VENDOR_CONTACTED:
            return Stage.VENDOR_CONTACTED
        case Action.TO_RECOVERY_CONFIRMED:
            return Stage.RECOVERY_CONFIRMED
        case Action.TO_REPORTED:
            return Stage.REPORTED
        case Action.CLOSE | Action.MERGE:
            return Stage.CLOSED
        case _:
            assert_never(action)


def step_action(stage: Stage) -> Action:
    """The action of `mamori incidents step ID STAGE`: `to_STAGE`."""
    match stage:
        case Stage.ISOLATED | Stage.VENDOR_CONTACTED | Stage.RECOVERY_CONFIRMED | Stage.REPORTED:
            return Action(f"to_{stage.value}")
        case Stage.DETECTED:
            raise WorkflowRefused(
                "no step leads to `detected`: every incident starts there",
                hint="to go back, use `reopen` (from reported or closed)",
            )
        case Stage.CLOSED:
            raise WorkflowRefused("`closed` is not a step", hint="use `mamori incidents close ID`")
        case _:
            assert_never(stage)


@dataclass(frozen=True, slots=True)
class Transition:
    """What an allowed action does: the new stage and the steps to append."""

    stage: Stage
    steps: tuple[Step, ...]


def _refusal(stage: Stage, action: Action) -> WorkflowRefused:
    if stage is Stage.CLOSED:
        return WorkflowRefused(
            f"the incident is closed: {action.value} is not possible",
            hint="reopen it first (`reopen ID --reason …`), which takes it back to isolated",
        )
    target = target_of(action)
    match action:
        case Action.CLOSE:
            return WorkflowRefused(
                f"an incident is closed only after it was reported; it is at {stage.value} "
                f"({stage.ja})",
                hint="step it to `reported` first (with --skip-reason for stages passed over)",
            )
        case Action.REOPEN:
            return WorkflowRefused(
                f"only a reported or closed incident can be reopened; it is at {stage.value}",
                hint="it is still open: carry on with the next step",
            )
        case Action.MERGE:  # pragma: no cover - only refused when closed, handled above
            return WorkflowRefused(f"{stage.value}: cannot be merged")
        case (
            Action.TO_ISOLATED
            | Action.TO_VENDOR_CONTACTED
            | Action.TO_RECOVERY_CONFIRMED
            | Action.TO_REPORTED
        ):
            if target is stage:
                return WorkflowRefused(f"the incident is already at {stage.value} ({stage.ja})")
            return WorkflowRefused(
                f"no going back from {stage.value} ({stage.ja}) to {target.value} ({target.ja})",
                hint="steps only go forward; once reported, `reopen ID --reason …` takes it back "
                "to isolated",
            )
        case _:
            assert_never(action)


def transition(
    incident: Incident,
    action: Action,
    *,
    actor: str,
    at: dt.datetime,
    note: str = "",
    reason: str = "",
    review_completed: bool | None = None,
) -> Transition:
    """Apply `action` to `incident`, or raise WorkflowRefused saying why not.

    `reason` is the skip reason of a step over stages, the reason of a reopen, or the
    "merged into …" of a merge. `review_completed` overrides the incident's own flag (for a
    caller that has just read the review).
    """
    if not actor.strip():
        raise WorkflowRefused("every step needs an actor", hint="pass --as NAME")
    if at.tzinfo is None:
        raise WorkflowRefused("the time of a step must carry its zone")
    last = incident.steps[-1].at if incident.steps else incident.detected_at
    if at < last:
        raise WorkflowRefused(
            f"a step at {iso(at)} would come before the incident's last step ({iso(last)})",
            hint="steps are recorded in time order; check the clock",
        )
    stage = incident.stage
    verdict = TABLE[(stage, action)]
    seq = len(incident.steps) + 1
    reason = reason.strip()
    if verdict is Verdict.REFUSED:
        raise _refusal(stage, action)
    target = target_of(action)
    match action:
        case Action.REOPEN:
            if incident.merged_into is not None:
                raise WorkflowRefused(
                    f"{incident.id} was merged into {incident.merged_into}",
                    hint=f"reopen {incident.merged_into} instead",
                )
            if not reason:
                raise WorkflowRefused(
                    "reopening needs a reason", hint='pass --reason "why the work resumes"'
                )
            step = Step(seq, StepKind.REOPENED, target, actor, at, note, reason)
            return Transition(target, (step,))
        case Action.CLOSE:
            done = incident.review_completed if review_completed is None else review_completed
            if incident.needs_review and not done:
                why = (
                    "a personal-information breach"
                    if incident.category.value == "breach"
                    else f"a {incident.priority.value} incident"
                )
                raise WorkflowRefused(
                    f"{incident.id} is {why}: it is closed only after its post-incident review "
                    "is completed (FLT-2)",
                    hint=f"complete it: `mamori incidents review {incident.id} --cause … "
                    "--impact … --recurrence … --complete`",
                )
            return Transition(target, (Step(seq, StepKind.CLOSED, target, actor, at, note),))
        case Action.MERGE:
            if not reason:
                raise WorkflowRefused("a merge needs its reason ('merged into …')")
            return Transition(
                target, (Step(seq, StepKind.MERGED, target, actor, at, note, reason),)
            )
        case (
            Action.TO_ISOLATED
            | Action.TO_VENDOR_CONTACTED
            | Action.TO_RECOVERY_CONFIRMED
            | Action.TO_REPORTED
        ):
            passed = [s for s in Stage if stage.order < s.order < target.order]
            if verdict is Verdict.NEEDS_REASON and not reason:
                names = ", ".join(f"{s.value} ({s.ja})" for s in passed)
                raise WorkflowRefused(
                    f"stepping from {stage.value} to {target.value} skips {names}, which needs "
                    "a reason",
                    hint='pass --skip-reason "why"; the skipped stages are recorded with it',
                )
            if verdict is Verdict.ALLOWED and reason:
                raise WorkflowRefused(
                    f"{target.value} is the next stage: nothing is skipped",
                    hint="leave out --skip-reason (write it in --note instead)",
                )
            steps = [Step(seq + n, StepKind.SKIPPED, s, actor, at, "", reason) for n, s in
                     enumerate(passed)]  # fmt: skip
            steps.append(Step(seq + len(passed), StepKind.REACHED, target, actor, at, note))
            return Transition(target, tuple(steps))
        case _:
            assert_never(action)


# ---------------------------------------------------------------------------- timers


class TimerState(StrEnum):
    PENDING = "pending"
    MET = "met"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True)
class Timer:
    """One due time of an incident and whether it was met."""

    name: str
    """response, isolated, vendor_contacted, resolution, reported, csirt_first_report."""
    due: dt.datetime
    met_at: dt.datetime | None
    state: TimerState
    skipped: bool = False
    """The stage was skipped (with a reason) rather than reached; `met_at` is when."""

    @property
    def label_ja(self) -> str:
        return TIMER_LABELS_JA[self.name]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label_ja": self.label_ja,
            "due": iso(self.due),
            "met_at": iso(self.met_at),
            "state": self.state.value,
            "skipped": self.skipped,
        }


TIMER_LABELS_JA: Final[Mapping[str, str]] = {
    "response": "初動対応",
    "isolated": "切り分け",
    "vendor_contacted": "保守事業者連絡",
    "resolution": "復旧確認",
    "reported": "報告",
    "csirt_first_report": "CSIRTへの第1報（個人情報）",
}


def timer_state(due: dt.datetime, met_at: dt.datetime | None, now: dt.datetime) -> TimerState:
    """Met when done by the due time (inclusive); breached when done late, or not done and
    `now` is past it; pending otherwise (due exactly now is still pending)."""
    if met_at is not None:
        return TimerState.MET if met_at <= due else TimerState.BREACHED
    return TimerState.BREACHED if now > due else TimerState.PENDING


def stage_steps(incident: Incident) -> dict[Stage, Step]:
    """The step that reached (or skipped) each stage in the current run of the workflow.

    A reopen starts a new run at isolation: later stages must be reached again; the isolation
    already done still counts (the reopen step stands for it when there was none).
    """
    done: dict[Stage, Step] = {}
    for s in incident.steps:
        match s.kind:
            case StepKind.DETECTED | StepKind.REACHED | StepKind.SKIPPED:
                done[s.stage] = s
            case StepKind.REOPENED:
                for later in (Stage.VENDOR_CONTACTED, Stage.RECOVERY_CONFIRMED, Stage.REPORTED):
                    done.pop(later, None)
                done.setdefault(Stage.ISOLATED, s)
            case StepKind.CLOSED | StepKind.MERGED:
                pass
            case _:
                assert_never(s.kind)
    return done


def closed_at(incident: Incident) -> dt.datetime | None:
    """When the incident was closed (or merged), if it is closed now."""
    if incident.stage is not Stage.CLOSED:
        return None
    last = [s for s in incident.steps if s.kind in (StepKind.CLOSED, StepKind.MERGED)]
    return last[-1].at if last else None


def timers(incident: Incident, now: dt.datetime) -> list[Timer]:
    """The incident's timers at `now` (a closed incident's are evaluated at its closing).

    response: the first step after detection (a stage reached or skipped);
    isolated, vendor_contacted, reported: that stage reached or skipped; resolution: recovery
    confirmed; csirt_first_report (breaches only, LAW-4): a CSIRT report sent after the
    incident was recognised as a breach. All are measured from detection, except the breach
    report, measured from recognition.
    """
    first = next(
        (s.at for s in incident.steps if s.kind in (StepKind.REACHED, StepKind.SKIPPED)), None
    )
    done = stage_steps(incident)
    ended = closed_at(incident)
    when = ended if ended is not None else now
    t = incident.targets
    start = incident.detected_at
    out: list[Timer] = []

    def add(name: str, minutes: int, met_at: dt.datetime | None, skipped: bool = False) -> None:
        due = start + dt.timedelta(minutes=minutes)
        out.append(Timer(name, due, met_at, timer_state(due, met_at, when), skipped))

    def stage(name: str, minutes: int, st: Stage) -> None:
        s = done.get(st)
        add(
            name, minutes, None if s is None else s.at, s is not None and s.kind is StepKind.SKIPPED
        )

    add("response", t.response_minutes, first)
    stage("isolated", t.isolated_minutes, Stage.ISOLATED)
    stage("vendor_contacted", t.vendor_contacted_minutes, Stage.VENDOR_CONTACTED)
    stage("resolution", t.resolution_minutes, Stage.RECOVERY_CONFIRMED)
    stage("reported", t.reported_minutes, Stage.REPORTED)
    if incident.breach is not None:
        # LAW-4: report immediately once it is known to be a breach.
        since = incident.breach.recognised_at
        due = since + dt.timedelta(minutes=incident.breach_report_minutes)
        sent = next((x for x in incident.csirt_sent if x >= since), None)
        out.append(Timer("csirt_first_report", due, sent, timer_state(due, sent, when)))
    return out
