"""Incidents (FLT-1…4, LAW-4) and service-desk tickets (OPS-1): pages and /api/v1 routes.

Pages: ``GET /incidents`` (filters stage, priority, category, open/closed), ``GET
/incidents/{id}`` (the FLT-1 stages as a timeline, timers, alerts, CSIRT messages, breach
details) and ``GET /incidents/{id}/review`` (FLT-2) need ``incidents.read``;
``/incidents/new`` and every ``POST`` need ``incidents.manage`` and the session's CSRF token.
Every change goes through :mod:`mamori.incidents` (service, csirt, review), which records its
audit event, with the console account as actor. A change it refuses is shown on the page
(409) with its English message after a translated sentence; the JSON API answers 409 with
:class:`~mamori.web.openapi.ErrorModel`. The service desk is :mod:`mamori.web.ticketsview`.
See docs/console.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from mamori.access.roles import Permission
from mamori.home import Home
from mamori.incidents.csirt import csirt_report, render_report, report_context
from mamori.incidents.errors import IncidentsError, NotFound
from mamori.incidents.model import (
    WORK_STAGES,
    BreachDetails,
    Category,
    Countermeasure,
    CsirtMessage,
    Incident,
    Level,
    PastOccurrences,
    Priority,
    ReportKind,
    Review,
    Stage,
    Step,
    StepKind,
    iso,
)
from mamori.incidents.review import (
    add_countermeasure,
    complete_countermeasure,
    countermeasures,
    get_review,
    past_occurrences,
    save_review,
)
from mamori.incidents.service import (
    Outcome,
    close_incident,
    create_incident,
    get_incident,
    list_incidents,
    merge_incidents,
    reopen_incident,
    step_incident,
    update_incident,
)
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
from mamori.web.auth import Console, Principal, check_csrf_of, require
from mamori.web.errors import HttpError
from mamori.web.openapi import BEARER_HEADERS, ErrorModel
from mamori.web.pages import error_page, render
from mamori.web.ticketsview import (
    Unavailable,
    allow_only,
    check_api_csrf,
    local_time,
    refusal_status,
    register_tickets,
    service_error,
    text_form_of,
)

__all__ = ["INCIDENT_ID", "register_incidents"]

T = TypeVar("T")

INCIDENT_ID: Final = r"^[Ii][Nn][Cc]-[0-9]{4}-[0-9]{1,9}$"
"""What an incident id looks like (`INC-2026-0001`)."""
_READ: Final = ["GET", "HEAD"]
_ID_MAX: Final = 32
_LIST_MAX: Final = 1000
_ALERT_IDS_MAX: Final = 50
_DONE: Final = frozenset(
    {"created", "stepped", "closed", "reopened", "updated", "merged", "sent", "breach"}
)
_REVIEW_DONE: Final = frozenset({"saved", "added", "done"})

StageParam = Literal[
    "detected", "isolated", "vendor_contacted", "recovery_confirmed", "reported", "closed"
]
StepParam = Literal["isolated", "vendor_contacted", "recovery_confirmed", "reported"]
PriorityParam = Literal["P1", "P2", "P3", "P4", "P5"]
CategoryParam = Literal["security", "failure", "performance", "breach", "other"]
LevelParam = Literal["high", "medium", "low"]
StateParam = Literal["open", "closed", "all"]
KindParam = Literal["first", "followup", "final"]

TIMER_OF_STAGE: Final[Mapping[Stage, str]] = {
    Stage.ISOLATED: "isolated",
    Stage.VENDOR_CONTACTED: "vendor_contacted",
    Stage.RECOVERY_CONFIRMED: "resolution",
    Stage.REPORTED: "reported",
}
"""The timer that measures each stage (detection has the first-response timer)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _run(home: Home, work: Callable[[IncidentStore], T]) -> T:
    try:
        store = IncidentStore.open(home)
    except IncidentsError as e:
        raise Unavailable(e.message) from e
    with store:
        return work(store)


# --- the OpenAPI description ------------------------------------------------------------------


class StepModel(BaseModel):
    seq: int
    kind: Literal["detected", "reached", "skipped", "reopened", "closed", "merged"]
    stage: StageParam
    stage_ja: str = Field(description="The stage's name in FLT-1 (検知, 切り分け, …).")
    actor: str
    at: str = Field(description="When (RFC 3339, UTC).")
    note: str
    reason: str = Field(description="Why a stage was skipped, or the incident reopened/merged.")


