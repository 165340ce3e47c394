"""End-of-support plans (対応方針, SEC-3), in ``HOME/vuln/plans.db`` (SQLite, WAL, 0600).

SEC-3 asks the contractor to tell the agency each component's support period *or its plan for
the end of support*. The support report (:mod:`mamori.vuln.reports`) shows the period from
endoflife.date; this store keeps the plan people write for it: what will be done, by when,
and who said so. A plan is for a product's release cycle (``python`` 3.9: every component of
the system that maps to it), for a whole product, or for one component that no product
covers. :func:`plan_for` picks the most specific one for a report row.

Every change is an audit event (``vuln.eol_plan_set``, ``vuln.eol_plan_cleared``) recorded
inside the transaction that stores it, as the decision store does: nothing is stored that the
ledger does not hear of. The history of every change is kept.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Final

from mamori import audit
from mamori.errors import MamoriError
from mamori.fsutil import immediate_transaction, private_sqlite_session
from mamori.home import Home
from mamori.vuln.decisions import check_name
from mamori.vuln.errors import VulnError

DB_NAME: Final = "plans.db"
TEXT_MAX: Final = 2000
"""Characters of a plan: a few sentences for a report cell, not a document."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS plan(
    system TEXT NOT NULL, product TEXT NOT NULL, cycle TEXT NOT NULL, component TEXT NOT NULL,
    text TEXT NOT NULL, due TEXT NOT NULL, actor TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (system, product, cycle, component)
);
CREATE TABLE IF NOT EXISTS plan_history(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT NOT NULL, product TEXT NOT NULL, cycle TEXT NOT NULL, component TEXT NOT NULL,
    at TEXT NOT NULL, action TEXT NOT NULL CHECK (action IN ('set', 'cleared')),
    text TEXT NOT NULL, due TEXT NOT NULL, actor TEXT NOT NULL, audit_id INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Subject:
    """What a plan is for: a product's cycle, a whole product (``cycle`` ""), or one component
    no product covers (``product`` and ``cycle`` "")."""

    system: str
    product: str = ""
    """endoflife.date's product id (``python``, ``debian``)."""
    cycle: str = ""
    component: str = ""
    """A component's name, for a component without a product."""

    def check(self) -> None:
        """VulnError when the subject is not one of the three forms."""
        check_name("system", self.system)
        for label, value in (("product", self.product), ("cycle", self.cycle),
                             ("component", self.component)):  # fmt: skip
            if value:
                check_name(label, value)
        if bool(self.product) == bool(self.component):
            raise VulnError(
                "a plan is for a product (and cycle) or for one component, not both or neither",
                hint="give --product NAME [--cycle CYCLE], or --component NAME",
            )
        if self.cycle and not self.product:
            raise VulnError("a cycle needs its product", hint="add --product NAME")

    def label(self) -> str:
        """For people: ``python 3.9``, ``python`` (every cycle), ``component foo``."""
        if self.component:
            return f"component {self.component}"
        return f"{self.product} {self.cycle}".strip()


@dataclass(frozen=True, slots=True)
class Plan:
    subject: Subject
    text: str
    due: dt.date | None
    """When the plan is to be carried out by, when it says."""
    actor: str
    updated_at: dt.datetime

    def cell(self) -> str:
        """The plan as the report's 対応方針 cell."""
        return f"{self.text}（期限 {self.due.isoformat()}）" if self.due else self.text


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a plan's history."""

    subject: Subject
    at: dt.datetime
    action: str
    """``set`` or ``cleared``."""
    text: str
    due: dt.date | None
    actor: str
    audit_id: int


def check_text(text: str) -> str:
    """The plan's text, stripped; VulnError when empty, too long or holding control
    characters other than line breaks."""
    text = text.strip()
    if not text or len(text) > TEXT_MAX or any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise VulnError(
            f"the plan's text is empty, longer than {TEXT_MAX} characters or holds control "
            "characters",
            hint="write what will be done about the end of support, and by when (--due)",
        )
    return text


def plan_for(plans: Sequence[Plan], product: str, cycle: str, component: str) -> Plan | None:
    """The plan a report row shows (pure): its product's cycle's, else its product's, else
    its component's own."""
    found = {(p.subject.product, p.subject.cycle, p.subject.component): p for p in plans}
    for key in ((product, cycle, ""), (product, "", ""), ("", "", component)):
        if key[0] or key[2]:
            plan = found.get(key)
            if plan is not None:
                return plan
    return None


def set_plan(
    home: Home, subject: Subject, text: str, *, due: dt.date | None, actor: str, at: dt.datetime
) -> Plan:
    """Write (or replace) the plan for `subject`; an audit event ``vuln.eol_plan_set``."""
    subject.check()
    check_name("actor", actor)
    plan = Plan(subject, check_text(text), due, actor, at)
    with _connect(home) as conn, _transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO plan(system, product, cycle, component, text, due, actor,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*_key(subject), plan.text, _day(due), actor, at.isoformat()),
        )
        _change(conn, home, plan.subject, at, "set", plan.text, due, actor)
    return plan


