"""What the incident pages (:mod:`mamori.web.incidentspages`, :mod:`mamori.web.reviewpages`)
and /api/v1/incidents (:mod:`mamori.web.incidentsapi`) show: blocking, run in a worker thread.

:func:`incident_view` gathers one incident with its timers, its FLT-1 stages as a timeline,
its CSIRT messages and countermeasures, and what the workflow allows next, so that a page
offers only the buttons that :mod:`mamori.incidents` would accept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

from fastapi import Depends, Path

from mamori.access.roles import Permission
from mamori.home import Home
from mamori.incidents.csirt import render_report, report_context
from mamori.incidents.model import (
    WORK_STAGES,
    Category,
    Countermeasure,
    CsirtMessage,
    Incident,
    Level,
    Priority,
    ReportKind,
    Review,
    Stage,
    Step,
    StepKind,
)
from mamori.incidents.review import countermeasures, get_review
from mamori.incidents.service import get_incident, list_incidents
from mamori.incidents.store import IncidentStore
from mamori.incidents.workflow import (
    TABLE,
    Action,
    Timer,
    TimerState,
    Verdict,
    stage_steps,
    step_action,
    timers,
)
from mamori.web.auth import Principal, require
from mamori.web.views import in_store

__all__ = [
    "ALERT_IDS_MAX",
    "INCIDENT_ID",
    "LIST_MAX",
    "TIMER_OF_STAGE",
    "CategoryParam",
    "IncidentIdParam",
    "IncidentView",
    "LevelParam",
    "Manager",
    "PriorityParam",
    "Reader",
    "StageParam",
    "StageRow",
    "StateParam",
    "incident_json",
    "incident_view",
    "list_rows",
    "now",
    "preview_report",
    "run",
]

T = TypeVar("T")

INCIDENT_ID: Final = r"^[Ii][Nn][Cc]-[0-9]{4}-[0-9]{1,9}$"
"""What an incident id looks like (`INC-2026-0001`)."""
LIST_MAX: Final = 1000
"""Incidents in a list at the most."""
ALERT_IDS_MAX: Final = 50
"""Alerts an incident is opened from at once, at the most."""

StageParam = Literal[
    "detected", "isolated", "vendor_contacted", "recovery_confirmed", "reported", "closed"
]
PriorityParam = Literal["P1", "P2", "P3", "P4", "P5"]
CategoryParam = Literal["security", "failure", "performance", "breach", "other"]
LevelParam = Literal["high", "medium", "low"]
StateParam = Literal["open", "closed", "all"]
IncidentIdParam = Annotated[str, Path(max_length=32, pattern=INCIDENT_ID)]
"""An incident id in a route's path."""
Reader = Annotated[Principal, Depends(require(Permission.INCIDENTS_READ))]
"""The principal of a route that needs ``incidents.read``."""
Manager = Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))]
"""The principal of a route that needs ``incidents.manage``."""
assert set(get_args(StageParam)) == {s.value for s in Stage}
assert set(get_args(PriorityParam)) == {p.value for p in Priority}
assert set(get_args(CategoryParam)) == {c.value for c in Category}
assert set(get_args(LevelParam)) == {lv.value for lv in Level}

