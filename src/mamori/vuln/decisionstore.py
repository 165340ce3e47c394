"""The decisions on findings, in ``HOME/vuln/decisions.db`` (SQLite, WAL, directory 0700, file
0600): each finding's current state and the history of every transition. See
docs/vuln-decisions.md; the rules are :mod:`mamori.vuln.decisions`.

Every transition is an audit event (``vuln.finding_<state>``, ``vuln.finding_reopened``,
``vuln.deadline_missed``) recorded with :func:`mamori.audit.record` *inside* the transaction
that stores it: when the audit record fails the transaction is rolled back and VulnError
raised, so nothing is stored that the ledger will not hear of. The one gap left is a commit that
fails after the record: the ledger then holds an event for a change that was not stored, and
VulnError says so; retrying records the change (and a second event). The ledger may over-report,
never miss a decision.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Final
from zoneinfo import ZoneInfo

from mamori import audit
from mamori.errors import MamoriError
from mamori.fsutil import immediate_transaction, private_sqlite_session
from mamori.home import Home
from mamori.vuln.decisions import (
    Fix,
    HistoryEntry,
    Justification,
    Key,
    Kind,
    Overdue,
    Record,
    State,
    Transition,
    audit_fields,
    check,
    check_name,
    check_observed,
    deadline,
    event_action,
    fixed_on_time,
)
from mamori.vuln.decisions import ObservedFinding as ObservedFinding  # re-exported for scan.py
from mamori.vuln.decisions import ObserveResult as ObserveResult
from mamori.vuln.errors import VulnError
from mamori.vuln.settings import VulnConfig

DB_NAME: Final = "decisions.db"
SCAN_ACTOR: Final = "mamori vuln scan"

SCHEMA = """
CREATE TABLE IF NOT EXISTS finding(
    system TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, vuln TEXT NOT NULL,
    version TEXT NOT NULL, purl TEXT NOT NULL, aliases TEXT NOT NULL, severity TEXT NOT NULL,
    fixed_versions TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('detected', 'under_investigation', 'not_affected',
                                         'affected', 'fixed', 'verified')),
    detected_at TEXT NOT NULL, deadline TEXT NOT NULL, updated_at TEXT NOT NULL,
    justification TEXT NOT NULL, statement TEXT NOT NULL, fix_version TEXT NOT NULL,
    fix_date TEXT NOT NULL, approver TEXT NOT NULL, missed TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (system, ecosystem, name, vuln)
);
CREATE TABLE IF NOT EXISTS history(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, vuln TEXT NOT NULL,
    at TEXT NOT NULL, kind TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL,
    actor TEXT NOT NULL, note TEXT NOT NULL, justification TEXT NOT NULL,
    statement TEXT NOT NULL, version TEXT NOT NULL, fix_version TEXT NOT NULL,
    fix_date TEXT NOT NULL, approver TEXT NOT NULL, audit_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_finding ON history(system, ecosystem, name, vuln);
"""

_COLS: Final = (
    "system, ecosystem, name, vuln, version, purl, aliases, severity, fixed_versions, state, "
    "detected_at, deadline, updated_at, justification, statement, fix_version, fix_date, "
    "approver, missed"
)
_MARKS: Final = ", ".join("?" * 19)


def current_states(home: Home, system: str) -> dict[Key, str]:
    """(ecosystem, component name, vulnerability id) → state, for every finding of `system`."""
    with _connect(home) as conn:
        rows = conn.execute(
            "SELECT ecosystem, name, vuln, state FROM finding WHERE system = ?", (system,)
        ).fetchall()
    return {(e, n, v): s for e, n, v, s in rows}


def observe(
    home: Home,
    system: str,
    findings: Sequence[ObservedFinding],
    at: dt.datetime,
    *,
    cfg: VulnConfig | None = None,
) -> ObserveResult:
    """Record what a *complete* scan of `system` found at `at`: new findings are detected (due
    by their severity's deadline), fixed or verified ones seen again are reopened, fixed ones
    not seen are verified. Findings in other states are updated (version, severity) silently.
    A key reported twice (two versions of a package) is kept once, the first reported."""
    check_name("system", system)
    cfg, tz = _settings(home, cfg)
    seen: dict[Key, ObservedFinding] = {}
    for f in findings:
        check_observed(f)
        seen.setdefault(f.key, f)
    detected: list[Key] = []
    reopened: list[Key] = []
    verified: list[Key] = []
    with _connect(home) as conn, _transaction(conn):
        current = {r.key: r for r in _select(conn, "WHERE system = ?", (system,))}
        for key, f in seen.items():
            rec = current.get(key)
            if rec is None:
                t = Transition(Kind.DETECT, State.DETECTED, SCAN_ACTOR, "found by a scan", at)
                _step(conn, home, system, key, None, t, f, cfg, tz)
                detected.append(key)
            elif rec.state in (State.FIXED, State.VERIFIED):
                note = f"seen again by a scan, at version {f.version}"
                t = Transition(Kind.REOPEN, State.DETECTED, SCAN_ACTOR, note, at)
                _step(conn, home, system, key, rec, t, f, cfg, tz)
                reopened.append(key)
            else:
                conn.execute(
                    "UPDATE finding SET version = ?, purl = ?, aliases = ?, severity = ?, "
                    "fixed_versions = ? WHERE system = ? AND ecosystem = ? AND name = ? "
                    "AND vuln = ?",
                    (
                        f.version,
                        f.purl,
                        Record.encode(f.aliases),
                        f.severity,
                        Record.encode(f.fixed),
                        system,
                        *key,
                    ),
                )
        for key, rec in current.items():
            if key not in seen and rec.state is State.FIXED:
                note = f"not seen by a scan after the fix in {rec.fix.version if rec.fix else '?'}"
                t = Transition(Kind.VERIFY, State.VERIFIED, SCAN_ACTOR, note, at)
                _step(conn, home, system, key, rec, t, None, cfg, tz)
                verified.append(key)
    return ObserveResult(tuple(detected), tuple(reopened), tuple(verified), len(seen))


def triage(
    home: Home,
    system: str,
    key: Key,
    status: State,
    *,
    actor: str,
    note: str,
    justification: Justification | None = None,
    statement: str = "",
    fix: Fix | None = None,
    at: dt.datetime | None = None,
) -> Record:
    """Set a finding's OpenVEX status (a person's decision); see decisions.check."""
    t = Transition(
        Kind.TRIAGE,
        status,
        actor,
        note,
        at or dt.datetime.now(dt.UTC),
        justification,
        statement,
        fix,
    )
    return _person(home, system, key, t)


def mark_fixed(
    home: Home,
    system: str,
    key: Key,
    *,
    version: str,
    date: dt.date,
    approver: str,
    actor: str = "",
    note: str = "",
    at: dt.datetime | None = None,
) -> Record:
    """Record a fix: the version now installed, the day, who approved it (the actor too,
    unless another is named). The next scan verifies it or reopens it."""
    fix = Fix(version, date, approver)
    note = note or f"fixed in {version} on {date}, approved by {approver}"
    return triage(
        home, system, key, State.FIXED, actor=actor or approver, note=note, fix=fix, at=at
    )


def findings(home: Home, system: str, state: State | None = None) -> list[Record]:
    """The findings of `system` (in `state` only, when given), by key."""
    only = "" if state is None else state.value
    with _connect(home) as conn:
        return _select(
            conn,
            "WHERE system = ? AND ? IN ('', state) ORDER BY ecosystem, name, vuln",
            (system, only),
        )


def history(home: Home, system: str, key: Key) -> list[HistoryEntry]:
    """Every transition of one finding, oldest first."""
    with _connect(home) as conn:
        rows = conn.execute(
            "SELECT at, kind, from_state, to_state, actor, note, justification, statement, "
            "version, fix_version, fix_date, approver FROM history WHERE system = ? AND "
            "ecosystem = ? AND name = ? AND vuln = ? ORDER BY id",
            (system, *key),
        ).fetchall()
    return [HistoryEntry(dt.datetime.fromisoformat(r[0]), *r[1:]) for r in rows]


def overdue(home: Home, now: dt.datetime, *, cfg: VulnConfig | None = None) -> list[Record]:
    """Open findings of every system whose deadline has passed (the last day is still met)."""
    _, tz = _settings(home, cfg)
    today = now.astimezone(tz).date()
    with _connect(home) as conn:
        rows = _select(conn, "WHERE deadline < ? ORDER BY deadline, system", (today.isoformat(),))
    return [r for r in rows if r.overdue(today)]


def check_deadlines(home: Home, now: dt.datetime) -> list[Overdue]:
    """Every overdue finding; records ``vuln.deadline_missed`` once per finding and deadline
    (running it again records nothing new). Made to be run periodically."""
    _, tz = _settings(home, None)
    today = now.astimezone(tz).date()
    out: list[Overdue] = []
    with _connect(home) as conn, _transaction(conn):
        rows = _select(conn, "WHERE deadline < ? ORDER BY deadline, system", (today.isoformat(),))
        for r in rows:
            if not r.overdue(today):
                continue
            new = r.missed != r.deadline.isoformat()
            if new:
                conn.execute(
                    "UPDATE finding SET missed = ? WHERE system = ? AND ecosystem = ? AND "
                    "name = ? AND vuln = ?",
                    (r.deadline.isoformat(), r.system, *r.key),
                )
                fields = audit_fields(r, r.state, SCAN_ACTOR)
                fields["days_late"] = (today - r.deadline).days
                aid = _record(home, "vuln.deadline_missed", fields)
                _history(conn, r, now, "deadline_missed", r.state, SCAN_ACTOR,
                         f"deadline {r.deadline} missed", aid)  # fmt: skip
            out.append(Overdue(r, (today - r.deadline).days, new))
    return out


def _person(home: Home, system: str, key: Key, t: Transition) -> Record:
    check_name("system", system)
    cfg, tz = _settings(home, None)
    with _connect(home) as conn, _transaction(conn):
        found = _select(conn, "WHERE system = ? AND ecosystem = ? AND name = ? AND vuln = ?",
                        (system, *key))  # fmt: skip
        if not found:
            raise VulnError(
                f"{system} has no finding {key[2]} for {key[0]}/{key[1]}",
                hint=f"list them with `mamori vuln findings --system {system}`",
            )
        return _step(conn, home, system, key, found[0], t, None, cfg, tz)


def _step(
    conn: sqlite3.Connection,
    home: Home,
    system: str,
    key: Key,
    rec: Record | None,
    t: Transition,
    seen: ObservedFinding | None,
    cfg: VulnConfig,
    tz: dt.tzinfo,
) -> Record:
    """Apply one transition (checked), store it with its history row, record its event."""
    before = rec.state if rec else None
    state = check(before, t)
    if rec is None:
        assert seen is not None
        days = cfg.deadline_days.for_severity(seen.severity)
        due = deadline(t.at.astimezone(tz).date(), days)
        rec = Record(system, *key, seen.version, seen.purl, seen.aliases, seen.severity,
                     seen.fixed, state, t.at, due, t.at, "", "", None, "")  # fmt: skip
    else:
        v = seen or rec
        version, purl, aliases = v.version, v.purl, v.aliases
        severity, fixed = v.severity, seen.fixed if seen else rec.fixed_versions
        keep = t.kind in (Kind.VERIFY,)  # verification keeps the decision that led to it
        rec = Record(system, *key, version, purl, aliases, severity, fixed, state,
                     rec.detected_at, rec.deadline, t.at,
                     rec.justification if keep else (t.justification or ""),
                     rec.statement if keep else t.statement,
                     rec.fix if keep else t.fix, rec.missed)  # fmt: skip
    previous = "" if before is None else before.value
    conn.execute(f"INSERT OR REPLACE INTO finding({_COLS}) VALUES ({_MARKS})",  # noqa: S608
                 rec.row())  # fmt: skip
    fields = audit_fields(rec, state, t.actor)
    fields.update(previous=previous, note=t.note, statement=rec.statement)
    if rec.fix is not None and t.kind is Kind.TRIAGE:
        fields.update(fixed_version=rec.fix.version, fixed_date=rec.fix.date.isoformat(),
                      approver=rec.fix.approver, on_time=fixed_on_time(rec.fix, rec.deadline))  # fmt: skip
    audit_id = _record(home, event_action(t), fields)
    _history(conn, rec, t.at, t.kind.value, previous, t.actor, t.note, audit_id, t)
    return rec


def _history(
    conn: sqlite3.Connection,
    rec: Record,
    at: dt.datetime,
    kind: str,
    from_state: str,
    actor: str,
    note: str,
    audit_id: int,
    t: Transition | None = None,
) -> None:
    fix = t.fix if t else None
    conn.execute(
        "INSERT INTO history(system, ecosystem, name, vuln, at, kind, from_state, to_state, "
        "actor, note, justification, statement, version, fix_version, fix_date, approver, "
        "audit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (rec.system, *rec.key, at.isoformat(), kind, from_state, rec.state.value, actor, note,
         t.justification or "" if t else "", t.statement if t else "", rec.version,
         fix.version if fix else "", fix.date.isoformat() if fix else "",
         fix.approver if fix else "", audit_id),
    )  # fmt: skip


def _record(home: Home, action: str, fields: dict[str, Any]) -> int:
    try:
        return audit.record(home, action, fields=fields)
    except MamoriError as e:
        raise VulnError(
            f"the decision was not stored: its audit event ({action}) cannot be recorded: "
            f"{e.message}",
            hint=e.hint or "check that the home is writable and the disk not full",
        ) from e


def _select(conn: sqlite3.Connection, where: str, args: tuple[object, ...]) -> list[Record]:
    rows = conn.execute(f"SELECT {_COLS} FROM finding {where}", args).fetchall()  # noqa: S608
    return [Record.from_row(r) for r in rows]


def _settings(home: Home, cfg: VulnConfig | None) -> tuple[VulnConfig, dt.tzinfo]:
    """The `[vuln]` settings and the `[calendar]` zone deadlines are days in."""
    try:
        full = home.config()
    except MamoriError as e:
        raise VulnError(f"the configuration cannot be read: {e.message}", hint=e.hint) from e
    return cfg or full.vuln, ZoneInfo(full.calendar.timezone)


@contextmanager
def _connect(home: Home) -> Iterator[sqlite3.Connection]:
    with private_sqlite_session(
        home.root / "vuln" / DB_NAME, SCHEMA, VulnError, "the decisions database"
    ) as c:
        yield c


def _transaction(conn: sqlite3.Connection) -> AbstractContextManager[None]:
    def unstored(e: sqlite3.Error) -> VulnError:
        return VulnError(
            f"a decision was recorded in the audit trail but not stored: {e}",
            hint="run the command again: the ledger will show the event twice",
        )

    return immediate_transaction(conn, unstored)