def clear_plan(home: Home, subject: Subject, *, actor: str, at: dt.datetime) -> Plan:
    """Remove the plan for `subject` (returned); VulnError when there is none. An audit event
    ``vuln.eol_plan_cleared``; the history keeps it."""
    subject.check()
    check_name("actor", actor)
    with _connect(home) as conn, _transaction(conn):
        old = _select(conn, _SELECT_ONE, _key(subject))
        if not old:
            raise VulnError(
                f"{subject.system} has no plan for {subject.label()}",
                hint=f"`mamori vuln eol plans --system {subject.system}` lists the plans",
            )
        conn.execute(
            "DELETE FROM plan WHERE system = ? AND product = ? AND cycle = ? AND component = ?",
            _key(subject),
        )
        _change(conn, home, subject, at, "cleared", old[0].text, old[0].due, actor)
    return old[0]


def plans(home: Home, system: str) -> list[Plan]:
    """The plans of `system`, by product, cycle, component."""
    check_name("system", system)
    with _connect(home) as conn:
        return _select(conn, _SELECT_SYSTEM, (system,))


def history(home: Home, system: str) -> list[Change]:
    """Every change to the plans of `system`, oldest first."""
    check_name("system", system)
    with _connect(home) as conn:
        rows = conn.execute(
            "SELECT product, cycle, component, at, action, text, due, actor, audit_id"
            " FROM plan_history WHERE system = ? ORDER BY id",
            (system,),
        ).fetchall()
    return [
        Change(Subject(system, p, c, n), dt.datetime.fromisoformat(at), action, text,
               _date(due), actor, audit_id)
        for p, c, n, at, action, text, due, actor, audit_id in rows
    ]  # fmt: skip


def _key(s: Subject) -> tuple[str, str, str, str]:
    return (s.system, s.product, s.cycle, s.component)


def _day(d: dt.date | None) -> str:
    return "" if d is None else d.isoformat()


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


_SELECT_ONE: Final = (
    "SELECT system, product, cycle, component, text, due, actor, updated_at FROM plan"
    " WHERE system = ? AND product = ? AND cycle = ? AND component = ?"
)
_SELECT_SYSTEM: Final = (
    "SELECT system, product, cycle, component, text, due, actor, updated_at FROM plan"
    " WHERE system = ? ORDER BY product, cycle, component"
)


def _select(conn: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> list[Plan]:
    return [
        Plan(Subject(s, p, c, n), text, _date(due), actor, dt.datetime.fromisoformat(at))
        for s, p, c, n, text, due, actor, at in conn.execute(sql, args).fetchall()
    ]


def _change(
    conn: sqlite3.Connection,
    home: Home,
    subject: Subject,
    at: dt.datetime,
    action: str,
    text: str,
    due: dt.date | None,
    actor: str,
) -> None:
    fields = {
        "system": subject.system,
        "product": subject.product,
        "cycle": subject.cycle,
        "component": subject.component,
        "plan": text,
        "due": _day(due),
        "actor": actor,
    }
    try:
        audit_id = audit.record(home, f"vuln.eol_plan_{action}", fields=fields)
    except MamoriError as e:
        raise VulnError(
            f"the plan was not stored: its audit event cannot be recorded: {e.message}",
            hint=e.hint or "check that the home is writable and the disk not full",
        ) from e
    conn.execute(
        "INSERT INTO plan_history(system, product, cycle, component, at, action, text, due,"
        " actor, audit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*_key(subject), at.isoformat(), action, text, _day(due), actor, audit_id),
    )


@contextmanager
def _connect(home: Home) -> Iterator[sqlite3.Connection]:
    with private_sqlite_session(
        home.root / "vuln" / DB_NAME, SCHEMA, VulnError, "the plans database"
    ) as c:
        yield c


def _transaction(conn: sqlite3.Connection) -> AbstractContextManager[None]:
    def unstored(e: sqlite3.Error) -> VulnError:
        return VulnError(
            f"a plan was recorded in the audit trail but not stored: {e}",
            hint="run the command again: the ledger will show the event twice",
        )

    return immediate_transaction(conn, unstored)
