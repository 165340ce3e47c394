"""The service desk's pages (OPS-1): the tickets, one ticket, a new ticket, monthly figures.

``GET /tickets`` (filters status, category, priority), ``GET /tickets/{id}`` (details,
comments and status changes, first response and resolution against their targets),
``GET /tickets/stats?month=YYYY-MM`` (:mod:`mamori.incidents.ticketstats`) need
``tickets.read``; ``/tickets/new`` and the ``POST`` routes need ``tickets.manage`` and the
session's CSRF token. A change the service refuses is shown on the page (409) with its
English message after a translated sentence (:func:`mamori.web.views.for_page`). The JSON API
is :mod:`mamori.web.ticketsapi`; see docs/console.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Literal

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mamori.access.roles import Permission
from mamori.incidents.model import Level, Priority, iso
from mamori.incidents.tickets import (
    Ticket,
    TicketCategory,
    TicketStatus,
    TicketStore,
    comment_ticket,
    set_ticket_status,
)
from mamori.incidents.ticketstats import ticket_stats
from mamori.web.auth import Console, Principal
from mamori.web.pages import render
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
    next_statuses,
    now,
    open_new,
    run,
)
from mamori.web.views import (
    READ,
    BadForm,
    Failure,
    Refusal,
    choice,
    done_of,
    for_page,
    local_time,
    posted_form,
    read_for_page,
)

__all__ = ["register_ticket_pages", "stats_view"]

_DONE: Final = frozenset({"opened", "commented", "status"})


def new_ticket_of(form: Mapping[str, str], who: str) -> NewTicket:
    """What the new-ticket form asks for; :class:`~mamori.web.views.BadForm` for a value
    outside its choices. The requester is `who` unless named."""
    category = choice(TicketCategory, form.get("category", ""))
    if category is None:
        raise BadForm("choose a category")
    return NewTicket(
        category=category,
        requester=form.get("requester", "").strip() or who,
        subject=form.get("subject", ""),
        description=form.get("description", ""),
        priority=choice(Priority, form.get("priority", "")),
        urgency=choice(Level, form.get("urgency", "")),
        impact=choice(Level, form.get("impact", "")),
        assignee=form.get("assignee", "").strip() or None,
    )


def _choices() -> dict[str, Any]:
    return {
        "categories": [c.value for c in TicketCategory],
        "priorities": [p.value for p in Priority],
        "statuses": [s.value for s in TicketStatus],
    }


def register_ticket_pages(app: FastAPI, console: Console) -> None:
    """Add the service desk's pages to `app`."""
    home = console.home

    @app.api_route("/tickets", methods=READ, include_in_schema=False, response_class=HTMLResponse)
    async def tickets_page(
        request: Request,
        principal: Reader,
        status: Annotated[StatusParam | Literal["", "all"], Query()] = "",
        category: Annotated[CategoryParam | Literal[""], Query()] = "",
        priority: Annotated[PriorityParam | Literal[""], Query()] = "",
    ) -> Response:
        found = await read_for_page(
            request,
            lambda: run(
                home, lambda s: (list_tickets(s, status, category, priority, LIST_MAX), s.zone)
            ),
        )
        if isinstance(found, Response):
            return found
        tickets, tz = found
        return render(
            request,
            "tickets.html",
            tickets=tickets,
            status_filter=status,
            category=category,
            priority=priority,
            **_choices(),
            can_manage=principal.allows(Permission.TICKETS_MANAGE),
            when=lambda t: local_time(t, tz),
            iso=iso,
            now=now(),
            wide=True,
        )

    def new_view(
        request: Request, form: Mapping[str, str], refusal: Refusal | None = None
    ) -> Response:
        return render(
            request,
            "ticket_new.html",
            status=200 if refusal is None else refusal.status,
            form=form,
            **_choices(),
            levels=[lv.value for lv in Level],
            refusal=refusal,
        )

    @app.api_route(
        "/tickets/new", methods=READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def ticket_new_page(request: Request, principal: Manager) -> Response:
        return new_view(request, {"requester": principal.name})

    @app.post("/tickets/new", include_in_schema=False, response_class=HTMLResponse)
    async def ticket_new_post(request: Request, principal: Manager) -> Response:
        form = await posted_form(request, principal)

        async def refused(r: Refusal) -> Response:
            # 500: it was opened; do not invite a second one with the form filled in
            return new_view(request, {} if r.failure is Failure.AUDIT else form, r)

        def work(s: TicketStore) -> Ticket:
            return open_new(s, new_ticket_of(form, principal.name), principal.name)

        t = await for_page(request, lambda: run(home, work), refused)
        if isinstance(t, Response):
            return t
        return RedirectResponse(f"/tickets/{t.id}?done=opened", status_code=303)

    @app.api_route(
        "/tickets/stats", methods=READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def ticket_stats_page(
        request: Request,
        principal: Reader,
        month: Annotated[str, Query(max_length=7)] = "",
    ) -> Response:
        tz = await read_for_page(request, lambda: run(home, lambda s: s.zone))
        if isinstance(tz, Response):
            return tz
        month = month.strip() or f"{now().astimezone(tz):%Y-%m}"

        async def refused(r: Refusal) -> Response:
            return stats_view(request, month, None, r.message)

        stats = await for_page(
            request, lambda: run(home, lambda s: ticket_stats(s, month)), refused
        )
        if isinstance(stats, Response):
            return stats
        return stats_view(request, month, stats, None)

    async def ticket_view(
        request: Request, principal: Principal, ticket_id: str, refusal: Refusal | None = None
    ) -> Response:
        found = await read_for_page(
            request, lambda: run(home, lambda s: (s.get(ticket_id), s.zone))
        )
        if isinstance(found, Response):
            return found
        t, tz = found
        at = now()
        return render(
            request,
            "ticket.html",
            status=200 if refusal is None else refusal.status,
            t=t,
            next_statuses=[s.value for s in next_statuses(t.status)],
            first_met=t.first_response_met(at),
            resolution_met=t.resolution_met(at),
            can_manage=principal.allows(Permission.TICKETS_MANAGE),
            refusal=refusal,
            done=done_of(request, _DONE) if refusal is None else None,
            when=lambda v: local_time(v, tz),
            iso=iso,
            wide=True,
        )

    @app.api_route(
        "/tickets/{ticket_id}", methods=READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def ticket_page(
        request: Request, principal: Reader, ticket_id: TicketIdParam
    ) -> Response:
        return await ticket_view(request, principal, ticket_id)

    async def change_page(
        request: Request,
        principal: Principal,
        ticket_id: str,
        work: Callable[[TicketStore, Mapping[str, str]], Ticket],
        done: str,
    ) -> Response:
        form = await posted_form(request, principal)

        async def refused(r: Refusal) -> Response:
            return await ticket_view(request, principal, ticket_id, r)

        result = await for_page(request, lambda: run(home, lambda s: work(s, form)), refused)
        if isinstance(result, Response):
            return result
        return RedirectResponse(f"/tickets/{ticket_id.upper()}?done={done}", status_code=303)

    @app.post("/tickets/{ticket_id}/comment", include_in_schema=False, response_class=HTMLResponse)
    async def ticket_comment(
        request: Request, principal: Manager, ticket_id: TicketIdParam
    ) -> Response:
        def work(s: TicketStore, form: Mapping[str, str]) -> Ticket:
            text = form.get("text", "")
            return comment_ticket(s, ticket_id, text, actor=principal.name, now=now())

        return await change_page(request, principal, ticket_id, work, "commented")

    @app.post("/tickets/{ticket_id}/status", include_in_schema=False, response_class=HTMLResponse)
    async def ticket_status(
        request: Request, principal: Manager, ticket_id: TicketIdParam
    ) -> Response:
        def work(s: TicketStore, form: Mapping[str, str]) -> Ticket:
            to = choice(TicketStatus, form.get("status", ""))
            if to is None:
                raise BadForm("choose a status")
            note = form.get("note", "")
            return set_ticket_status(s, ticket_id, to, actor=principal.name, now=now(), note=note)

        return await change_page(request, principal, ticket_id, work, "status")


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
        **_choices(),
    )
