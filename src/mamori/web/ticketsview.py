"""The service desk (OPS-1): ticket pages, monthly figures and /api/v1/tickets.

Pages: ``GET /tickets`` (filters status, category, priority), ``GET /tickets/{id}`` (details,
comments and status changes, first response and resolution against their targets),
``GET /tickets/stats?month=YYYY-MM`` (:mod:`mamori.incidents.ticketstats`) need
``tickets.read``; ``/tickets/new`` and the ``POST`` routes need ``tickets.manage`` and the
session's CSRF token. Every change goes through :mod:`mamori.incidents.tickets`, which records
its audit event, with the console account as actor. A change the service refuses is shown on
the page (409) with its English message after a translated sentence; the JSON API answers
409 with :class:`~mamori.web.openapi.ErrorModel`. Registered by
:func:`mamori.web.incidentsview.register_incidents`; see docs/console.md.

The helpers at the top (:func:`check_api_csrf`, :func:`local_time`) serve the incidents pages
too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from mamori.access.roles import Permission
from mamori.access.sessions import CSRF_HEADER, check_csrf
from mamori.audit import AuditError
from mamori.home import Home
from mamori.incidents.errors import IncidentsError, NotFound
from mamori.incidents.model import Level, Priority, iso
from mamori.incidents.tickets import (
    TICKET_TABLE,
    Ticket,
    TicketCategory,
    TicketStatus,
    TicketStore,
    comment_ticket,
    open_ticket,
    set_ticket_status,
)
from mamori.incidents.ticketstats import ticket_stats
from mamori.web.auth import Console, Principal, check_csrf_of, form_of, require
from mamori.web.errors import HttpError
from mamori.web.openapi import BEARER_HEADERS, ErrorModel
from mamori.web.pages import error_page, render

__all__ = [
    "TICKET_ID",
    "Unavailable",
    "allow_only",
    "check_api_csrf",
    "local_time",
    "refusal_status",
    "register_tickets",
    "service_error",
    "text_form_of",
]

T = TypeVar("T")

TICKET_ID: Final = r"^[Tt][Kk][Tt]-[0-9]{4}-[0-9]{1,9}$"
"""What a ticket id looks like (`TKT-2026-0001`)."""
_READ: Final = ["GET", "HEAD"]
_ID_MAX: Final = 32
_API_MAX: Final = 1000
_DONE: Final = frozenset({"opened", "commented", "status"})
_MONTH: Final = r"^[0-9]{4}-(0[1-9]|1[0-2])$"

StatusParam = Literal["new", "in_progress", "waiting", "resolved", "closed"]
CategoryParam = Literal["inquiry", "request", "failure", "change", "other"]
PriorityParam = Literal["P1", "P2", "P3", "P4", "P5"]
LevelParam = Literal["high", "medium", "low"]


# --- shared with the incidents pages ----------------------------------------------------------


class Unavailable(Exception):
    """The store could not be opened (a 503, not a refusal of the change)."""


def local_time(t: dt.datetime | None, zone: ZoneInfo) -> str:
    """`t` in the calendar zone, ``2026-11-27 10:15 JST`` (the same in every language)."""
    if t is None:
        return ""
    local = t.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


async def text_form_of(request: Request) -> dict[str, str]:
    """:func:`~mamori.web.auth.form_of` with line breaks as ``\\n``: browsers send a textarea's
    as CRLF (HTML, "constructing the entry list"), and the incidents package refuses a CR as a
    control character."""
    form = await form_of(request)
    return {k: v.replace("\r\n", "\n").replace("\r", "\n") for k, v in form.items()}


def check_api_csrf(request: Request, principal: Principal) -> None:
    """A session's POST must carry its CSRF token (a bearer token has no cookie to ride on)."""
    if principal.via != "session":
        return
    if principal.csrf is None or not check_csrf(principal.csrf, request.headers.get(CSRF_HEADER)):
        raise HttpError(
            403,
            "the request lacks the session's CSRF token",
            hint=f"send it in the {CSRF_HEADER} header (it is on every console page)",
        )