TIMER_OF_STAGE: Final[Mapping[Stage, str]] = {
    Stage.ISOLATED: "isolated",
    Stage.VENDOR_CONTACTED: "vendor_contacted",
    Stage.RECOVERY_CONFIRMED: "resolution",
    Stage.REPORTED: "reported",
}
"""The timer that measures each stage (detection has the first-response timer)."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(home: Home, work: Callable[[IncidentStore], T]) -> T:
    """`work` on the home's incident store (:class:`~mamori.web.views.Unavailable` when it
    cannot be opened)."""
    return in_store(IncidentStore.open, home, work)


@dataclass(frozen=True, slots=True)
class StageRow:
    """One FLT-1 stage of the timeline."""

    stage: Stage
    step: Step | None
    """The step that reached or skipped it in the current run; None while pending."""
    timer: Timer | None
    current: bool

    @property
    def skipped(self) -> bool:
        return self.step is not None and self.step.kind is StepKind.SKIPPED


@dataclass(frozen=True, slots=True)
class IncidentView:
    """Everything the incident page shows."""

    inc: Incident
    timers: list[Timer]
    rows: list[StageRow]
    messages: list[CsirtMessage]
    merged_from: list[str]
    countermeasures: list[Countermeasure]
    review: Review | None
    zone: ZoneInfo
    today: dt.date
    next_stage: Stage | None
    skip_targets: list[Stage]
    can_close: bool
    close_needs_review: bool
    can_reopen: bool
    merge_targets: list[Incident]
    csirt_configured: bool

    def as_json(self) -> dict[str, Any]:
        """As :class:`~mamori.web.incidentsapi.IncidentDetailModel`."""
        return {
            **incident_json(self.inc, self.timers),
            "csirt_messages": [m.as_json() for m in self.messages],
            "merged_from": list(self.merged_from),
            "countermeasures": [c.as_json(self.today) for c in self.countermeasures],
        }


def incident_json(inc: Incident, ts: Sequence[Timer]) -> dict[str, Any]:
    """An incident as :class:`~mamori.web.incidentsapi.IncidentModel`."""
    return {
        **inc.as_json(),
        "timers": [t.as_json() for t in ts],
        "breached": [t.name for t in ts if t.state is TimerState.BREACHED],
        "path": f"/incidents/{inc.id}",
    }


def _verdict(stage: Stage, action: Action) -> Verdict:
    return TABLE[(stage, action)]


def incident_view(store: IncidentStore, incident_id: str, at: dt.datetime) -> IncidentView:
    """The incident with its timers at `at`, timeline, messages, and what may be done next."""
    inc = get_incident(store, incident_id)
    ts = timers(inc, at)
    by_name = {t.name: t for t in ts}
    done = stage_steps(inc)
    rows = [
        StageRow(
            s,
            done.get(s),
            by_name.get(TIMER_OF_STAGE[s]) if s in TIMER_OF_STAGE else None,
            s is inc.stage,
        )
        for s in WORK_STAGES
    ]
    next_stage: Stage | None = None
    skip: list[Stage] = []
    for s in WORK_STAGES[1:]:
        verdict = _verdict(inc.stage, step_action(s))
        if verdict is Verdict.ALLOWED:
            next_stage = s
        elif verdict is Verdict.NEEDS_REASON:
            skip.append(s)
    closable = _verdict(inc.stage, Action.CLOSE) is not Verdict.REFUSED
    needs_review = closable and inc.needs_review and not inc.review_completed
    reopenable = _verdict(inc.stage, Action.REOPEN) is not Verdict.REFUSED
    others = (
        []
        if inc.stage is Stage.CLOSED
        else [o for o in list_incidents(store, limit=LIST_MAX) if o.id != inc.id]
    )
    return IncidentView(
        inc=inc,
        timers=ts,
        rows=rows,
        messages=store.messages(inc.id),
        merged_from=list(store.merged_from(inc.id)),
        countermeasures=countermeasures(store, inc.id),
        review=get_review(store, inc.id),
        zone=store.zone,
        today=at.astimezone(store.zone).date(),
        next_stage=next_stage,
        skip_targets=skip,
        can_close=closable and not needs_review,
        close_needs_review=needs_review,
        can_reopen=reopenable and inc.merged_into is None,
        merge_targets=others,
        csirt_configured=bool(store.config.csirt.to),
    )


def list_rows(
    store: IncidentStore,
    state: str,
    stage: str,
    priority: str,
    category: str,
    limit: int,
    at: dt.datetime,
) -> tuple[list[tuple[Incident, list[Timer]]], ZoneInfo]:
    """The incidents of `state` (open, closed, all) and the filters ("": any), newest
    detection first, each with its timers at `at`; and the calendar zone."""
    found = list_incidents(store, include_closed=state != "open", limit=100_000)
    picked = [
        (inc, timers(inc, at))
        for inc in found
        if (state != "closed" or inc.stage is Stage.CLOSED)
        and (not stage or inc.stage.value == stage)
        and (not priority or inc.priority.value == priority)
        and (not category or inc.category.value == category)
    ]
    return picked[:limit], store.zone


def preview_report(
    store: IncidentStore, incident_id: str, kind: ReportKind, text: str, actor: str
) -> tuple[str, str]:
    """(subject, body) of the report `csirt_report` would send now; nothing is sent or kept."""
    inc = get_incident(store, incident_id)
    context = report_context(
        inc,
        kind,
        len(store.messages(inc.id)) + 1,
        csirt=store.config.csirt,
        zone=store.zone,
        now=now(),
        actor=actor,
        extra_text=text,
        review=store.review(inc.id),
        countermeasures=store.countermeasures(inc.id),
        merged_from=store.merged_from(inc.id),
    )
    return render_report(context)