class AlertRefModel(BaseModel):
    id: str
    rule: str
    title: str
    severity: str
    summary: str
    clauses: list[str]
    events: list[int] = Field(description="Ledger indices of its events.")
    group: list[list[str]] = Field(description="[field, value] pairs that identify it.")
    first_seen: str | None
    last_seen: str | None
    link: str = Field(description="Its page in the console.")


class BreachModel(BaseModel):
    """A personal-information breach (LAW-4)."""

    what_happened: str = Field(description="発生した事態.")
    damage: str = Field(description="被害の状況.")
    containment: str = Field(description="二次被害の防止策.")
    recovery: str = Field(description="復旧策.")
    persons_response: str = Field(description="本人への対応.")
    persons_affected: int | None = Field(description="本人の数; null while unknown.")
    data_items: list[str] = Field(description="The kinds of personal information concerned.")


class BreachOutModel(BreachModel):
    recognised_at: str = Field(description="When it was recognised as a breach.")


class TargetsModel(BaseModel):
    response_minutes: int
    isolated_minutes: int
    vendor_contacted_minutes: int
    resolution_minutes: int
    reported_minutes: int


class TimerModel(BaseModel):
    name: Literal[
        "response", "isolated", "vendor_contacted", "resolution", "reported", "csirt_first_report"
    ]
    label_ja: str
    due: str
    met_at: str | None
    state: Literal["pending", "met", "breached"]
    skipped: bool = Field(description="The stage was skipped with a reason, not reached.")


class IncidentModel(BaseModel):
    id: str = Field(description="`INC-YYYY-NNNN`.")
    title: str
    description: str
    category: CategoryParam
    urgency: LevelParam
    impact: LevelParam
    priority: PriorityParam
    assignee: str | None
    detected_at: str
    occurred_at: str | None
    created_at: str
    created_by: str
    stage: StageParam
    stage_ja: str
    steps: list[StepModel] = Field(description="Its history, oldest first.")
    alerts: list[AlertRefModel]
    rules: list[str]
    hosts: list[str]
    users: list[str]
    breach: BreachOutModel | None = Field(description="LAW-4 details of a breach.")
    merged_into: str | None
    csirt_sent: list[str] = Field(description="When each CSIRT report was sent.")
    review_completed: bool
    needs_review: bool = Field(description="P1/P2 and breaches close after a completed review.")
    targets: TargetsModel = Field(description="Minutes from detection to each due time.")
    timers: list[TimerModel]
    breached: list[str] = Field(description="The names of the timers breached.")
    path: str = Field(description="Its page in the console.")


class IncidentListModel(BaseModel):
    incidents: list[IncidentModel] = Field(description="Newest detection first.")


class CsirtMessageModel(BaseModel):
    incident: str
    number: int = Field(description="1 for the first report (第1報), then 2, 3, …")
    kind: KindParam
    subject: str
    body: str
    to: list[str]
    cc: list[str]
    sent_at: str
    actor: str


class CountermeasureModel(BaseModel):
    id: int
    incident: str
    text: str
    owner: str
    due: str = Field(description="YYYY-MM-DD.")
    state: Literal["open", "done"]
    created_at: str
    created_by: str
    done_at: str | None
    done_by: str | None
    note: str
    overdue: bool


class IncidentDetailModel(IncidentModel):
    csirt_messages: list[CsirtMessageModel]
    merged_from: list[str] = Field(description="Incidents merged into this one.")
    countermeasures: list[CountermeasureModel]


class IncidentChangeModel(IncidentDetailModel):
    problems: list[str] = Field(
        description="What failed after the change was made (an alert not told, a breach "
        "report not sent): the change stands; each says what to do."
    )


class NewIncidentBody(BaseModel):
    title: str | None = Field(None, max_length=200, description="Default: the alert's.")
    description: str = Field("", max_length=20_000)
    category: CategoryParam = "security"
    alerts: list[str] = Field(
        default_factory=list, max_length=_ALERT_IDS_MAX, description="Alert ids to open it from."
    )
    urgency: LevelParam | None = Field(None, description="Default: from the alerts' severity.")
    impact: LevelParam | None = Field(None, description="Default: from the alerts' severity.")
    assignee: str | None = Field(None, max_length=200)
    hosts: list[str] = Field(default_factory=list, max_length=100)
    users: list[str] = Field(default_factory=list, max_length=100)
    breach: BreachModel | None = Field(
        None, description="Required for `category: breach`; its first report goes at once."
    )