_OTHER_METHODS: Final = ["DELETE", "HEAD", "OPTIONS", "PATCH", "PUT", "TRACE"]


def allow_only(app: FastAPI, path: str, allow: str) -> None:
    """Answer every other method on `path` with 405 and ``Allow: {allow}``.

    `path` has a GET route and a POST route; for any other method Starlette answers with the
    ``Allow`` of the first route only (``GET``), which would say POST is not accepted either.
    Registered after the two routes, this one is matched instead.
    """

    async def not_allowed() -> Response:
        raise StarletteHTTPException(405, headers={"Allow": allow})

    app.add_api_route(path, not_allowed, methods=_OTHER_METHODS, include_in_schema=False)


def refusal_status(e: IncidentsError) -> int:
    """409 for a change the incidents package refused (nothing changed); 500 when the change
    was made but its audit event could not be recorded (:func:`mamori.incidents.trail.record`
    raises an IncidentsError caused by the audit outbox's error)."""
    return 500 if isinstance(e.__cause__, AuditError) else 409


def service_error(e: Exception, what: str) -> HttpError:
    """The JSON answer to an error of the incidents package: 404, 503, 500 (the change stands
    but its audit event is missing), else 409."""
    if isinstance(e, IncidentsError) and refusal_status(e) == 500:
        return HttpError(500, e.message, hint=e.hint or "the change stands")
    if isinstance(e, Unavailable):
        return HttpError(503, f"the {what} store cannot be used now", hint=str(e))
    if isinstance(e, NotFound):
        return HttpError(404, e.message, hint=e.hint or f"list them with GET /api/v1/{what}s")
    if isinstance(e, IncidentsError):
        return HttpError(409, e.message, hint=e.hint or f"GET the {what} to see where it stands")
    raise e  # pragma: no cover - only the errors above are passed in


def _run(home: Home, work: Callable[[TicketStore], T]) -> T:
    try:
        store = TicketStore.open(home)
    except IncidentsError as e:
        raise Unavailable(e.message) from e
    with store:
        return work(store)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the OpenAPI description ------------------------------------------------------------------


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
    503: {"model": ErrorModel, "description": "The ticket store cannot be used now."},
}
_ONE: Final[dict[int | str, dict[str, Any]]] = {
    **_ERRORS,
    404: {"model": ErrorModel, "description": "No ticket with this id."},
}
_CHANGE: Final[dict[int | str, dict[str, Any]]] = {
    **_ONE,
    500: {
        "model": ErrorModel,
        "description": "The change was made but its audit event could not be recorded.",
    },
    409: {
        "model": ErrorModel,
        "description": "The service desk refused the change (its status does not allow it, "
        "a value is missing or too long); the message says why.",
    },
}
_SECURITY: Final = {"security": [{"bearer": ["read"]}]}
_SESSION: Final[dict[str, Any]] = {"security": [{"bearer": []}]}


def ticket_json(t: Ticket, now: dt.datetime) -> dict[str, Any]:
    """A ticket as :class:`TicketModel`."""
    return {
        **t.as_json(now),
        "next_statuses": [s.value for s in next_statuses(t.status)],
        "path": f"/tickets/{t.id}",
    }


def next_statuses(status: TicketStatus) -> list[TicketStatus]:
    """Where a ticket in `status` may go (:data:`TICKET_TABLE`)."""
    return [b for b in TicketStatus if TICKET_TABLE[(status, b)]]


# --- blocking work (run in a worker thread) ---------------------------------------------------


def _list(
    store: TicketStore,
    status: str | None,
    category: str | None,
    priority: str | None,
    limit: int,
) -> list[Ticket]:
    """`status` "" or None: every ticket not closed; "all": every ticket."""
    if status == "all":
        found = store.tickets(include_closed=True)
    elif status:
        found = store.tickets(status=TicketStatus(status))
    else:
        found = store.tickets()
    return [
        t
        for t in found
        if (not category or t.category.value == category)
        and (not priority or t.priority.value == priority)
    ][:limit]


