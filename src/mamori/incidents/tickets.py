"""The service desk (OPS-1): tickets in HOME/tickets.db, each change an audit event.

A ticket is opened by (or for) a requester, is commented on and moves through
new → in_progress ⇄ waiting → resolved → closed (reopened from resolved). Its first response is
the first comment or status change by someone other than the requester; its resolution the
time it was resolved (cleared when reopened). Targets per priority are `[incidents.tickets]`.
Monthly figures are in :mod:`mamori.incidents.ticketstats`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NewType

from mamori.incidents import trail
from mamori.incidents.checks import MAX_NAME, MAX_TITLE, clean_actor, clean_text
from mamori.incidents.errors import IncidentsError, NotFound, WorkflowRefused
from mamori.incidents.model import Level, Priority, iso, parse_iso, parse_iso_opt
from mamori.incidents.settings import IncidentsConfig, TicketTargets
from mamori.incidents.store import Database

TicketId = NewType("TicketId", str)
"""`TKT-YYYY-NNNN`: the year of opening in the calendar zone, then a number within it."""

DB_NAME: Final = "tickets.db"


class TicketCategory(StrEnum):
    INQUIRY = "inquiry"
    REQUEST = "request"
    FAILURE = "failure"
    CHANGE = "change"
    OTHER = "other"


class TicketStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"


_T = TicketStatus

TICKET_TABLE: Final[Mapping[tuple[TicketStatus, TicketStatus], bool]] = {
    (a, b): (a, b)
    in {
        (_T.NEW, _T.IN_PROGRESS),
        (_T.NEW, _T.WAITING),
        (_T.NEW, _T.RESOLVED),
        (_T.IN_PROGRESS, _T.WAITING),
        (_T.IN_PROGRESS, _T.RESOLVED),
        (_T.WAITING, _T.IN_PROGRESS),
        (_T.WAITING, _T.RESOLVED),
        (_T.RESOLVED, _T.CLOSED),
        (_T.RESOLVED, _T.IN_PROGRESS),  # reopen
    }
    for a in TicketStatus
    for b in TicketStatus
}
"""Every (from, to) status pair: True when the change is allowed."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters(
    kind TEXT NOT NULL, year INTEGER NOT NULL, last INTEGER NOT NULL,
    PRIMARY KEY(kind, year)
);
CREATE TABLE IF NOT EXISTS tickets(
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    requester TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    assignee TEXT,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    first_response_at TEXT,
    resolved_at TEXT,
    closed_at TEXT
);
CREATE TABLE IF NOT EXISTS ticket_log(
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY(ticket_id, seq)
);
"""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A comment (`kind` comment) or a status change (`kind` status) on a ticket."""

    seq: int
    kind: str
    actor: str
    at: dt.datetime
    text: str
    from_status: TicketStatus | None = None
    to_status: TicketStatus | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "actor": self.actor,
            "at": iso(self.at),
            "text": self.text,
            "from": None if self.from_status is None else self.from_status.value,
            "to": None if self.to_status is None else self.to_status.value,
        }


def _minutes(a: dt.datetime, b: dt.datetime | None) -> float | None:
    return None if b is None else (b - a).total_seconds() / 60


@dataclass(frozen=True, slots=True)
class Ticket:
    id: TicketId
    category: TicketCategory
    requester: str
    subject: str
    description: str
    priority: Priority
    status: TicketStatus
    assignee: str | None
    opened_at: dt.datetime
    opened_by: str
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    targets: TicketTargets
    log: tuple[LogEntry, ...] = ()

    @property
    def first_response_minutes(self) -> float | None:
        return _minutes(self.opened_at, self.first_response_at)

    @property
    def resolution_minutes(self) -> float | None:
        return _minutes(self.opened_at, self.resolved_at)

    @property
    def first_response_due(self) -> dt.datetime:
        return self.opened_at + dt.timedelta(minutes=self.targets.first_response_minutes)

    @property
    def resolution_due(self) -> dt.datetime:
        return self.opened_at + dt.timedelta(minutes=self.targets.resolution_minutes)

    def first_response_met(self, now: dt.datetime) -> bool | None:
        """True/False once decided; None while pending (no response yet, not yet due)."""
        return _met(self.first_response_due, self.first_response_at, now)

    def resolution_met(self, now: dt.datetime) -> bool | None:
        return _met(self.resolution_due, self.resolved_at, now)

    def as_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "category": self.category.value,
            "requester": self.requester,
            "subject": self.subject,
            "description": self.description,
            "priority": self.priority.value,
            "status": self.status.value,
            "assignee": self.assignee,
            "opened_at": iso(self.opened_at),
            "opened_by": self.opened_by,
            "first_response_at": iso(self.first_response_at),
            "resolved_at": iso(self.resolved_at),
            "closed_at": iso(self.closed_at),
            "first_response_due": iso(self.first_response_due),
            "resolution_due": iso(self.resolution_due),
            "first_response_minutes": self.first_response_minutes,
            "resolution_minutes": self.resolution_minutes,
            "log": [e.as_json() for e in self.log],
        }
        if now is not None:
            out["first_response_met"] = self.first_response_met(now)
            out["resolution_met"] = self.resolution_met(now)
        return out


