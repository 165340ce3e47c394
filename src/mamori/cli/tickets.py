"""`mamori tickets …`: the service desk (OPS-1).

Thin, like `mamori incidents …` (whose options and :func:`~mamori.cli.incidents.run` it
shares): each command calls one function of :mod:`mamori.incidents.tickets`, which checks the
change, commits it and records its audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from mamori.cli.common import HomeOption
from mamori.cli.incidents import (
    ActorOption,
    JsonOption,
    actor_name,
    assignee_change,
    nothing,
    now,
    run,
)
from mamori.incidents import plaintext
from mamori.incidents.model import Level, Priority
from mamori.incidents.tickets import Ticket, TicketCategory, TicketStatus, TicketStore

tickets_app = typer.Typer(
    help="Service-desk tickets (OPS-1): open, comment, status, monthly stats.",
    no_args_is_help=True,
)

TicketArg = Annotated[str, typer.Argument(metavar="ID", help="The ticket, e.g. TKT-2026-0001.")]


def _change(
    home: str | None,
    json_out: bool,
    work: Callable[[TicketStore], Ticket],
    done: Callable[[Ticket], str],
) -> None:
    """Run a change of one ticket; `done` says what, in one line."""
    run(
        TicketStore, home, work, json_out=json_out, as_json=lambda t: t.as_json(),
        as_text=lambda t, _: [done(t)],
    )  # fmt: skip


@tickets_app.command("list")
def tickets_list(
    all_: Annotated[bool, typer.Option("--all", help="Include closed tickets.")] = False,
    status: Annotated[TicketStatus | None, typer.Option(help="Only this status.")] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List open tickets (or all, or one status), newest first."""
    at = now()
    run(
        TicketStore, home, lambda s: s.tickets(status=status, include_closed=all_),
        json_out=json_out, as_json=lambda found: [t.as_json(at) for t in found],
        as_text=lambda found, _: plaintext.ticket_table(found) if found else nothing("tickets"),
    )  # fmt: skip


@tickets_app.command("show")
def tickets_show(id_: TicketArg, home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Show a ticket, its comments and status changes, and its targets."""
    at = now()
    run(
        TicketStore, home, lambda s: s.get(id_), json_out=json_out,
        as_json=lambda t: t.as_json(at), as_text=lambda t, s: plaintext.ticket_detail(t, s.zone, at),
    )  # fmt: skip


@tickets_app.command("open")
def tickets_open(
    category: Annotated[TicketCategory, typer.Option(help="What kind of ticket.")],
    requester: Annotated[str, typer.Option(help="Who asks.")],
    subject: Annotated[str, typer.Option(help="One line.")],
    description: Annotated[str, typer.Option()] = "",
    priority: Annotated[Priority | None, typer.Option(help="Or --urgency/--impact.")] = None,
    urgency: Annotated[Level | None, typer.Option()] = None,
    impact: Annotated[Level | None, typer.Option()] = None,
    assignee: Annotated[str | None, typer.Option()] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Open a ticket (priority given, or urgency × impact; default medium × medium)."""
    from mamori.incidents.tickets import open_ticket

    def work(s: TicketStore) -> Ticket:
        return open_ticket(
            s, category=category, requester=requester, subject=subject, description=description,
            priority=priority, urgency=urgency, impact=impact, assignee=assignee,
            actor=actor_name(actor), now=now(),
        )  # fmt: skip

    _change(home, json_out, work, lambda t: f"{t.id} opened [{t.priority.value}] {t.subject}")


@tickets_app.command("comment")
def tickets_comment(
    id_: TicketArg,
    text: Annotated[str, typer.Argument(help="The comment.")],
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Comment on a ticket (the first comment by someone else than the requester is the first
    response)."""
    from mamori.incidents.tickets import comment_ticket

    by, at = actor_name(actor), now()
    _change(
        home, json_out, lambda s: comment_ticket(s, id_, text, actor=by, now=at),
        lambda t: f"{t.id}: comment {len(t.log)} added",
    )  # fmt: skip


@tickets_app.command("status")
def tickets_status(
    id_: TicketArg,
    status: Annotated[TicketStatus, typer.Argument(help="The new status.")],
    note: Annotated[str, typer.Option(help="Why (required to reopen).")] = "",
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change a ticket's status (resolved → in_progress reopens it)."""
    from mamori.incidents.tickets import set_ticket_status

    by, at = actor_name(actor), now()
    _change(
        home, json_out, lambda s: set_ticket_status(s, id_, status, actor=by, now=at, note=note),
        lambda t: f"{t.id}: {t.status.value}",
    )  # fmt: skip


@tickets_app.command("assign")
def tickets_assign(
    id_: TicketArg,
    assignee: Annotated[str | None, typer.Option()] = None,
    unassign: Annotated[bool, typer.Option("--unassign")] = False,
    priority: Annotated[Priority | None, typer.Option()] = None,
    category: Annotated[TicketCategory | None, typer.Option()] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change a ticket's assignee, priority or category."""
    from mamori.incidents.tickets import update_ticket

    extra = assignee_change(assignee, unassign)
    by, at = actor_name(actor), now()
    _change(
        home, json_out,
        lambda s: update_ticket(
            s, id_, actor=by, now=at, priority=priority, category=category, **extra),
        lambda t: f"{t.id}: assignee {t.assignee or '-'}, {t.priority.value}, {t.category.value}",
    )  # fmt: skip


@tickets_app.command("stats")
def tickets_stats(
    month: Annotated[str, typer.Option(metavar="YYYY-MM", help="The calendar month.")],
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Monthly service-desk figures: counts, median and p90 times, % within target."""
    from mamori.incidents.ticketstats import ticket_stats

    run(
        TicketStore, home, lambda s: ticket_stats(s, month), json_out=json_out,
        as_json=lambda stats: stats, as_text=lambda stats, _: plaintext.ticket_stats_lines(stats),
    )  # fmt: skip
