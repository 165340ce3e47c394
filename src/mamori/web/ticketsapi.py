"""/api/v1/tickets: the service desk (OPS-1) as JSON.

Reading needs ``tickets.read`` (a session, or a token whose scope carries it); every ``POST``
needs ``tickets.manage``, which only a signed-in session has, with its CSRF token in
``X-CSRF-Token``. A refused change is a 409 with :class:`~mamori.web.openapi.ErrorModel`
(:func:`mamori.web.views.api_error`). The pages are :mod:`mamori.web.ticketspages`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field

from mamori.incidents.model import Level, Priority
from mamori.incidents.tickets import TicketCategory, TicketStatus, comment_ticket, set_ticket_status
from mamori.web.auth import Console
from mamori.web.ticketsview import (
    LIST_MAX,
    CategoryParam,
    Manager,
    NewTicket,
    PriorityParam,
    Reader,
    StatusParam,
    TicketIdParam,
    list_tickets,
    now,
    open_new,
    run,
    ticket_json,
)
from mamori.web.views import api_responses, check_api_csrf, for_api

__all__ = ["register_tickets_api"]

LevelParam = Literal["high", "medium", "low"]


class LogEntryModel(BaseModel):
    seq: int
    kind: Literal["comment", "status"]
    actor: str
    at: str = Field(description="When (RFC 3339, UTC).")
    text: str = Field(description="The comment, or the note of a status change.")
    from_: StatusParam | None = Field(alias="from", description="A status change's old status.")
    to: StatusParam | None = Field(description="A status change's new status.")


class TicketModel(BaseModel):
    id: str = Field(description="`TKT-YYYY-NNNN`.")
    category: CategoryParam
    requester: str
    subject: str
    description: str
    priority: PriorityParam
    status: StatusParam
    assignee: str | None
    opened_at: str
    opened_by: str
    first_response_at: str | None = Field(
        description="The first comment or status change by someone other than the requester."
    )
    resolved_at: str | None
    closed_at: str | None
    first_response_due: str
    resolution_due: str
    first_response_minutes: float | None
    resolution_minutes: float | None
    first_response_met: bool | None = Field(description="Null while it may still be met.")
    resolution_met: bool | None = Field(description="Null while it may still be met.")
    next_statuses: list[StatusParam] = Field(description="The statuses it may go to now.")
    log: list[LogEntryModel] = Field(description="Comments and status changes, oldest first.")
    path: str = Field(description="Its page in the console.")


class TicketListModel(BaseModel):
    tickets: list[TicketModel] = Field(description="Newest first.")


class OpenTicketBody(BaseModel):
    category: CategoryParam
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=20_000)
    requester: str | None = Field(
        None, max_length=200, description="Who asks (default: the signed-in account)."
    )
    priority: PriorityParam | None = Field(None, description="Or urgency and impact.")
    urgency: LevelParam | None = None
    impact: LevelParam | None = None
    assignee: str | None = Field(None, max_length=200)


class CommentBody(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class StatusBody(BaseModel):
    status: StatusParam
    note: str = Field("", max_length=20_000, description="Why (required to reopen).")


_WHAT: Final = "ticket"
_ERRORS: Final = api_responses(_WHAT)
_ONE: Final = api_responses(_WHAT, one=True)
_CHANGE: Final = api_responses(
    _WHAT,
    one=True,
    refused="The service desk refused the change (its status does not allow it, a value is "
    "missing or too long); the message says why.",
)
_SECURITY: Final = {"security": [{"bearer": ["read"]}]}
_SESSION: Final[dict[str, Any]] = {"security": [{"bearer": []}]}


def register_tickets_api(app: FastAPI, console: Console) -> None:
    """Add /api/v1/tickets to `app`."""
    home = console.home

    @app.get(
        "/api/v1/tickets",
        summary="List service-desk tickets",
        description="Tickets newest first: by default those not closed; `status=all` for "
        "every ticket. Needs `tickets.read` (a session, or a token whose scope carries it).",
        response_model=TicketListModel,
        responses=_ERRORS,
        openapi_extra=_SECURITY,
    )
    async def api_tickets(
        principal: Reader,
        status: Annotated[
            StatusParam | Literal["all"] | None, Query(description="Only this status, or all.")
        ] = None,
        category: Annotated[CategoryParam | None, Query(description="Only this category.")] = None,
        priority: Annotated[PriorityParam | None, Query(description="Only this priority.")] = None,
        limit: Annotated[int, Query(ge=1, le=LIST_MAX, description="At most this many.")] = 100,
    ) -> dict[str, Any]:
        found = await for_api(
            lambda: run(home, lambda s: list_tickets(s, status, category, priority, limit)), _WHAT
        )
        at = now()
        return {"tickets": [ticket_json(t, at) for t in found]}

    @app.post(
        "/api/v1/tickets",
        status_code=201,
        summary="Open a ticket",
        description="A new ticket, status `new`, with a priority or urgency × impact (default "
        "medium × medium). Needs `tickets.manage`: a signed-in session (send `X-CSRF-Token`).",
        response_model=TicketModel,
        responses=_CHANGE,
        openapi_extra=_SESSION,
    )
    async def api_open_ticket(
        request: Request, principal: Manager, body: OpenTicketBody
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        f = NewTicket(
            category=TicketCategory(body.category),
            requester=(body.requester or "").strip() or principal.name,
            subject=body.subject,
            description=body.description,
            priority=None if body.priority is None else Priority(body.priority),
            urgency=None if body.urgency is None else Level(body.urgency),
            impact=None if body.impact is None else Level(body.impact),
            assignee=body.assignee,
        )
        t = await for_api(lambda: run(home, lambda s: open_new(s, f, principal.name)), _WHAT)
        return ticket_json(t, now())

    @app.get(
        "/api/v1/tickets/{ticket_id}",
        summary="One ticket with its comments and status changes",
        description="Needs `tickets.read` (a session, or a token whose scope carries it).",
        response_model=TicketModel,
        responses=_ONE,
        openapi_extra=_SECURITY,
    )
    async def api_ticket(principal: Reader, ticket_id: TicketIdParam) -> dict[str, Any]:
        t = await for_api(lambda: run(home, lambda s: s.get(ticket_id)), _WHAT)
        return ticket_json(t, now())

    @app.post(
        "/api/v1/tickets/{ticket_id}/comments",
        summary="Comment on a ticket",
        description="The first comment by someone other than the requester is the first "
        "response. Needs `tickets.manage`: a signed-in session (send `X-CSRF-Token`).",
        response_model=TicketModel,
        responses=_CHANGE,
        openapi_extra=_SESSION,
    )
    async def api_comment(
        request: Request,
        principal: Manager,
        ticket_id: TicketIdParam,
        body: CommentBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        t = await for_api(
            lambda: run(
                home,
                lambda s: comment_ticket(s, ticket_id, body.text, actor=principal.name, now=now()),
            ),
            _WHAT,
        )
        return ticket_json(t, now())

    @app.post(
        "/api/v1/tickets/{ticket_id}/status",
        summary="Change a ticket's status",
        description="new → in_progress ⇄ waiting → resolved → closed; resolved → in_progress "
        "reopens it (a note is required). Needs `tickets.manage`: a signed-in session (send "
        "`X-CSRF-Token`).",
        response_model=TicketModel,
        responses=_CHANGE,
        openapi_extra=_SESSION,
    )
    async def api_status(
        request: Request,
        principal: Manager,
        ticket_id: TicketIdParam,
        body: StatusBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        to = TicketStatus(body.status)
        t = await for_api(
            lambda: run(
                home,
                lambda s: set_ticket_status(
                    s, ticket_id, to, actor=principal.name, now=now(), note=body.note
                ),
            ),
            _WHAT,
        )
        return ticket_json(t, now())