def _met(due: dt.datetime, at: dt.datetime | None, now: dt.datetime) -> bool | None:
    if at is not None:
        return at <= due
    return False if now > due else None


class TicketStore(Database):
    """HOME/tickets.db."""

    DB_NAME = DB_NAME
    SCHEMA = SCHEMA

    def find(self, ticket_id: str) -> Ticket | None:
        rows = self.rows("SELECT * FROM tickets WHERE id = ?", (ticket_id.upper(),))
        return self._ticket(rows[0]) if rows else None

    def get(self, ticket_id: str) -> Ticket:
        t = self.find(ticket_id)
        if t is None:
            raise NotFound(
                f"there is no ticket {ticket_id}", hint="list them with `mamori tickets list --all`"
            )
        return t

    def tickets(
        self, *, status: TicketStatus | None = None, include_closed: bool = False
    ) -> list[Ticket]:
        if status is not None:
            rows = self.rows(
                "SELECT * FROM tickets WHERE status = ? ORDER BY opened_at DESC, id DESC",
                (status.value,),
            )
        elif include_closed:
            rows = self.rows("SELECT * FROM tickets ORDER BY opened_at DESC, id DESC")
        else:
            rows = self.rows(
                "SELECT * FROM tickets WHERE status != 'closed' ORDER BY opened_at DESC, id DESC"
            )
        return [self._ticket(r) for r in rows]

    def _ticket(self, r: sqlite3.Row) -> Ticket:
        prio = Priority(r["priority"])
        log = tuple(
            LogEntry(
                seq=int(e["seq"]),
                kind=e["kind"],
                actor=e["actor"],
                at=parse_iso(e["at"]),
                text=e["text"],
                from_status=None if e["from_status"] is None else TicketStatus(e["from_status"]),
                to_status=None if e["to_status"] is None else TicketStatus(e["to_status"]),
            )
            for e in self.rows(
                "SELECT * FROM ticket_log WHERE ticket_id = ? ORDER BY seq", (r["id"],)
            )
        )
        return Ticket(
            id=TicketId(r["id"]),
            category=TicketCategory(r["category"]),
            requester=r["requester"],
            subject=r["subject"],
            description=r["description"],
            priority=prio,
            status=TicketStatus(r["status"]),
            assignee=r["assignee"],
            opened_at=parse_iso(r["opened_at"]),
            opened_by=r["opened_by"],
            first_response_at=parse_iso_opt(r["first_response_at"]),
            resolved_at=parse_iso_opt(r["resolved_at"]),
            closed_at=parse_iso_opt(r["closed_at"]),
            targets=self.config.ticket_targets_for(prio),
            log=log,
        )

    def add_log(self, conn: sqlite3.Connection, t: Ticket, entry: LogEntry) -> None:
        conn.execute(
            "INSERT INTO ticket_log(ticket_id, seq, kind, from_status, to_status, actor, at, "
            "text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                t.id,
                entry.seq,
                entry.kind,
                None if entry.from_status is None else entry.from_status.value,
                None if entry.to_status is None else entry.to_status.value,
                entry.actor,
                iso(entry.at),
                entry.text,
            ),
        )


def ticket_priority(
    config: IncidentsConfig,
    priority: Priority | None,
    urgency: Level | None,
    impact: Level | None,
) -> Priority:
    """The priority given, or urgency × impact (a missing one counts as medium)."""
    if priority is not None:
        if urgency is not None or impact is not None:
            raise IncidentsError(
                "give a priority or urgency and impact, not both",
                hint="--priority P2, or --urgency high --impact medium",
            )
        return priority
    return config.priority(urgency or Level.MEDIUM, impact or Level.MEDIUM)


def open_ticket(
    store: TicketStore,
    *,
    category: TicketCategory,
    requester: str,
    subject: str,
    actor: str,
    now: dt.datetime,
    description: str = "",
    priority: Priority | None = None,
    urgency: Level | None = None,
    impact: Level | None = None,
    assignee: str | None = None,
) -> Ticket:
    """A new ticket, status new."""
    requester = clean_text(requester, "the requester", MAX_NAME, required=True, line=True)
    subject = clean_text(subject, "the subject", MAX_TITLE, required=True, line=True)
    description = clean_text(description, "the description")
    actor = clean_actor(actor)
    prio = ticket_priority(store.config, priority, urgency, impact)
    year = now.astimezone(store.zone).year
    with store.transaction() as conn:
        tid = TicketId(f"TKT-{year}-{store.next_number(conn, 'ticket', year):04d}")
        conn.execute(
            "INSERT INTO tickets(id, category, requester, subject, description, priority, "
            "status, assignee, opened_at, opened_by) VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?, ?)",
            (
                tid,
                category.value,
                requester,
                subject,
                description,
                prio.value,
                (assignee or "").strip() or None,
                iso(now),
                actor,
            ),
        )
    t = store.get(tid)
    trail.record(
        store.home,
        "ticket.opened",
        {
            "ticket": tid,
            "category": category.value,
            "requester": requester,
            "subject": subject,
            "priority": prio.value,
            "assignee": t.assignee,
        },
        actor=actor,
        at=now,
        done=f"{tid} was opened",
    )
    return t


