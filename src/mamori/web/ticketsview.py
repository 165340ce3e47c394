"""What the service-desk pages (:mod:`mamori.web.ticketspages`) and /api/v1/tickets
(:mod:`mamori.web.ticketsapi`) read and change: blocking, run in a worker thread.

Every change goes through :mod:`mamori.incidents.tickets`, which records its audit event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar, get_args

from fastapi import Depends, Path

from mamori.access.roles import Permission
from mamori.home import Home
from mamori.incidents.model import Level, Priority
from mamori.incidents.tickets import (
    TICKET_TABLE,
    Ticket,
    TicketCategory,
    TicketStatus,
    TicketStore,
    open_ticket,
)
from mamori.web.auth import Principal, require
from mamori.web.views import in_store

__all__ = [
    "LIST_MAX",
    "TICKET_ID",
    "CategoryParam",
    "Manager",
    "NewTicket",
    "PriorityParam",
    "Reader",
    "StatusParam",
    "TicketIdParam",
    "list_tickets",
    "next_statuses",
    "now",
    "open_new",
    "run",
    "ticket_json",
]

T = TypeVar("T")

TICKET_ID: Final = r"^[Tt][Kk][Tt]-[0-9]{4}-[0-9]{1,9}$"
"""What a ticket id looks like (`TKT-2026-0001`)."""
LIST_MAX: Final = 1000
"""Tickets in a list at the most."""

StatusParam = Literal["new", "in_progress", "waiting", "resolved", "closed"]
CategoryParam = Literal["inquiry", "request", "failure", "change", "other"]
PriorityParam = Literal["P1", "P2", "P3", "P4", "P5"]
TicketIdParam = Annotated[str, Path(max_length=32, pattern=TICKET_ID)]
"""A ticket id in a route's path."""
Reader = Annotated[Principal, Depends(require(Permission.TICKETS_READ))]
"""The principal of a route that needs ``tickets.read``."""
Manager = Annotated[Principal, Depends(require(Permission.TICKETS_MANAGE))]
"""The principal of a route that needs ``tickets.manage``."""
assert set(get_args(StatusParam)) == {s.value for s in TicketStatus}
assert set(get_args(CategoryParam)) == {c.value for c in TicketCategory}
assert set(get_args(PriorityParam)) == {p.value for p in Priority}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(home: Home, work: Callable[[TicketStore], T]) -> T:
    """`work` on the home's ticket store (:class:`~mamori.web.views.Unavailable` when it
    cannot be opened)."""
    return in_store(TicketStore.open, home, work)


def next_statuses(status: TicketStatus) -> list[TicketStatus]:
    """Where a ticket in `status` may go (:data:`TICKET_TABLE`)."""
    return [b for b in TicketStatus if TICKET_TABLE[(status, b)]]


def ticket_json(t: Ticket, at: dt.datetime) -> dict[str, Any]:
    """A ticket as :class:`~mamori.web.ticketsapi.TicketModel`."""
    return {
        **t.as_json(at),
        "next_statuses": [s.value for s in next_statuses(t.status)],
        "path": f"/tickets/{t.id}",
    }


def list_tickets(
    store: TicketStore,
    status: str | None,
    category: str | None,
    priority: str | None,
    limit: int,
) -> list[Ticket]:
    """Newest first. `status` "" or None: every ticket not closed; "all": every ticket."""
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
class NewTicket:
    """A new ticket as asked for by the form or the API, its choices checked."""

    category: TicketCategory
    requester: str
    subject: str
    description: str
    priority: Priority | None
    urgency: Level | None
    impact: Level | None
    assignee: str | None


def open_new(store: TicketStore, f: NewTicket, actor: str) -> Ticket:
    """Open the ticket `f` (the service checks the rest and records `ticket.opened`)."""
    return open_ticket(
        store,
        category=f.category,
        requester=f.requester,
        subject=f.subject,
        actor=actor,
        now=now(),
        description=f.description,
        priority=f.priority,
        urgency=f.urgency,
        impact=f.impact,
        assignee=f.assignee,
    )