class StepBody(BaseModel):
    action: Literal["step", "close", "reopen"] = Field(
        "step", description="Forward to `stage`, close (after `reported`), or reopen."
    )
    stage: StepParam | None = Field(None, description="The stage reached (for `step`).")
    note: str = Field("", max_length=20_000)
    reason: str = Field(
        "",
        max_length=20_000,
        description="Why the stages passed over are skipped (a step over stages), or why it is "
        "reopened (required then).",
    )


class CsirtBody(BaseModel):
    kind: KindParam = Field(description="第1報 (first), 続報 (followup) or 最終報告 (final).")
    text: str = Field("", max_length=20_000, description="Extra text for the report (補足).")


_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorModel, "description": "A parameter or the body is not valid."},
    401: {
        "model": ErrorModel,
        "description": "No session and no bearer token.",
        "headers": BEARER_HEADERS,
    },
    403: {
        "model": ErrorModel,
        "description": "The role (or the token's scope) does not allow it, or a session's "
        "POST lacks its CSRF token.",
    },
    503: {"model": ErrorModel, "description": "The incident store cannot be used now."},
}
_ONE: Final[dict[int | str, dict[str, Any]]] = {
    **_ERRORS,
    404: {"model": ErrorModel, "description": "No incident with this id."},
}
_CHANGE: Final[dict[int | str, dict[str, Any]]] = {
    **_ONE,
    500: {
        "model": ErrorModel,
        "description": "The change was made but its audit event could not be recorded.",
    },
    409: {
        "model": ErrorModel,
        "description": "The incidents service refused the change (the workflow does not allow "
        "it, a reason or a LAW-4 field is missing, …); the message says why and the hint what "
        "to do.",
    },
}
_SECURITY: Final = {"security": [{"bearer": ["read"]}]}
_SESSION: Final[dict[str, Any]] = {"security": [{"bearer": []}]}


# --- what the pages and the API show (built in a worker thread) -------------------------------


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
        return {
            **incident_json(self.inc, self.timers),
            "csirt_messages": [m.as_json() for m in self.messages],
            "merged_from": list(self.merged_from),
            "countermeasures": [c.as_json(self.today) for c in self.countermeasures],
        }


def incident_json(inc: Incident, ts: Sequence[Timer]) -> dict[str, Any]:
    """An incident as :class:`IncidentModel`."""
    return {
        **inc.as_json(),
        "timers": [t.as_json() for t in ts],
        "breached": [t.name for t in ts if t.state is TimerState.BREACHED],
        "path": f"/incidents/{inc.id}",
    }


def _verdict(stage: Stage, action: Action) -> Verdict:
    return TABLE[(stage, action)]


def incident_view(store: IncidentStore, incident_id: str, now: dt.datetime) -> IncidentView:
    """The incident with its timers, timeline, messages, and what may be done next."""
    inc = get_incident(store, incident_id)
    ts = timers(inc, now)
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
        else [o for o in list_incidents(store, limit=_LIST_MAX) if o.id != inc.id]
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
        today=now.astimezone(store.zone).date(),
        next_stage=next_stage,
        skip_targets=skip,
        can_close=closable and not needs_review,
        close_needs_review=needs_review,
        can_reopen=reopenable and inc.merged_into is None,
        merge_targets=others,
        csirt_configured=bool(store.config.csirt.to),
    )


def _list(
    store: IncidentStore,
    state: str,
    stage: str,
    priority: str,
    category: str,
    limit: int,
    now: dt.datetime,
) -> tuple[list[tuple[Incident, list[Timer]]], ZoneInfo]:
    found = list_incidents(store, include_closed=state != "open", limit=100_000)
    picked = [
        (inc, timers(inc, now))
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
        now=_now(),
        actor=actor,
        extra_text=text,
        review=store.review(inc.id),
        countermeasures=store.countermeasures(inc.id),
        merged_from=store.merged_from(inc.id),
    )
    return render_report(context)


# --- reading forms ----------------------------------------------------------------------------


class _BadForm(Exception):
    """A form value outside its choices or not readable (a 400, said in English)."""


def _choice(kind: Callable[[str], T], value: str) -> T | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise _BadForm(f"{value[:40]!r} is not one of the choices") from None


_SPLIT: Final = re.compile(r"[\s,、，;]+")


def _items(text: str) -> list[str]:
    """Values typed in one field, separated by commas (either width), spaces or line breaks."""
    return [v for v in _SPLIT.split(text) if v]


