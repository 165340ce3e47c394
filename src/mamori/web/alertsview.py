"""Alerts (detection results): the list, one alert, acknowledge, close; /api/v1/alerts.

Pages: ``GET /alerts`` (filters state and severity, open counts per severity, newest first,
``before`` pages) and ``GET /alerts/{id}`` need ``alerts.read``; ``POST /alerts/{id}/ack`` and
``POST /alerts/{id}/close`` need ``alerts.manage`` and the session's CSRF token, and answer
with a 303 to the alert's page (or the page again with the reason when refused: 400, 404,
409). The JSON API has the same four, with :class:`~mamori.web.openapi.ErrorModel` errors; a
session's ``POST`` carries the CSRF token in ``X-CSRF-Token``. The store
(:class:`mamori.alerts.store.AlertStore`) records the audit event of every change, with the
console account as actor. See docs/alerts.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from mamori.access.roles import Permission
from mamori.alerts.model import NOTE_MAX, Alert, AlertDetail, AlertState, iso
from mamori.alerts.store import AlertStore
from mamori.detect.detection import SEVERITIES
from mamori.home import Home
from mamori.web.auth import LONG_FORM_MAX, Console, Principal, check_csrf_of, form_of, require
from mamori.web.pages import render
from mamori.web.views import (
    READ,
    Failure,
    Refusal,
    api_responses,
    check_api_csrf,
    done_of,
    for_api,
    for_page,
    read_for_page,
)

__all__ = ["PAGE", "register_alerts"]

PAGE: Final = 50
"""Alerts per page of the list."""
_API_MAX: Final = 500
_ID_MAX: Final = 2**62
_DONE: Final = frozenset({"acknowledged", "closed"})

StateParam = Literal["open", "acknowledged", "closed"]
SeverityParam = Literal["informational", "low", "medium", "high", "critical"]
assert set(get_args(SeverityParam)) == set(SEVERITIES)
assert set(get_args(StateParam)) == {s.value for s in AlertState}


# --- the OpenAPI description ---------------------------------------------------------------


class HistoryModel(BaseModel):
    at: str = Field(description="When (RFC 3339, UTC).")
    action: str = Field(description="raised, acknowledged, escalated, closed or linked.")
    actor: str = Field(description="The account, or `mamori` for the service's own changes.")
    note: str = Field(description="The note, the reason, the escalation level or the incident.")


class AlertModel(BaseModel):
    id: int
    rule: str = Field(description="The rule's Sigma id.")
    title: str
    severity: SeverityParam
    clauses: list[str] = Field(description="Contract clauses the rule serves.")
    dedup_key: str
    summary: str
    correlation: bool
    group: dict[str, str] = Field(description="The values that identify it.")
    fields: dict[str, Any] = Field(description="Selected ECS fields of the first detection.")
    state: StateParam
    count: int = Field(description="Detections counted: the first and those absorbed.")
    suppressed: int = Field(description="Detections counted inside the suppression window.")
    event_count: int
    first_event: int | None
    first_seen: str | None
    last_seen: str | None
    raised_at: str | None
    detected_at: str | None
    announced_at: str | None
    level: int = Field(description="Escalations so far.")
    escalated_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    closed_at: str | None
    closed_by: str | None
    close_reason: str | None
    incident: str | None
    path: str = Field(description="Its page in the console.")


class AlertDetailModel(AlertModel):
    events: list[int] = Field(description="Ledger indices of its events (at most 1,000).")
    events_dropped: int = Field(description="Events beyond 1,000, counted, not kept.")
    history: list[HistoryModel]


class AlertListModel(BaseModel):
    alerts: list[AlertModel] = Field(description="Newest first.")
    next_before: int | None = Field(description="`before` of the next page; null at the end.")
    open_counts: dict[str, int] = Field(description="Open alerts per severity.")


class AckBody(BaseModel):
    note: str = Field("", max_length=NOTE_MAX, description="A note for the history.")


class CloseBody(BaseModel):
    reason: str = Field(min_length=1, max_length=NOTE_MAX, description="Why (required).")


_WHAT: Final = "alert"
_ERRORS: Final = api_responses(_WHAT)
_ONE: Final = api_responses(_WHAT, one=True)
_CHANGE: Final = {
    **api_responses(_WHAT, one=True, refused="Its state does not allow the change."),
    200: {"model": AlertModel, "description": "The alert after the change."},
}
_PROBLEM: Final = {Failure.INVALID: "refused", Failure.REFUSED: "state", Failure.AUDIT: "audit"}
"""What the alert page says about a change not made (or made without its audit event)."""


# --- blocking work (run in a worker thread) --------------------------------------------------


def _list(
    home: Home,
    state: str | None,
    severity: str | None,
    rule: str | None,
    before: int | None,
    n: int,
) -> tuple[list[Alert], int | None, dict[str, int]]:
    with AlertStore.open(home) as store:
        found = store.list(state=state, severity=severity, rule=rule, limit=n + 1, before_id=before)
        counts = store.open_counts()
    page = found[:n]
    return page, page[-1].id if len(found) > n else None, counts


def _get(home: Home, alert_id: int) -> AlertDetail:
    with AlertStore.open(home) as store:
        return store.get(alert_id)


def _ack(home: Home, alert_id: int, actor: str, note: str) -> Alert:
    with AlertStore.open(home) as store:
        return store.acknowledge(alert_id, actor, note)


def _close(home: Home, alert_id: int, actor: str, reason: str) -> Alert:
    with AlertStore.open(home) as store:
        return store.close(alert_id, actor, reason)


def when(t: float | None) -> str:
    """A moment as the pages show it: ``2026-11-27 09:00:00 UTC`` (to the second)."""
    text = iso(t)
    return "" if text is None else text[:19].replace("T", " ") + " UTC"


def register_alerts(app: FastAPI, console: Console) -> None:
    """Add the routes to `app`."""
    home = console.home

    # --- pages ---------------------------------------------------------------------------------

    @app.api_route("/alerts", methods=READ, include_in_schema=False, response_class=HTMLResponse)
    async def alerts_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_READ))],
        state: Annotated[StateParam | Literal[""], Query()] = "",
        severity: Annotated[SeverityParam | Literal[""], Query()] = "",
        before: Annotated[int | None, Query(ge=1, le=_ID_MAX)] = None,
    ) -> Response:
        found = await read_for_page(
            request, lambda: _list(home, state or None, severity or None, None, before, PAGE)
        )
        if isinstance(found, Response):
            return found
        alerts, next_before, counts = found
        return render(
            request,
            "alerts.html",
            alerts=alerts,
            next_before=next_before,
            counts=counts,
            state=state,
            severity=severity,
            states=[s.value for s in AlertState],
            severities=list(reversed(SEVERITIES)),
            iso=iso,
            when=when,
            wide=True,
        )

    async def alert_view(
        request: Request,
        principal: Principal,
        alert_id: int,
        *,
        status: int = 200,
        problem: str | None = None,
        refused: str | None = None,
    ) -> Response:
        detail = await read_for_page(request, lambda: _get(home, alert_id))
        if isinstance(detail, Response):
            return detail
        return render(
            request,
            "alert.html",
            status=status,
            a=detail,
            can_manage=principal.allows(Permission.ALERTS_MANAGE),
            can_read_events=principal.allows(Permission.EVENTS_READ),
            can_read_incidents=principal.allows(Permission.INCIDENTS_READ),
            problem=problem,
            refused=refused,
            done=done_of(request, _DONE) if status == 200 and problem is None else None,
            note_max=NOTE_MAX,
            iso=iso,
            when=when,
            wide=True,
        )

    @app.api_route(
        "/alerts/{alert_id}", methods=READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def alert_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_READ))],
        alert_id: Annotated[int, Path(ge=1, le=_ID_MAX)],
    ) -> Response:
        return await alert_view(request, principal, alert_id)

    async def change_page(
        request: Request, principal: Principal, alert_id: int, action: str
    ) -> Response:
        # A note of NOTE_MAX Japanese characters is ~18 KB encoded: more than FORM_MAX.
        form = await form_of(request, LONG_FORM_MAX)
        check_csrf_of(request, principal, form)
        text = form.get("reason" if action == "closed" else "note", "")[:NOTE_MAX]
        if action == "closed" and not text.strip():
            return await alert_view(request, principal, alert_id, status=400, problem="reason")
        change = _close if action == "closed" else _ack

        async def refused(r: Refusal) -> Response:
            problem = _PROBLEM[r.failure]
            return await alert_view(
                request, principal, alert_id, status=r.status, problem=problem, refused=r.message
            )

        changed = await for_page(
            request, lambda: change(home, alert_id, principal.name, text), refused
        )
        if isinstance(changed, Response):
            return changed
        return RedirectResponse(f"/alerts/{alert_id}?done={action}", status_code=303)

    @app.post("/alerts/{alert_id}/ack", include_in_schema=False, response_class=HTMLResponse)
    async def alert_ack(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_MANAGE))],
        alert_id: Annotated[int, Path(ge=1, le=_ID_MAX)],
    ) -> Response:
        return await change_page(request, principal, alert_id, "acknowledged")

    @app.post("/alerts/{alert_id}/close", include_in_schema=False, response_class=HTMLResponse)
    async def alert_close(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_MANAGE))],
        alert_id: Annotated[int, Path(ge=1, le=_ID_MAX)],
    ) -> Response:
        return await change_page(request, principal, alert_id, "closed")

    # --- the JSON API ----------------------------------------------------------------------------

    @app.get(
        "/api/v1/alerts",
        summary="List alerts",
        description="Alerts newest first, optionally of one state, severity or rule, with the "
        "open alerts per severity. Page with `before`: the `next_before` of the previous "
        "answer. Needs `alerts.read`.",
        response_model=AlertListModel,
        responses=_ERRORS,
        openapi_extra={"security": [{"bearer": ["read"]}]},
    )
    async def api_alerts(
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_READ))],
        state: Annotated[StateParam | None, Query(description="Only in this state.")] = None,
        severity: Annotated[
            SeverityParam | None, Query(description="Only of this severity.")
        ] = None,
        rule: Annotated[
            str | None, Query(min_length=1, max_length=200, description="Only of this rule id.")
        ] = None,
        before: Annotated[
            int | None, Query(ge=1, le=_ID_MAX, description="Only alerts below this id.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=_API_MAX, description="At most this many.")] = PAGE,
    ) -> dict[str, Any]:
        alerts, next_before, counts = await for_api(
            lambda: _list(home, state, severity, rule, before, limit), _WHAT
        )
        return {
            "alerts": [a.to_json() for a in alerts],
            "next_before": next_before,
            "open_counts": counts,
        }

    @app.get(
        "/api/v1/alerts/{alert_id}",
        summary="One alert with its events and history",
        description="The alert, the ledger indices of its events (open each with "
        "`GET /api/v1/events/{index}`), and its history. Needs `alerts.read`.",
        response_model=AlertDetailModel,
        responses=_ONE,
        openapi_extra={"security": [{"bearer": ["read"]}]},
    )
    async def api_alert(
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_READ))],
        alert_id: Annotated[int, Path(ge=1, le=_ID_MAX)],
    ) -> dict[str, Any]:
        detail = await for_api(lambda: _get(home, alert_id), _WHAT)
        return detail.to_json()

    @app.post(
        "/api/v1/alerts/{alert_id}/ack",
        summary="Acknowledge an alert",
        description="open → acknowledged, with an optional note; it is no longer escalated. "
        "Needs `alerts.manage`: a signed-in session (send `X-CSRF-Token`); no token scope "
        "allows it.",
        response_model=AlertModel,
        responses=_CHANGE,
        openapi_extra={"security": [{"bearer": []}]},
    )
    async def api_ack(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_MANAGE))],
        alert_id: Annotated[int, Path(ge=1, le=_ID_MAX)],
        body: Annotated[AckBody | None, Body()] = None,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        note = "" if body is None else body.note
        alert = await for_api(lambda: _ack(home, alert_id, principal.name, note), _WHAT)
        return alert.to_json()

    @app.post(
        "/api/v1/alerts/{alert_id}/close",
        summary="Close an alert",
        description="open or acknowledged → closed, for a reason (required). Closed is final. "
        "Needs `alerts.manage`: a signed-in session (send `X-CSRF-Token`); no token scope "
        "allows it.",
        response_model=AlertModel,
        responses=_CHANGE,
        openapi_extra={"security": [{"bearer": []}]},
    )
    async def api_close(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.ALERTS_MANAGE))],
        alert_id: Annotated[int, Path(ge=1, le=_ID_MAX)],
        body: CloseBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        alert = await for_api(lambda: _close(home, alert_id, principal.name, body.reason), _WHAT)
        return alert.to_json()