@dataclass(frozen=True, slots=True)
class _Form:
    """What the new-ticket form sends, checked."""

    category: TicketCategory
    requester: str
    subject: str
    description: str
    priority: Priority | None
    urgency: Level | None
    impact: Level | None
    assignee: str | None


class _BadForm(Exception):
    """A form value outside its choices (a hand-made request): a 400."""


def _choice(kind: Callable[[str], T], value: str) -> T | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise _BadForm(f"{value[:40]!r} is not one of the choices") from None


def _new_form(form: Mapping[str, str], who: str) -> _Form:
    category = _choice(TicketCategory, form.get("category", ""))
    if category is None:
        raise _BadForm("choose a category")
    return _Form(
        category=category,
        requester=form.get("requester", "").strip() or who,
        subject=form.get("subject", ""),
        description=form.get("description", ""),
        priority=_choice(Priority, form.get("priority", "")),
        urgency=_choice(Level, form.get("urgency", "")),
        impact=_choice(Level, form.get("impact", "")),
        assignee=form.get("assignee", "").strip() or None,
    )


def _open(store: TicketStore, f: _Form, actor: str) -> Ticket:
    return open_ticket(
        store,
        category=f.category,
        requester=f.requester,
        subject=f.subject,
        actor=actor,
        now=_now(),
        description=f.description,
        priority=f.priority,
        urgency=f.urgency,
        impact=f.impact,
        assignee=f.assignee,
    )