def _breach_of(form: Mapping[str, str], now: dt.datetime) -> BreachDetails:
    count_text = form.get("persons_affected", "").strip()
    count: int | None = None
    if count_text:
        if not count_text.isdecimal() or len(count_text) > 9:
            raise _BadForm(f"the number of persons affected {count_text[:20]!r} is not a number")
        count = int(count_text)
    return BreachDetails(
        what_happened=form.get("what_happened", ""),
        damage=form.get("damage", ""),
        containment=form.get("containment", ""),
        recovery=form.get("recovery", ""),
        persons_response=form.get("persons_response", ""),
        persons_affected=count,
        data_items=tuple(d.strip() for d in re.split(r"[\n,、，]+", form.get("data_items", ""))),
        recognised_at=now,  # the service sets it
    )


def _breach_of_body(b: BreachModel, now: dt.datetime) -> BreachDetails:
    return BreachDetails(
        what_happened=b.what_happened,
        damage=b.damage,
        containment=b.containment,
        recovery=b.recovery,
        persons_response=b.persons_response,
        persons_affected=b.persons_affected,
        data_items=tuple(b.data_items),
        recognised_at=now,
    )


def _level(value: str | None) -> Level | None:
    return None if value is None else Level(value)


def register_incidents(app: FastAPI, console: Console) -> None:
    """Add the routes to `app`."""
    home = console.home
    register_tickets(app, console)

    # --- the list ------------------------------------------------------------------------------

    @app.api_route(
        "/incidents", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def incidents_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_READ))],
        state: Annotated[StateParam, Query()] = "open",
        stage: Annotated[StageParam | Literal[""], Query()] = "",
        priority: Annotated[PriorityParam | Literal[""], Query()] = "",
        category: Annotated[CategoryParam | Literal[""], Query()] = "",
    ) -> Response:
        now = _now()
        try:
            rows, zone = await asyncio.to_thread(
                _run, home, lambda s: _list(s, state, stage, priority, category, _LIST_MAX, now)
            )
        except (Unavailable, IncidentsError):
            return error_page(request, 503)
        return render(
            request,
            "incidents.html",
            rows=rows,
            state=state,
            stage=stage,
            priority=priority,
            category=category,
            stages=[s.value for s in Stage],
            priorities=[p.value for p in Priority],
            categories=[c.value for c in Category],
            can_manage=principal.allows(Permission.INCIDENTS_MANAGE),
            when=lambda t: local_time(t, zone),
            iso=iso,
            wide=True,
        )

    # --- a new incident -----------------------------------------------------------------------

    def new_view(
        request: Request,
        form: Mapping[str, str],
        *,
        status: int = 200,
        refused: str | None = None,
        hint: str | None = None,
    ) -> Response:
        return render(
            request,
            "incident_new.html",
            status=status,
            form=form,
            categories=[c.value for c in Category],
            levels=[lv.value for lv in Level],
            refused=refused,
            refused_hint=hint,
            refusal_status=status,
        )

    @app.api_route(
        "/incidents/new", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def incident_new_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        alert: Annotated[list[int] | None, Query(max_length=_ALERT_IDS_MAX)] = None,
    ) -> Response:
        return new_view(request, {"alerts": " ".join(str(a) for a in alert or ())})

    @app.post("/incidents/new", include_in_schema=False, response_class=HTMLResponse)
    async def incident_new_post(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
    ) -> Response:
        form = await text_form_of(request)
        check_csrf_of(request, principal, form)
        now = _now()
        try:
            category = _choice(Category, form.get("category", "")) or Category.SECURITY
            alert_ids = _items(form.get("alerts", ""))
            if len(alert_ids) > _ALERT_IDS_MAX:
                raise _BadForm(f"at most {_ALERT_IDS_MAX} alerts at once")
            breach = _breach_of(form, now) if category is Category.BREACH else None
            urgency = _choice(Level, form.get("urgency", ""))
            impact = _choice(Level, form.get("impact", ""))
        except _BadForm as e:
            return new_view(request, form, status=400, refused=str(e))

        def work(s: IncidentStore) -> Outcome:
            return create_incident(
                s,
                actor=principal.name,
                now=_now(),
                title=form.get("title", "").strip() or None,
                description=form.get("description", ""),
                category=category,
                alert_ids=alert_ids,
                urgency=urgency,
                impact=impact,
                assignee=form.get("assignee", "").strip() or None,
                breach=breach,
            )

        try:
            out = await asyncio.to_thread(_run, home, work)
        except Unavailable:
            return error_page(request, 503)
        except IncidentsError as e:
            status = refusal_status(e)
            kept = form if status == 409 else {}  # 500: it was opened; do not invite a second
            return new_view(request, kept, status=status, refused=e.message, hint=e.hint)
        return await after_change(request, principal, out, "created")

    # --- one incident -------------------------------------------------------------------------

    async def incident_page_view(
        request: Request,
        principal: Principal,
        incident_id: str,
        *,
        status: int = 200,
        refused: str | None = None,
        hint: str | None = None,
        problems: Sequence[str] = (),
        done: str | None = None,
        preview: tuple[str, str] | None = None,
        csirt_form: Mapping[str, str] | None = None,
    ) -> Response:
        now = _now()
        try:
            view = await asyncio.to_thread(_run, home, lambda s: incident_view(s, incident_id, now))
        except NotFound:
            return error_page(request, 404)
        except (Unavailable, IncidentsError):
            return error_page(request, 503)
        if done is None and status == 200 and not problems:
            given = request.query_params.get("done")
            done = given if given in _DONE else None
        default_kind = ReportKind.FOLLOWUP if view.messages else ReportKind.FIRST
        return render(
            request,
            "incident.html",
            status=status,
            v=view,
            inc=view.inc,
            can_manage=principal.allows(Permission.INCIDENTS_MANAGE),
            can_read_alerts=principal.allows(Permission.ALERTS_READ),
            refused=refused,
            refused_hint=hint,
            refusal_status=status,
            problems=list(problems),
            done=done,
            preview=preview,
            csirt_form=csirt_form or {"kind": default_kind.value},
            kinds=[k.value for k in ReportKind],
            levels=[lv.value for lv in Level],
            when=lambda t: local_time(t, view.zone),
            iso=iso,
            wide=True,
        )

    async def after_change(
        request: Request, principal: Principal, out: Outcome, done: str
    ) -> Response:
        """303 to the incident's page; its page at once when something failed after the change."""
        if out.problems:
            return await incident_page_view(
                request, principal, out.incident.id, problems=out.problems, done=done
            )
        return RedirectResponse(f"/incidents/{out.incident.id}?done={done}", status_code=303)

    @app.api_route(
        "/incidents/{incident_id}",
        methods=_READ,
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def incident_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_READ))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
    ) -> Response:
        return await incident_page_view(request, principal, incident_id)

    async def change_page(
        request: Request,
        principal: Principal,
        incident_id: str,
        work: Callable[[IncidentStore, Mapping[str, str]], Outcome | Incident | None],
        done: str,
    ) -> Response:
        form = await text_form_of(request)
        check_csrf_of(request, principal, form)
        try:
            result = await asyncio.to_thread(_run, home, lambda s: work(s, form))
        except _BadForm as e:
            return await incident_page_view(
                request, principal, incident_id, status=400, refused=str(e)
            )
        except NotFound:
            return error_page(request, 404)
        except Unavailable:
            return error_page(request, 503)
        except IncidentsError as e:
            return await incident_page_view(
                request,
                principal,
                incident_id,
                status=refusal_status(e),
                refused=e.message,
                hint=e.hint,
            )
        if isinstance(result, Outcome):
            return await after_change(request, principal, result, done)
        target = result.id if isinstance(result, Incident) else incident_id.upper()
        return RedirectResponse(f"/incidents/{target}?done={done}", status_code=303)

    def manage(path: str, done: str) -> Callable[[Callable[..., Any]], Any]:
        """Register `handler(store, form, incident_id, actor)` as ``POST /incidents/{id}/path``."""

        def decorator(
            handler: Callable[[IncidentStore, Mapping[str, str], str, str], Any],
        ) -> Any:
            @app.post(
                f"/incidents/{{incident_id}}/{path}",
                include_in_schema=False,
                response_class=HTMLResponse,
                name=f"incident_{path}",
            )
            async def route(
                request: Request,
                principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
                incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
            ) -> Response:
                return await change_page(
                    request,
                    principal,
                    incident_id,
                    lambda s, form: handler(s, form, incident_id, principal.name),
                    done,
                )

            return route

        return decorator

    @manage("step", "stepped")
    def _step(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Incident:
        stage = _choice(Stage, form.get("stage", ""))
        if stage is None:
            raise _BadForm("choose a stage")
        return step_incident(
            s,
            iid,
            stage,
            actor=actor,
            now=_now(),
            note=form.get("note", ""),
            skip_reason=form.get("skip_reason", ""),
        )

    @manage("close", "closed")
    def _close(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Incident:
        return close_incident(s, iid, actor=actor, now=_now(), note=form.get("note", ""))

    @manage("reopen", "reopened")
    def _reopen(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Incident:
        return reopen_incident(
            s,
            iid,
            reason=form.get("reason", ""),
            actor=actor,
            now=_now(),
            note=form.get("note", ""),
        )

    @manage("update", "updated")
    def _update(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Outcome:
        return update_incident(
            s,
            iid,
            actor=actor,
            now=_now(),
            urgency=_choice(Level, form.get("urgency", "")),
            impact=_choice(Level, form.get("impact", "")),
            assignee=form.get("assignee", "").strip() or None,
            description=form.get("description", ""),
        )

    @manage("breach", "breach")
    def _breach(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Outcome:
        now = _now()
        return update_incident(s, iid, actor=actor, now=now, breach=_breach_of(form, now))

    @manage("merge", "merged")
    def _merge(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Outcome:
        into = form.get("into", "").strip()
        if not re.fullmatch(INCIDENT_ID, into):
            raise _BadForm("choose the incident to merge this one into")
        return merge_incidents(s, into, iid, actor=actor, now=_now(), note=form.get("note", ""))

    @app.post(
        "/incidents/{incident_id}/csirt", include_in_schema=False, response_class=HTMLResponse
    )
    async def incident_csirt(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
    ) -> Response:
        form = await text_form_of(request)
        check_csrf_of(request, principal, form)
        kept = {"kind": form.get("kind", ""), "text": form.get("text", "")}
        kind = ReportKind.FIRST
        try:
            kind = _choice(ReportKind, kept["kind"]) or ReportKind.FIRST
            if "preview" in form:  # the preview button (no value: none to translate)
                preview = await asyncio.to_thread(
                    _run,
                    home,
                    lambda s: preview_report(s, incident_id, kind, kept["text"], principal.name),
                )
                return await incident_page_view(
                    request, principal, incident_id, preview=preview, csirt_form=kept
                )
            await asyncio.to_thread(
                _run,
                home,
                lambda s: csirt_report(
                    s, incident_id, kind, kept["text"], actor=principal.name, now=_now()
                ),
            )
        except _BadForm as e:
            return await incident_page_view(
                request, principal, incident_id, status=400, refused=str(e), csirt_form=kept
            )
        except NotFound:
            return error_page(request, 404)
        except Unavailable:
            return error_page(request, 503)
        except IncidentsError as e:
            return await incident_page_view(
                request,
                principal,
                incident_id,
                status=refusal_status(e),
                refused=e.message,
                hint=e.hint,
                csirt_form=kept,
            )
        return RedirectResponse(
            f"/incidents/{incident_id.upper()}?done=sent#csirt", status_code=303
        )

    # --- the review (FLT-2) -------------------------------------------------------------------

    async def review_view(
        request: Request,
        principal: Principal,
        incident_id: str,
        *,
        status: int = 200,
        refused: str | None = None,
        hint: str | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Response:
        now = _now()

        def read(s: IncidentStore) -> tuple[IncidentView, PastOccurrences]:
            return incident_view(s, incident_id, now), past_occurrences(s, incident_id)

        try:
            view, past = await asyncio.to_thread(_run, home, read)
        except NotFound:
            return error_page(request, 404)
        except (Unavailable, IncidentsError):
            return error_page(request, 503)
        rv = view.review or Review(view.inc.id)
        values = form or {
            "cause": rv.cause,
            "impact": rv.impact,
            "recurrence": "" if rv.recurrence is None else rv.recurrence.value,
            "recurrence_reason": rv.recurrence_reason,
        }
        done = request.query_params.get("done")
        return render(
            request,
            "incident_review.html",
            status=status,
            v=view,
            inc=view.inc,
            rv=rv,
            past=past,
            values=values,
            levels=[lv.value for lv in Level],
            can_manage=principal.allows(Permission.INCIDENTS_MANAGE),
            can_read_events=principal.allows(Permission.EVENTS_READ),
            refused=refused,
            refused_hint=hint,
            refusal_status=status,
            done=done if status == 200 and done in _REVIEW_DONE else None,
            when=lambda t: local_time(t, view.zone),
            iso=iso,
            wide=True,
        )

    @app.api_route(
        "/incidents/{incident_id}/review",
        methods=_READ,
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def incident_review_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_READ))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
    ) -> Response:
        return await review_view(request, principal, incident_id)

    async def review_change(
        request: Request,
        principal: Principal,
        incident_id: str,
        work: Callable[[IncidentStore, Mapping[str, str]], object],
        done: str,
        *,
        keep_form: bool = False,
    ) -> Response:
        form = await text_form_of(request)
        check_csrf_of(request, principal, form)
        kept = form if keep_form else None
        try:
            await asyncio.to_thread(_run, home, lambda s: work(s, form))
        except _BadForm as e:
            return await review_view(
                request, principal, incident_id, status=400, refused=str(e), form=kept
            )
        except NotFound:
            return error_page(request, 404)
        except Unavailable:
            return error_page(request, 503)
        except IncidentsError as e:
            return await review_view(
                request,
                principal,
                incident_id,
                status=refusal_status(e),
                refused=e.message,
                hint=e.hint,
                form=kept,
            )
        return RedirectResponse(
            f"/incidents/{incident_id.upper()}/review?done={done}", status_code=303
        )

    @app.post(
        "/incidents/{incident_id}/review", include_in_schema=False, response_class=HTMLResponse
    )
    async def incident_review_post(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
    ) -> Response:
        def work(s: IncidentStore, form: Mapping[str, str]) -> Review:
            return save_review(
                s,
                incident_id,
                actor=principal.name,
                now=_now(),
                cause=form.get("cause", ""),
                impact=form.get("impact", ""),
                recurrence=_choice(Level, form.get("recurrence", "")),
                recurrence_reason=form.get("recurrence_reason", ""),
                complete="complete" in form,  # a checkbox: sent only when ticked
            )

        return await review_change(request, principal, incident_id, work, "saved", keep_form=True)

    @app.post(
        "/incidents/{incident_id}/countermeasures",
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def countermeasure_add(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
    ) -> Response:
        def work(s: IncidentStore, form: Mapping[str, str]) -> Countermeasure:
            try:
                due = dt.date.fromisoformat(form.get("due", "").strip())
            except ValueError:
                raise _BadForm("the due date is not a date (YYYY-MM-DD)") from None
            return add_countermeasure(
                s,
                incident_id,
                text=form.get("text", ""),
                owner=form.get("owner", ""),
                due=due,
                actor=principal.name,
                now=_now(),
            )

        return await review_change(request, principal, incident_id, work, "added")

    @app.post(
        "/incidents/{incident_id}/countermeasures/{cm_id}/done",
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def countermeasure_done(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
        cm_id: Annotated[int, Path(ge=1, le=2**62)],
    ) -> Response:
        def work(s: IncidentStore, form: Mapping[str, str]) -> Countermeasure:
            cm = s.countermeasure(cm_id)
            if cm.incident_id != get_incident(s, incident_id).id:
                raise NotFound(f"countermeasure {cm_id} is not one of {incident_id}")
            return complete_countermeasure(
                s, cm_id, actor=principal.name, now=_now(), note=form.get("note", "")
            )

        return await review_change(request, principal, incident_id, work, "done")

    # --- the JSON API ---------------------------------------------------------------------------

    @app.get(
        "/api/v1/incidents",
        summary="List incidents",
        description="Incidents newest detection first, with their timers (`breached` names "
        "those past due): by default the open ones. Needs `incidents.read` (a session, or a token whose scope carries it).",
        response_model=IncidentListModel,
        responses=_ERRORS,
        openapi_extra=_SECURITY,
    )
    async def api_incidents(
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_READ))],
        state: Annotated[StateParam, Query(description="Open, closed or all.")] = "open",
        stage: Annotated[StageParam | None, Query(description="Only at this stage.")] = None,
        priority: Annotated[PriorityParam | None, Query(description="Only this priority.")] = None,
        category: Annotated[CategoryParam | None, Query(description="Only this category.")] = None,
        limit: Annotated[int, Query(ge=1, le=_LIST_MAX, description="At most this many.")] = 100,
    ) -> dict[str, Any]:
        now = _now()
        try:
            rows, _zone = await asyncio.to_thread(
                _run,
                home,
                lambda s: _list(s, state, stage or "", priority or "", category or "", limit, now),
            )
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "incident") from e
        return {"incidents": [incident_json(inc, ts) for inc, ts in rows]}

    @app.get(
        "/api/v1/incidents/{incident_id}",
        summary="One incident with its timers, CSIRT messages and countermeasures",
        description="Needs `incidents.read` (a session, or a token whose scope carries it).",
        response_model=IncidentDetailModel,
        responses=_ONE,
        openapi_extra=_SECURITY,
    )
    async def api_incident(
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_READ))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
    ) -> dict[str, Any]:
        return await detail(incident_id)

    async def detail(incident_id: str, problems: Sequence[str] | None = None) -> dict[str, Any]:
        now = _now()
        try:
            view = await asyncio.to_thread(_run, home, lambda s: incident_view(s, incident_id, now))
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "incident") from e
        out = view.as_json()
        if problems is not None:
            out["problems"] = list(problems)
        return out

    @app.post(
        "/api/v1/incidents",
        status_code=201,
        summary="Open an incident",
        description="From alerts (merged into one; title, urgency and impact follow the most "
        "severe unless given) or by hand (`title`). A personal-information breach "
        "(`category: breach`) needs `breach` and is reported to the CSIRT at once (LAW-4). "
        "Needs `incidents.manage`: a signed-in session (send `X-CSRF-Token`).",
        response_model=IncidentChangeModel,
        responses=_CHANGE,
        openapi_extra=_SESSION,
    )
    async def api_create(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        body: NewIncidentBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        now = _now()

        def work(s: IncidentStore) -> Outcome:
            return create_incident(
                s,
                actor=principal.name,
                now=_now(),
                title=body.title,
                description=body.description,
                category=Category(body.category),
                alert_ids=body.alerts,
                urgency=_level(body.urgency),
                impact=_level(body.impact),
                assignee=body.assignee,
                hosts=body.hosts,
                users=body.users,
                breach=None if body.breach is None else _breach_of_body(body.breach, now),
            )

        try:
            out = await asyncio.to_thread(_run, home, work)
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "incident") from e
        return await detail(out.incident.id, out.problems)

    allow_only(app, "/api/v1/incidents", "GET, POST")

    @app.post(
        "/api/v1/incidents/{incident_id}/steps",
        summary="Step, close or reopen an incident",
        description="`step`: forward to `stage` (FLT-1: detected → isolated → vendor_contacted "
        "→ recovery_confirmed → reported); passing over stages needs `reason`, and they are "
        "recorded as skipped. `close`: a reported incident (P1/P2 and breaches after a completed "
        "review). `reopen`: back to isolated from reported or closed, with `reason`. Needs "
        "`incidents.manage`: a signed-in session (send `X-CSRF-Token`).",
        response_model=IncidentDetailModel,
        responses=_CHANGE,
        openapi_extra=_SESSION,
    )
    async def api_step(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
        body: StepBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        if body.action == "step" and body.stage is None:
            raise HttpError(400, "a step needs its stage", hint='e.g. {"stage": "isolated"}')

        def work(s: IncidentStore) -> Incident:
            match body.action:
                case "close":
                    return close_incident(
                        s, incident_id, actor=principal.name, now=_now(), note=body.note
                    )
                case "reopen":
                    return reopen_incident(
                        s,
                        incident_id,
                        reason=body.reason,
                        actor=principal.name,
                        now=_now(),
                        note=body.note,
                    )
                case "step":
                    assert body.stage is not None
                    return step_incident(
                        s,
                        incident_id,
                        Stage(body.stage),
                        actor=principal.name,
                        now=_now(),
                        note=body.note,
                        skip_reason=body.reason,
                    )

        try:
            inc = await asyncio.to_thread(_run, home, work)
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "incident") from e
        return await detail(inc.id)

    @app.post(
        "/api/v1/incidents/{incident_id}/csirt",
        status_code=201,
        summary="Send a report to the CSIRT",
        description="Renders the Japanese report (第1報, 続報 or 最終報告, with `text` as 補足), "
        "e-mails it to `[csirt] to` and `cc` and keeps it with the incident (FLT-4). Needs "
        "`incidents.manage`: a signed-in session (send `X-CSRF-Token`).",
        response_model=CsirtMessageModel,
        responses=_CHANGE,
        openapi_extra=_SESSION,
    )
    async def api_csirt(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.INCIDENTS_MANAGE))],
        incident_id: Annotated[str, Path(max_length=_ID_MAX, pattern=INCIDENT_ID)],
        body: Annotated[CsirtBody, Body()],
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        kind = ReportKind(body.kind)
        try:
            msg = await asyncio.to_thread(
                _run,
                home,
                lambda s: csirt_report(
                    s, incident_id, kind, body.text, actor=principal.name, now=_now()
                ),
            )
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "incident") from e
        return msg.as_json()