def _responds(t: Ticket, actor: str) -> bool:
    return t.first_response_at is None and actor.casefold() != t.requester.casefold()


def comment_ticket(
    store: TicketStore, ticket_id: str, text: str, *, actor: str, now: dt.datetime
) -> Ticket:
    """Add a comment (the first by someone other than the requester is the first response)."""
    text = clean_text(text, "the comment", required=True)
    actor = clean_actor(actor)
    with store.transaction() as conn:
        t = store.get(ticket_id)
        if t.status is TicketStatus.CLOSED:
            raise IncidentsError(f"{t.id} is closed", hint="open a new ticket that refers to it")
        store.add_log(conn, t, LogEntry(len(t.log) + 1, "comment", actor, now, text))
        first = _responds(t, actor)
        if first:
            conn.execute("UPDATE tickets SET first_response_at = ? WHERE id = ?", (iso(now), t.id))
    trail.record(
        store.home,
        "ticket.commented",
        {"ticket": t.id, "text": text, "first_response": first},
        actor=actor,
        at=now,
        done=f"the comment on {t.id} was saved",
    )
    return store.get(t.id)


def set_ticket_status(
    store: TicketStore,
    ticket_id: str,
    status: TicketStatus,
    *,
    actor: str,
    now: dt.datetime,
    note: str = "",
) -> Ticket:
    """Move a ticket to `status` as :data:`TICKET_TABLE` allows; resolved → in_progress reopens
    it (a note, the reason, is required) and clears its resolution time."""
    actor = clean_actor(actor)
    note = clean_text(note, "the note")
    with store.transaction() as conn:
        t = store.get(ticket_id)
        if not TICKET_TABLE[(t.status, status)]:
            allowed = [b.value for (a, b), ok in TICKET_TABLE.items() if a is t.status and ok]
            raise WorkflowRefused(
                f"{t.id} cannot go from {t.status.value} to {status.value}",
                hint=f"from {t.status.value}: {', '.join(allowed) or 'nothing (it is closed)'}",
            )
        reopen = t.status is TicketStatus.RESOLVED and status is TicketStatus.IN_PROGRESS
        if reopen and not note:
            raise IncidentsError("reopening a ticket needs a reason", hint='pass --note "why"')
        store.add_log(
            conn,
            t,
            LogEntry(len(t.log) + 1, "status", actor, now, note, t.status, status),
        )
        first = _responds(t, actor)
        sets = ["status = ?"]
        params: list[Any] = [status.value]
        if first:
            sets.append("first_response_at = ?")
            params.append(iso(now))
        if status is TicketStatus.RESOLVED:
            sets.append("resolved_at = ?")
            params.append(iso(now))
        if reopen:
            sets.append("resolved_at = NULL")
        if status is TicketStatus.CLOSED:
            sets.append("closed_at = ?")
            params.append(iso(now))
        conn.execute(
            f"UPDATE tickets SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - constant fragments only
            (*params, t.id),
        )
    trail.record(
        store.home,
        "ticket.reopened" if reopen else "ticket.status",
        {
            "ticket": t.id,
            "from": t.status.value,
            "to": status.value,
            "note": note,
            "first_response": first,
        },
        actor=actor,
        at=now,
        done=f"{t.id} went to {status.value}",
    )
    return store.get(t.id)


_UNSET: Any = object()


def update_ticket(
    store: TicketStore,
    ticket_id: str,
    *,
    actor: str,
    now: dt.datetime,
    assignee: str | None = _UNSET,
    priority: Priority | None = None,
    category: TicketCategory | None = None,
) -> Ticket:
    """Change the assignee (None: unassign), the priority or the category."""
    actor = clean_actor(actor)
    with store.transaction() as conn:
        t = store.get(ticket_id)
        changes: dict[str, list[Any]] = {}
        if assignee is not _UNSET:
            new = (assignee or "").strip() or None
            if new != t.assignee:
                changes["assignee"] = [t.assignee, new]
        if priority is not None and priority is not t.priority:
            changes["priority"] = [t.priority.value, priority.value]
        if category is not None and category is not t.category:
            changes["category"] = [t.category.value, category.value]
        if not changes:
            raise IncidentsError("nothing to change", hint="give a new value")
        for col, (_, value) in changes.items():
            conn.execute(
                f"UPDATE tickets SET {col} = ? WHERE id = ?",  # noqa: S608 - col is one of three names above
                (value, t.id),
            )
    trail.record(
        store.home,
        "ticket.updated",
        {"ticket": t.id, "changes": changes},
        actor=actor,
        at=now,
        done=f"{t.id} was updated",
    )
    return store.get(t.id)
