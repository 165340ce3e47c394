"""/api/v1/incidents: incidents (FLT-1…4, LAW-4) as JSON.

Reading needs ``incidents.read`` (a session, or a token whose scope carries it); every
``POST`` needs ``incidents.manage``, which only a signed-in session has, with its CSRF token
in ``X-CSRF-Token``. Every change goes through :mod:`mamori.incidents`, which records its
audit event; a refused change is a 409 with :class:`~mamori.web.openapi.ErrorModel`
(:func:`mamori.web.views.api_error`). The models are :mod:`mamori.web.incidentsschema`, the
pages :mod:`mamori.web.incidentspages`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Final

from fastapi import Body, FastAPI, Query, Request

from mamori.incidents.csirt import csirt_report
from mamori.incidents.model import BreachDetails, Category, Incident, Level, ReportKind, Stage
from mamori.incidents.service import (
    Outcome,
    close_incident,
    create_incident,
    reopen_incident,
    step_incident,
)
from mamori.incidents.store import IncidentStore
from mamori.web.auth import Console
from mamori.web.errors import HttpError
from mamori.web.incidentsschema import (
    BreachModel,
    CsirtBody,
    CsirtMessageModel,
    IncidentChangeModel,
    IncidentDetailModel,
    IncidentListModel,
    NewIncidentBody,
    StepBody,
)
from mamori.web.incidentsview import (
    LIST_MAX,
    CategoryParam,
    IncidentIdParam,
    Manager,
    PriorityParam,
    Reader,
    StageParam,
    StateParam,
    incident_json,
    incident_view,
    list_rows,
    now,
    run,
)
from mamori.web.views import api_responses, check_api_csrf, for_api

__all__ = ["register_incidents_api"]

_WHAT: Final = "incident"
_ERRORS: Final = api_responses(_WHAT)
_ONE: Final = api_responses(_WHAT, one=True)
_CHANGE: Final = api_responses(
    _WHAT,
    one=True,
    refused="The incidents service refused the change (the workflow does not allow it, a "
    "reason or a LAW-4 field is missing, …); the message says why and the hint what to do.",
)
_SECURITY: Final = {"security": [{"bearer": ["read"]}]}
_SESSION: Final[dict[str, Any]] = {"security": [{"bearer": []}]}


def _breach_of_body(b: BreachModel, at: dt.datetime) -> BreachDetails:
    return BreachDetails(
        what_happened=b.what_happened,
        damage=b.damage,
        containment=b.containment,
        recovery=b.recovery,
        persons_response=b.persons_response,
        persons_affected=b.persons_affected,
        data_items=tuple(b.data_items),
        recognised_at=at,
    )


def _level(value: str | None) -> Level | None:
    return None if value is None else Level(value)


def _step(s: IncidentStore, incident_id: str, body: StepBody, actor: str) -> Incident:
    match body.action:
        case "close":
            return close_incident(s, incident_id, actor=actor, now=now(), note=body.note)
        case "reopen":
            return reopen_incident(
                s, incident_id, reason=body.reason, actor=actor, now=now(), note=body.note
            )
        case "step":
            assert body.stage is not None
            return step_incident(
                s,
                incident_id,
                Stage(body.stage),
                actor=actor,
                now=now(),
                note=body.note,
                skip_reason=body.reason,
            )


def register_incidents_api(app: FastAPI, console: Console) -> None:
    """Add /api/v1/incidents to `app`."""
    home = console.home

    async def detail(incident_id: str, problems: Sequence[str] | None = None) -> dict[str, Any]:
        at = now()
        view = await for_api(lambda: run(home, lambda s: incident_view(s, incident_id, at)), _WHAT)
        out = view.as_json()
        if problems is not None:
            out["problems"] = list(problems)
        return out

    @app.get(
        "/api/v1/incidents",
        summary="List incidents",
        description="Incidents newest detection first, with their timers (`breached` names "
        "those past due): by default the open ones. Needs `incidents.read` (a session, or a "
        "token whose scope carries it).",
        response_model=IncidentListModel,
        responses=_ERRORS,
        openapi_extra=_SECURITY,
    )
    async def api_incidents(
        principal: Reader,
        state: Annotated[StateParam, Query(description="Open, closed or all.")] = "open",
        stage: Annotated[StageParam | None, Query(description="Only at this stage.")] = None,
        priority: Annotated[PriorityParam | None, Query(description="Only this priority.")] = None,
        category: Annotated[CategoryParam | None, Query(description="Only this category.")] = None,
        limit: Annotated[int, Query(ge=1, le=LIST_MAX, description="At most this many.")] = 100,
    ) -> dict[str, Any]:
        at = now()
        rows, _zone = await for_api(
            lambda: run(
                home,
                lambda s: list_rows(
                    s, state, stage or "", priority or "", category or "", limit, at
                ),
            ),
            _WHAT,
        )
        return {"incidents": [incident_json(inc, ts) for inc, ts in rows]}

    @app.get(
        "/api/v1/incidents/{incident_id}",
        summary="One incident with its timers, CSIRT messages and countermeasures",
        description="Needs `incidents.read` (a session, or a token whose scope carries it).",
        response_model=IncidentDetailModel,
        responses=_ONE,
        openapi_extra=_SECURITY,
    )
    async def api_incident(principal: Reader, incident_id: IncidentIdParam) -> dict[str, Any]:
        return await detail(incident_id)

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
        request: Request, principal: Manager, body: NewIncidentBody
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)

        def work(s: IncidentStore) -> Outcome:
            at = now()
            return create_incident(
                s,
                actor=principal.name,
                now=at,
                title=body.title,
                description=body.description,
                category=Category(body.category),
                alert_ids=body.alerts,
                urgency=_level(body.urgency),
                impact=_level(body.impact),
                assignee=body.assignee,
                hosts=body.hosts,
                users=body.users,
                breach=None if body.breach is None else _breach_of_body(body.breach, at),
            )

        out = await for_api(lambda: run(home, work), _WHAT)
        return await detail(out.incident.id, out.problems)

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
        principal: Manager,
        incident_id: IncidentIdParam,
        body: StepBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        if body.action == "step" and body.stage is None:
            raise HttpError(400, "a step needs its stage", hint='e.g. {"stage": "isolated"}')
        inc = await for_api(
            lambda: run(home, lambda s: _step(s, incident_id, body, principal.name)), _WHAT
        )
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
        principal: Manager,
        incident_id: IncidentIdParam,
        body: Annotated[CsirtBody, Body()],
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        kind = ReportKind(body.kind)
        msg = await for_api(
            lambda: run(
                home,
                lambda s: csirt_report(
                    s, incident_id, kind, body.text, actor=principal.name, now=now()
                ),
            ),
            _WHAT,
        )
        return msg.as_json()