def register_tickets(app: FastAPI, console: Console) -> None:
    """Add the service desk's pages and API to `app`."""
    home = console.home

    def zone() -> ZoneInfo:
        return _run(home, lambda s: s.zone)

    # --- pages ---------------------------------------------------------------------------------

    @app.api_route("/tickets", methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def tickets_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_READ))],
        status: Annotated[StatusParam | Literal["", "all"], Query()] = "",
        category: Annotated[CategoryParam | Literal[""], Query()] = "",
        priority: Annotated[PriorityParam | Literal[""], Query()] = "",
    ) -> Response:
        try:
            found, tz = await asyncio.to_thread(
                _run,
                home,
                lambda s: (_list(s, status, category, priority, _API_MAX), s.zone),
            )
        except (Unavailable, IncidentsError):
            return error_page(request, 503)
        now = _now()
        return render(
            request,
            "tickets.html",
            tickets=found,
            status_filter=status,
            category=category,
            priority=priority,
            statuses=[s.value for s in TicketStatus],
            categories=[c.value for c in TicketCategory],
            priorities=[p.value for p in Priority],
            can_manage=principal.allows(Permission.TICKETS_MANAGE),
            when=lambda t: local_time(t, tz),
            iso=iso,
            now=now,
            wide=True,
        )

    async def new_view(
        request: Request,
        form: Mapping[str, str] | None = None,
        *,
        status: int = 200,
        refused: str | None = None,
        hint: str | None = None,
    ) -> Response:
        return render(
            request,
            "ticket_new.html",
            status=status,
            form=form or {},
            categories=[c.value for c in TicketCategory],
            priorities=[p.value for p in Priority],
            levels=[lv.value for lv in Level],
            refused=refused,
            refused_hint=hint,
            refusal_status=status,
        )

    @app.api_route(
        "/tickets/new", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def ticket_new_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))],
    ) -> Response:
        return await new_view(request, {"requester": principal.name})

    @app.post("/tickets/new", include_in_schema=False, response_class=HTMLResponse)
    async def ticket_new_post(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))],
    ) -> Response:
        form = await text_form_of(request)
        check_csrf_of(request, principal, form)
        try:
            f = _new_form(form, principal.name)
            t = await asyncio.to_thread(_run, home, lambda s: _open(s, f, principal.name))
        except _BadForm as e:
            return await new_view(request, form, status=400, refused=str(e))
        except Unavailable:
            return error_page(request, 503)
        except IncidentsError as e:
            status = refusal_status(e)
            kept = form if status == 409 else {}  # 500: it was opened; do not invite a second
            return await new_view(request, kept, status=status, refused=e.message, hint=e.hint)
        return RedirectResponse(f"/tickets/{t.id}?done=opened", status_code=303)

    @app.api_route(
        "/tickets/stats", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def ticket_stats_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_READ))],
        month: Annotated[str, Query(max_length=7)] = "",
    ) -> Response:
        try:
            tz = await asyncio.to_thread(zone)
        except (Unavailable, IncidentsError):
            return error_page(request, 503)
        month = month.strip() or f"{_now().astimezone(tz):%Y-%m}"
        try:
            stats = await asyncio.to_thread(_run, home, lambda s: ticket_stats(s, month))
        except Unavailable:
            return error_page(request, 503)
        except IncidentsError as e:
            return stats_view(request, month, None, e.message)
        return stats_view(request, month, stats, None)

    async def ticket_view(
        request: Request,
        principal: Principal,
        ticket_id: str,
        *,
        status: int = 200,
        refused: str | None = None,
        hint: str | None = None,
    ) -> Response:
        try:
            t, tz = await asyncio.to_thread(_run, home, lambda s: (s.get(ticket_id), s.zone))
        except NotFound:
            return error_page(request, 404)
        except (Unavailable, IncidentsError):
            return error_page(request, 503)
        done = request.query_params.get("done")
        now = _now()
        return render(
            request,
            "ticket.html",
            status=status,
            t=t,
            next_statuses=[s.value for s in next_statuses(t.status)],
            first_met=t.first_response_met(now),
            resolution_met=t.resolution_met(now),
            can_manage=principal.allows(Permission.TICKETS_MANAGE),
            refused=refused,
            refused_hint=hint,
            refusal_status=status,
            done=done if status == 200 and done in _DONE else None,
            when=lambda v: local_time(v, tz),
            iso=iso,
            wide=True,
        )

    @app.api_route(
        "/tickets/{ticket_id}", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def ticket_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_READ))],
        ticket_id: Annotated[str, Path(max_length=_ID_MAX, pattern=TICKET_ID)],
    ) -> Response:
        return await ticket_view(request, principal, ticket_id)

    async def change_page(
        request: Request,
        principal: Principal,
        ticket_id: str,
        work: Callable[[TicketStore, Mapping[str, str]], Ticket],
        done: str,
    ) -> Response:
        form = await text_form_of(request)
        check_csrf_of(request, principal, form)
        try:
            await asyncio.to_thread(_run, home, lambda s: work(s, form))
        except _BadForm as e:
            return await ticket_view(request, principal, ticket_id, status=400, refused=str(e))
        except NotFound:
            return error_page(request, 404)
        except Unavailable:
            return error_page(request, 503)
        except IncidentsError as e:
            return await ticket_view(
                request,
                principal,
                ticket_id,
                status=refusal_status(e),
                refused=e.message,
                hint=e.hint,
            )
        return RedirectResponse(f"/tickets/{ticket_id.upper()}?done={done}", status_code=303)

    @app.post("/tickets/{ticket_id}/comment", include_in_schema=False, response_class=HTMLResponse)
    async def ticket_comment(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))],
        ticket_id: Annotated[str, Path(max_length=_ID_MAX, pattern=TICKET_ID)],
    ) -> Response:
        def work(s: TicketStore, form: Mapping[str, str]) -> Ticket:
            text = form.get("text", "")
            return comment_ticket(s, ticket_id, text, actor=principal.name, now=_now())

        return await change_page(request, principal, ticket_id, work, "commented")

    @app.post("/tickets/{ticket_id}/status", include_in_schema=False, response_class=HTMLResponse)
    async def ticket_status(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))],
        ticket_id: Annotated[str, Path(max_length=_ID_MAX, pattern=TICKET_ID)],
    ) -> Response:
        def work(s: TicketStore, form: Mapping[str, str]) -> Ticket:
            to = _choice(TicketStatus, form.get("status", ""))
            if to is None:
                raise _BadForm("choose a status")
            note = form.get("note", "")
            return set_ticket_status(s, ticket_id, to, actor=principal.name, now=_now(), note=note)

        return await change_page(request, principal, ticket_id, work, "status")

    # --- the JSON API ----------------------------------------------------------------------------

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
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_READ))],
        status: Annotated[
            StatusParam | Literal["all"] | None, Query(description="Only this status, or all.")
        ] = None,
        category: Annotated[CategoryParam | None, Query(description="Only this category.")] = None,
        priority: Annotated[PriorityParam | None, Query(description="Only this priority.")] = None,
        limit: Annotated[int, Query(ge=1, le=_API_MAX, description="At most this many.")] = 100,
    ) -> dict[str, Any]:
        try:
            found = await asyncio.to_thread(
                _run, home, lambda s: _list(s, status, category, priority, limit)
            )
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "ticket") from e
        now = _now()
        return {"tickets": [ticket_json(t, now) for t in found]}

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
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))],
        body: OpenTicketBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        f = _Form(
            category=TicketCategory(body.category),
            requester=(body.requester or "").strip() or principal.name,
            subject=body.subject,
            description=body.description,
            priority=None if body.priority is None else Priority(body.priority),
            urgency=None if body.urgency is None else Level(body.urgency),
            impact=None if body.impact is None else Level(body.impact),
            assignee=body.assignee,
        )
        try:
            t = await asyncio.to_thread(_run, home, lambda s: _open(s, f, principal.name))
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "ticket") from e
        return ticket_json(t, _now())

    allow_only(app, "/api/v1/tickets", "GET, POST")

    @app.get(
        "/api/v1/tickets/{ticket_id}",
        summary="One ticket with its comments and status changes",
        description="Needs `tickets.read` (a session, or a token whose scope carries it).",
        response_model=TicketModel,
        responses=_ONE,
        openapi_extra=_SECURITY,
    )
    async def api_ticket(
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_READ))],
        ticket_id: Annotated[str, Path(max_length=_ID_MAX, pattern=TICKET_ID)],
    ) -> dict[str, Any]:
        try:
            t = await asyncio.to_thread(_run, home, lambda s: s.get(ticket_id))
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "ticket") from e
        return ticket_json(t, _now())

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
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))],
        ticket_id: Annotated[str, Path(max_length=_ID_MAX, pattern=TICKET_ID)],
        body: CommentBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        try:
            t = await asyncio.to_thread(
                _run,
                home,
                lambda s: comment_ticket(s, ticket_id, body.text, actor=principal.name, now=_now()),
            )
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "ticket") from e
        return ticket_json(t, _now())

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
        principal: Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))],
        ticket_id: Annotated[str, Path(max_length=_ID_MAX, pattern=TICKET_ID)],
        body: StatusBody,
    ) -> dict[str, Any]:
        check_api_csrf(request, principal)
        to = TicketStatus(body.status)
        try:
            t = await asyncio.to_thread(
                _run,
                home,
                lambda s: set_ticket_status(
                    s, ticket_id, to, actor=principal.name, now=_now(), note=body.note
                ),
            )
        except (Unavailable, IncidentsError) as e:
            raise service_error(e, "ticket") from e
        return ticket_json(t, _now())


def stats_view(
    request: Request, month: str, stats: dict[str, Any] | None, refused: str | None
) -> HTMLResponse:
    """The monthly figures page (a 400 with the reason when the month is not understood)."""
    last_day = None
    if stats is not None:  # `until` is the first moment of the next month
        last_day = (dt.datetime.fromisoformat(stats["until"]) - dt.timedelta(days=1)).date()
    return render(
        request,
        "ticket_stats.html",
        status=200 if refused is None else 400,
        month=month,
        stats=stats,
        last_day=last_day,
        refused=refused,
        categories=[c.value for c in TicketCategory],
        priorities=[p.value for p in Priority],
        statuses=[s.value for s in TicketStatus],
    )
